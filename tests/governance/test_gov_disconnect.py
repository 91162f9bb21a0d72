"""No work for clients that have gone: a handler whose client disconnected (``http.disconnect``) is
cancelled, nothing is sent, and the request counts as 499 with outcome ``cancelled``.

Only requests still running after one tick of the timeout wheel are watched, so a fast request
pays a dict entry and a few stores, never a task. Everything runs on the mock clock.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.governance.asgi_support import Client, scope, spin, tick

from seawall import Policy, Service
from seawall.governance import CompileContext, Outcome
from seawall.http import Request
from seawall.http._endpoint import CLIENT_GONE, DEPARTURE_TICK
from seawall.testing import MockClock


class Recorder:
    """A check (through ``check_factories``) that records every outcome its exits are given."""

    name = "recorder"
    cost = 1

    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []

    def enter(self, call: Any) -> Any:
        return self.outcomes.append

    def factory(self, policy: Policy, ctx: CompileContext) -> Recorder:
        return self


def hanging(
    clock: MockClock, *, sync: bool = False, timeout: float | None = 10.0
) -> tuple[Service, Recorder, list[str]]:
    """``/work`` runs until cancelled (or, sync, until the test releases it), recording events."""
    recorder = Recorder()
    svc = Service("gone", clock=clock, check_factories=[("", recorder.factory)])
    events: list[str] = []
    release = asyncio.Event()

    if sync:
        import threading

        done = threading.Event()

        @svc.get("/work", policy=Policy(timeout=timeout))
        def work_sync() -> dict[str, bool]:
            events.append("ran")
            done.wait(5)
            return {"ok": True}

        svc.release_thread = done.set  # type: ignore[attr-defined]
    else:

        @svc.get("/work", policy=Policy(timeout=timeout))
        async def work() -> dict[str, bool]:
            events.append("ran")
            try:
                await release.wait()
            except asyncio.CancelledError:
                events.append("cancelled")
                raise
            return {"ok": True}

    svc.release = release  # type: ignore[attr-defined]
    return svc, recorder, events


async def test_a_departed_clients_handler_is_cancelled_and_counted_499(mock_clock: MockClock) -> None:
    """The client leaves while its handler waits: within two ticks the handler is cancelled,
    nothing is sent, and the request is counted 499 with outcome ``cancelled``."""
    svc, recorder, events = hanging(mock_clock)
    c = Client()
    task = asyncio.create_task(svc(scope(), c.receive, c.send))
    await spin()
    assert events == ["ran"]
    c.leave()
    await tick(mock_clock, DEPARTURE_TICK, times=2)
    await asyncio.wait_for(task, 1)
    assert events == ["ran", "cancelled"]
    assert c.sent == []
    assert svc.metrics.route("/work", "GET").codes == {CLIENT_GONE: 1}
    (outcome,) = recorder.outcomes
    assert (outcome.status, outcome.kind) == (499, "cancelled")


async def test_a_client_is_not_watched_before_its_request_has_run_a_tick(mock_clock: MockClock) -> None:
    """Enrolled, not watched: before a tick has passed nobody reads the client's ``receive``."""
    svc, _, events = hanging(mock_clock)
    c = Client()
    task = asyncio.create_task(svc(scope(), c.receive, c.send))
    await spin()
    c.leave()
    mock_clock.jump(DEPARTURE_TICK * 0.9)
    await spin()
    assert c.received == 0
    assert events == ["ran"]
    await tick(mock_clock, DEPARTURE_TICK, times=2)
    await asyncio.wait_for(task, 1)
    assert events == ["ran", "cancelled"]


async def test_a_fast_request_is_never_watched(mock_clock: MockClock) -> None:
    """A request answered within its first tick costs no watcher, and the ticker then stops."""
    svc = Service("gone", clock=mock_clock)
    seen: list[Request] = []

    @svc.get("/fast")
    async def fast(request: Request) -> dict[str, bool]:
        seen.append(request)
        return {"ok": True}

    c = Client()
    await svc(scope("/fast"), c.receive, c.send)
    assert c.status == 200
    await tick(mock_clock, DEPARTURE_TICK, times=3)
    assert getattr(seen[0], "watcher", None) is None
    assert c.received == 0  # the handler never read the body, and no watcher did


async def test_a_slow_request_that_finishes_answers_normally(mock_clock: MockClock) -> None:
    """Watched, then finished: the watcher is cancelled, the answer goes out, and the empty body
    the watcher read is still the handler's."""
    svc = Service("gone", clock=mock_clock)
    release = asyncio.Event()
    bodies: list[bytes] = []

    @svc.get("/slow")
    async def slow(request: Request) -> dict[str, bool]:
        await release.wait()
        bodies.append(await request.body())
        return {"ok": True}

    c = Client()
    task = asyncio.create_task(svc(scope("/slow"), c.receive, c.send))
    await tick(mock_clock, DEPARTURE_TICK, times=3)
    assert c.received == 2  # the watcher took the empty body, and waits for a disconnect
    release.set()
    await asyncio.wait_for(task, 1)
    assert c.status == 200
    assert bodies == [b""]


async def test_a_request_with_an_unread_body_is_not_watched(mock_clock: MockClock) -> None:
    """Reading ``receive`` for a disconnect would take the body from the handler: not watched."""
    svc = Service("gone", clock=mock_clock)
    release = asyncio.Event()
    bodies: list[bytes] = []

    @svc.post("/upload")
    async def upload(request: Request) -> dict[str, bool]:
        await release.wait()
        bodies.append(await request.body())
        return {"ok": True}

    c = Client(body=[{"type": "http.request", "body": b"hello", "more_body": False}])
    task = asyncio.create_task(
        svc(scope("/upload", [("content-length", "5")], method="POST"), c.receive, c.send)
    )
    await tick(mock_clock, DEPARTURE_TICK, times=3)
    assert c.received == 0
    release.set()
    await asyncio.wait_for(task, 1)
    assert bodies == [b"hello"]
    assert c.status == 200


async def test_a_deadline_is_still_a_504(mock_clock: MockClock) -> None:
    """A watched request whose deadline passes is answered 504 (the client is still there)."""
    svc, recorder, _events = hanging(mock_clock, timeout=0.02)
    c = Client()
    task = asyncio.create_task(svc(scope(), c.receive, c.send))
    await tick(mock_clock, DEPARTURE_TICK, times=7)  # the wheel fires within a tick of 20 ms
    await asyncio.wait_for(task, 1)
    assert c.status == 504
    assert recorder.outcomes[0].kind == "timeout"


async def test_a_departed_clients_sync_handler_is_abandoned(mock_clock: MockClock) -> None:
    """A ``def`` handler runs in a thread, which cannot be stopped; the request stops waiting for
    it, sends nothing and counts 499."""
    svc, recorder, events = hanging(mock_clock, sync=True)
    c = Client()
    task = asyncio.create_task(svc(scope(), c.receive, c.send))
    for _ in range(100):
        await asyncio.sleep(0.001)  # the thread starts (real time: a thread is not on the mock clock)
        if events:
            break
    c.leave()
    await tick(mock_clock, DEPARTURE_TICK, times=2)
    await asyncio.wait_for(task, 1)
    svc.release_thread()  # type: ignore[attr-defined]
    assert c.sent == []
    assert recorder.outcomes[0].kind == "cancelled"
    assert svc.metrics.route("/work", "GET").codes == {CLIENT_GONE: 1}


async def test_a_route_without_a_deadline_is_not_watched(mock_clock: MockClock) -> None:
    """The watch rides on the deadline: a route with ``timeout=None`` (and no deadline header),
    like a BARE one, runs its handler alone."""
    svc, _, events = hanging(mock_clock, timeout=None)
    c = Client()
    task = asyncio.create_task(svc(scope(), c.receive, c.send))
    await spin()
    c.leave()
    await tick(mock_clock, DEPARTURE_TICK, times=3)
    assert events == ["ran"]
    assert c.received == 0
    svc.release.set()  # type: ignore[attr-defined]
    await asyncio.wait_for(task, 1)
    assert c.status == 200


async def test_shutdown_cancellation_is_not_mistaken_for_a_departure(mock_clock: MockClock) -> None:
    """Cancelling the request's task (shutdown) propagates; it is not answered as 499."""
    svc, recorder, events = hanging(mock_clock)
    c = Client()
    task = asyncio.create_task(svc(scope(), c.receive, c.send))
    await tick(mock_clock, DEPARTURE_TICK, times=2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert events == ["ran", "cancelled"]
    assert recorder.outcomes[0].kind == "cancelled"
