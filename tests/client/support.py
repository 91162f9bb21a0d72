"""Helpers for the client tests: scripted instances behind ``httpx.MockTransport``, on a mock clock."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from seawall.http.client import Dependency, SeawallTransport
from seawall.testing import MockClock

#: What an instance does with a request: a response, an exception to raise, or a coroutine of one.
Behaviour = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]

A = "10.0.0.1:8001"
B = "10.0.0.2:8002"
C = "10.0.0.3:8003"


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


def status(code: int, headers: dict[str, str] | None = None) -> Behaviour:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(code, headers=headers)

    return answer


class Streamed(httpx.AsyncByteStream):
    """A body read from the network (not in memory yet), as a real transport's responses have."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        yield self.body


def streamed(code: int, body: bytes, headers: dict[str, str] | None = None) -> Behaviour:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(code, headers=headers, stream=Streamed(body))

    return answer


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def slow(clock: MockClock, seconds: float, then: Behaviour = ok) -> Behaviour:
    async def answer(request: httpx.Request) -> httpx.Response:
        await clock.sleep(seconds)
        result = then(request)
        assert isinstance(result, httpx.Response)
        return result

    return answer


@dataclass
class Backend:
    """Instances by address; each request is recorded, then answered by its instance's behaviour."""

    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def set(self, address: str, behaviour: Behaviour) -> None:
        self.behaviours[address] = behaviour

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        address = f"{request.url.host}:{request.url.port}"
        result = self.behaviours.get(address, ok)(request)
        if not isinstance(result, httpx.Response):
            result = await result
        return result

    @property
    def hits(self) -> Counter[str]:
        """Requests received, by instance address."""
        return Counter(f"{r.url.host}:{r.url.port}" for r in self.requests)


def make_transport(
    backend: Backend,
    clock: MockClock,
    *dependencies: Dependency,
    service: str = "orders",
    seed: int = 1,
    **kwargs: Any,
) -> SeawallTransport:
    return SeawallTransport(
        *dependencies,
        service=service,
        clock=clock,
        rng=random.Random(seed),
        inner=httpx.MockTransport(backend),
        **kwargs,
    )


def dep(*instances: str, **kwargs: Any) -> Dependency:
    """A dependency named ``inventory`` on ``instances`` (default: A)."""
    return Dependency(name="inventory", instances=instances or (A,), **kwargs)
