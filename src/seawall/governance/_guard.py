"""The one guarded call path, shared by every entry point (server routes, the ASGI middleware,
the outbound transport):

    admit     the chain's checks, cheapest first; a rejection is answered before any work starts
    run       the work under the deadline = min(policy timeout, the caller's remaining deadline)
    classify  ok / error / timeout / rejected / cancelled, with status and latency
    account   the checks' exits get the outcome, then the metrics, then the observer (if any)
    answer    a rejection or error: the fallback's value (bounded in time) or the error body

An entry point supplies a small :class:`Transport` (run the work, answer an error, answer a
fallback value) and a :class:`~seawall.governance.Call` per request; everything else is here,
once, so every entry point gives the same status, headers and metrics in the same situation.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, Generic, Protocol, TypeVar, final

from seawall._clock import Clock
from seawall.deadline import _current as _deadline
from seawall.errors import DeadlineExceeded, HTTPError, InternalError, Rejected
from seawall.governance._call import Call, Outcome, OutcomeKind
from seawall.governance._chain import Chain, admit_async, release
from seawall.governance._check import Exit
from seawall.governance._timeouts import TimeoutWheel, Watch

__all__ = ["FALLBACK_GRACE", "Accounting", "Fallback", "Guard", "Observer", "Transport"]

C = TypeVar("C", bound=Call)
C_contra = TypeVar("C_contra", bound=Call, contravariant=True)
R = TypeVar("R")

logger = logging.getLogger("seawall.governance")

#: Seconds a fallback may take at least (it gets the call's remaining deadline if that is longer):
#: a fallback answers a degraded call and must not become the slow part itself.
FALLBACK_GRACE: Final = 0.05

#: What exits of checks with ``wants_outcome = False`` receive: they must not read it.
_RELEASE: Final = Outcome(0, "ok", 0.0, 0.0)

#: Answers a rejection (limited, shed, timed out, breaker open) with a degraded value.
Fallback = Callable[[Any, Rejected], Any]


class Transport(Protocol[C_contra, R]):
    """What an entry point does itself: run the work and put answers on its wire."""

    async def invoke(self, call: C_contra) -> R:
        """Run the work (handler, inner app, HTTP attempt) and deliver its result."""
        ...

    def status(self, result: R) -> int:
        """The HTTP status of a result."""
        ...

    async def answer(self, call: C_contra, error: HTTPError) -> R:
        """Answer with ``error`` (the error body, or raising it to an outbound caller)."""
        ...

    async def degrade(self, call: C_contra, rejection: Rejected, value: Any) -> R:
        """Answer with a fallback's ``value`` in place of ``rejection``."""
        ...


class Accounting(Protocol):
    """Where a guard counts calls (pre-bound per-target metric children)."""

    in_flight: int

    def observe(self, status: int, seconds: float) -> None: ...

    def reject(self, reason: str, check: str) -> None: ...


class Observer(Protocol[C_contra]):
    """Sees each guarded call begin and end: tracing, access and slow-request logs.

    :meth:`start` runs before admission, in the call's task, so that what it sets in the context
    (the current span, :data:`seawall.errors.TRACE_ID`) is seen by the checks, the work, the logs
    and the error body. If it returns a handle (anything but ``None``), :meth:`end` runs in the
    same task once the answer is complete, with the handle and the call's :class:`Outcome`
    (rejections included); ``None`` means "nothing to do at the end" (an unsampled request),
    and costs nothing more. A guard without an observer (the default) pays one ``None`` test per
    call. BARE targets (no checks, deadline or metrics) are never observed. An observer must not
    raise.
    """

    def start(self, call: C_contra) -> Any:
        """Begin observing ``call``; a handle other than ``None`` is given back to :meth:`end`."""
        ...

    def end(self, handle: Any, call: C_contra, outcome: Outcome) -> None:
        """``call``, whose :meth:`start` returned ``handle``, ended with ``outcome``."""
        ...


@final
class Guard(Generic[C, R]):
    """Runs calls to one target through its chain; see the module docstring.

    Args:
        name: how the target appears in logs (``GET /items/{id}``).
        chain: the compiled chain; replace :attr:`chain` to apply new rules (atomic).
        transport: the entry point's :class:`Transport`.
        stats: the target's :class:`Accounting`.
        wheel: enforces deadlines.
        clock: the time source for latencies.
        fallback: ``fn(call, rejection)`` answering rejections with a degraded value.
        logger: where unexpected errors are logged with their traceback.

    Attributes:
        observer: an :class:`Observer` of every call (tracing, logs), or ``None``; assign it at any
            time, it applies from the next call.
    """

    # "clock": for the transport's own timers (the server's departure watch).
    __slots__ = (
        "_chain",
        "_now",
        "clock",
        "fallback",
        "logger",
        "name",
        "observer",
        "run",
        "stats",
        "transport",
        "wheel",
    )

    def __init__(
        self,
        name: str,
        chain: Chain,
        transport: Transport[C, R],
        stats: Accounting,
        wheel: TimeoutWheel,
        clock: Clock,
        fallback: Fallback | None = None,
        logger: logging.Logger = logger,
    ) -> None:
        self.logger = logger
        self.name = name
        self.transport = transport
        self.stats = stats
        self.wheel = wheel
        self.fallback = fallback
        self.clock = clock  # for the transport's own timers (the server's departure watch)
        self._now = clock.now
        self.observer: Observer[C] | None = None
        self.run: Callable[[C], Awaitable[R]]
        self.chain = chain

    @property
    def chain(self) -> Chain:
        """The compiled chain calls run through; assigning a new one applies it to the next call."""
        return self._chain

    @chain.setter
    def chain(self, chain: Chain) -> None:
        self._chain = chain
        # A chain with no checks, no deadline and no metrics (BARE) goes straight to the work.
        bare = chain.empty and chain.timeout is None and not chain.metrics
        self.run = self._bare if bare else self._guarded

    async def _bare(self, call: C) -> R:
        """The work alone: no admission, deadline or accounting; errors still get their answer."""
        try:
            return await self.transport.invoke(call)
        except BaseException as exc:  # noqa: BLE001 - _failed re-raises what is not ours to answer
            return (await self._failed(call, exc))[0]

    async def _guarded(self, call: C) -> R:
        """Admit, run, classify, account and answer one call (what :attr:`run` does unless BARE)."""
        chain, stats, now, observer = self._chain, self.stats, self._now, self.observer
        start = now()
        handle = None if observer is None else observer.start(call)
        exits: list[Exit] = []
        try:  # admit: cheapest first; nothing of the body has been read yet
            for check in chain.checks:  # (admit(), inlined: one call less per request)
                if (ex := check.enter(call)) is not None:
                    exits.append(ex)  # noqa: PERF401 - a loop that stops at the first rejection
            if chain.async_checks:
                await admit_async(chain, call, exits, start)
        except BaseException as exc:
            release(exits, exc, start)  # (admit_async released and cleared what it saw)
            if not isinstance(exc, Exception):
                raise
            if handle is not None:
                return await self._refused_observed(call, exc, chain, observer, handle, start)
            result = await self._refused(call, exc)
            if chain.metrics:
                stats.observe(self.transport.status(result), now() - start)
            return result
        timeout = chain.timeout
        incoming = call.incoming_deadline
        if incoming is not None:
            incoming -= now() - start  # time queued in admission counts against the caller's budget
            if timeout is None or incoming < timeout:
                timeout = incoming
        stats.in_flight += 1
        status, reason = 500, ""
        kind: OutcomeKind = "error"
        watch = token = None
        try:  # run: the work under its deadline
            if timeout is not None:
                if timeout <= 0:
                    raise DeadlineExceeded("the deadline had passed on arrival", check="deadline")
                watch = self.wheel.watch(timeout)
                token = _deadline.set(watch)
            result = await self.transport.invoke(call)
            status = self.transport.status(result)
            # 499: the transport saw the client leave and stopped the work (nothing was answered).
            kind = "ok" if status < 499 else "cancelled" if status == 499 else "error"
        except asyncio.CancelledError:
            if watch is None or not watch.expired:  # the client went away, or shutdown
                status, kind = 499, "cancelled"
                raise
            self.wheel.done(watch)
            if watch.task is not None:
                watch.task.uncancel()
            result, status, kind, reason = await self._failed(
                call, DeadlineExceeded(f"exceeded its deadline of {watch.timeout:g}s", check="timeout")
            )
        except BaseException as exc:  # noqa: BLE001 - _failed re-raises what is not ours to answer
            if watch is not None:
                self.wheel.done(watch)
            result, status, kind, reason = await self._failed(call, exc)
        finally:  # account
            if watch is not None:
                self.wheel.done(watch)
            if token is not None:
                _deadline.reset(token)
            stats.in_flight -= 1
            end = now()
            if exits or handle is not None:
                # Exits that only release a slot get a shared placeholder (one Outcome less per
                # call on the default chain: ~1.7k instructions, callgrind).
                outcome = (
                    Outcome(status, kind, start, end, reason)
                    if chain.needs_outcome or handle is not None
                    else _RELEASE
                )
                for ex in exits:
                    ex(outcome)
                if handle is not None and observer is not None:
                    observer.end(handle, call, outcome)
            if chain.metrics:
                stats.observe(status, end - start)
        return result

    async def _refused_observed(
        self, call: C, exc: Exception, chain: Chain, observer: Observer[C] | None, handle: Any, start: float
    ) -> R:
        """:meth:`_refused` for an observed call: the observer sees the refusal's outcome too."""
        kind: OutcomeKind = "rejected" if isinstance(exc, Rejected) else "error"
        reason = exc.reason if isinstance(exc, Rejected) else ""
        status = 499  # unless answered: cancelled while answering
        try:
            result = await self._refused(call, exc)
            status = self.transport.status(result)
            if chain.metrics:
                self.stats.observe(status, self._now() - start)
        finally:
            assert observer is not None  # a handle comes from one
            observer.end(handle, call, Outcome(status, kind, start, self._now(), reason))
        return result

    async def _refused(self, call: C, exc: Exception) -> R:
        """Answer a call that admission did not let through."""
        if isinstance(exc, Rejected):
            if self._chain.metrics:
                self.stats.reject(exc.reason, exc.check)
            return await self._reject(call, exc, self._chain.timeout)
        if isinstance(exc, HTTPError):  # e.g. an invalid path parameter a key is made of
            return await self.transport.answer(call, exc)
        self.logger.error("admission of %s failed", self.name, exc_info=exc)
        return await self.transport.answer(call, InternalError())

    async def _failed(self, call: C, exc: BaseException) -> tuple[R, int, OutcomeKind, str]:
        """Answer a call whose work raised; returns ``(result, status, kind, reason)``."""
        if isinstance(exc, Rejected):  # a deadline, or an outbound call's breaker, inside the work
            if self._chain.metrics:
                self.stats.reject(exc.reason, exc.check)
            result = await self._reject(call, exc, 0.0)
            kind: OutcomeKind = "timeout" if isinstance(exc, DeadlineExceeded) else "rejected"
            return result, self.transport.status(result), kind, exc.reason
        if isinstance(exc, HTTPError):
            result = await self.transport.answer(call, exc)
            status = self.transport.status(result)
            return result, status, "ok" if status < 500 else "error", ""
        if not isinstance(exc, Exception):
            raise exc
        self.logger.error("unhandled error in %s", self.name, exc_info=exc)
        result = await self.transport.answer(call, InternalError())
        return result, self.transport.status(result), "error", ""

    async def _reject(self, call: C, exc: Rejected, remaining: float | None) -> R:
        """Answer a rejection: the fallback's value if there is one (and it is quick), else the error."""
        fallback = self.fallback
        if fallback is None:
            return await self.transport.answer(call, exc)
        limit = max(remaining or 0.0, FALLBACK_GRACE)
        watch: Watch | None = None
        try:
            value = fallback(call, exc)
            if inspect.isawaitable(value):
                watch = self.wheel.watch(limit)
                value = await value
        except asyncio.CancelledError:
            if watch is None or not watch.expired:
                raise
            if watch.task is not None:
                watch.task.uncancel()
            self.logger.warning(
                "fallback of %s took longer than %gs; answering %s", self.name, limit, exc.reason
            )
            return await self.transport.answer(call, exc)
        except Exception:
            self.logger.exception("fallback of %s failed", self.name)
            return await self.transport.answer(call, exc)
        finally:
            if watch is not None:
                self.wheel.done(watch)
        return await self.transport.degrade(call, exc, value)
