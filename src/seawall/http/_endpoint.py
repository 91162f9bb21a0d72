"""One route and method on the server: the handler, its argument builder, and how its answers
go on the ASGI wire. It is the server's :class:`~seawall.governance.Transport`; admission,
deadlines, outcomes, accounting and fallbacks are the :class:`~seawall.governance.Guard`'s.

It also stops work for clients that have gone (:class:`Departures`): a handler whose client
disconnected is cancelled and its request counted as 499, with nothing sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from typing import Any, Final, final

from seawall._clock import Clock
from seawall.deadline import _current as _deadline_var
from seawall.errors import HTTPError, Rejected
from seawall.governance import Guard
from seawall.http._params import ParamSpec, compile_params, compile_path_converters
from seawall.http._policy import MAX_BODY
from seawall.http._request import Converter, Request
from seawall.http._response import JSON_HEADER, encode_result
from seawall.http._router import parse_template

__all__ = ["CLIENT_GONE", "Departures", "Endpoint", "send_error"]

_START: Final = "http.response.start"
_BODY: Final = "http.response.body"
_FALLBACK_HEADER: Final = b"x-seawall-fallback"

#: The status a request whose client went away is counted with (nginx's 499); nothing is sent.
CLIENT_GONE: Final = 499
#: Seconds a request runs before its client is watched: the timeout wheel's tick.
DEPARTURE_TICK: Final = 0.005
#: The watch of the call's deadline (set by the guard), bound once for the hot path.
_deadline: Final = _deadline_var.get
#: (Typed so that a checker does not take the slot for None for good: the ticker sets it.)
_NO_WATCHER: Final[asyncio.Task[None] | None] = None


async def send_error(send: Callable[[Any], Any], exc: HTTPError, head: bool = False) -> int:
    """Send ``exc`` as seawall's JSON error body; returns its status."""
    body = exc.body()
    headers = [JSON_HEADER, (b"content-length", str(len(body)).encode()), *exc.headers]
    await send({"type": _START, "status": exc.status, "headers": headers})
    await send({"type": _BODY, "body": b"" if head else body})
    return exc.status


@final
class Endpoint:
    """The handler of one ``(route, method)`` and its transport side.

    Sync (``def``) handlers run in the service's thread pool so that they never block the event
    loop (and their deadline can answer 504 on time); ``inline`` ones (built-in endpoints) run on
    the loop.
    """

    __slots__ = (
        "builder",
        "converters",
        "departures",
        "executor",
        "fn",
        "guard",
        "inline",
        "is_async",
        "method",
        "params",
        "route",
    )

    def __init__(
        self,
        route: str,
        method: str,
        fn: Callable[..., Any],
        *,
        executor: Executor | None = None,
        inline: bool = False,
    ) -> None:
        self.route = route
        self.method = method
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn)
        self.inline = inline or self.is_async
        self.executor = executor
        _, names = parse_template(route)
        self.params: list[ParamSpec]
        self.params, self.builder = compile_params(fn, set(names))
        # Path values converted (strictly) before admission, so hotspot keys are canonical and
        # an invalid value is refused before it spends any budget.
        self.converters: Mapping[str, Converter] = compile_path_converters(fn, names)
        self.guard: Guard[Request, int]
        self.departures: Departures | None = None  # made on first use, on the guard's clock

    @property
    def chain(self) -> Any:
        """The route's current compiled chain."""
        return self.guard.chain

    # -- Transport ------------------------------------------------------------------------------

    async def invoke(self, call: Request) -> int:
        """Build the arguments, run the handler and send its response; returns the status."""
        kwargs = None
        if self.builder is not None:
            call.max_body = self.guard.chain.policy[MAX_BODY]
            kwargs = await self.builder(call)
        watch = _deadline(None)
        if watch is None or (self.inline and not self.is_async):
            # No deadline (a BARE route, or timeout=None without a deadline header): the handler
            # alone. An inline sync handler runs on the loop to the end: nothing to cancel.
            if self.is_async:
                result = await (self.fn() if kwargs is None else self.fn(**kwargs))
            elif self.inline:
                result = self.fn() if kwargs is None else self.fn(**kwargs)
            else:
                result = await self._in_thread(kwargs or {})
        else:
            departures = self.departures
            if departures is None:
                departures = self.departures = Departures(self.guard.clock)
            # Enter the departure watch (inlined: a method call cost more than this body does).
            call.watcher = _NO_WATCHER
            call.task = watch.task
            running = departures.running
            running[call] = departures.ticks
            if departures.ticker is None:
                departures.start()
            try:
                if self.is_async:
                    result = await (self.fn() if kwargs is None else self.fn(**kwargs))
                else:
                    result = await self._in_thread(kwargs or {})
            except asyncio.CancelledError:
                if call.task is not None:  # not the client leaving (a deadline, shutdown)
                    raise
                _uncancel()
                return CLIENT_GONE  # the client is gone: nothing to send, nobody to send it to
            finally:
                call.task = None
                running.pop(call, None)  # gone already if the ticker started its watcher
                if call.watcher is not None:
                    call.watcher.cancel()
        status, headers, body = encode_result(result)
        send = call.send
        await send({"type": _START, "status": status, "headers": headers})
        await send({"type": _BODY, "body": b"" if call.head else body})
        return status

    async def _in_thread(self, kwargs: dict[str, Any]) -> Any:
        ctx = contextvars.copy_context()  # the handler sees the deadline (seawall.deadline)
        run = functools.partial(ctx.run, self.fn, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.executor, run)

    def status(self, result: int) -> int:
        return result

    async def answer(self, call: Request, error: HTTPError) -> int:
        return await send_error(call.send, error, call.head)

    async def degrade(self, call: Request, rejection: Rejected, value: Any) -> int:
        status, headers, body = encode_result(value)
        headers.append((_FALLBACK_HEADER, rejection.reason.encode()))
        await call.send({"type": _START, "status": status, "headers": headers})
        await call.send({"type": _BODY, "body": b"" if call.head else body})
        return status

    def __repr__(self) -> str:
        return f"Endpoint({self.method} {self.route})"


@final
class Departures:
    """Cancels the handlers of requests whose client has gone (``http.disconnect``).

    Watching a request means a task waiting on its ``receive``: far more than a fast request
    costs. So a request only enters :attr:`running` (a dict entry, removed when it ends), and a
    ticker, running while requests are in, starts a watcher for each request that entered more
    than one ``tick`` ago and is still running. A request answered within a tick is never
    watched (measured: ~2,000 instructions a request for the entry, its removal and the
    ``try``, valgrind --tool=callgrind); a slow one (a handler waiting behind a saturated
    dependency, the requests an overload queues) is watched from at most two ticks after it
    started. When its client disconnects, its handler task is cancelled and the request ends as
    :data:`CLIENT_GONE` with nothing sent: under overload with impatient clients, the capacity
    they would have used is given back.

    Only requests running under a deadline are watched (the deadline's watch carries the task to
    cancel, which ``asyncio.current_task()`` would cost 0.2 µs to find): BARE routes and routes
    with ``timeout=None`` called without a deadline header run their handler alone. A request
    whose body is declared but not yet read is not watched either: reading ``receive`` for a
    disconnect would take body bytes from its handler.

    Args:
        clock: what the ticker sleeps on.
        tick: seconds a request runs before it may be watched.
    """

    __slots__ = ("_clock", "running", "tick", "ticker", "ticks")

    def __init__(self, clock: Clock, tick: float = DEPARTURE_TICK) -> None:
        self._clock = clock
        self.tick = tick
        #: Requests running and not yet watched, to the tick count when they entered (the
        #: endpoint adds and removes them). A dict, not a list: a request leaves it as soon as it
        #: ends, so nothing outlives its request (a list kept ~2 ticks of finished requests
        #: alive and the garbage collector walked them: +2,400 instructions a request, valgrind
        #: --tool=callgrind).
        self.running: dict[Request, int] = {}
        self.ticks = 0
        self.ticker: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the ticker (it stops by itself once no request is running)."""
        self.ticker = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        running = self.running
        try:
            while running:
                await self._clock.sleep(self.tick)
                self.ticks += 1
                due = self.ticks - 1  # entered before the previous tick: ran a tick or more
                old = [r for r, entered in running.items() if entered < due]
                loop = asyncio.get_running_loop()
                for request in old:
                    del running[request]
                    request.watcher = loop.create_task(_watch(request))
        finally:
            self.ticker = None


def _uncancel() -> None:
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


async def _watch(request: Request) -> None:
    """Wait until the client of ``request`` disconnects, then cancel its handler."""
    if request.body_pending():
        return
    with contextlib.suppress(Exception):  # e.g. a server that refuses a second receive: stop watching
        await request.disconnected()
        task = request.task
        if task is not None:
            request.task = None  # tells the endpoint the cancellation is the client's departure
            task.cancel()
