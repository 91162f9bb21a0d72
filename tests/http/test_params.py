"""Typed handler parameters: path, query, query Struct, headers, Request and JSON bodies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import httpx
import msgspec
import pytest

from seawall import Header, Request, Service

Client = Callable[[Any], httpx.AsyncClient]


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []


class Page(msgspec.Struct):
    limit: int = 10
    cursor: str | None = None


@pytest.fixture
def service() -> Service:
    svc = Service("params")

    @svc.get("/items/{item_id}")
    async def get_item(item_id: int) -> dict[str, Any]:
        return {"item_id": item_id, "type": type(item_id).__name__}

    @svc.get("/search")
    async def search(q: str, limit: int = 10, exact: bool = False) -> dict[str, Any]:
        return {"q": q, "limit": limit, "exact": exact}

    @svc.get("/page")
    async def page(query: Page) -> Page:
        return query

    @svc.get("/whoami")
    async def whoami(
        x_request_id: Annotated[str, Header()], token: Annotated[str, Header("x-api-key")] = "none"
    ) -> dict[str, str]:
        return {"request_id": x_request_id, "token": token}

    @svc.get("/raw/{name}")
    async def raw(name: str, request: Request) -> dict[str, Any]:
        return {"method": request.method, "path": request.path, "params": request.params}

    @svc.post("/items")
    async def create(item: Item) -> Item:
        return item

    @svc.post("/maybe")
    async def maybe(item: Item | None = None) -> dict[str, bool]:
        return {"got": item is not None}

    @svc.get("/sync/{n}")
    def sync_handler(n: int) -> dict[str, int]:
        return {"double": n * 2}

    return svc


async def test_path_param_is_converted_to_int(service: Service, asgi_client: Client) -> None:
    """A path parameter annotated ``int`` reaches the handler as an int."""
    async with asgi_client(service) as client:
        r = await client.get("/items/42")
    assert r.json() == {"item_id": 42, "type": "int"}


async def test_bad_int_path_param_is_400_naming_the_field(service: Service, asgi_client: Client) -> None:
    """A non-integer path segment is a 400 VALIDATION_FAILED naming ``path.item_id``."""
    async with asgi_client(service) as client:
        r = await client.get("/items/abc")
    assert r.status_code == 400
    body = r.json()
    assert body["reason"] == "VALIDATION_FAILED"
    assert "path.item_id" in body["message"]
    assert body["details"] == {"field": "path.item_id"}


async def test_query_scalars_use_defaults(service: Service, asgi_client: Client) -> None:
    """Optional query parameters take their defaults when absent."""
    async with asgi_client(service) as client:
        r = await client.get("/search", params={"q": "cats"})
    assert r.json() == {"q": "cats", "limit": 10, "exact": False}


async def test_query_scalars_are_converted(service: Service, asgi_client: Client) -> None:
    """Query values are converted to the annotated int and bool."""
    async with asgi_client(service) as client:
        r = await client.get("/search", params={"q": "cats", "limit": "3", "exact": "true"})
    assert r.json() == {"q": "cats", "limit": 3, "exact": True}


async def test_missing_required_query_is_400(service: Service, asgi_client: Client) -> None:
    """A required query parameter that is absent is a 400 naming ``query.q``."""
    async with asgi_client(service) as client:
        r = await client.get("/search")
    assert r.status_code == 400
    assert r.json()["reason"] == "VALIDATION_FAILED"
    assert r.json()["details"] == {"field": "query.q"}


async def test_bad_query_scalar_is_400(service: Service, asgi_client: Client) -> None:
    """A query value that does not convert is a 400 naming the parameter."""
    async with asgi_client(service) as client:
        r = await client.get("/search", params={"q": "x", "limit": "many"})
    assert r.status_code == 400
    assert r.json()["details"] == {"field": "query.limit"}


async def test_query_struct_is_built_from_the_query_string(service: Service, asgi_client: Client) -> None:
    """A parameter named ``query`` typed as a Struct is decoded from the query string."""
    async with asgi_client(service) as client:
        default = await client.get("/page")
        given = await client.get("/page", params={"limit": "5", "cursor": "abc"})
    assert default.json() == {"limit": 10, "cursor": None}
    assert given.json() == {"limit": 5, "cursor": "abc"}


async def test_bad_query_struct_field_is_400(service: Service, asgi_client: Client) -> None:
    """A query Struct field of the wrong type is a 400 naming ``query.$.limit``."""
    async with asgi_client(service) as client:
        r = await client.get("/page", params={"limit": "lots"})
    assert r.status_code == 400
    assert r.json()["details"] == {"field": "query.$.limit"}


async def test_header_params(service: Service, asgi_client: Client) -> None:
    """``Annotated[str, Header()]`` reads the dashed header; ``Header("name")`` reads that name."""
    async with asgi_client(service) as client:
        r = await client.get("/whoami", headers={"X-Request-Id": "r1", "X-Api-Key": "k"})
    assert r.json() == {"request_id": "r1", "token": "k"}


async def test_missing_required_header_is_400(service: Service, asgi_client: Client) -> None:
    """A required header that is absent is a 400 naming ``header.x-request-id``."""
    async with asgi_client(service) as client:
        r = await client.get("/whoami")
    assert r.status_code == 400
    assert r.json()["details"] == {"field": "header.x-request-id"}


async def test_request_param_receives_the_request(service: Service, asgi_client: Client) -> None:
    """A parameter annotated ``Request`` gets the request, with its path params."""
    async with asgi_client(service) as client:
        r = await client.get("/raw/zed")
    assert r.json() == {"method": "GET", "path": "/raw/zed", "params": {"name": "zed"}}


async def test_json_body_is_decoded_into_struct(service: Service, asgi_client: Client) -> None:
    """A Struct parameter is decoded from the JSON body."""
    async with asgi_client(service) as client:
        r = await client.post("/items", json={"name": "pen", "price": 1.5})
    assert r.status_code == 200
    assert r.json() == {"name": "pen", "price": 1.5, "tags": []}


async def test_malformed_json_is_400_malformed_body(service: Service, asgi_client: Client) -> None:
    """A body that is not JSON is a 400 MALFORMED_BODY."""
    async with asgi_client(service) as client:
        r = await client.post("/items", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["reason"] == "MALFORMED_BODY"


async def test_wrong_field_type_names_the_field(service: Service, asgi_client: Client) -> None:
    """A body field of the wrong type is a 400 VALIDATION_FAILED naming ``body.$.price``."""
    async with asgi_client(service) as client:
        r = await client.post("/items", json={"name": "pen", "price": "cheap"})
    assert r.status_code == 400
    body = r.json()
    assert body["reason"] == "VALIDATION_FAILED"
    assert "body.$.price" in body["message"]
    assert body["details"] == {"field": "body.$.price"}


async def test_nested_field_path_is_named(service: Service, asgi_client: Client) -> None:
    """A wrong element inside a list field is named with its index."""
    async with asgi_client(service) as client:
        r = await client.post("/items", json={"name": "pen", "price": 1, "tags": ["a", 2]})
    assert r.json()["details"] == {"field": "body.$.tags[1]"}


async def test_missing_required_body_field_is_400(service: Service, asgi_client: Client) -> None:
    """A body missing a required field is a 400 VALIDATION_FAILED."""
    async with asgi_client(service) as client:
        r = await client.post("/items", json={"name": "pen"})
    assert r.status_code == 400
    assert r.json()["reason"] == "VALIDATION_FAILED"
    assert "price" in r.json()["message"]


async def test_empty_body_for_required_struct_is_400(service: Service, asgi_client: Client) -> None:
    """An empty body where a Struct is required is a 400 MALFORMED_BODY."""
    async with asgi_client(service) as client:
        r = await client.post("/items")
    assert r.status_code == 400
    assert r.json()["reason"] == "MALFORMED_BODY"


async def test_optional_body_defaults_when_empty(service: Service, asgi_client: Client) -> None:
    """An optional body parameter takes its default when the body is empty."""
    async with asgi_client(service) as client:
        empty = await client.post("/maybe")
        given = await client.post("/maybe", json={"name": "a", "price": 1})
    assert empty.json() == {"got": False}
    assert given.json() == {"got": True}


async def test_sync_handler_with_params(service: Service, asgi_client: Client) -> None:
    """A plain ``def`` handler is called with converted parameters."""
    async with asgi_client(service) as client:
        r = await client.get("/sync/21")
    assert r.json() == {"double": 42}


def test_star_args_are_refused() -> None:
    """A handler taking ``*args`` cannot be registered."""
    svc = Service("bad")

    def handler(*args: str) -> None:
        return None

    with pytest.raises(TypeError, match=r"\*args"):
        svc.get("/x")(handler)


def test_placeholder_without_parameter_is_refused() -> None:
    """A path placeholder the handler does not take is an error at registration."""
    svc = Service("bad")

    def handler() -> None:
        return None

    with pytest.raises(TypeError, match="item_id"):
        svc.get("/items/{item_id}")(handler)


def test_two_body_parameters_are_refused() -> None:
    """A handler may have at most one body parameter."""
    svc = Service("bad")

    def handler(a: Item, b: Item) -> None:
        return None

    with pytest.raises(TypeError, match="at most one body"):
        svc.post("/x")(handler)
