"""Schemathesis against a service with typed path, query, header and body parameters.

It reads the service's own ``/openapi.json`` and sends generated requests, valid and invalid
(wrong types, missing fields, out-of-range numbers, odd strings), through the ASGI app in-process.
Whatever it sends, seawall must answer without a 5xx, and every error it gives must carry the
error body ``{code, reason, message}``.

Schemathesis is a dev dependency; without it the test is skipped, except when ``CI`` is set.
"""

from __future__ import annotations

import os
import uuid
from decimal import Decimal
from typing import Annotated, Any

import msgspec
import pytest

from seawall import Header, Service

try:
    import schemathesis
    from hypothesis import HealthCheck, settings
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI"):
        raise
    pytest.skip("schemathesis is not installed (pip install schemathesis)", allow_module_level=True)


class Item(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    price: Annotated[float, msgspec.Meta(ge=0)]
    tags: list[str] = []
    extra: Any = None
    attributes: dict[str, int] = {}


class Page(msgspec.Struct):
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    cursor: str | None = None
    desc: bool = False


def build_service() -> Service:
    svc = Service("hostile-schemathesis")

    @svc.get("/items/{item_id}")
    async def get_item(item_id: int, verbose: bool = False) -> dict[str, Any]:
        """Read one item."""
        return {"item_id": item_id, "verbose": verbose}

    @svc.put("/items/{item_id}")
    async def put_item(item_id: int, item: Item, dry_run: bool = False) -> Item:
        """Replace one item."""
        return item

    @svc.post("/items")
    async def create_item(item: Item) -> Item:
        """Create an item."""
        return item

    @svc.post("/bulk")
    async def bulk(items: list[Item]) -> dict[str, int]:
        """Create many items."""
        return {"count": len(items)}

    @svc.get("/search")
    async def search(
        q: str, limit: int = 10, ratio: float = 1.0, price: Decimal = Decimal(0), exact: bool = False
    ) -> dict[str, Any]:
        """Search with typed query parameters."""
        return {"q": q, "limit": limit, "ratio": ratio, "price": str(price), "exact": exact}

    @svc.get("/page")
    async def page(query: Page) -> Page:
        """A query string read into a Struct."""
        return query

    @svc.get("/orders/{order_id}")
    async def order(order_id: uuid.UUID, x_tenant: Annotated[int, Header()]) -> dict[str, str]:
        """A UUID path parameter and an int header."""
        return {"order_id": str(order_id), "tenant": str(x_tenant)}

    @svc.get("/files/{path:path}")
    async def files(path: str) -> dict[str, str]:
        """A catch-all path parameter."""
        return {"path": path}

    return svc


service = build_service()
schema = schemathesis.openapi.from_asgi("/openapi.json", service)


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_5xx_and_every_error_has_the_error_body(case: Any) -> None:
    """No generated request, valid or not, gets a 5xx; every 4xx has ``{code, reason, message}``."""
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:300]}"
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith("application/json")
        body = response.json()
        assert {"code", "reason", "message"} <= body.keys(), body
        assert isinstance(body["code"], int)
        assert body["reason"].isupper()
        assert body["code"] // 100 == response.status_code
