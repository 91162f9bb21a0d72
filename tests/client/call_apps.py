"""Services the outbound-call integration tests run with ``seawall run`` (tests/integration/test_calls*.py).

- ``a``, ``b``, ``c`` (and ``hop``, named by ``$HOP_NAME``): ``GET /hop`` calls dependency ``next``
  (when configured) and relays its answer inside its own: ``{"service", "deadline_ms", "next"}``.
  ``?sleep=MS`` sleeps first; ``?spend=NAME`` makes service NAME sleep until only 2 ms of its
  deadline are left.
  ``GET /runs`` counts how often ``/hop`` ran.
- ``back``: ``GET /work`` answers ``{"ok": true}`` after ``?delay=MS`` (default 5), or 500 while
  ``POST /mode?fail=1`` is in force; ``GET /hits`` counts the ``/work`` requests.
- ``front``: ``GET /call`` calls ``back``'s ``/work`` and relays the answer; when the client
  refuses (breaker open...), the route's fallback answers ``{"fallback": REASON}``.
"""

from __future__ import annotations

import asyncio
import os

from seawall import Service
from seawall.deadline import remaining
from seawall.errors import InternalError
from seawall.http import Request, Response


def _hop_service(name: str) -> Service:
    svc = Service(name)
    runs = [0]
    nxt = svc.client("next")

    @svc.get("/hop")
    async def hop(request: Request) -> Response:
        runs[0] += 1
        received = request.header("x-seawall-deadline-ms")
        sleep = float(request.query.get("sleep", "0")) / 1000
        if request.query.get("spend") == name:
            left = remaining()
            sleep = max(0.0, (left or 0.0) - 0.002)
        if sleep:
            await asyncio.sleep(sleep)
        body: dict[str, object] = {"service": name, "deadline_ms": received}
        status = 200
        if svc.config is not None and svc.config.dependency("next") is not None:
            r = await nxt.get("/hop", params=dict(request.query))
            status = r.status_code
            body["next"] = r.json()
        return Response.json(body, status=status)

    @svc.get("/runs")
    async def count() -> dict[str, int]:
        return {"runs": runs[0]}

    return svc


a = _hop_service("a")
b = _hop_service("b")
c = _hop_service("c")
hop = _hop_service(os.environ.get("HOP_NAME", "hop"))

back = Service("back")
_back = {"fail": False, "hits": 0}


@back.get("/work")
async def work(request: Request) -> dict[str, bool]:
    _back["hits"] += 1
    await asyncio.sleep(float(request.query.get("delay", "5")) / 1000)
    if _back["fail"]:
        raise InternalError("failing on purpose")
    return {"ok": True}


@back.post("/mode")
async def mode(request: Request) -> dict[str, bool]:
    _back["fail"] = request.query.get("fail") == "1"
    return {"fail": bool(_back["fail"])}


@back.get("/hits")
async def hits() -> dict[str, int]:
    return {"hits": int(_back["hits"])}


front = Service("front")
_work = front.client("back")


@front.get("/call", fallback=lambda request, rejection: {"fallback": rejection.reason})
async def call(request: Request) -> Response:
    r = await _work.get("/work", params=dict(request.query))
    return Response(r.content, status=r.status_code, media_type="application/json")
