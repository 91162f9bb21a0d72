"""The call path: retries within the budget, breaker, bulkhead, fallback, hedging, ejection, balancing."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest
from tests.client.support import A, B, Backend, C, dep, make_transport, ok, refuse, slow, status, streamed
from tests.governance.gov_support import wait_until

from seawall.deadline import DEADLINE_HEADER
from seawall.errors import CircuitOpen, DeadlineExceeded, Overloaded, Rejected
from seawall.governance import BreakerPolicy, BulkheadPolicy
from seawall.http.client import Dependency, OutlierPolicy, SeawallTransport
from seawall.retry import HedgePolicy, RetryPolicy
from seawall.testing import MockClock


async def call(
    transport: SeawallTransport, method: str = "GET", url: str = "http://inventory/items/1", **kw: object
) -> httpx.Response:
    client = httpx.AsyncClient(transport=transport)
    return await client.request(method, url, **kw)  # type: ignore[arg-type]


def stats(transport: SeawallTransport) -> object:
    return transport.upstream("inventory").statistics()


# -- retries -------------------------------------------------------------------------------------


async def test_failed_attempt_is_retried_on_another_instance(autojump_clock: MockClock) -> None:
    """A 500 from one instance is retried on the other, which answers."""
    backend = Backend()
    backend.set(A, status(500))
    backend.set(B, status(500))
    transport = make_transport(backend, autojump_clock, dep(A, B, C))
    response = await call(transport)
    assert response.status_code == 200
    assert [r.url.port for r in backend.requests][-1] == 8003
    assert len({r.url.port for r in backend.requests}) == len(backend.requests)  # never twice the same


async def test_single_instance_is_retried_itself(autojump_clock: MockClock) -> None:
    """With one instance, a retry goes to it again rather than nowhere."""
    backend = Backend()
    answers = iter([httpx.Response(503), httpx.Response(200)])
    backend.set(A, lambda request: next(answers))
    response = await call(make_transport(backend, autojump_clock, dep(A)))
    assert response.status_code == 200
    assert len(backend.requests) == 2


async def test_attempts_stop_at_max_attempts(autojump_clock: MockClock) -> None:
    """A dependency answering 500 everywhere gets max_attempts requests, and the caller the 500."""
    backend = Backend()
    for address in (A, B, C):
        backend.set(address, status(500))
    transport = make_transport(backend, autojump_clock, dep(A, B, C, retries=RetryPolicy(max_attempts=2)))
    response = await call(transport)
    assert response.status_code == 500
    assert len(backend.requests) == 2


async def test_post_is_not_retried(autojump_clock: MockClock) -> None:
    """A POST that reached the server and failed is not retried (not idempotent)."""
    backend = Backend()
    backend.set(A, status(500))
    backend.set(B, status(500))
    response = await call(make_transport(backend, autojump_clock, dep(A, B)), "POST", content=b"x")
    assert response.status_code == 500
    assert len(backend.requests) == 1


async def test_post_with_idempotency_key_is_retried(autojump_clock: MockClock) -> None:
    """An ``Idempotency-Key`` header makes a POST retryable; the body is sent again."""
    backend = Backend()
    backend.set(A, status(500))
    backend.set(B, status(500))
    transport = make_transport(backend, autojump_clock, dep(A, B, C))
    response = await call(transport, "POST", content=b"x", headers={"idempotency-key": "k1"})
    assert response.status_code == 200
    assert all(r.content == b"x" for r in backend.requests)
    assert len(backend.requests) >= 2


async def test_post_flagged_idempotent_is_retried(autojump_clock: MockClock) -> None:
    """``extensions={"seawall.idempotent": True}`` makes a POST retryable."""
    backend = Backend()
    backend.set(A, status(500))
    backend.set(B, status(500))
    transport = make_transport(backend, autojump_clock, dep(A, B, C))
    response = await call(transport, "POST", content=b"x", extensions={"seawall.idempotent": True})
    assert response.status_code == 200


async def test_get_flagged_not_idempotent_is_not_retried(autojump_clock: MockClock) -> None:
    """``extensions={"seawall.idempotent": False}`` forbids retrying even a GET."""
    backend = Backend()
    backend.set(A, status(500))
    backend.set(B, status(500))
    transport = make_transport(backend, autojump_clock, dep(A, B))
    response = await call(transport, extensions={"seawall.idempotent": False})
    assert response.status_code == 500
    assert len(backend.requests) == 1


async def test_connect_error_is_retried_for_any_method(autojump_clock: MockClock) -> None:
    """A refused connection never sent the POST: it is retried elsewhere."""
    backend = Backend()
    backend.set(A, refuse)
    backend.set(B, refuse)
    transport = make_transport(backend, autojump_clock, dep(A, B, C))
    response = await call(transport, "POST", content=b"x")
    assert response.status_code == 200


async def test_transport_error_is_raised_after_the_last_attempt(autojump_clock: MockClock) -> None:
    """When every attempt fails to connect, the caller gets the httpx error itself."""
    backend = Backend()
    backend.set(A, refuse)
    with pytest.raises(httpx.ConnectError, match="connection refused"):
        await call(make_transport(backend, autojump_clock, dep(A)))
    assert len(backend.requests) == 3


async def test_retry_after_is_honoured(autojump_clock: MockClock) -> None:
    """A 503 with ``Retry-After: 1`` is retried no sooner than a second later."""
    backend = Backend()
    answers = iter([httpx.Response(503, headers={"retry-after": "1"}), httpx.Response(200)])
    times: list[float] = []

    def behaviour(request: httpx.Request) -> httpx.Response:
        times.append(autojump_clock.now())
        return next(answers)

    backend.set(A, behaviour)
    transport = make_transport(backend, autojump_clock, dep(A, retries=RetryPolicy(retry_after_cap=2.0)))
    assert (await call(transport)).status_code == 200
    assert times[1] - times[0] >= 1.0


async def test_retry_after_beyond_the_cap_is_not_retried(autojump_clock: MockClock) -> None:
    """A server asking to wait longer than ``retry_after_cap`` gets no retry."""
    backend = Backend()
    backend.set(A, status(429, {"retry-after": "5"}))
    transport = make_transport(backend, autojump_clock, dep(A))
    assert (await call(transport)).status_code == 429
    assert len(backend.requests) == 1
    assert stats(transport).retries.retry_after_too_long == 1  # type: ignore[attr-defined]


async def test_no_retry_with_less_than_min_remaining(autojump_clock: MockClock) -> None:
    """With 80 ms left (under the 100 ms minimum), a failed attempt is not retried."""
    backend = Backend()
    backend.set(A, status(500))
    backend.set(B, status(500))
    transport = make_transport(backend, autojump_clock, dep(A, B))
    response = await call(transport, headers={DEADLINE_HEADER: "80"})
    assert response.status_code == 500
    assert len(backend.requests) == 1
    assert stats(transport).retries.deadline == 1  # type: ignore[attr-defined]


async def test_no_retry_while_timeouts_dominate(autojump_clock: MockClock) -> None:
    """Once over 20% of recent calls timed out, failed attempts are not retried."""
    backend = Backend()
    backend.set(A, status(504))
    transport = make_transport(
        backend, autojump_clock, dep(A, retries=RetryPolicy(max_attempts=2, timeout_min_calls=4))
    )
    for _ in range(4):
        await call(transport)
    before = len(backend.requests)
    await call(transport)
    assert len(backend.requests) == before + 1
    assert stats(transport).retries.timeout_ratio >= 1  # type: ignore[attr-defined]


async def test_retries_never_exceed_the_budget(autojump_clock: MockClock) -> None:
    """Calls to a dependency that always fails get no more retries than Finagle's budget holds
    within its 10 s TTL: a reserve of 10/s x 10 s, plus 20% of the calls."""
    backend = Backend()
    backend.set(A, status(500))
    transport = make_transport(backend, autojump_clock, dep(A, breaker=None))
    for _ in range(200):
        await call(transport)
    assert autojump_clock.now() < 10.0  # every deposit and withdrawal still counts
    retries = len(backend.requests) - 200
    assert retries == 10 * 10 + 0.2 * 200
    assert stats(transport).retries.budget_exhausted > 0  # type: ignore[attr-defined]


async def test_no_retries_with_retries_none(autojump_clock: MockClock) -> None:
    """``retries=None`` sends each call once."""
    backend = Backend()
    backend.set(A, status(500))
    transport = make_transport(backend, autojump_clock, dep(A, B, retries=None))
    await call(transport)
    assert len(backend.requests) == 1


async def test_streamed_body_is_not_retried(autojump_clock: MockClock) -> None:
    """A body from an async iterator cannot be sent twice: one attempt only."""
    backend = Backend()
    backend.set(A, status(500))
    backend.set(B, status(500))

    async def body():  # type: ignore[no-untyped-def]
        yield b"chunk"

    transport = make_transport(backend, autojump_clock, dep(A, B))
    response = await call(transport, "PUT", content=body())
    assert response.status_code == 500
    assert len(backend.requests) == 1


async def test_attempt_timeout_moves_on_to_another_instance(autojump_clock: MockClock) -> None:
    """An instance slower than ``attempt_timeout`` is abandoned; the retry elsewhere answers."""
    backend = Backend()
    backend.set(A, slow(autojump_clock, 5.0))
    backend.set(B, slow(autojump_clock, 5.0))
    transport = make_transport(backend, autojump_clock, dep(A, B, C, attempt_timeout=0.2))
    start = autojump_clock.now()
    response = await call(transport)
    assert response.status_code == 200
    assert autojump_clock.now() - start < 1.0
    assert stats(transport).attempts.get("timeout", 0) >= 1  # type: ignore[attr-defined]


async def test_call_timeout_raises_deadline_exceeded(autojump_clock: MockClock) -> None:
    """A dependency slower than the call's timeout: DeadlineExceeded, once the timeout has passed."""
    backend = Backend()
    backend.set(A, slow(autojump_clock, 5.0))
    transport = make_transport(backend, autojump_clock, dep(A, timeout=0.5))
    start = autojump_clock.now()
    with pytest.raises(DeadlineExceeded):
        await call(transport)
    assert 0.5 <= autojump_clock.now() - start < 0.6


# -- breaker, bulkhead, fallback -------------------------------------------------------------------


CIRCUIT = BreakerPolicy(
    kind="circuit", minimum_calls=4, wait_duration_in_open=5.0, permitted_calls_in_half_open=2
)


async def test_breaker_opens_and_calls_fail_fast(autojump_clock: MockClock) -> None:
    """After enough failures the breaker opens: CircuitOpen is raised and no request is sent."""
    backend = Backend()
    backend.set(A, status(500))
    transport = make_transport(backend, autojump_clock, dep(A, breaker=CIRCUIT, retries=None))
    for _ in range(4):
        assert (await call(transport)).status_code == 500
    with pytest.raises(CircuitOpen) as info:
        await call(transport)
    assert len(backend.requests) == 4
    assert info.value.retry_after == pytest.approx(5.0)
    assert (b"retry-after", b"5") in info.value.headers


async def test_breaker_closes_through_half_open(autojump_clock: MockClock) -> None:
    """After the open wait, successful probes close the breaker again."""
    backend = Backend()
    backend.set(A, status(500))
    transport = make_transport(backend, autojump_clock, dep(A, breaker=CIRCUIT, retries=None))
    for _ in range(4):
        await call(transport)
    backend.set(A, ok)
    autojump_clock.jump(5.0)
    for _ in range(2):
        assert (await call(transport)).status_code == 200
    breaker = transport.upstream("inventory").breaker
    assert breaker is not None
    assert breaker.state == "closed"
    assert breaker.statistics().transitions == 3  # closed -> open -> half_open -> closed


async def test_four_xx_does_not_open_the_breaker(autojump_clock: MockClock) -> None:
    """404s are the caller's fault: they never open the breaker."""
    backend = Backend()
    backend.set(A, status(404))
    transport = make_transport(backend, autojump_clock, dep(A, breaker=CIRCUIT))
    for _ in range(20):
        assert (await call(transport)).status_code == 404
    assert transport.upstream("inventory").breaker.state == "closed"  # type: ignore[union-attr]


async def test_429_counts_against_the_breaker(autojump_clock: MockClock) -> None:
    """429 says the dependency is overloaded: it counts as a failure and may open the breaker."""
    backend = Backend()
    backend.set(A, status(429))
    transport = make_transport(backend, autojump_clock, dep(A, breaker=CIRCUIT, retries=None))
    for _ in range(4):
        await call(transport)
    with pytest.raises(CircuitOpen):
        await call(transport)


async def test_adaptive_breaker_keeps_a_failing_dependency_under_1_2_requests_per_call(
    autojump_clock: MockClock,
) -> None:
    """At 100 calls/s for 10 s against a dependency failing every call, with retries on (3 attempts,
    Finagle budget) and the default adaptive breaker, at most 1.2 requests reach it per call."""
    backend = Backend()
    backend.set(A, status(500))
    transport = make_transport(backend, autojump_clock, Dependency(name="inventory", instances=(A,)))
    calls = 0
    for _ in range(1000):
        calls += 1
        with contextlib.suppress(CircuitOpen):
            await call(transport)
        await autojump_clock.sleep(0.01)
    assert len(backend.requests) / calls <= 1.2


async def test_fallback_answers_an_open_breaker(autojump_clock: MockClock) -> None:
    """With a fallback, an open breaker is answered by it, marked ``X-Seawall-Fallback``."""
    backend = Backend()
    backend.set(A, status(500))
    seen: list[Rejected] = []

    def fallback(request: httpx.Request, rejection: Rejected) -> dict[str, bool]:
        seen.append(rejection)
        return {"cached": True}

    transport = make_transport(
        backend, autojump_clock, dep(A, breaker=CIRCUIT, retries=None, fallback=fallback)
    )
    for _ in range(4):
        await call(transport)
    response = await call(transport)
    assert response.status_code == 200
    assert response.json() == {"cached": True}
    assert response.headers["x-seawall-fallback"] == "CIRCUIT_OPEN"
    assert isinstance(seen[0], CircuitOpen)


async def test_async_fallback_may_return_a_response(autojump_clock: MockClock) -> None:
    """A fallback may be async and return an ``httpx.Response`` of its own."""
    backend = Backend()

    async def fallback(request: httpx.Request, rejection: Rejected) -> httpx.Response:
        return httpx.Response(203, text="stale")

    transport = make_transport(backend, autojump_clock, dep(A, fallback=fallback))
    response = await call(transport, headers={DEADLINE_HEADER: "0"})
    assert response.status_code == 203
    assert response.text == "stale"
    assert response.headers["x-seawall-fallback"] == "DEADLINE_EXCEEDED"


async def test_failing_fallback_raises_the_rejection(autojump_clock: MockClock) -> None:
    """A fallback that raises leaves the rejection to the caller."""

    def fallback(request: httpx.Request, rejection: Rejected) -> object:
        raise RuntimeError("no cache either")

    transport = make_transport(Backend(), autojump_clock, dep(A, fallback=fallback))
    with pytest.raises(DeadlineExceeded):
        await call(transport, headers={DEADLINE_HEADER: "0"})


async def test_bulkhead_full_raises_overloaded(autojump_clock: MockClock) -> None:
    """With one slot and no queue, a second concurrent call is refused with Overloaded."""
    backend = Backend()
    backend.set(A, slow(autojump_clock, 1.0))
    transport = make_transport(
        backend, autojump_clock, dep(A, bulkhead=BulkheadPolicy(max_concurrent=1), retries=None)
    )
    first = asyncio.create_task(call(transport))
    await wait_until(lambda: bool(backend.requests))
    with pytest.raises(Overloaded):
        await call(transport)
    assert (await first).status_code == 200
    assert stats(transport).rejected == {"OVERLOADED": 1}  # type: ignore[attr-defined]


# -- hedging ---------------------------------------------------------------------------------------


async def test_hedge_answers_when_the_first_instance_is_slow(autojump_clock: MockClock) -> None:
    """After the hedge delay a second instance is asked; its quick answer wins."""
    backend = Backend()
    backend.set(A, slow(autojump_clock, 2.0))
    backend.set(B, slow(autojump_clock, 2.0))
    backend.set(C, slow(autojump_clock, 2.0))
    transport = make_transport(
        backend, autojump_clock, dep(A, B, retries=RetryPolicy(hedge=HedgePolicy(delay=0.05)))
    )
    start = autojump_clock.now()
    first = None

    def quick(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="hedge")

    async def setup() -> None:
        nonlocal first
        await wait_until(lambda: bool(backend.requests))
        first = backend.requests[0].url.port
        backend.set(B if first == 8001 else A, quick)

    helper = asyncio.create_task(setup())
    response = await call(transport)
    await helper
    assert response.text == "hedge"
    assert autojump_clock.now() - start < 0.1
    assert stats(transport).retries.hedges == 1  # type: ignore[attr-defined]


async def test_no_hedge_when_the_answer_comes_in_time(autojump_clock: MockClock) -> None:
    """An answer before the hedge delay sends nothing more."""
    backend = Backend()
    transport = make_transport(
        backend, autojump_clock, dep(A, B, retries=RetryPolicy(hedge=HedgePolicy(delay=0.05)))
    )
    assert (await call(transport)).status_code == 200
    assert len(backend.requests) == 1


async def test_hedge_not_sent_for_a_post(autojump_clock: MockClock) -> None:
    """A POST is not idempotent: no hedge, however slow."""
    backend = Backend()
    backend.set(A, slow(autojump_clock, 0.3))
    backend.set(B, slow(autojump_clock, 0.3))
    transport = make_transport(
        backend, autojump_clock, dep(A, B, retries=RetryPolicy(hedge=HedgePolicy(delay=0.05)))
    )
    assert (await call(transport, "POST", content=b"x")).status_code == 200
    assert len(backend.requests) == 1


# -- balancing and ejection ------------------------------------------------------------------------


async def test_failing_instance_is_ejected(autojump_clock: MockClock) -> None:
    """Five failures in a row eject an instance: later calls do not go to it."""
    backend = Backend()
    backend.set(A, refuse)
    transport = make_transport(
        backend, autojump_clock, dep(A, B, C, outlier=OutlierPolicy(consecutive_failures=5))
    )
    for _ in range(60):
        assert (await call(transport)).status_code == 200
    assert backend.hits[A] == 5
    assert stats(transport).outliers.ejections == 1  # type: ignore[attr-defined]


async def test_p2c_prefers_the_fast_instance(autojump_clock: MockClock) -> None:
    """With one instance 50 ms slower, p2c sends it only a small share of concurrent calls."""
    backend = Backend()
    backend.set(A, slow(autojump_clock, 0.05))
    backend.set(B, slow(autojump_clock, 0.001))
    backend.set(C, slow(autojump_clock, 0.001))
    transport = make_transport(backend, autojump_clock, dep(A, B, C))
    for _ in range(50):
        await asyncio.gather(*(call(transport) for _ in range(4)))
    assert backend.hits[A] < 0.15 * len(backend.requests)


async def test_round_robin_spreads_evenly(autojump_clock: MockClock) -> None:
    """``balancer="round_robin"`` sends each instance the same share."""
    backend = Backend()
    transport = make_transport(backend, autojump_clock, dep(A, B, C, balancer="round_robin"))
    for _ in range(30):
        await call(transport)
    assert sorted(backend.hits.values()) == [10, 10, 10]


async def test_consistent_hash_keeps_a_key_on_one_instance(autojump_clock: MockClock) -> None:
    """``balancer="consistent_hash"`` with ``hash_key="header:x-user"`` routes a user to one instance."""
    backend = Backend()
    transport = make_transport(
        backend, autojump_clock, dep(A, B, C, balancer="consistent_hash", hash_key="header:x-user")
    )
    for user in ("u1", "u2", "u3", "u4"):
        for _ in range(5):
            await call(transport, headers={"x-user": user})
    by_user: dict[str, set[int | None]] = {}
    for r in backend.requests:
        by_user.setdefault(r.headers["x-user"], set()).add(r.url.port)
    assert all(len(ports) == 1 for ports in by_user.values())


async def test_hash_key_from_extensions(autojump_clock: MockClock) -> None:
    """``extensions={"seawall.key": ...}`` gives the key without a header."""
    backend = Backend()
    transport = make_transport(backend, autojump_clock, dep(A, B, C, balancer="consistent_hash"))
    for _ in range(5):
        await call(transport, extensions={"seawall.key": "cart-7"})
    assert len(backend.hits) == 1


async def test_no_instance_available_is_a_connect_error(autojump_clock: MockClock) -> None:
    """A resolver with no instances yet answers calls with a connection error, not a hang."""
    from seawall.discovery import DNSResolver

    async def lookup(host: str, port: int) -> list[tuple[str, int]]:
        return []

    resolver = DNSResolver("inventory.svc", 80, lookup=lookup, clock=autojump_clock)
    transport = make_transport(Backend(), autojump_clock, Dependency(name="inventory", resolver=resolver))
    with pytest.raises(httpx.ConnectError, match="no instance of inventory"):
        await call(transport)
    await transport.aclose()


def test_seeded_random_gives_the_same_picks() -> None:
    """Two transports with the same seed pick the same instances (reproducible tests and benches)."""

    async def run(seed: int) -> list[int | None]:
        clock = MockClock(autojump=True)
        backend = Backend()
        transport = make_transport(backend, clock, dep(A, B, C), seed=seed)
        for _ in range(10):
            await call(transport)
        return [r.url.port for r in backend.requests]

    assert asyncio.run(run(3)) == asyncio.run(run(3))


async def test_timed_out_call_leaves_no_pending_cancellation(autojump_clock: MockClock) -> None:
    """When the call's and the attempt's deadlines expire together, the caller's task is left with
    no cancellation request (asyncio.timeout and TaskGroups in the caller keep working)."""
    backend = Backend()
    backend.set(A, slow(autojump_clock, 5.0))
    transport = make_transport(backend, autojump_clock, dep(A, timeout=0.5))
    task = asyncio.current_task()
    assert task is not None
    with pytest.raises(DeadlineExceeded):
        await call(transport)
    assert task.cancelling() == 0
    await asyncio.sleep(0)  # and no CancelledError is still on its way


async def test_last_answer_is_returned_readable_when_no_time_is_left(autojump_clock: MockClock) -> None:
    """A retry granted but overtaken by the deadline during its wait: the failed answer is
    returned, body readable (it was not closed for the retry that never left)."""
    backend = Backend()
    backend.set(A, streamed(503, b"busy", {"retry-after": "0.05"}))
    backend.set(B, streamed(503, b"busy", {"retry-after": "0.05"}))
    transport = make_transport(backend, autojump_clock, dep(A, B, deadline_margin=0.2))
    response = await call(transport, headers={DEADLINE_HEADER: "205"})
    assert len(backend.requests) == 1
    assert response.status_code == 503
    assert response.text == "busy"
