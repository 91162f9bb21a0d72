"""Body limit: a declared Content-Length over ``max_body`` is refused before reading; a chunked
body is refused while streaming."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest

from seawall import Policy, Service
from seawall.errors import PayloadTooLarge
from seawall.http._request import read_body

Client = Callable[[Any], httpx.AsyncClient]


class Note(msgspec.Struct):
    text: str


def make_service(max_body: int = 64) -> tuple[Service, list[Note]]:
    svc = Service("limits")
    seen: list[Note] = []

    @svc.post("/notes", policy=Policy(max_body=max_body))
    async def create(note: Note) -> dict[str, int]:
        seen.append(note)
        return {"len": len(note.text)}

    return svc, seen


def scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/notes",
        "raw_path": b"/notes",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }


class Recorder:
    """An ASGI ``send`` that keeps the messages, and a ``receive`` that serves chunks and counts calls."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.receive_calls = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        self.receive_calls += 1
        if self.receive_calls > len(self.chunks):
            return {"type": "http.disconnect"}
        more = self.receive_calls < len(self.chunks)
        return {"type": "http.request", "body": self.chunks[self.receive_calls - 1], "more_body": more}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def json(self) -> Any:
        return msgspec.json.decode(self.sent[1]["body"])


async def test_body_within_limit_is_accepted(asgi_client: Client) -> None:
    """A body under ``max_body`` is read and decoded."""
    svc, seen = make_service()
    async with asgi_client(svc) as client:
        r = await client.post("/notes", json={"text": "hi"})
    assert r.status_code == 200
    assert seen == [Note("hi")]


async def test_declared_length_over_limit_is_413_before_reading() -> None:
    """A Content-Length over the limit is a 413 BODY_TOO_LARGE and ``receive`` is never called."""
    svc, seen = make_service(max_body=64)
    rec = Recorder([b"x" * 100])
    await svc(scope([(b"content-length", b"100")]), rec.receive, rec.send)
    assert rec.status == 413
    assert rec.json["reason"] == "BODY_TOO_LARGE"
    assert rec.receive_calls == 0
    assert seen == []


async def test_declared_length_over_limit_via_client(asgi_client: Client) -> None:
    """Over a real client, an oversized JSON body is answered 413 and the handler never runs."""
    svc, seen = make_service(max_body=16)
    async with asgi_client(svc) as client:
        r = await client.post("/notes", json={"text": "x" * 100})
    assert r.status_code == 413
    assert r.json()["reason"] == "BODY_TOO_LARGE"
    assert seen == []


async def test_chunked_body_over_limit_is_413_while_streaming() -> None:
    """Without Content-Length, the body is refused once the streamed total passes the limit."""
    svc, seen = make_service(max_body=64)
    rec = Recorder([b"x" * 30, b"x" * 30, b"x" * 30, b"x" * 30])
    await svc(scope([(b"content-type", b"application/json")]), rec.receive, rec.send)
    assert rec.status == 413
    assert rec.json["reason"] == "BODY_TOO_LARGE"
    assert rec.receive_calls == 3  # stopped reading at the chunk that crossed 64 bytes
    assert seen == []


async def test_chunked_body_within_limit_is_joined() -> None:
    """A chunked body under the limit is reassembled from its chunks."""
    svc, seen = make_service(max_body=64)
    rec = Recorder([b'{"te', b'xt": "ab', b'c"}'])
    await svc(scope([]), rec.receive, rec.send)
    assert rec.status == 200
    assert seen == [Note("abc")]


async def test_body_exactly_at_limit_is_accepted() -> None:
    """A body of exactly ``max_body`` bytes is allowed (the limit is inclusive)."""
    body = b"x" * 10
    rec = Recorder([body])
    assert await read_body(scope([(b"content-length", b"10")]), rec.receive, 10) == body


async def test_disconnect_ends_the_body() -> None:
    """An ``http.disconnect`` while reading ends the body with what was received."""
    rec = Recorder([])
    assert await read_body(scope([]), rec.receive, 10) == b""


@pytest.mark.parametrize("bad", [b"abc", b""])
async def test_unparsable_content_length_falls_back_to_streaming(bad: bytes) -> None:
    """A Content-Length that is not a number is ignored and the limit is enforced while streaming."""
    rec = Recorder([b"x" * 8, b"x" * 8])
    with pytest.raises(PayloadTooLarge, match="exceeds the limit of 10 bytes"):
        await read_body(scope([(b"content-length", bad)]), rec.receive, 10)
