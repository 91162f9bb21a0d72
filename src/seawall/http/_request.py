"""The request as handlers and checks see it: a thin, lazy view over the ASGI scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final, final
from urllib.parse import parse_qsl

from seawall.errors import PayloadTooLarge

__all__ = ["MAX_JSON_DEPTH", "Request", "read_body"]

#: Default deepest nesting of arrays/objects accepted in a JSON body (``Request.max_json_depth``).
#: serde_json's default recursion limit (serde_json/src/de.rs, ``remaining_depth: 128``): deep
#: enough for any real document, shallow enough that nothing decoding or walking the value runs
#: out of Python stack.
MAX_JSON_DEPTH: Final = 128

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


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


@final
class Request:
    """One HTTP request: method, path, path parameters, headers, query and body.

    Handlers receive it by declaring a parameter annotated ``Request``. Headers and query are
    parsed on first access only.

    ``max_body`` (bytes) and ``max_json_depth`` (levels of arrays/objects) bound what a JSON body
    parameter will read and decode: 413 ``BODY_TOO_LARGE`` and 400 ``MALFORMED_BODY`` past them.
    """

    __slots__ = (
        "_body",
        "_headers",
        "_query",
        "max_body",
        "max_json_depth",
        "params",
        "receive",
        "route",
        "scope",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        params: dict[str, str] | None = None,
        *,
        route: str = "",
        max_body: int = 1 << 20,
        max_json_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.params: dict[str, str] = params if params is not None else {}
        self.route = route
        self.max_body = max_body
        self.max_json_depth = max_json_depth
        self._headers: dict[str, str] | None = None
        self._query: dict[str, str] | None = None
        self._body: bytes | None = None

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        return str(self.scope["path"])

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

    def __repr__(self) -> str:
        return f"Request({self.method} {self.path})"
