"""The floor: a bare ASGI callable answering ``GET /hello`` with two precomputed sends.

Nothing can be faster on the same server, so every other target is reported as a ratio to this one.
It handles ``lifespan`` (acks startup and shutdown) like a well-behaved app, and routes on the path so
the comparison with framework routers is fair.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"message":"hello"}'
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())],
}
BODY_MESSAGE = {"type": "http.response.body", "body": BODY}
NOT_FOUND_BODY = b'{"code":404,"reason":"NOT_FOUND","message":"not found"}'
NOT_FOUND_START = {
    "type": "http.response.start",
    "status": 404,
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(NOT_FOUND_BODY)).encode()),
    ],
}
NOT_FOUND_MESSAGE = {"type": "http.response.body", "body": NOT_FOUND_BODY}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        if scope["path"] == "/hello":
            await send(START)
            await send(BODY_MESSAGE)
        else:
            await send(NOT_FOUND_START)
            await send(NOT_FOUND_MESSAGE)
        return
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
