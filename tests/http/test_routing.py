"""Routing: static, ``{param}`` and ``{rest:path}`` routes, 404, 405 with ``Allow``, HEAD via GET."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from seawall import Response, Service
from seawall.http._router import Router, parse_template

Client = Callable[[Any], httpx.AsyncClient]


@pytest.fixture
def service() -> Service:
    svc = Service("routing")

    @svc.get("/static")
    async def static() -> dict[str, str]:
        return {"route": "static"}

    @svc.get("/users/{name}")
    async def user(name: str) -> dict[str, str]:
        return {"name": name}

    @svc.get("/files/{rest:path}")
    async def files(rest: str) -> dict[str, str]:
        return {"rest": rest}

    @svc.post("/static")
    async def create() -> Response:
        return Response(b"made", status=201)

    @svc.put("/only-put")
    async def only_put() -> None:
        return None

    return svc


async def test_static_route(service: Service, asgi_client: Client) -> None:
    """A static path is served by its handler."""
    async with asgi_client(service) as client:
        r = await client.get("/static")
    assert r.status_code == 200
    assert r.json() == {"route": "static"}


async def test_method_selects_handler_on_same_path(service: Service, asgi_client: Client) -> None:
    """Two methods on one path reach their own handlers."""
    async with asgi_client(service) as client:
        r = await client.post("/static")
    assert (r.status_code, r.content) == (201, b"made")


async def test_param_route_captures_one_segment(service: Service, asgi_client: Client) -> None:
    """``{name}`` captures exactly one path segment."""
    async with asgi_client(service) as client:
        ok = await client.get("/users/ada")
        deeper = await client.get("/users/ada/extra")
    assert ok.json() == {"name": "ada"}
    assert deeper.status_code == 404


async def test_path_route_captures_the_rest(service: Service, asgi_client: Client) -> None:
    """``{rest:path}`` captures every remaining segment, slashes included."""
    async with asgi_client(service) as client:
        r = await client.get("/files/a/b/c.txt")
    assert r.json() == {"rest": "a/b/c.txt"}


async def test_unknown_path_is_404_with_error_body(service: Service, asgi_client: Client) -> None:
    """An unmatched path is a 404 with the standard error body, reason NOT_FOUND."""
    async with asgi_client(service) as client:
        r = await client.get("/nope")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert {"code", "reason", "message"} <= body.keys()
    assert body["reason"] == "NOT_FOUND"
    assert body["code"] == 40400


async def test_wrong_method_is_405_with_allow(service: Service, asgi_client: Client) -> None:
    """A known path with an unregistered method is a 405 whose ``Allow`` lists the methods and HEAD."""
    async with asgi_client(service) as client:
        r = await client.delete("/users/ada")
    assert r.status_code == 405
    assert r.json()["reason"] == "METHOD_NOT_ALLOWED"
    assert [m.strip() for m in r.headers["allow"].split(",")] == ["GET", "HEAD"]


async def test_405_on_static_path_lists_all_methods(service: Service, asgi_client: Client) -> None:
    """``Allow`` on a static path names every registered method, plus HEAD because GET exists."""
    async with asgi_client(service) as client:
        r = await client.patch("/static")
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}


async def test_405_without_get_does_not_offer_head(service: Service, asgi_client: Client) -> None:
    """HEAD is only offered in ``Allow`` when a GET handler exists."""
    async with asgi_client(service) as client:
        r = await client.get("/only-put")
    assert r.status_code == 405
    assert r.headers["allow"] == "PUT"


async def test_head_is_served_by_get_without_body(service: Service, asgi_client: Client) -> None:
    """HEAD on a GET route answers GET's status and headers with an empty body."""
    async with asgi_client(service) as client:
        get = await client.get("/users/ada")
        head = await client.head("/users/ada")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"]


async def test_head_on_static_get_route(service: Service, asgi_client: Client) -> None:
    """HEAD also falls back to GET on static routes."""
    async with asgi_client(service) as client:
        r = await client.head("/static")
    assert (r.status_code, r.content) == (200, b"")


async def test_head_404_has_no_body(service: Service, asgi_client: Client) -> None:
    """A HEAD to an unknown path is a 404 with an empty body."""
    async with asgi_client(service) as client:
        r = await client.head("/nope")
    assert (r.status_code, r.content) == (404, b"")


def test_duplicate_registration_is_refused() -> None:
    """Registering the same method and path twice raises ValueError."""
    svc = Service("dup")
    svc.get("/x")(lambda: None)
    with pytest.raises(ValueError, match="GET /x is already registered"):
        svc.get("/x")(lambda: None)


def test_template_must_start_with_slash() -> None:
    """A route template without a leading slash is refused."""
    with pytest.raises(ValueError, match="must start with '/'"):
        parse_template("items")


def test_repeated_placeholder_is_refused() -> None:
    """A placeholder may appear once per template."""
    with pytest.raises(ValueError, match="appears twice"):
        parse_template("/{a}/{a}")


def test_router_tries_templates_in_registration_order() -> None:
    """Templated routes are matched in the order they were added."""
    router: Router[str] = Router()
    router.add("/a/{x}", "first")
    router.add("/a/{rest:path}", "second")
    assert router.match("/a/b") == ("first", {"x": "b"})
    assert router.match("/a/b/c") == ("second", {"rest": "b/c"})


def test_static_beats_template() -> None:
    """A static path wins over a template that also matches it."""
    router: Router[str] = Router()
    router.add("/a/{x}", "template")
    router.add("/a/me", "static")
    assert router.match("/a/me") == ("static", {})


def test_placeholder_regex_metacharacters_are_literal() -> None:
    """Characters around placeholders are matched literally, not as regex syntax."""
    router: Router[str] = Router()
    router.add("/v1.0/{x}", "v")
    assert router.match("/v1x0/y") is None
    assert router.match("/v1.0/y") == ("v", {"x": "y"})
