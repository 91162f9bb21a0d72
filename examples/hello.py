"""The smallest seawall service: ``GET /hello`` with the default governance chain on.

Serve it from the repo root with ``seawall run examples.hello:service`` and try
``curl localhost:8000/hello``, ``/metrics``, ``/openapi.json``. The hot-path benchmark drives it.
"""

from __future__ import annotations

from seawall import Service

service = Service("hello")


@service.get("/hello")
async def hello() -> dict[str, str]:
    """Say hello."""
    return {"message": "hello"}
