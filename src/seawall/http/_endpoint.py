"""One route and method on the server: the handler, its argument builder, and how its answers
go on the ASGI wire. It is the server's :class:`~seawall.governance.Transport`; admission,
deadlines, outcomes, accounting and fallbacks are the :class:`~seawall.governance.Guard`'s.

It also stops work for clients that have gone: a request still running a full tick of the
deadline wheel after it began (``Watch.on_linger``) gets a task waiting for ``http.disconnect``;
when its client disconnects, the handler is cancelled and the request counted as 499, with
nothing sent. A request answered within a tick is never watched (that would cost more than
answering it).
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

from seawall.deadline import _current as _deadline_var
from seawall.errors import HTTPError, Rejected
from seawall.governance import Guard, Watch
from seawall.governance._timeouts import DEFAULT_RESOLUTION
from seawall.http._params import ParamSpec, compile_params, compile_path_converters
from seawall.http._policy import MAX_BODY
from seawall.http._request import Converter, Request
from seawall.http._response import JSON_HEADER, encode_result
from seawall.http._router import parse_template

__all__ = ["CLIENT_GONE", "Endpoint", "send_error"]

_START: Final = "http.response.start"
_BODY: Final = "http.response.body"
_FALLBACK_HEADER: Final = b"x-seawall-fallback"

#: The status a request whose client went away is counted with (nginx's 499); nothing is sent.
CLIENT_GONE: Final = 499
#: Seconds a request runs before its client is watched: the timeout wheel's tick.
DEPARTURE_TICK: Final = DEFAULT_RESOLUTION
#: The watch of the call's deadline (set by the guard), bound once for the hot path.
_deadline: Final = _deadline_var.get
#: Put in ``Request.watcher`` when the client has gone: the handler's cancellation is its departure.
_GONE: Final = object()


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
            # The deadline's watch also tells us when this request lingers (still running a full
            # wheel tick after it began): only then is its client watched for a departure.
            call.watcher = None  # (a slot never set makes getattr raise inside: ~2k instructions)
            watch.payload = call
            watch.on_linger = _watch_client
            try:
                if self.is_async:
                    result = await (self.fn() if kwargs is None else self.fn(**kwargs))
                else:
                    result = await self._in_thread(kwargs or {})
            except asyncio.CancelledError:
                if getattr(call, "watcher", None) is not _GONE:  # not the client leaving (a deadline)
                    raise
                _uncancel()
                return CLIENT_GONE  # the client is gone: nothing to send, nobody to send it to
            finally:
                watch.on_linger = None
                watcher: object = getattr(call, "watcher", None)  # set meanwhile by the ticker
                if isinstance(watcher, asyncio.Task):
                    watcher.cancel()
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


def _uncancel() -> None:
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


def _watch_client(watch: Watch) -> None:
    """``on_linger`` of a request's deadline watch: start watching its client."""
    request: Request = watch.payload
    if request is not None and getattr(request, "watcher", None) is None:
        request.watcher = asyncio.get_running_loop().create_task(_watch(request, watch))


async def _watch(request: Request, watch: Watch) -> None:
    """Wait until the client of ``request`` disconnects, then cancel its handler."""
    if request.body_pending():  # reading receive now would take body bytes from the handler
        return
    with contextlib.suppress(Exception):  # e.g. a server that refuses a second receive: stop watching
        await request.disconnected()
        task = watch.task
        if task is not None and watch.on_linger is not None:  # still running
            request.watcher = _GONE  # tells the endpoint the cancellation is the client's departure
            task.cancel()
