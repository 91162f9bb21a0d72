"""Responses: a small value type and the code that sends one over ASGI."""

from __future__ import annotations

from typing import Any, Final, final

import msgspec

__all__ = ["JSON_HEADER", "Response", "encode_result"]

JSON_HEADER: Final = (b"content-type", b"application/json")
_TEXT_HEADER: Final = (b"content-type", b"text/plain; charset=utf-8")
_BYTES_HEADER: Final = (b"content-type", b"application/octet-stream")

_json_encode = msgspec.json.Encoder().encode


@final
class Response:
    """A complete response: status, headers and body bytes.

    Handlers may return one to control status and headers; otherwise a returned Struct, dict or
    list becomes JSON, ``bytes`` an octet stream, ``str`` text, and ``None`` a 204.

    Example::

        return Response(b"created", status=201, headers={"location": "/items/7"})
    """

    __slots__ = ("body", "headers", "status")

    def __init__(
        self,
        body: bytes = b"",
        *,
        status: int = 200,
        headers: dict[str, str] | list[tuple[bytes, bytes]] | None = None,
        media_type: str | None = None,
    ) -> None:
        self.body = body
        self.status = status
        if headers is None:
            raw: list[tuple[bytes, bytes]] = []
        elif isinstance(headers, dict):
            raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        else:
            raw = list(headers)
        if media_type is not None:
            raw.append((b"content-type", media_type.encode("latin-1")))
        self.headers = raw

    @classmethod
    def json(cls, content: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        """A JSON response from any msgspec-encodable value."""
        r = cls(_json_encode(content), status=status, headers=headers)
        r.headers.append(JSON_HEADER)
        return r

    def __repr__(self) -> str:
        return f"Response(status={self.status}, {len(self.body)} bytes)"


def encode_result(result: Any) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Turn a handler's return value into ``(status, headers, body)``.

    ``content-length`` is always set; bodies are never streamed by this path.
    """
    if result.__class__ is dict or isinstance(result, msgspec.Struct | list | dict):
        body = _json_encode(result)
        return 200, [JSON_HEADER, (b"content-length", str(len(body)).encode())], body
    if isinstance(result, Response):
        headers = [*result.headers, (b"content-length", str(len(result.body)).encode())]
        return result.status, headers, result.body
    if result is None:
        return 204, [], b""
    if isinstance(result, bytes):
        return 200, [_BYTES_HEADER, (b"content-length", str(len(result)).encode())], result
    if isinstance(result, str):
        body = result.encode()
        return 200, [_TEXT_HEADER, (b"content-length", str(len(body)).encode())], body
    body = _json_encode(result)  # ints, floats, bools and other msgspec-encodable values
    return 200, [JSON_HEADER, (b"content-length", str(len(body)).encode())], body
