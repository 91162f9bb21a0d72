"""The called side of the two-service example: ``GET /items/{id}`` answers the stock of an item.

Run it on port 8001 (``seawall run examples.inventory:service --port 8001``), then the caller,
``examples/shop.py``. Nothing here knows it is being called: the deadline header, the call chain
and loop detection are handled by seawall on every route.
"""

from __future__ import annotations

from seawall import Service
from seawall.errors import NotFound

service = Service("inventory")

STOCK = {1: 12, 2: 0, 3: 7}


@service.get("/items/{id}")
async def item(id: int) -> dict[str, int]:
    """The stock of item ``id``."""
    if id not in STOCK:
        raise NotFound(f"no item {id}")
    return {"id": id, "stock": STOCK[id]}
