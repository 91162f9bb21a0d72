"""Policies: open sections, validation in code and in configuration, leaf paths in errors."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest

from seawall import ConfigError, HotspotPolicy, Policy, RateLimitPolicy, Service
from seawall.governance import (
    RATE_LIMIT,
    TIMEOUT,
    Call,
    CompileContext,
    Exit,
    decode_patch,
    define_section,
    register_check,
    sections,
    validate_struct,
)


class Greeting(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A section a third-party check owns (not part of the core)."""

    word: str
    times: Annotated[int, msgspec.Meta(ge=1, le=10)] = 1

    def __post_init__(self) -> None:
        validate_struct(self)


GREETING = define_section("greeting", Greeting | None, None, "a test-only section")


class GreetingCheck:
    name = "greeting"
    cost = 5

    def __init__(self, word: str) -> None:
        self.word = word
        self.seen: list[str] = []

    def enter(self, call: Call) -> Exit | None:
        self.seen.append(call.target)
        return None


def greeting_factory(policy: Policy, ctx: CompileContext) -> GreetingCheck | None:
    g = policy[GREETING]
    return None if g is None else GreetingCheck(g.word)


register_check("greeting", greeting_factory)


def test_a_registered_section_is_a_policy_keyword() -> None:
    """A section registered outside the core is accepted by Policy and read back typed."""
    policy = Policy(greeting=Greeting(word="hi"))
    assert policy[GREETING] == Greeting(word="hi")
    assert policy.greeting == Greeting(word="hi")
    assert Policy()[GREETING] is None


def test_a_registered_check_joins_every_chain_that_sets_its_section() -> None:
    """The new check compiles into the route's chain, without any edit to the core."""
    svc = Service("ext")
    svc.get("/x", policy=Policy(greeting=Greeting(word="hi")))(lambda: None)
    svc.get("/y")(lambda: None)
    names = {ep.route: ep.chain.names for ep in svc.endpoints() if ep.route in ("/x", "/y")}
    assert names == {
        "/x": ["loop_detection", "greeting", "concurrency"],
        "/y": ["loop_detection", "concurrency"],
    }


def test_a_registered_section_decodes_from_yaml_with_leaf_paths() -> None:
    """Configuration of the new section is validated down to its fields."""
    assert decode_patch({"greeting": {"word": "hi", "times": 2}}) == {
        "greeting": Greeting(word="hi", times=2)
    }
    with pytest.raises(ConfigError) as info:
        decode_patch({"greeting": {"word": "hi", "times": 11}}, '$.routes["GET /x"]')
    assert info.value.path == '$.routes["GET /x"].greeting.times'


def test_unknown_keyword_is_a_type_error_naming_known_sections() -> None:
    """A typo in code fails at once and lists what exists."""
    with pytest.raises(TypeError, match=r"unknown policy section 'max_con'.*max_conns"):
        Policy(max_con=5)


def test_redefining_a_section_with_another_type_is_refused() -> None:
    """Two checks cannot claim one name with different types; the same definition is idempotent."""
    assert define_section("greeting", Greeting | None, None) is GREETING
    with pytest.raises(ValueError, match="already defined"):
        define_section("greeting", int, 0)
    with pytest.raises(ValueError, match="identifier"):
        define_section("not a name", int, 0)


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"nope": 1}, "$.nope", "unknown policy field 'nope'"),
        ({"rate_limit": {"rate": 1, "bogus": 2}}, "$.rate_limit.bogus", "unknown field"),
        ({"rate_limit": {"rate": -1}}, "$.rate_limit.rate", "> 0"),
        ({"rate_limit": {"rate": float("inf")}}, "$.rate_limit.rate", "<= "),
        ({"rate_limit": {"rate": float("nan")}}, "$.rate_limit.rate", "> 0"),
        ({"rate_limit": {"rate": 5, "key": "who"}}, "$.rate_limit.key", "match"),
        (
            {"hotspots": [{"key": "path:id", "rate": 1}, {"key": "path:id", "rate": 0}]},
            "$.hotspots[1].rate",
            "> 0",
        ),
        ({"timeout": "soon"}, "$.timeout", "Expected"),
        ({"max_conns": 0}, "$.max_conns", ">= 1"),
        ({"bulkhead": {"max_concurrent": 2, "max_wait": 1e9}}, "$.bulkhead.max_wait", "<= 86400"),
    ],
)
def test_decode_patch_names_the_leaf_field(data: dict[str, Any], path: str, message: str) -> None:
    """Every invalid value in configuration names its leaf field."""
    with pytest.raises(ConfigError, match=message) as info:
        decode_patch(data)
    assert info.value.path == path


def test_decode_patch_keeps_only_what_it_sets() -> None:
    """A patch holds the sections given, validated; ``None`` data is an empty patch."""
    assert decode_patch({"timeout": 2}) == {"timeout": 2.0}
    assert decode_patch(None) == {}
    with pytest.raises(ConfigError, match="expected a mapping"):
        decode_patch([1, 2])


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: RateLimitPolicy(rate=float("nan")), "rate must be finite"),
        (lambda: RateLimitPolicy(rate=1e12), "rate must be <= 1e"),
        (lambda: RateLimitPolicy(rate=5, burst=0), "burst must be >= 1"),
        (lambda: Greeting(word="x", times=0), "times must be >= 1"),
    ],
)
def test_sections_built_in_code_are_validated_like_configuration(build: Any, message: str) -> None:
    """msgspec bounds apply to Structs built in code too, with a message naming the field."""
    with pytest.raises(ValueError, match=message):
        build()


def test_policy_is_immutable_and_compares_by_effective_values() -> None:
    """Setting an attribute fails; explicit defaults equal omitted ones; replace/merge copy."""
    policy = Policy(timeout=2.0)
    with pytest.raises(AttributeError):
        policy.timeout = 3.0  # type: ignore[misc]
    assert Policy(max_conns=10_000) == Policy()
    assert policy.replace(max_conns=3) == Policy(timeout=2.0, max_conns=3)
    assert policy.merge({"max_conns": 3})[TIMEOUT] == 2.0
    assert policy != Policy()
    with pytest.raises(AttributeError, match="no section 'nope'"):
        _ = policy.nope


def test_to_builtins_lists_every_section() -> None:
    """The effective value of every registered section, as plain data."""
    data = Policy(rate_limit=RateLimitPolicy(rate=3)).to_builtins()
    assert set(data) == set(sections())
    assert data["rate_limit"]["rate"] == 3.0
    assert data["timeout"] == 10.0
    assert Policy()[RATE_LIMIT] is None


@pytest.mark.parametrize(
    ("policy", "path"),
    [
        (
            lambda: Policy(
                hotspots=(HotspotPolicy(key="path:id", rate=1), HotspotPolicy(key="fn:nope", rate=1))
            ),
            '$.routes["GET /x/{id}"].hotspots[1].key',
        ),
        (lambda: Policy(max_conns_per_client=2, client_key="fn:nope"), '$.routes["GET /x/{id}"].client_key'),
    ],
)
def test_compile_errors_name_the_leaf_field(policy: Any, path: str) -> None:
    """A key function that does not exist is reported at its own field, item index included."""
    svc = Service("leaf")
    with pytest.raises(ConfigError, match="no key function named 'nope'") as info:
        svc.get("/x/{id}", policy=policy())(lambda id: None)
    assert info.value.path == path


def test_missing_required_field_is_named() -> None:
    """A section missing a required field names that field, not just the section."""
    with pytest.raises(ConfigError) as info:
        decode_patch({"rate_limit": {"burst": 3}}, '$.routes["GET /x"]')
    assert info.value.path == '$.routes["GET /x"].rate_limit.rate'
