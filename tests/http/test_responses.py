"""Return values become responses: Struct, dict, list, bytes, str, None (204) and Response."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest

from seawall import Response, Service

Client = Callable[[Any], httpx.AsyncClient]


class Point(msgspec.Struct):
    x: int
    y: int


@pytest.fixture
def service() -> Service:
    svc = Service("responses")

    @svc.get("/struct")
    async def struct() -> Point:
        return Point(1, 2)

    @svc.get("/dict")
    async def as_dict() -> dict[str, int]:
        return {"a": 1}

    @svc.get("/list")
    async def as_list() -> list[int]:
        return [1, 2, 3]

    @svc.get("/bytes")
    async def as_bytes() -> bytes:
        return b"\x00\x01"

    @svc.get("/str")
    async def as_str() -> str:
        return "héllo"

    @svc.get("/none")
    async def nothing() -> None:
        return None

    @svc.get("/custom")
    async def custom() -> Response:
        return Response(b"created", status=201, headers={"Location": "/items/7", "X-Thing": "1"})

    @svc.get("/json")
    async def json_response() -> Response:
        return Response.json({"ok": True}, status=202)

    return svc


async def test_struct_becomes_json(service: Service, asgi_client: Client) -> None:
    """A returned Struct is encoded as a JSON object."""
    async with asgi_client(service) as client:
        r = await client.get("/struct")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"x": 1, "y": 2}


async def test_dict_becomes_json(service: Service, asgi_client: Client) -> None:
    """A returned dict is encoded as JSON."""
    async with asgi_client(service) as client:
        r = await client.get("/dict")
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"a": 1}


async def test_list_becomes_json(service: Service, asgi_client: Client) -> None:
    """A returned list is encoded as a JSON array."""
    async with asgi_client(service) as client:
        r = await client.get("/list")
    assert r.json() == [1, 2, 3]


async def test_bytes_become_octet_stream(service: Service, asgi_client: Client) -> None:
    """Returned bytes are sent as-is with an octet-stream type."""
    async with asgi_client(service) as client:
        r = await client.get("/bytes")
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.content == b"\x00\x01"


async def test_str_becomes_utf8_text(service: Service, asgi_client: Client) -> None:
    """A returned str is UTF-8 text with a content-length in bytes."""
    async with asgi_client(service) as client:
        r = await client.get("/str")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.text == "héllo"
    assert r.headers["content-length"] == str(len("héllo".encode()))


async def test_none_is_204(service: Service, asgi_client: Client) -> None:
    """Returning None answers 204 with no body."""
    async with asgi_client(service) as client:
        r = await client.get("/none")
    assert (r.status_code, r.content) == (204, b"")


async def test_response_sets_status_and_headers(service: Service, asgi_client: Client) -> None:
    """A returned Response controls the status and headers (names lower-cased)."""
    async with asgi_client(service) as client:
        r = await client.get("/custom")
    assert r.status_code == 201
    assert r.headers["location"] == "/items/7"
    assert r.headers["x-thing"] == "1"
    assert r.headers["content-length"] == "7"
    assert r.content == b"created"


async def test_response_json_helper(service: Service, asgi_client: Client) -> None:
    """``Response.json`` encodes the value and sets the JSON content type."""
    async with asgi_client(service) as client:
        r = await client.get("/json")
    assert r.status_code == 202
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"ok": True}
