"""One dependency at run time: the call path of ``seawall.http.client``, on the governance core.

A call runs through two :class:`~seawall.governance.Guard` s, the same guarded path as a server
route:

    call guard     the call's deadline = min(dependency timeout, the caller's remaining deadline,
                   an explicit X-Seawall-Deadline-Ms); fallback; accounting   (_call.CallSide)
      attempts     deadline check -> discovery -> balancer -> attempt guard -> classify -> retry
        attempt guard   the dependency's checks (breaker, bulkhead, max_conns) from the Governor,
                        each attempt under min(attempt_timeout, what is left of the call)
          send     the remaining deadline (minus a margin) in X-Seawall-Deadline-Ms, the call
                   chain, the trace context; the body is read within the attempt's deadline

so the breaker, bulkhead and deadline code that guards a route guards a dependency too. A
rejection (breaker open, bulkhead full, deadline spent) raises the existing
:class:`~seawall.errors.Rejected` subclasses into the caller, after the dependency's fallback had
its chance; transport errors that retries could not cure raise the original ``httpx`` exception;
any response (5xx included) is returned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final, final

import httpx

from seawall._clock import Clock
from seawall.breaker import Breaker
from seawall.deadline import DEADLINE_HEADER
from seawall.deadline import current as current_deadline
from seawall.discovery import (
    Balancer,
    ConsistentHashBalancer,
    Instance,
    OutlierDetector,
    P2CEwmaBalancer,
    Pick,
    Resolver,
    RoundRobinBalancer,
    StaticResolver,
)
from seawall.errors import ConfigError, DeadlineExceeded, Rejected
from seawall.governance import (
    CALL_CHAIN_HEADER,
    Chain,
    Governor,
    Guard,
    Policy,
    inbound,
)
from seawall.governance.checks import MAX_CHAIN, BreakerCheck, parse_chain
from seawall.http.client._call import (
    AttemptSide,
    AttemptStats,
    CallSide,
    OutboundCall,
    Result,
    adapt_fallback,
    remaining,
    retarget,
)
from seawall.http.client._classify import Failed, classify, error_status
from seawall.http.client._dependency import Dependency
from seawall.http.client._metrics import DependencyStatistics, DependencyStats
from seawall.retry import HedgePolicy, Outcome, RetryController

__all__ = ["Upstream"]

logger = logging.getLogger("seawall.http.client")

_DEADLINE_B: Final = DEADLINE_HEADER.encode()
_CHAIN_B: Final = CALL_CHAIN_HEADER.encode()
#: Less than this left after the margin, no attempt is started (a millisecond is the unit sent).
_MIN_SEND: Final = 0.001
#: Metric label of attempt outcomes that cannot be retried (501, 508): they are failures.
_LABEL: Final[dict[str, str]] = {"not_counted": "failure"}


def _balancer(dep: Dependency, clock: Clock, rng: Any) -> Balancer:
    kind = dep.balancer
    if not isinstance(kind, str):
        return kind()
    if kind == "p2c":
        return P2CEwmaBalancer(clock=clock, rng=rng)
    if kind == "round_robin":
        return RoundRobinBalancer(rng=rng, clock=clock)
    return ConsistentHashBalancer(clock=clock)


@final
class Upstream:
    """A dependency's run-time state and call path (see the module docstring).

    Built by :class:`~seawall.http.client.SeawallTransport`; one per dependency.

    Args:
        dependency: what to call and how.
        service: this service's name, appended to the call chain (``""``: none).
        governor: compiles the dependency's checks (the service's, so its resources are the
            service's: listed, exported and closed with it).
        inner: the transport that sends the HTTP requests (a connection pool).
        stats: where calls are counted.
        trace: the trace headers of the current span (``Tracing.inject``), if the service traces;
            when it gives none (the request is not sampled) the incoming trace context is
            forwarded as it came.
    """

    __slots__ = (
        "_attempt_guard",
        "_call_guard",
        "_clock",
        "_detector",
        "_hash",
        "_margin",
        "_own",
        "_resolver",
        "_retries",
        "_scheme",
        "_start",
        "_trace",
        "_unsubscribe",
        "balancer",
        "dependency",
        "inner",
        "name",
        "stats",
    )

    def __init__(
        self,
        dependency: Dependency,
        *,
        service: str,
        governor: Governor,
        inner: httpx.AsyncBaseTransport,
        stats: DependencyStats | None = None,
        trace: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        dep = dependency
        self._trace = trace
        clock, rng = governor.clock, governor.rng
        self.dependency = dep
        self.name = dep.name
        self.inner = inner
        self._clock = clock
        self._margin = dep.deadline_margin
        self._scheme = dep.scheme
        self._own = service
        self.stats = stats if stats is not None else DependencyStats(dep.name)
        resolver: Resolver | None = dep.resolver
        if resolver is None:
            if not dep.instances:
                raise ConfigError(
                    f"dependency {dep.name!r} has no instances: set dependencies.{dep.name}.instances "
                    "(or dns) in seawall.yaml, or pass instances= or resolver=",
                    path=f"$.dependencies.{dep.name}",
                )
            resolver = StaticResolver(dep.instances)
        self._resolver = resolver
        self.balancer = _balancer(dep, clock, rng)
        self._detector: OutlierDetector | None = None
        if dep.outlier is not None:
            o = dep.outlier
            self._detector = OutlierDetector(
                consecutive_failures=o.consecutive_failures,
                base_ejection_time=o.base_ejection_time,
                max_ejection_time=o.max_ejection_time,
                max_ejection_percent=o.max_ejection_percent,
                always_eject_one=o.always_eject_one,
                interval=o.interval,
                max_ejection_jitter=o.max_ejection_jitter,
                clock=clock,
                rng=rng,
            )
        self._unsubscribe = [resolver.subscribe(self.balancer.update)]
        if self._detector is not None:
            self._unsubscribe.append(resolver.subscribe(self._detector.update))
        self._hash = self._key_function(dep)
        self._retries: RetryController | None = (
            RetryController(dep.retries, clock=clock, rng=rng) if dep.retries is not None else None
        )
        self._start: asyncio.Future[None] | None = None
        self._attempt_guard: Guard[OutboundCall, Result] = governor.guard(
            "*", dep.name, AttemptSide(self._send), AttemptStats(), policy=dep.policy()
        )
        call_policy = Policy(timeout=dep.timeout, max_conns=None, loop_detection=None)
        self._call_guard: Guard[OutboundCall, Result] = Guard(
            f"call {dep.name}",
            Chain((), (), call_policy, dep.timeout, metrics=True),
            CallSide(self._attempts),
            self.stats,
            governor.wheel,
            clock,
            adapt_fallback(dep.fallback),
            logger,
        )

    @staticmethod
    def _key_function(dep: Dependency) -> Callable[[httpx.Request], str | None] | None:
        if dep.balancer != "consistent_hash" or dep.hash_key is None:
            return None
        kind, _, name = dep.hash_key.partition(":")
        if kind == "header":
            return lambda request: request.headers.get(name)
        return lambda request: request.url.params.get(name)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the resolver (its first lookup); later calls wait for the same start."""
        if self._start is None:
            self._start = asyncio.ensure_future(self._resolver.start())
        await asyncio.shield(self._start)

    async def aclose(self) -> None:
        """Stop following the resolver (the connection pool is the transport's to close)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        await self._resolver.aclose()

    # -- the call path --------------------------------------------------------------------------

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Make one call (every attempt it takes) and return its response.

        Raises:
            CircuitOpen: the breaker is open (and no fallback answered).
            DeadlineExceeded: the deadline was spent before an answer (and no fallback answered).
            Overloaded: the bulkhead or concurrency limit refused the call.
            httpx.TransportError: the last attempt failed to connect or to get an answer.
        """
        if self._start is None or not self._start.done():
            await self.start()
        deadline = remaining()
        # One pass over the request's headers (three Headers lookups cost ~2 µs more).
        explicit = chain_value = None
        keyed = traced = False
        for raw_name, value in request.headers.raw:
            name = raw_name.lower()  # raw names keep the caller's case
            if name == _DEADLINE_B:
                explicit = value
            elif name == _CHAIN_B:
                chain_value = value
            elif name == b"idempotency-key":
                keyed = True
            elif name == b"traceparent":
                traced = True
        if explicit is not None:  # the caller set a deadline on this request itself
            try:
                mine = float(explicit) / 1000.0
            except ValueError:
                pass
            else:
                deadline = mine if deadline is None else min(deadline, mine)
        call = OutboundCall(
            request.method, self.name, request, None, deadline, self._headers(request, chain_value, traced)
        )
        call.keyed = keyed
        stats = self.stats
        task = asyncio.current_task()
        cancelling = task.cancelling() if task is not None else 0
        try:
            result = await self._call_guard.run(call)
        except asyncio.CancelledError:
            stats.outcome("cancelled", 0)
            raise
        # The call's and the attempt's deadlines (and the caller's) often end in the same tick:
        # each expired watch cancels the task, one CancelledError arrives and one guard uncancels.
        # Take back the others, so that asyncio.timeout() and TaskGroups of the caller still work.
        while task is not None and task.cancelling() > cancelling:
            task.uncancel()
        if isinstance(result, Failed):
            stats.outcome(call.outcome, 0)
            raise result.error
        stats.outcome(call.outcome, result.status_code)
        return result

    def _headers(self, request: httpx.Request, given: bytes | None, traced: bool) -> httpx.Headers:
        """The call's outgoing headers: the call chain (this service appended) and trace context."""
        headers = request.headers.copy()
        context = inbound()
        if context is not None:
            chain = context.chain
        else:
            chain = parse_chain(given.decode("latin-1")) if given else ()
        if self._own:
            chain = (*chain, self._own)
        if chain:
            headers[CALL_CHAIN_HEADER] = ",".join(chain[-MAX_CHAIN:])
        if self._trace is not None and not traced:
            injected = self._trace()  # a sampled request: this service's span is the parent
            if injected:
                for name, value in injected.items():
                    headers[name] = value
                traced = True
        if context is not None and context.traceparent is not None and not traced:
            headers["traceparent"] = context.traceparent
            if context.tracestate is not None:
                headers["tracestate"] = context.tracestate
        return headers

    def _pick(self, key: str | None, tried: list[Instance]) -> Pick | None:
        """An instance not ejected and not tried yet; failing that, one not ejected; then any."""
        balancer = self.balancer
        ejected = self._detector.ejected() if self._detector is not None else frozenset()
        if tried:
            pick = balancer.pick(key=key, exclude=ejected.union(tried))
            if pick is not None:
                return pick
        pick = balancer.pick(key=key, exclude=ejected)
        if pick is None and ejected:
            pick = balancer.pick(key=key)
        return pick

    def _settle(self, pick: Pick, outcome: Outcome | None) -> None:
        """Tell the balancer and the outlier detector how an attempt on ``pick`` ended."""
        if outcome is None:  # never sent
            pick.cancel()
            return
        self.stats.attempt(_LABEL.get(outcome, outcome))
        if outcome == "not_counted":
            pick.cancel()
            return
        ok = outcome == "ok"
        pick.done(ok)
        if self._detector is not None and outcome != "overloaded":
            self._detector.record(pick.instance, ok)

    async def _attempts(self, call: OutboundCall) -> Result:
        """The work of the call guard: attempts until one answers or the retry rules say stop."""
        request = call.request
        retries = self._retries
        method = request.method
        extensions = request.extensions
        idempotent = extensions.get("seawall.idempotent")
        keyed = call.keyed
        if retries is not None:
            retries.record_request()
            if not isinstance(request.stream, httpx.ByteStream):
                retries = None  # a streamed body cannot be sent twice
        hedge = retries.policy.hedge if retries is not None else None
        key: str | None = None
        if self._hash is not None or "seawall.key" in extensions:
            given = extensions.get("seawall.key")
            key = str(given) if given is not None else self._hash(request) if self._hash else None
        tried: list[Instance] = []
        attempt = 0
        result: Result | None = None
        while True:
            left = remaining()
            if left is not None and left - self._margin < _MIN_SEND:
                if result is None:
                    raise DeadlineExceeded(
                        f"{max(left, 0.0) * 1000:.0f} ms left: too little for a call to {self.name}",
                        check="deadline",
                    )
                break
            pick = self._pick(key, tried)
            if pick is None:
                if result is not None:
                    break
                call.outcome = "connect_error"
                error = httpx.ConnectError(f"no instance of {self.name} is available", request=request)
                return Failed(error, error_status(error))
            attempt += 1
            if hedge is not None and attempt == 1 and retries is not None:
                pick, result = await self._hedged(call, pick, key, hedge, retries, idempotent, keyed)
            else:
                result = await self._attempt(call, pick)
            outcome, after = classify(result)
            self._settle(pick, outcome)
            if outcome is None:  # refused before it was sent: breaker open, bulkhead full...
                assert isinstance(result, Failed)
                raise result.error
            call.outcome = _LABEL.get(outcome, outcome)
            if retries is None:
                break
            decision = retries.decide(
                attempt=attempt,
                method=method,
                outcome=outcome,
                idempotent=idempotent,
                idempotency_key=keyed,
                retry_after=after,
                remaining=remaining(),
            )
            if not decision.retry:
                break
            tried.append(pick.instance)
            # The failed response stays as it is (its body is in memory, its connection back in
            # the pool): it is what the caller gets if no further attempt can be made.
            if decision.delay > 0:
                await self._clock.sleep(decision.delay)
        if isinstance(result, Failed) and isinstance(result.error, Rejected):
            raise result.error  # the last attempt ran out of time: the call did
        return result

    async def _attempt(self, call: OutboundCall, pick: Pick) -> Result:
        """One attempt on ``pick``'s instance through the attempt guard."""
        attempt = OutboundCall(call.method, self.name, call.request, pick.instance, remaining(), call.headers)
        try:
            return await self._attempt_guard.run(attempt)
        except BaseException:  # cancelled: the caller gave up, or a hedge won
            pick.cancel()
            raise

    async def _hedged(
        self,
        call: OutboundCall,
        first: Pick,
        key: str | None,
        hedge: HedgePolicy,
        retries: RetryController,
        idempotent: Any,
        keyed: bool,
    ) -> tuple[Pick, Result]:
        """The first attempt, hedged: after ``hedge.delay`` without an answer another instance is
        tried too (within the retry budget); the first success wins and the others are cancelled.

        The outcome of an attempt that loses is recorded here; the winner's is the caller's."""
        loop = asyncio.get_running_loop()
        tasks: dict[asyncio.Task[Result], Pick] = {loop.create_task(self._attempt(call, first)): first}
        hedges = 0
        hedging = True
        last: tuple[Pick, Result] | None = None
        try:
            while True:
                timer = loop.create_task(self._clock.sleep(hedge.delay)) if hedging else None
                waiting: set[asyncio.Future[Any]] = set(tasks)
                if timer is not None:
                    waiting.add(timer)
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if timer is not None and timer not in done:
                    timer.cancel()
                for task in [t for t in tasks if t in done]:
                    pick = tasks.pop(task)
                    result = task.result()
                    outcome, _ = classify(result)
                    if outcome == "ok" or not tasks:
                        return pick, result
                    self._settle(pick, outcome)  # a failed copy while another is still running
                    if outcome is not None:
                        retries.record_outcome(outcome)
                    last = pick, result
                if timer is not None and timer in done:
                    decision = retries.decide_hedge(
                        hedges=hedges,
                        method=call.method,
                        idempotent=idempotent,
                        idempotency_key=keyed,
                        remaining=remaining(),
                    )
                    running = [p.instance for p in tasks.values()]
                    other = self._pick(key, running) if decision.retry else None
                    if other is None or other.instance in running:
                        if other is not None:
                            other.cancel()
                        hedging = False
                    else:
                        hedges += 1
                        tasks[loop.create_task(self._attempt(call, other))] = other
                        hedging = hedges < hedge.max_hedges
                if not tasks:  # pragma: no cover - every path above returns first
                    assert last is not None
                    return last
        finally:
            for task, pick in tasks.items():
                task.cancel()
                pick.cancel()

    async def _send(self, attempt: OutboundCall) -> Result:
        """One HTTP exchange with ``attempt``'s instance; the body is read before returning."""
        request = attempt.request
        instance = attempt.instance
        assert instance is not None
        headers = attempt.headers
        w = current_deadline()  # the attempt's own deadline (the attempt guard set it)
        if w is not None:
            ms = int((w.remaining() - self._margin) * 1000)
            headers[DEADLINE_HEADER] = str(ms if ms > 0 else 0)
        url = retarget(request.url, self._scheme, instance.host, instance.port)
        outgoing = httpx.Request(
            request.method, url, headers=headers, stream=request.stream, extensions=request.extensions
        )
        try:
            response = await self.inner.handle_async_request(outgoing)
        except httpx.TransportError as exc:
            return Failed(exc, error_status(exc))
        stream = response.stream
        assert isinstance(stream, httpx.AsyncByteStream)
        try:
            body = b"".join([part async for part in stream])
        except httpx.TransportError as exc:
            return Failed(exc, error_status(exc))
        finally:
            await stream.aclose()
        # The caller's client reads (and decodes) this copy; the connection is back in the pool.
        response.stream = httpx.ByteStream(body)
        if "content-encoding" not in response.headers:
            # Nothing to decode: make it the response's content now, so the client's read finds
            # it read instead of iterating a second stream (an async generator per call: ~5 µs).
            # An encoded body is left for the client to decode, so its errors stay httpx's.
            response.read()
        return response

    # -- observability --------------------------------------------------------------------------

    @property
    def breaker(self) -> Breaker | None:
        """The breaker the attempt guard's chain uses now, if any."""
        for check in self._attempt_guard.chain.checks:
            if isinstance(check, BreakerCheck):
                return check.breaker
        return None

    @property
    def instances(self) -> tuple[Instance, ...]:
        """The instances calls choose from now."""
        return self.balancer.instances

    def statistics(self) -> DependencyStatistics:
        """A snapshot of the dependency's calls and primitives."""
        s = self.stats
        breaker = self.breaker
        return DependencyStatistics(
            dependency=self.name,
            in_flight=s.in_flight,
            outcomes=dict(s.outcomes),
            attempts=dict(s.attempts),
            rejected=dict(s.rejected),
            buckets=tuple(s.buckets),
            total_seconds=s.total_seconds,
            instances=len(self.balancer.instances),
            retries=self._retries.statistics() if self._retries is not None else None,
            breaker=breaker.statistics() if breaker is not None else None,
            outliers=self._detector.statistics() if self._detector is not None else None,
            resolver=self._resolver.statistics(),
        )

    def __repr__(self) -> str:
        return f"Upstream({self.name!r}, instances={len(self.balancer.instances)})"
