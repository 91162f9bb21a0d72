"""Backends for bench/client.py: raw ASGI apps, no framework, so only the client side is measured.

- ``fast``: ``GET /hello`` answers ``{"message":"hello"}`` at once.
- ``slow``: the same after 50 ms (the slow instance of the balancing scenario).
- ``failing``: ``GET /hello`` answers 500, always; ``GET /hits`` says how many ``/hello`` requests
  arrived (the failing-dependency scenario counts what reached it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

HELLO = b'{"message":"hello"}'
FAILED = b'{"code":50000,"reason":"INTERNAL","message":"failing on purpose"}'


def _start(status: int, body: bytes) -> dict[str, Any]:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {"type": "http.response.start", "status": status, "headers": headers}


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _hello(delay: float) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if delay:
            await asyncio.sleep(delay)
        await send(_start(200, HELLO))
        await send({"type": "http.response.body", "body": HELLO})

    return app


fast = _hello(0.0)
slow = _hello(0.05)
_hits = [0]


async def failing(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["path"] == "/hits":
        body = b'{"hits":%d}' % _hits[0]
        await send(_start(200, body))
        await send({"type": "http.response.body", "body": body})
        return
    _hits[0] += 1
    await send(_start(500, FAILED))
    await send({"type": "http.response.body", "body": FAILED})
