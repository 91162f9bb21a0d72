"""Hostile path, query and header values: strict scalars, NUL bytes and ``..`` segments are 400."""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, NewType

import httpx
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall import Header, Service
from seawall.errors import ValidationFailed
from seawall.http._params import compile_path_converters

Client = Callable[[Any], httpx.AsyncClient]

UserId = NewType("UserId", int)


class Color(enum.IntEnum):
    RED = 1
    GREEN = 2


class Page(msgspec.Struct):
    limit: int = 10
    ratio: float = 1.0
    exact: bool = False
    after: int | None = None


@pytest.fixture
def service() -> Service:
    svc = Service("hostile-params")

    @svc.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        return {"item_id": item_id}

    @svc.get("/users/{user_id}")
    async def user(user_id: UserId) -> dict[str, Any]:
        return {"user_id": user_id}

    @svc.get("/colors/{color}")
    async def color(color: Color) -> dict[str, Any]:
        return {"color": color.name}

    @svc.get("/positive/{n}")
    async def positive(n: Annotated[int, msgspec.Meta(ge=1)]) -> dict[str, Any]:
        return {"n": n}

    @svc.get("/ids/{id}")
    async def by_uuid(id: uuid.UUID) -> dict[str, Any]:
        return {"id": str(id)}

    @svc.get("/names/{name}")
    async def name(name: str) -> dict[str, Any]:
        return {"name": name}

    @svc.get("/files/{path:path}")
    async def files(path: str) -> dict[str, Any]:
        return {"path": path}

    @svc.get("/search")
    async def search(
        limit: int = 10,
        ratio: float = 1.0,
        price: Decimal = Decimal(0),
        exact: bool = False,
        after: int | None = None,
        scale: float | None = None,
    ) -> dict[str, Any]:
        return {
            "limit": limit,
            "ratio": ratio,
            "price": str(price),
            "exact": exact,
            "after": after,
            "scale": scale,
        }

    @svc.get("/page")
    async def page(query: Page) -> Page:
        return query

    @svc.get("/header")
    async def header(retries: Annotated[int, Header("x-retries")] = 0) -> dict[str, int]:
        return {"retries": retries}

    return svc


async def _get(service: Service, asgi_client: Client, url: str, **kwargs: Any) -> httpx.Response:
    async with asgi_client(service) as client:
        return await client.get(url, **kwargs)


def _assert_invalid(r: httpx.Response, field: str) -> None:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["reason"] == "VALIDATION_FAILED"
    assert body["details"] == {"field": field}
    assert set(body) >= {"code", "reason", "message"}


# -- integers ----------------------------------------------------------------------------------

NOT_INTEGERS = [
    "1e3", "1.0", "1.00", "10e-1", "1e0", "1E0", "+1", "01", "-01", " 1", "1 ", "1_000", "0x10",
    "\u0661", "١", "", "-", "1.", ".1", "nan", "inf", "true",
]  # fmt: skip
TOO_BIG = ["18446744073709551616", "-9223372036854775809", "1" * 21, "9" * 4300, "1" * 60_000]


@pytest.mark.parametrize("raw", NOT_INTEGERS + TOO_BIG)
async def test_int_path_accepts_only_plain_integers(service: Service, asgi_client: Client, raw: str) -> None:
    """``1e3``, ``1.0``, ``10e-1``, ``+1``, ``01`` and out-of-range integers are 400 for an ``int``."""
    r = await _get(service, asgi_client, f"/items/{raw}")
    if raw == "":
        assert r.status_code == 404  # no segment: no route
    else:
        _assert_invalid(r, "path.item_id")


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("0", 0),
        ("-0", 0),
        ("42", 42),
        ("-9223372036854775808", -(2**63)),
        ("18446744073709551615", 2**64 - 1),
    ],
)
async def test_int_path_accepts_the_json_integer_range(
    service: Service, asgi_client: Client, raw: str, value: int
) -> None:
    """Integers from -2**63 to 2**64-1 (what a JSON body accepts) are converted."""
    r = await _get(service, asgi_client, f"/items/{raw}")
    assert r.json() == {"item_id": value}


@pytest.mark.parametrize("raw", ["1e3", "1.0", "10e-1"])
async def test_int_query_and_header_are_strict(service: Service, asgi_client: Client, raw: str) -> None:
    """Query and header integers follow the same strict rule as path ones."""
    _assert_invalid(await _get(service, asgi_client, "/search", params={"limit": raw}), "query.limit")
    _assert_invalid(
        await _get(service, asgi_client, "/header", headers={"x-retries": raw}), "header.x-retries"
    )


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/users/1.0", "path.user_id"),
        ("/colors/1.0", "path.color"),
        ("/colors/1e0", "path.color"),
        ("/positive/1.0", "path.n"),
        ("/positive/0", "path.n"),
        ("/colors/3", "path.color"),
    ],
)
async def test_int_like_types_are_strict(service: Service, asgi_client: Client, url: str, field: str) -> None:
    """NewType(int), IntEnum and constrained ints refuse float spellings; constraints still apply."""
    _assert_invalid(await _get(service, asgi_client, url), field)


async def test_int_like_types_convert(service: Service, asgi_client: Client) -> None:
    """NewType(int), IntEnum and constrained ints convert plain integers."""
    assert (await _get(service, asgi_client, "/users/7")).json() == {"user_id": 7}
    assert (await _get(service, asgi_client, "/colors/2")).json() == {"color": "GREEN"}
    assert (await _get(service, asgi_client, "/positive/3")).json() == {"n": 3}


async def test_optional_int_keeps_null(service: Service, asgi_client: Client) -> None:
    """``int | None`` takes ``null`` as None (msgspec's text form) and still refuses ``1.0``."""
    assert (await _get(service, asgi_client, "/search", params={"after": "null"})).json()["after"] is None
    assert (await _get(service, asgi_client, "/search", params={"after": "5"})).json()["after"] == 5
    _assert_invalid(await _get(service, asgi_client, "/search", params={"after": "5.0"}), "query.after")


@given(n=st.integers(min_value=-(2**63), max_value=2**64 - 1))
def test_every_integer_in_range_round_trips(n: int) -> None:
    """``str(n)`` converts back to ``n`` for every integer in range."""
    assert _item_id(str(n)) == n


@given(raw=st.text(alphabet="0123456789-+.eE_ x", max_size=24))
def test_one_spelling_per_integer(raw: str) -> None:
    """Any text accepted as an int is that int's canonical spelling (``-0`` aside), so a hotspot
    key on the raw text and one on the value cannot disagree."""
    try:
        value = _item_id(raw)
    except ValidationFailed:
        return
    assert raw in (str(value), "-0")


async def _item_handler(item_id: int) -> None:
    return None


_item_id = compile_path_converters(_item_handler, {"item_id"})["item_id"]


# -- floats, decimals, booleans ------------------------------------------------------------------


NOT_FINITE = ["nan", "NaN", "inf", "-inf", "Infinity", "-Infinity", "1,5", "0x1p3", "1" * 200]


@pytest.mark.parametrize("raw", [*NOT_FINITE, "1e999", "-1e999"])
async def test_float_must_be_finite(service: Service, asgi_client: Client, raw: str) -> None:
    """``nan``, ``inf`` and overflowing numbers are 400 for a ``float`` or ``float | None``."""
    for name in ("ratio", "scale"):
        _assert_invalid(await _get(service, asgi_client, "/search", params={name: raw}), f"query.{name}")


@pytest.mark.parametrize("raw", NOT_FINITE)
async def test_decimal_must_be_finite(service: Service, asgi_client: Client, raw: str) -> None:
    """``nan`` and ``inf`` are 400 for a Decimal (``1e999`` is a finite Decimal)."""
    _assert_invalid(await _get(service, asgi_client, "/search", params={"price": raw}), "query.price")


@pytest.mark.parametrize(
    ("raw", "value"), [("1.5", 1.5), ("-0", 0.0), ("1e-3", 0.001), ("2", 2.0), ("1e-999", 0.0)]
)
async def test_finite_floats_convert(service: Service, asgi_client: Client, raw: str, value: float) -> None:
    """Finite JSON numbers convert to float."""
    r = await _get(service, asgi_client, "/search", params={"ratio": raw})
    assert r.json()["ratio"] == value


async def test_decimal_keeps_its_digits(service: Service, asgi_client: Client) -> None:
    """A Decimal query value keeps every digit it was sent with."""
    r = await _get(service, asgi_client, "/search", params={"price": "12.340"})
    assert r.json()["price"] == "12.340"


@pytest.mark.parametrize(
    ("raw", "value"),
    [("true", True), ("false", False), ("TRUE", True), ("False", False), ("1", True), ("0", False)],
)
async def test_bool_spellings(service: Service, asgi_client: Client, raw: str, value: bool) -> None:
    """Booleans accept true/false in any letter case, 1 and 0."""
    assert (await _get(service, asgi_client, "/search", params={"exact": raw})).json()["exact"] is value


@pytest.mark.parametrize("raw", ["yes", "on", "t", "2", "truee", "", "x" * 10_000])
async def test_other_bool_spellings_are_400(service: Service, asgi_client: Client, raw: str) -> None:
    """Anything else is a 400 for a bool."""
    _assert_invalid(await _get(service, asgi_client, "/search", params={"exact": raw}), "query.exact")


@given(raw=st.text(max_size=30))
def test_accepted_floats_are_finite(raw: str) -> None:
    """Whatever text a float parameter accepts, the value is finite."""

    async def handler(ratio: float) -> None:
        return None

    convert = compile_path_converters(handler, {"ratio"})["ratio"]
    try:
        value = convert(raw)
    except ValidationFailed:
        return
    assert math.isfinite(value)


# -- query Struct ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "1e3"}, "query.$.limit"),
        ({"limit": "1.0"}, "query.$.limit"),
        ({"ratio": "nan"}, "query.$.ratio"),
        ({"ratio": "inf"}, "query.$.ratio"),
        ({"exact": "yes"}, "query.$.exact"),
        ({"after": "2.0"}, "query.$.after"),
    ],
)
async def test_query_struct_fields_are_strict(
    service: Service, asgi_client: Client, params: dict[str, str], field: str
) -> None:
    """The fields of a ``query`` Struct follow the same strict rules, named ``query.$.<field>``."""
    _assert_invalid(await _get(service, asgi_client, "/page", params=params), field)


async def test_query_struct_fields_convert(service: Service, asgi_client: Client) -> None:
    """Valid values of every strict kind convert; ``null`` is None for an optional field."""
    params = {"limit": "5", "ratio": "0.5", "exact": "true", "after": "null"}
    r = await _get(service, asgi_client, "/page", params=params)
    assert r.json() == {"limit": 5, "ratio": 0.5, "exact": True, "after": None}


# -- path safety -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/names/a%00b", "/names/%00", "/files/a%00/b", "/items/1%00"])
async def test_nul_in_a_path_parameter_is_400(service: Service, asgi_client: Client, url: str) -> None:
    """A NUL byte in any path parameter is refused before the handler sees it."""
    r = await _get(service, asgi_client, url)
    assert r.status_code == 400
    assert r.json()["reason"] == "VALIDATION_FAILED"
    assert "NUL" in r.json()["message"]


@pytest.mark.parametrize(
    "url",
    [
        "/files/a/%2E%2E/b",
        "/files/%2e%2e",
        "/files/a/%2e%2e/%2E%2E",
        "/files/..%2Fetc%2Fpasswd",
        "/files/a/..%5Cb",
        "/names/%2E%2E",
    ],
)
async def test_dot_dot_segment_is_400(service: Service, asgi_client: Client, url: str) -> None:
    """A ``..`` segment (split on ``/`` or ``\\``) in a path parameter is refused, not passed on."""
    r = await _get(service, asgi_client, url)
    _assert_invalid(r, "path.path" if url.startswith("/files") else "path.name")
    assert "'..'" in r.json()["message"]


@pytest.mark.parametrize("value", ["a..b", "...", "a/.../b", ".hidden/x", "a/b.."])
async def test_dots_that_are_not_a_parent_segment_pass(
    service: Service, asgi_client: Client, value: str
) -> None:
    """Names merely containing dots are not ``..`` segments and reach the handler unchanged."""
    r = await _get(service, asgi_client, f"/files/{value}")
    assert r.json() == {"path": value}


# -- compile_path_converters ---------------------------------------------------------------------


def test_path_converters_give_the_handlers_values() -> None:
    """compile_path_converters returns, per placeholder, the conversion the handler's argument gets."""

    async def handler(shop: str, item_id: int, ratio: float, limit: int = 3) -> None:
        return None

    converters = compile_path_converters(handler, ["shop", "item_id", "ratio"])
    assert set(converters) == {"shop", "item_id", "ratio"}
    assert converters["shop"]("acme") == "acme"
    assert converters["item_id"]("42") == 42
    assert converters["ratio"]("0.5") == 0.5
    for bad, name in [
        ("1.0", "item_id"),
        ("1e0", "item_id"),
        ("nan", "ratio"),
        ("a\x00", "shop"),
        ("..", "shop"),
    ]:
        with pytest.raises(ValidationFailed) as refused:
            converters[name](bad)
        assert refused.value.details == {"field": f"path.{name}"}


def test_path_converters_check_the_signature() -> None:
    """A placeholder the handler does not take is a TypeError, as when the route is added."""

    async def handler(item_id: int) -> None:
        return None

    with pytest.raises(TypeError, match="shop"):
        compile_path_converters(handler, {"item_id", "shop"})
