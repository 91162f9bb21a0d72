"""Driving a service's ASGI interface directly, for tests that need control over arrival order and
over ``receive`` (disconnects): requests that arrive in the same turn of the event loop, and a
client that can go away."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from seawall.testing import MockClock

Message = dict[str, Any]


def scope(
    path: str = "/work", headers: Sequence[tuple[str, str]] = (), method: str = "GET"
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
        "query_string": b"",
        "client": ("127.0.0.1", 50000),
    }


class Client:
    """One request's client: sends an empty body, then waits; :meth:`leave` disconnects it."""

    def __init__(
        self, body: Sequence[Message] = ({"type": "http.request", "body": b"", "more_body": False},)
    ):
        self.pending = list(body)
        self.gone = asyncio.Event()
        self.sent: list[Message] = []
        self.received = 0

    async def receive(self) -> Message:
        self.received += 1
        if self.pending:
            return self.pending.pop(0)
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    def leave(self) -> None:
        self.gone.set()

    @property
    def status(self) -> int | None:
        starts = [m["status"] for m in self.sent if m["type"] == "http.response.start"]
        return starts[0] if starts else None


async def request(
    app: Callable[..., Any], path: str = "/work", headers: Sequence[tuple[str, str]] = ()
) -> int:
    """One request through ``app``; its status (``None`` if nothing was sent)."""
    c = Client()
    await app(scope(path, headers), c.receive, c.send)
    assert c.status is not None
    return c.status


async def burst(
    app: Callable[..., Any], n: int, path: str = "/work", headers: Sequence[Sequence[tuple[str, str]]] = ()
) -> list[int]:
    """``n`` requests that arrive together (their first steps run in one turn of the loop), in
    order; their statuses. ``headers[i]`` are the i-th request's headers (none when missing)."""
    return list(
        await asyncio.gather(*(request(app, path, headers[i] if i < len(headers) else ()) for i in range(n)))
    )


async def spin(turns: int = 10) -> None:
    """Let every ready task run for a few turns of the loop (no time passes)."""
    for _ in range(turns):
        await asyncio.sleep(0)


async def tick(clock: MockClock, seconds: float = 0.005, times: int = 1) -> None:
    """Advance ``clock`` by ``seconds``, ``times`` times, letting tasks run after each step."""
    for _ in range(times):
        clock.jump(seconds)
        await spin()


def burner(clock: MockClock, seconds: float) -> Callable[[], None]:
    """CPU work on the mock clock: advances it while holding the loop, as a CPU-bound handler does."""
    return lambda: clock.jump(seconds)
