"""Tests for seawall.discovery.ConsistentHashBalancer (a ring of virtual nodes)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.discovery import ConsistentHashBalancer, Instance, blake2b64

KEYS = [f"user-{i}" for i in range(10_000)]
POOL = [Instance(f"10.0.0.{i}", 8080) for i in range(1, 11)]
NEWCOMER = Instance("10.0.0.11", 8080)
#: blake2b(b"seawall", digest_size=8) read as a big-endian integer.
PINNED_SEAWALL_HASH = 8095906453533824456


def _owners(balancer: ConsistentHashBalancer) -> dict[str, Instance | None]:
    return {key: balancer.owner(key) for key in KEYS}


def test_blake2b64_is_a_stable_vector() -> None:
    """The default hash is BLAKE2b with an 8-byte digest: the same value in every process (pinned)."""
    assert blake2b64(b"seawall") == PINNED_SEAWALL_HASH
    assert 0 <= blake2b64(b"") < 2**64


def test_pick_requires_a_key() -> None:
    """A consistent-hash pick without a key is a programming error."""
    with pytest.raises(ValueError, match="needs a key"):
        ConsistentHashBalancer(POOL).pick()


def test_same_key_same_instance() -> None:
    """A key maps to the same instance on every pick, and in every balancer built from the same set."""
    first = ConsistentHashBalancer(POOL)
    second = ConsistentHashBalancer(reversed(POOL))
    for key in KEYS[:200]:
        pick = first.pick(key=key)
        assert pick is not None
        assert pick.instance == first.owner(key) == second.owner(key)


def test_keys_spread_evenly() -> None:
    """With 160 virtual nodes each of 10 instances owns 10% ± 3% of the keys."""
    shares = Counter(_owners(ConsistentHashBalancer(POOL)).values())
    assert len(shares) == 10
    assert all(700 <= n <= 1300 for n in shares.values()), shares


def test_weight_multiplies_the_share() -> None:
    """An instance of weight 3 gets about three times the keys of a weight-1 instance."""
    heavy = Instance("10.0.0.99", 8080, weight=3)
    shares = Counter(_owners(ConsistentHashBalancer([*POOL[:3], heavy])).values())
    # Shares: 3/6 for the heavy one, 1/6 each for the others.
    assert 4300 <= shares[heavy] <= 5700, shares


def test_adding_one_instance_moves_about_one_in_n_plus_one() -> None:
    """With 10 instances, adding an 11th moves ~1/11 of the keys, all of them to the newcomer."""
    balancer = ConsistentHashBalancer(POOL)
    before = _owners(balancer)
    balancer.update([*POOL, NEWCOMER])
    after = _owners(balancer)
    moved = [key for key in KEYS if before[key] != after[key]]
    assert abs(len(moved) / len(KEYS) - 1 / 11) < 0.03, len(moved)
    assert {after[key] for key in moved} == {NEWCOMER}


def test_removing_one_instance_moves_only_its_keys() -> None:
    """Removing an instance moves exactly the keys it owned; every other key stays put."""
    balancer = ConsistentHashBalancer(POOL)
    before = _owners(balancer)
    gone = POOL[3]
    balancer.update([i for i in POOL if i != gone])
    after = _owners(balancer)
    moved = {key for key in KEYS if before[key] != after[key]}
    assert moved == {key for key in KEYS if before[key] == gone}
    assert abs(len(moved) / len(KEYS) - 1 / 10) < 0.03, len(moved)


def test_exclude_walks_to_the_next_distinct_instance() -> None:
    """Excluding a key's owner sends it where it would go if that instance left the ring."""
    balancer = ConsistentHashBalancer(POOL)
    for key in KEYS[:300]:
        owner = balancer.owner(key)
        assert owner is not None
        without = ConsistentHashBalancer([i for i in POOL if i != owner])
        pick = balancer.pick(key=key, exclude={owner})
        assert pick is not None
        assert pick.instance == without.owner(key)


def test_exclude_everything_but_one() -> None:
    """With all but one instance excluded, every key goes to that one."""
    balancer = ConsistentHashBalancer(POOL)
    survivor = POOL[7]
    others = frozenset(POOL) - {survivor}
    for key in KEYS[:100]:
        pick = balancer.pick(key=key, exclude=others)
        assert pick is not None
        assert pick.instance == survivor


def test_custom_hash_is_used() -> None:
    """The hash option replaces BLAKE2b for both points and keys."""
    calls: list[bytes] = []

    def tracking(data: bytes) -> int:
        calls.append(data)
        return blake2b64(data)

    balancer = ConsistentHashBalancer(POOL[:2], vnodes=4, hash=tracking)
    assert sorted(calls) == sorted(f"{i.address}#{n}".encode() for i in POOL[:2] for n in range(4))
    balancer.owner("k")
    assert calls[-1] == b"k"


def test_empty_ring_owner_is_none() -> None:
    """owner() on an empty ring answers None."""
    assert ConsistentHashBalancer().owner("k") is None


@pytest.mark.parametrize("vnodes", [0, -1, True, 1.5])
def test_vnodes_must_be_a_positive_int(vnodes: object) -> None:
    """vnodes is checked at construction."""
    with pytest.raises(ValueError, match="vnodes must be an int >= 1"):
        ConsistentHashBalancer(POOL, vnodes=vnodes)  # type: ignore[arg-type]


_pools = st.lists(st.integers(min_value=1, max_value=250), min_size=1, max_size=12, unique=True).map(
    lambda ns: [Instance(f"10.1.0.{n}", 80) for n in ns]
)


@given(pool=_pools, extra=st.integers(min_value=1, max_value=250), keys=st.lists(st.text(), max_size=40))
def test_join_moves_keys_only_to_the_newcomer(pool: list[Instance], extra: int, keys: list[str]) -> None:
    """For any ring and any joining instance, a key either stays or moves to the newcomer."""
    newcomer = Instance(f"10.1.0.{extra}", 80)
    balancer = ConsistentHashBalancer(pool, vnodes=20)
    before = {key: balancer.owner(key) for key in keys}
    balancer.update([*pool, newcomer])
    for key in keys:
        assert balancer.owner(key) in {before[key], newcomer}


@given(pool=_pools, keys=st.lists(st.text(), max_size=40), data=st.data())
def test_leave_moves_only_the_leavers_keys(
    pool: list[Instance], keys: list[str], data: st.DataObject
) -> None:
    """For any ring and any leaving instance, only keys it owned change owner."""
    gone = data.draw(st.sampled_from(pool))
    balancer = ConsistentHashBalancer(pool, vnodes=20)
    before = {key: balancer.owner(key) for key in keys}
    balancer.update([i for i in pool if i != gone])
    for key in keys:
        if before[key] != gone:
            assert balancer.owner(key) == before[key]
