"""Hostile JSON bodies: deep nesting and invalid UTF-8 are 400 MALFORMED_BODY, never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall import Request, Service
from seawall.errors import MalformedBody
from seawall.http._params import MAX_JSON_DEPTH, compile_params, json_depth_exceeds

Client = Callable[[Any], httpx.AsyncClient]


class Item(msgspec.Struct):
    name: str


class Loose(msgspec.Struct):
    name: str
    extra: Any = None


@pytest.fixture
def service() -> Service:
    svc = Service("hostile-body")

    @svc.post("/item")
    async def item(item: Item) -> dict[str, str]:
        return {"name": item.name}

    @svc.post("/loose")
    async def loose(body: Loose) -> dict[str, str]:
        return {"name": body.name}

    @svc.post("/list")
    async def as_list(values: list[Any]) -> dict[str, int]:
        return {"n": len(values)}

    @svc.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    return svc


def nested(depth: int, *, closed: bool = True) -> bytes:
    return b"[" * depth + (b"]" * depth if closed else b"")


def bodies(depth: int, closed: bool) -> dict[str, bytes]:
    """The same nesting in an unknown Struct field, an ``Any`` field and a ``list`` body."""
    inner = nested(depth, closed=closed)
    return {
        "/item": b'{"name":"a","unknown":' + inner + b"}",
        "/loose": b'{"name":"a","extra":' + inner + b"}",
        "/list": inner,
    }


@pytest.mark.parametrize("closed", [True, False], ids=["balanced", "truncated"])
@pytest.mark.parametrize("depth", [1_000, 10_000, 500_000])
async def test_deep_nesting_is_400_malformed_body(
    service: Service, asgi_client: Client, depth: int, closed: bool
) -> None:
    """Arrays nested 1,000 to 500,000 deep are a 400 MALFORMED_BODY on every kind of body route."""
    async with asgi_client(service) as client:
        for path, body in bodies(depth, closed).items():
            r = await client.post(path, content=body, headers={"content-type": "application/json"})
            assert r.status_code == 400, (path, r.text[:200])
            error = r.json()
            assert error["reason"] == "MALFORMED_BODY", path
            assert error["code"] == 40001
            assert error["message"]
        assert (await client.get("/ping")).status_code == 200  # and it keeps serving


async def test_nesting_at_the_limit_is_accepted(service: Service, asgi_client: Client) -> None:
    """A body exactly ``MAX_JSON_DEPTH`` deep decodes; one level more is refused."""
    async with asgi_client(service) as client:
        at = await client.post("/list", content=nested(MAX_JSON_DEPTH))
        over = await client.post("/list", content=nested(MAX_JSON_DEPTH + 1))
    assert (at.status_code, at.json()) == (200, {"n": 1})
    assert (over.status_code, over.json()["reason"]) == (400, "MALFORMED_BODY")
    assert str(MAX_JSON_DEPTH) in over.json()["message"]


async def test_max_json_depth_is_per_request() -> None:
    """``Request.max_json_depth`` (what config sets) is the limit the body builder applies."""

    async def handler(values: list[Any]) -> None:
        return None

    _, build = compile_params(handler, set())
    assert build is not None

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": nested(5), "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    assert await build(Request(scope, receive, max_json_depth=5)) == {"values": [[[[[]]]]]}
    with pytest.raises(MalformedBody, match="4 levels"):
        await build(Request(scope, receive, max_json_depth=4))


async def test_recursion_error_is_a_backstop() -> None:
    """With the depth limit lifted, msgspec's own RecursionError is still a 400, not a 500."""

    async def handler(values: list[Any]) -> None:
        return None

    _, build = compile_params(handler, set())
    assert build is not None

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": nested(50_000), "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    with pytest.raises(MalformedBody, match="too deeply"):
        await build(Request(scope, receive, max_json_depth=10**9))


async def test_wide_shallow_body_is_accepted(service: Service, asgi_client: Client) -> None:
    """Thousands of sibling arrays (many openers, depth 3) pass the depth check."""
    async with asgi_client(service) as client:
        r = await client.post("/list", json=[[[i]] for i in range(5_000)])
    assert (r.status_code, r.json()) == (200, {"n": 5_000})


@pytest.mark.parametrize(
    "body",
    [
        b'{"name":"\xff"}',
        b'{"name":"\xed\xa0\x80"}',  # an encoded surrogate
        b'{"name":"ok\xc3"}',  # truncated sequence
    ],
)
async def test_invalid_utf8_in_a_string_is_400(service: Service, asgi_client: Client, body: bytes) -> None:
    """Invalid UTF-8 inside a JSON string is a 400 MALFORMED_BODY, not a UnicodeDecodeError 500."""
    async with asgi_client(service) as client:
        r = await client.post("/item", content=body)
        assert (await client.get("/ping")).status_code == 200
    assert r.status_code == 400
    assert r.json()["reason"] == "MALFORMED_BODY"
    assert "UTF-8" in r.json()["message"]


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


_TRICKY_TEXT = st.text(alphabet='[]{}"\\ab\n\u00e9', max_size=8)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | _TRICKY_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TRICKY_TEXT, children, max_size=4),
    max_leaves=60,
)


@given(value=_JSON_VALUES, limit=st.integers(min_value=0, max_value=12), ascii_only=st.booleans())
def test_depth_scan_matches_the_real_depth(value: Any, limit: int, ascii_only: bool) -> None:
    """json_depth_exceeds(body, L) is exactly depth > L, whatever brackets, quotes or escapes strings hold."""
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert json_depth_exceeds(body, limit) == (_depth(value) > limit)


@given(depth=st.integers(min_value=1, max_value=300), width=st.integers(min_value=1, max_value=4))
def test_depth_scan_on_combs(depth: int, width: int) -> None:
    """Many siblings nested ``depth`` deep (no single long run of openers) are measured exactly."""
    tooth = "[" * (depth - 1) + "0" + "]" * (depth - 1)
    body = ("[" + ",".join([tooth] * width) + "]").encode()
    assert json_depth_exceeds(body, 128) == (depth > 128)
