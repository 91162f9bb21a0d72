"""The request as handlers and checks see it: a thin, lazy view over the ASGI scope.

:class:`Request` is also the server's :class:`~seawall.governance.Call`: checks read the method,
the route template, the peer and key values through it, never through the raw scope.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any, Final, final
from urllib.parse import parse_qsl

from seawall.errors import PayloadTooLarge
from seawall.governance._call import Propagated

__all__ = ["MAX_JSON_DEPTH", "Request", "read_body"]

#: Default deepest nesting of arrays/objects accepted in a JSON body (``Request.max_json_depth``).
#: serde_json's default recursion limit (serde_json/src/de.rs, ``remaining_depth: 128``): deep
#: enough for any real document, shallow enough that nothing decoding or walking the value runs
#: out of Python stack.
MAX_JSON_DEPTH: Final = 128

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
#: Converts a raw path segment to its declared type (raises a 400 HTTPError when invalid).
Converter = Callable[[str], Any]

_NO_PARAMS: Final[dict[str, str]] = {}
#: Headers read by seawall on every request, found in one pass (``Request._controls``).
_CONTROL: Final[dict[bytes, int]] = {
    b"x-seawall-deadline-ms": 0,
    b"x-seawall-call-chain": 1,
    b"traceparent": 2,
    b"tracestate": 3,
}
_NO_CONTROL: Final[tuple[None, ...]] = (None,) * len(_CONTROL)
_NO_CONVERTERS: Final[Mapping[str, Converter]] = {}


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """Read the whole body, refusing with 413 as soon as it is known to exceed ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before anything is read; a body
    without one (chunked) is refused while streaming, once the running total passes the limit.
    """
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = -1
            if declared > limit:
                raise PayloadTooLarge(f"body of {declared} bytes exceeds the limit of {limit} bytes")
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect: nothing more will come
            break
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _no_send(message: MutableMapping[str, Any]) -> None:
    raise RuntimeError("this request cannot send a response")


@final
class Request:
    """One HTTP request: method, path, path parameters, headers, query and body.

    Handlers receive it by declaring a parameter annotated ``Request``; key functions
    (``Service.key_function``) and fallbacks receive it too. Headers and query are parsed on
    first access only.

    ``max_body`` (bytes) and ``max_json_depth`` (levels of arrays/objects) bound what a JSON body
    parameter will read and decode: 413 ``BODY_TOO_LARGE`` and 400 ``MALFORMED_BODY`` past them.
    """

    __slots__ = (
        "_body",
        "_control",
        "_converted",
        "_headers",
        "_query",
        "converters",
        "max_body",
        "max_json_depth",
        "params",
        "receive",
        "route",
        "scope",
        "send",
        # Set by the endpoint around a handler under a deadline only (never on other paths): the
        # task watching for the client's departure, once the request lingers.
        "watcher",
    )
    watcher: asyncio.Task[None] | object | None

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        params: dict[str, str] = _NO_PARAMS,
        route: str = "",
        send: Send = _no_send,
        converters: Mapping[str, Converter] = _NO_CONVERTERS,
        *,
        max_body: int = 1 << 20,
        max_json_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        # Positional on the server's hot path (a keyword call cost ~0.1 µs more per request).
        self.scope = scope
        self.receive = receive
        self.send = send
        self.params = params
        self.route = route
        self.max_body = max_body
        self.converters = converters
        self.max_json_depth = max_json_depth
        self._headers: dict[str, str] | None = None
        self._query: dict[str, str] | None = None
        self._body: bytes | None = None
        self._converted: dict[str, Any] | None = None
        self._control: Sequence[bytes | None] | None = None

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    @property
    def head(self) -> bool:
        """Whether this is a ``HEAD`` request (answered like ``GET``, without a body)."""
        return bool(self.scope["method"] == "HEAD")

    @property
    def client(self) -> str:
        """The peer's address (host only), or ``""`` when the server does not say."""
        client = self.scope.get("client")
        return str(client[0]) if client else ""

    @property
    def headers(self) -> dict[str, str]:
        """Lower-cased header names to values (a repeated header keeps its last value)."""
        if self._headers is None:
            self._headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in self.scope["headers"]}
        return self._headers

    @property
    def query(self) -> dict[str, str]:
        """Query parameters (a repeated name keeps its last value)."""
        if self._query is None:
            qs = self.scope.get("query_string", b"")
            self._query = dict(parse_qsl(qs.decode("latin-1"), keep_blank_values=True)) if qs else {}
        return self._query

    async def body(self) -> bytes:
        """The whole body, read once (413 past ``max_body``)."""
        if self._body is None:
            self._body = await read_body(self.scope, self.receive, self.max_body)
        return self._body

    def body_pending(self) -> bool:
        """Whether body bytes may still arrive: one is declared (``Content-Length`` > 0 or
        ``Transfer-Encoding``) and has not been read. Only then may reading ``receive`` for
        anything else (a disconnect) take bytes the handler has yet to read."""
        if self._body is not None:
            return False
        for name, value in self.scope["headers"]:
            if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
                return True
        return False

    async def disconnected(self) -> None:
        """Return once the client has disconnected (ASGI ``http.disconnect``).

        Call it only when :meth:`body_pending` is false. An unread empty body message is kept
        as the body, so that a later :meth:`body` still answers ``b""``.
        """
        if self._body is None:
            message = await self.receive()
            if message["type"] != "http.request":
                return
            self._body = message.get("body", b"")
        while (await self.receive())["type"] != "http.disconnect":
            pass

    # -- the Call view (seawall.governance.Call) ------------------------------------------------

    @property
    def target(self) -> str:
        """The route template this request matched."""
        return self.route

    @property
    def peer(self) -> str:
        return self.client

    @property
    def incoming_deadline(self) -> float | None:
        """The caller's remaining budget from ``X-Seawall-Deadline-Ms``, in seconds."""
        raw = self._controls()[0]
        if raw is None:
            return None
        try:
            return float(raw) / 1000.0
        except ValueError:  # unparseable: ignored, not fatal (as an absent header)
            return None

    def _controls(self) -> Sequence[bytes | None]:
        # The headers seawall itself reads on every request (the deadline, the call chain, the
        # trace context) are found in one pass over the header list and kept: several checks
        # reading them cost one scan. ``k in dict`` per header, not ``dict.get``: a method call
        # per header cost 1.7x the pass (callgrind, 3 headers).
        control = self._control
        if control is None:
            found: list[bytes | None] | None = None
            for k, v in self.scope["headers"]:
                if k in _CONTROL:
                    if found is None:
                        found = [None] * len(_CONTROL)
                    found[_CONTROL[k]] = v
            control = self._control = _NO_CONTROL if found is None else found
        return control

    @property
    def propagated(self) -> Propagated | None:
        c = self._controls()
        if c is _NO_CONTROL or (c[1] is None and c[2] is None):
            return None
        return Propagated(
            None if c[1] is None else c[1].decode("latin-1"),
            None if c[2] is None else c[2].decode("latin-1"),
            None if c[3] is None else c[3].decode("latin-1"),
        )

    def header(self, name: str) -> str | None:
        raw = name.encode("latin-1")
        i = _CONTROL.get(raw)
        if i is not None:
            value = self._controls()[i]
            return None if value is None else value.decode("latin-1")
        for k, v in self.scope["headers"]:
            if k == raw:
                return str(v.decode("latin-1"))
        return None

    def query_param(self, name: str) -> str | None:
        return self.query.get(name)

    def path_param(self, name: str) -> Any:
        """The path parameter converted to the handler's declared type (400 when invalid)."""
        raw = self.params.get(name)
        if raw is None:
            return None
        convert = self.converters.get(name)
        if convert is None:
            return raw
        converted = self._converted
        if converted is None:
            converted = self._converted = {}
        elif name in converted:
            return converted[name]
        value = converted[name] = convert(raw)
        return value

    def __repr__(self) -> str:
        return f"Request({self.method} {self.path})"
