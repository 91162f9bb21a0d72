"""``/openapi.json``: an OpenAPI 3.1.0 document generated from the handlers' types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import httpx
import msgspec
import pytest

from seawall import Header, Service

Client = Callable[[Any], httpx.AsyncClient]


class Item(msgspec.Struct):
    name: str
    price: float


class Filter(msgspec.Struct):
    color: str
    size: int = 0


@pytest.fixture
async def doc(asgi_client: Client) -> dict[str, Any]:
    svc = Service("shop", version="1.2.3")

    @svc.get("/items/{item_id}")
    async def get_item(item_id: int, verbose: bool = False) -> Item:
        """Fetch one item.

        More text that is not the summary.
        """
        return Item("x", 1.0)

    @svc.post("/items")
    async def create_item(item: Item, x_tenant: Annotated[str, Header()]) -> Item:
        return item

    @svc.get("/filter")
    async def filter_items(query: Filter) -> list[Item]:
        return []

    async with asgi_client(svc) as client:
        r = await client.get("/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    result: dict[str, Any] = r.json()
    return result


def test_version_and_info(doc: dict[str, Any]) -> None:
    """The document is OpenAPI 3.1.0 with the service's name and version."""
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {"title": "shop", "version": "1.2.3"}


def test_paths_use_route_templates(doc: dict[str, Any]) -> None:
    """Paths are the route templates, with one operation per registered method."""
    assert set(doc["paths"]) == {"/items/{item_id}", "/items", "/filter"}
    assert set(doc["paths"]["/items/{item_id}"]) == {"get"}
    assert set(doc["paths"]["/items"]) == {"post"}


def test_builtin_endpoints_are_left_out(doc: dict[str, Any]) -> None:
    """``/healthz``, ``/readyz``, ``/metrics`` and ``/openapi.json`` are not documented."""
    assert not {"/healthz", "/readyz", "/metrics", "/openapi.json"} & set(doc["paths"])


def test_path_and_query_parameters_have_schemas(doc: dict[str, Any]) -> None:
    """A path int and an optional query bool are listed with their JSON Schemas."""
    op = doc["paths"]["/items/{item_id}"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["item_id"] == {
        "name": "item_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer"},
    }
    assert params["verbose"]["in"] == "query"
    assert params["verbose"]["required"] is False
    assert params["verbose"]["schema"]["type"] == "boolean"


def test_header_parameter(doc: dict[str, Any]) -> None:
    """A ``Header()`` parameter is listed under its dashed header name."""
    params = doc["paths"]["/items"]["post"]["parameters"]
    assert {"name": "x-tenant", "in": "header", "required": True, "schema": {"type": "string"}} in params


def test_query_struct_fields_become_query_parameters(doc: dict[str, Any]) -> None:
    """Each field of a ``query`` Struct is a query parameter, required unless it has a default."""
    params = {p["name"]: p for p in doc["paths"]["/filter"]["get"]["parameters"]}
    assert params["color"]["in"] == "query"
    assert params["color"]["required"] is True
    assert params["size"]["required"] is False


def test_request_body_references_component(doc: dict[str, Any]) -> None:
    """A Struct body is a required JSON requestBody referencing its component schema."""
    body = doc["paths"]["/items"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Item"}
    item = doc["components"]["schemas"]["Item"]
    assert item["properties"]["price"]["type"] == "number"
    assert set(item["required"]) == {"name", "price"}


def test_response_schema_from_return_type(doc: dict[str, Any]) -> None:
    """The 200 response's schema comes from the return annotation."""
    ok = doc["paths"]["/items/{item_id}"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Item"}
    listed = doc["paths"]["/filter"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed == {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}


def test_error_body_component_and_error_responses(doc: dict[str, Any]) -> None:
    """ErrorBody is a component, and error responses reference it."""
    error = doc["components"]["schemas"]["ErrorBody"]
    assert {"code", "reason", "message"} <= set(error["properties"])
    responses = doc["paths"]["/items"]["post"]["responses"]
    assert responses["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert {"400", "503", "504"} <= set(responses)


def test_summary_is_first_docstring_line(doc: dict[str, Any]) -> None:
    """The operation summary is the handler docstring's first line; operationId is method_name."""
    op = doc["paths"]["/items/{item_id}"]["get"]
    assert op["summary"] == "Fetch one item."
    assert op["operationId"] == "get_get_item"


async def test_document_is_rebuilt_after_adding_a_route(asgi_client: Client) -> None:
    """A route added after the document was served appears in the next one."""
    svc = Service("late")
    svc.get("/a")(lambda: None)
    async with asgi_client(svc) as client:
        first = (await client.get("/openapi.json")).json()
        svc.get("/b")(lambda: None)
        second = (await client.get("/openapi.json")).json()
    assert set(first["paths"]) == {"/a"}
    assert set(second["paths"]) == {"/a", "/b"}


def test_catch_all_placeholder_is_a_plain_openapi_template() -> None:
    """``/files/{rest:path}`` is written ``/files/{rest}`` (OpenAPI templates have no converters)."""
    import json

    from seawall.http._openapi import openapi_document

    svc = Service("files")

    @svc.get("/files/{rest:path}")
    async def files(rest: str) -> dict[str, str]:
        return {"rest": rest}

    paths = json.loads(openapi_document(svc))["paths"]
    assert "/files/{rest}" in paths
    assert paths["/files/{rest}"]["get"]["parameters"][0]["name"] == "rest"
