"""The calling side of the two-service example: ``GET /products/{id}`` asks ``inventory`` for stock.

Run both from the repo root::

    seawall run examples.inventory:service --port 8001 &
    seawall run examples.shop:service --port 8000 --config examples/shop.yaml
    curl localhost:8000/products/1

``service.client("inventory")`` is an ``httpx.AsyncClient`` built from ``dependencies.inventory`` in
``examples/shop.yaml``: calls go to its instances (p2c balancing), under a 1 s deadline that also
shrinks to what the caller of ``/products`` allows, retried on another instance within the retry
budget, behind an adaptive circuit breaker. Stop ``inventory`` and ``/products/1`` still answers,
from the fallback, with ``"stock": null`` (and the header ``X-Seawall-Fallback`` on the client's
response when the breaker is open). ``seawall graph examples/shop.yaml`` checks the call graph.
"""

from __future__ import annotations

import httpx

from seawall import Service
from seawall.errors import NotFound, Rejected

service = Service("shop")


def unknown_stock(request: httpx.Request, rejection: Rejected) -> dict[str, object]:
    """What the shop says when inventory cannot be asked (breaker open, deadline spent)."""
    return {"stock": None}


inventory = service.client("inventory", fallback=unknown_stock)


@service.get("/products/{id}")
async def product(id: int) -> dict[str, object]:
    """A product with its stock (``null`` when inventory is unavailable)."""
    try:
        response = await inventory.get(f"/items/{id}")
    except httpx.TransportError:  # every instance refused: degrade the same way
        return {"id": id, "stock": None}
    if response.status_code == 404:
        raise NotFound(f"no product {id}")
    if response.status_code >= 500:
        return {"id": id, "stock": None}
    return {"id": id, "stock": response.json()["stock"]}
