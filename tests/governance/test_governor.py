"""Layered rules (code ⊕ file ⊕ runtime), versions and rollback, all-or-nothing changes, and
eviction of resources no route uses any more — through a real Service."""

from __future__ import annotations

import random
from typing import Any

import pytest
from tests.governance.gov_support import check, endpoint

from seawall import ConfigError, HotspotPolicy, Policy, RateLimitPolicy, Service
from seawall.governance import MAX_CONNS, TIMEOUT, CompileContext, RuleLayer
from seawall.http._config import SeawallConfig, file_layer


def two_routes(**kw: Any) -> Service:
    svc = Service("layers", **kw)
    svc.get("/a")(lambda: None)
    svc.get("/b")(lambda: None)
    return svc


def conf(data: dict[str, Any]) -> SeawallConfig:
    import msgspec

    return msgspec.convert(data, SeawallConfig)


def policy(svc: Service, path: str) -> Policy:
    return endpoint(svc, path).chain.policy


def test_runtime_change_to_one_route_keeps_another_routes_file_rule() -> None:
    """The review's case: after a runtime change to /a, /b keeps its file rule max_conns=5."""
    svc = two_routes()
    svc.configure(conf({"routes": {"GET /b": {"max_conns": 5}}}))
    svc.recompile({"GET /a": Policy(max_conns=7)})
    assert policy(svc, "/b")[MAX_CONNS] == 5
    assert policy(svc, "/a")[MAX_CONNS] == 7


def test_file_patch_keeps_what_code_declared() -> None:
    """A file rule that sets max_conns keeps the timeout the route declared in code."""
    svc = Service("layers")
    svc.get("/a", policy=Policy(timeout=1.5))(lambda: None)
    svc.configure(conf({"routes": {"/a": {"max_conns": 3}}}))
    assert (policy(svc, "/a")[TIMEOUT], policy(svc, "/a")[MAX_CONNS]) == (1.5, 3)


def test_file_default_applies_only_to_routes_without_their_own_policy() -> None:
    """``default:`` patches the service default; routes with a code policy keep theirs."""
    svc = Service("layers")
    svc.get("/plain")(lambda: None)
    svc.get("/own", policy=Policy(timeout=4.0))(lambda: None)
    svc.configure(conf({"default": {"timeout": 2.0}}))
    assert policy(svc, "/plain")[TIMEOUT] == 2.0
    assert policy(svc, "/own")[TIMEOUT] == 4.0


def test_runtime_patches_accumulate_and_none_removes() -> None:
    """Two runtime patches to one route add up; ``None`` removes the route's runtime rule."""
    svc = two_routes()
    svc.recompile({"/a": {"max_conns": 3}})
    svc.recompile({"/a": {"timeout": 1.0}})
    assert (policy(svc, "/a")[MAX_CONNS], policy(svc, "/a")[TIMEOUT]) == (3, 1.0)
    svc.recompile({"/a": None})
    assert policy(svc, "/a") == Policy()


def test_method_rule_overrides_path_rule_in_the_same_layer() -> None:
    """``GET /a`` is applied after ``/a``, so the more specific rule wins."""
    svc = two_routes()
    svc.configure(conf({"routes": {"/a": {"max_conns": 3}, "GET /a": {"max_conns": 4}}}))
    assert policy(svc, "/a")[MAX_CONNS] == 4


def test_every_change_is_a_version_and_rollback_restores_the_previous_one() -> None:
    """Versions count up; rollback returns to the previous layers as a new version."""
    svc = two_routes()
    v1 = svc.configure(conf({"routes": {"/a": {"max_conns": 3}}}))
    assert v1 is not None
    first = svc.governor.rules.current
    svc.recompile({"/a": {"max_conns": 9}})
    assert policy(svc, "/a")[MAX_CONNS] == 9
    back = svc.rollback()
    assert policy(svc, "/a")[MAX_CONNS] == 3
    assert back.version == first.version + 2
    assert back.note == f"rollback to {first.version}"
    assert [v.version for v in svc.governor.rules.versions()] == [0, 1, 2, 3]
    assert svc.governor.rules.versions()[-1].to_builtins()["file"]["routes"]["/a"] == {
        "patch": {"max_conns": 3}
    }


def test_rollback_to_a_forgotten_version_is_refused() -> None:
    """Only remembered versions can be returned to."""
    svc = two_routes()
    with pytest.raises(KeyError):
        svc.rollback(42)


def test_failed_change_changes_nothing() -> None:
    """A change that fails to compile leaves chains, resources and the version as they were."""
    svc = two_routes(redis_url=None)
    svc.recompile({"/a": Policy(rate_limit=RateLimitPolicy(rate=5))})
    chains = {p: endpoint(svc, p).chain for p in ("/a", "/b")}
    resources = len(svc.governor.registry)
    version = svc.governor.rules.current
    with pytest.raises(ConfigError, match="redis_url") as info:
        svc.recompile(
            {
                "/a": Policy(rate_limit=RateLimitPolicy(rate=6)),
                "/b": Policy(rate_limit=RateLimitPolicy(rate=1, backend="redis")),
            }
        )
    assert info.value.path == '$.routes["GET /b"].rate_limit.backend'
    assert {p: endpoint(svc, p).chain for p in ("/a", "/b")} == chains
    assert len(svc.governor.registry) == resources
    assert svc.governor.rules.current is version


def test_unknown_route_key_in_a_file_names_it() -> None:
    """A file rule for a route the service lacks is refused with its path."""
    svc = two_routes()
    with pytest.raises(ConfigError) as info:
        svc.configure(conf({"routes": {"GET /nope": {"max_conns": 1}}}))
    assert info.value.path == '$.routes["GET /nope"]'


def test_repeated_changes_do_not_grow_the_registry() -> None:
    """100 recompiles with ever new limits leave only the resources in use (the memo evicts)."""
    svc = two_routes()
    for i in range(100):
        svc.recompile({"/a": Policy(rate_limit=RateLimitPolicy(rate=i + 1))})
    kinds = sorted(s.info.kind for s in svc.governor.snapshot())
    assert kinds == ["concurrency", "concurrency", "token_bucket"]


def test_unchanged_section_keeps_its_primitive_across_versions() -> None:
    """A recompile that leaves a section as it was keeps the primitive (and its state)."""
    svc = two_routes()
    svc.recompile({"/a": Policy(rate_limit=RateLimitPolicy(rate=5), timeout=1.0)})
    before = check(endpoint(svc, "/a"), "rate_limit").limiter
    svc.recompile({"/a": Policy(rate_limit=RateLimitPolicy(rate=5), timeout=2.0)})
    assert check(endpoint(svc, "/a"), "rate_limit").limiter is before


def test_any_number_of_hotspot_rules_compiles() -> None:
    """Twelve hotspot rules give twelve checks (no fixed cap)."""
    rules = tuple(HotspotPolicy(key=f"query:q{i}", rate=1) for i in range(12))
    svc = Service("hot")
    svc.get("/h", policy=Policy(hotspots=rules))(lambda: None)
    assert sum(name.startswith("hotspot:") for name in endpoint(svc, "/h").chain.names) == 12


def test_compile_context_carries_the_injected_rng_and_clock() -> None:
    """Checks draw from the service's seeded random source, never the global one."""
    seen: list[CompileContext] = []

    def spy(policy: Policy, ctx: CompileContext) -> None:
        seen.append(ctx)

    rng = random.Random(7)
    svc = Service("rng", rng=rng, check_factories=[("spy", spy)])
    svc.get("/r")(lambda: None)
    assert seen[-1].rng is rng
    assert seen[-1].clock is svc.clock


def test_file_layer_of_a_config() -> None:
    """A config's default and routes become one RuleLayer of patches."""
    layer = file_layer(conf({"default": {"timeout": 1}, "routes": {"/a": {"max_conns": 2}}}))
    assert layer == RuleLayer({"timeout": 1.0}, {"/a": {"max_conns": 2}})
