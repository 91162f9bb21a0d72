"""The open-loop load generator (bench/_loadgen.py) against a tiny in-test HTTP/1.1 server."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_seawall_bench_loadgen", ROOT / "bench" / "_loadgen.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


loadgen = _load()

OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'
SHED = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 2\r\n\r\n{}"
CHUNKED = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
CLOSE = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"


class _Server(asyncio.Protocol):
    """Answers by path: /ok 200, /shed 503, /chunked 200 chunked (split in two writes), /close 200 then
    closes, /alternate every other request hangs, /hang never answers."""

    connections = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        type(self).connections += 1
        self.transport = transport
        self.buf = b""
        self.count = 0

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head, self.buf = self.buf[:end], self.buf[end + 4 :]
            path = head.split(b" ", 2)[1]
            self.count += 1
            if path == b"/ok":
                self.transport.write(OK)
            elif path == b"/shed":
                self.transport.write(SHED)
            elif path == b"/chunked":
                self.transport.write(CHUNKED[:60])
                asyncio.get_running_loop().call_later(0.001, self.transport.write, CHUNKED[60:])
            elif path == b"/close":
                self.transport.write(CLOSE)
                self.transport.close()
            elif path == b"/alternate" and self.count % 2:
                self.transport.write(OK)
            elif path == b"/priority":  # only requests carrying the priority header get a 200
                self.transport.write(OK if b"x-priority: critical" in head else SHED)


@pytest.fixture
async def server_url():
    _Server.connections = 0
    server = await asyncio.get_running_loop().create_server(_Server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.close()


async def test_keep_alive_open_loop_rate(server_url: str) -> None:
    result = await loadgen.run(f"{server_url}/ok", rate=400, duration_s=1.0)
    assert result.scheduled == result.sent == result.ok == 400
    assert result.completed == 400
    assert result.timeouts == result.errors == result.no_conn == 0
    assert result.send_rps == pytest.approx(400, rel=0.03)
    assert result.goodput_rps == pytest.approx(400)
    assert result.p99_ms is not None
    assert result.p99_ms < 100
    assert result.warning is None
    assert result.conns_opened < 50  # idle connections are reused
    assert _Server.connections == result.conns_opened


async def test_rejections_are_counted_apart_from_goodput(server_url: str) -> None:
    result = await loadgen.run(f"{server_url}/shed", rate=200, duration_s=0.5)
    assert result.status_503 == result.completed == 100
    assert result.ok == 0
    assert result.goodput_rps == 0
    assert result.p99_ms is None
    assert result.reject_p99_ms is not None


async def test_chunked_and_connection_close(server_url: str) -> None:
    chunked = await loadgen.run(f"{server_url}/chunked", rate=200, duration_s=0.5)
    assert chunked.ok == 100
    assert chunked.errors == chunked.timeouts == 0
    closing = await loadgen.run(f"{server_url}/close", rate=200, duration_s=0.5)
    assert closing.ok == 100
    assert closing.errors == closing.timeouts == 0
    assert closing.conns_opened == 100  # never reused after "connection: close"


async def test_deadline_abandons_connection(server_url: str) -> None:
    result = await loadgen.run(f"{server_url}/alternate", rate=200, duration_s=0.5, deadline_s=0.1)
    # each connection answers its first request and hangs on its second, which times out and is closed
    assert result.ok + result.timeouts == 100
    assert result.timeouts > 0
    assert result.ok >= result.timeouts
    assert result.errors == 0


async def test_hang_times_out_and_connection_cap(server_url: str) -> None:
    result = await loadgen.run(f"{server_url}/hang", rate=200, duration_s=0.5, deadline_s=0.2, max_conns=20)
    assert result.ok == 0
    assert result.timeouts + result.no_conn == 100
    assert result.max_open_conns <= 20
    assert result.no_conn > 0
    assert result.warning is not None


async def test_onset_and_steady_windows_split_by_send_time(server_url: str) -> None:
    """Requests scheduled in the first second are the onset, those from the second second on the
    steady window; each has its own counts and percentiles."""
    result = await loadgen.run(f"{server_url}/ok", rate=100, duration_s=3.0)
    assert result.onset is not None
    assert result.steady is not None
    assert (result.onset["sent"], result.onset["ok"], result.onset["seconds"]) == (100, 100, 1.0)
    assert (result.steady["sent"], result.steady["ok"], result.steady["seconds"]) == (100, 100, 1.0)
    assert result.onset["p99_ms"] is not None
    assert result.onset["goodput_rps"] == pytest.approx(100)


async def test_priority_fraction_marks_an_even_share_of_requests(server_url: str) -> None:
    """With a priority fraction of 0.2, exactly one request in five carries the header, and the
    summary reports each class on its own."""
    result = await loadgen.run(f"{server_url}/priority", rate=200, duration_s=1.0, priority_fraction=0.2)
    assert result.classes is not None
    prio, normal = result.classes["priority"], result.classes["normal"]
    assert (prio["sent"], prio["ok"], prio["rejected"]) == (40, 40, 0)
    assert (normal["sent"], normal["ok"], normal["rejected"]) == (160, 0, 160)
    assert prio["ok_fraction"] == 1.0
    assert result.ok == 40


def test_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert loadgen.percentile(values, 50) == 50
    assert loadgen.percentile(values, 99) == 99
    assert loadgen.percentile(values, 100) == 100
    assert loadgen.percentile([], 99) is None
