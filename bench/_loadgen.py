"""Open-loop HTTP/1.1 load generator for the overload benchmark.

A closed-loop tool such as wrk sends the next request only when the previous one has been answered,
so an overloaded server slows its own load down and congestion collapse stays hidden. Here arrivals
follow a fixed timetable (``t0 + i / rate``) whatever the server does: a request that has not been
fully answered within the client deadline counts as timed out and its connection is abandoned
(closed), exactly what an impatient real client does.

Design, for speed from one core:

- asyncio on uvloop with :class:`asyncio.Protocol` connections (no streams, no tasks per request);
  a hand-written HTTP/1.1 ``GET`` with keep-alive; responses are framed by ``Content-Length`` (or
  ``Transfer-Encoding: chunked``); one request per connection at a time (no pipelining).
- A pool of idle connections: each arrival takes an idle connection (most recently used first) or
  opens a new one, up to ``max_conns``; an arrival that finds none and may open none is counted as
  ``no_conn`` (a client-side limit, reported separately).
- Deadlines are checked by one sweeper every few milliseconds over a FIFO of started requests (every
  request has the same deadline, so start order is deadline order): no timer per request.
- The scheduler sleeps until the next arrival and then sends every arrival that is due, so generator
  lag delays requests but never drops them; the achieved send rate and the lag are reported.

Latency is measured from the moment the arrival was dispatched (including connecting, when a new
connection was needed) until the last byte of the response. Per request it records the status
(``-1`` timed out, ``-2`` connection error, ``-3`` no connection available) and the latency.

Besides the whole run, the summary reports two windows by *scheduled send time*: ``onset`` (requests
scheduled in the first ``onset_s`` seconds: how a step of load is met before any controller has
reacted) and ``steady`` (scheduled from ``steady_from_s`` on). With ``--priority-fraction F`` an
evenly spread fraction F of the requests carries an extra header (``--priority-header``), and the
summary has one entry per class (``priority``, ``normal``) with its own goodput and latency.

Usable as a module (:func:`run`, :func:`run_sync`) and as a script printing one JSON line::

    .venv/bin/python bench/_loadgen.py http://127.0.0.1:8000/work --rate 1000 --duration 10
    .venv/bin/python bench/_loadgen.py --self-test --rate 3000   # against a built-in trivial server
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import socket
import sys
import time
from array import array
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = ["LoadResult", "percentile", "run", "run_sync", "serve_trivial"]

TIMED_OUT: Final = -1
CONN_ERROR: Final = -2
NO_CONN: Final = -3

SWEEP_S: Final = 0.005
#: Warn when the achieved send rate falls this far below the target rate.
LAG_TOLERANCE: Final = 0.03
#: Default windows by scheduled send time: onset is the first second, steady from the second second.
ONSET_S: Final = 1.0
STEADY_FROM_S: Final = 2.0


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of an already sorted list; ``None`` when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True, slots=True)
class LoadResult:
    """Summary of one open-loop run; latencies in milliseconds, rates per second of ``duration_s``."""

    url: str
    target_rps: float
    duration_s: float
    deadline_s: float
    scheduled: int
    sent: int
    send_rps: float
    lag_p50_ms: float
    lag_p99_ms: float
    lag_max_ms: float
    completed: int
    ok: int
    goodput_rps: float
    status_503: int
    status_429: int
    status_other: int
    timeouts: int
    errors: int
    no_conn: int
    conns_opened: int
    max_open_conns: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    reject_p99_ms: float | None
    warning: str | None
    onset: dict[str, Any] | None = None
    steady: dict[str, Any] | None = None
    classes: dict[str, dict[str, Any]] | None = None

    def as_dict(self) -> dict[str, Any]:
        return _rounded(asdict(self))


def _rounded(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, float):
            value = round(value, 3)
        elif isinstance(value, dict):
            value = _rounded(value)
        out[key] = value
    return out


# --------------------------------------------------------------------------------------------------
# connections


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying at most one outstanding request."""

    __slots__ = (
        "_buf", "_chunked", "_head_end", "_keep_alive", "_need", "_status",
        "closed", "gen", "req", "start", "transport",
    )  # fmt: skip

    def __init__(self, gen: _Generator) -> None:
        self.gen = gen
        self.transport: asyncio.Transport | None = None
        self.req = -1  # index of the outstanding request, -1 when idle
        self.start = 0.0
        self.closed = False
        self._buf = bytearray()
        self._head_end = -1
        self._need = -1  # total bytes (head + body) of the current response, -1 unknown yet
        self._chunked = False
        self._status = 0
        self._keep_alive = True

    # asyncio.Protocol ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        gen = self.gen
        gen.open_conns -= 1
        if self.req >= 0:
            gen.finish(self, CONN_ERROR)

    def data_received(self, data: bytes) -> None:
        if self.req < 0:  # unsolicited bytes: the connection is in an unknown state
            self.abandon()
            return
        buf = self._buf
        buf += data
        if self._head_end < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            self._head_end = end + 4
            if not self._parse_head(bytes(buf[:end])):
                self.gen.finish(self, CONN_ERROR)
                self.abandon()
                return
        if self._chunked:
            if not buf.endswith(b"0\r\n\r\n") or not self._chunks_complete():
                return
        elif len(buf) < self._need:
            return
        status = self._status
        keep = self._keep_alive and (self._chunked or len(buf) == self._need)
        self._reset()
        self.gen.finish(self, status)
        if keep:
            self.gen.release(self)
        else:
            self.abandon()

    # parsing ---------------------------------------------------------------------------------------

    def _parse_head(self, head: bytes) -> bool:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            return False
        try:
            self._status = int(parts[1])
        except ValueError:
            return False
        self._keep_alive = parts[0] == b"HTTP/1.1"
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                try:
                    length = int(value.strip())
                except ValueError:
                    return False
            elif name == b"transfer-encoding":
                self._chunked = b"chunked" in value.lower()
            elif name == b"connection":
                token = value.strip().lower()
                if token == b"close":
                    self._keep_alive = False
                elif token == b"keep-alive":
                    self._keep_alive = True
        self._need = self._head_end + length
        return True

    def _chunks_complete(self) -> bool:
        """Walk the chunk sizes from the end of the head; True once the last (0) chunk is in."""
        buf = self._buf
        pos = self._head_end
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return False
            try:
                size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
            except ValueError:
                return False
            if size == 0:
                return buf.endswith(b"\r\n\r\n") and len(buf) >= eol + 4
            pos = eol + 2 + size + 2
            if pos > len(buf):
                return False

    def _reset(self) -> None:
        self._buf = bytearray()
        self._head_end = -1
        self._need = -1
        self._chunked = False

    # control ---------------------------------------------------------------------------------------

    def send(self, req: int, start: float) -> None:
        self.req = req
        self.start = start
        assert self.transport is not None
        gen = self.gen
        self.transport.write(gen.priority_bytes if gen.priority[req] else gen.request_bytes)

    def abandon(self) -> None:
        """Close without waiting (a timed-out or confused connection is never reused)."""
        self.closed = True
        transport = self.transport
        if transport is not None:
            transport.abort()


# --------------------------------------------------------------------------------------------------
# generator


class _Generator:
    def __init__(
        self,
        url: str,
        *,
        rate: float,
        duration_s: float,
        deadline_s: float,
        max_conns: int,
        priority_fraction: float = 0.0,
        priority_header: str = "x-priority: critical",
        onset_s: float = ONSET_S,
        steady_from_s: float = STEADY_FROM_S,
        poisson_seed: int | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only http://host[:port]/path URLs are supported, not {url!r}")
        if rate <= 0 or duration_s <= 0 or deadline_s <= 0 or max_conns < 1:
            raise ValueError("rate, duration and deadline must be > 0, max_conns >= 1")
        if not 0 <= priority_fraction <= 1:
            raise ValueError("priority_fraction must be in [0, 1]")
        name, sep, value = priority_header.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"priority_header must be 'name: value', not {priority_header!r}")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or 80
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        host_header = parts.netloc
        self.request_bytes = (
            f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: seawall-loadgen\r\n"
            "Accept: */*\r\n\r\n"
        ).encode("ascii")
        self.priority_bytes = self.request_bytes[:-2] + f"{name.strip()}: {value.strip()}\r\n\r\n".encode()
        self.rate = rate
        self.duration_s = duration_s
        self.deadline_s = deadline_s
        self.max_conns = max_conns
        self.total = int(rate * duration_s)
        # When request i is due, in seconds from the start: every 1/rate, or (with a seed) Poisson
        # arrivals at ``rate``: exponential gaps, the same in every run with the same seed.
        if poisson_seed is None:
            self.offsets = array("d", (i / rate for i in range(self.total)))
        else:
            rng = random.Random(poisson_seed)
            offsets, t = array("d", [0.0]) * self.total, 0.0
            for i in range(self.total):
                offsets[i] = t
                t += rng.expovariate(rate)
            self.offsets = offsets
        self.status = array("i", [0]) * self.total  # 0: not finished
        self.latency = array("d", [0.0]) * self.total
        self.lag = array("d", [0.0]) * self.total
        # Request i is priority when floor((i + 1) * f) > floor(i * f): an even spread, exactly
        # round(total * f) of them, the same in every run.
        self.priority_fraction = priority_fraction
        self.priority = bytes(
            int(math.floor((i + 1) * priority_fraction) > math.floor(i * priority_fraction))
            for i in range(self.total)
        )
        self.onset_s = onset_s
        self.steady_from_s = steady_from_s
        self.idle: list[_Conn] = []
        self.inflight: deque[tuple[float, _Conn, int]] = deque()
        self.open_conns = 0  # connected or connecting
        self.max_open = 0
        self.opened = 0
        self.sent = 0
        self.outstanding = 0
        self.dispatched = 0
        self.done_sending = False
        self.drained = asyncio.Event()
        self.first_send = 0.0
        self.last_send = 0.0
        self.loop = asyncio.get_running_loop()
        self.clock = time.perf_counter

    # bookkeeping -----------------------------------------------------------------------------------

    def finish(self, conn: _Conn, status: int) -> None:
        req = conn.req
        if req < 0:
            return
        conn.req = -1
        self.status[req] = status
        self.latency[req] = self.clock() - conn.start
        self.outstanding -= 1
        if self.done_sending and self.outstanding == 0:
            self.drained.set()

    def release(self, conn: _Conn) -> None:
        if not conn.closed:
            self.idle.append(conn)

    # arrivals --------------------------------------------------------------------------------------

    def dispatch(self, req: int, scheduled: float) -> None:
        now = self.clock()
        self.lag[req] = now - scheduled
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                self._start(conn, req, now)
                conn.send(req, now)
                return
        if self.open_conns >= self.max_conns:
            self.status[req] = NO_CONN
            return
        self.open_conns += 1
        self.opened += 1
        self.max_open = max(self.max_open, self.open_conns)
        conn = _Conn(self)
        self._start(conn, req, now)
        self.loop.create_task(self._connect(conn, req, now))

    def _start(self, conn: _Conn, req: int, now: float) -> None:
        conn.req = req
        conn.start = now
        self.outstanding += 1
        self.sent += 1
        self.inflight.append((now + self.deadline_s, conn, req))

    async def _connect(self, conn: _Conn, req: int, start: float) -> None:
        try:
            await self.loop.create_connection(lambda: conn, self.host, self.port)
        except OSError:
            self.open_conns -= 1
            conn.closed = True
            if conn.req == req:
                self.finish(conn, CONN_ERROR)
            return
        if conn.req != req:  # timed out while connecting
            conn.abandon()
            return
        sock = conn.transport.get_extra_info("socket") if conn.transport is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.send(req, start)

    def sweep(self, now: float) -> None:
        inflight = self.inflight
        while inflight and inflight[0][0] <= now:
            _, conn, req = inflight.popleft()
            if conn.req == req:  # still waiting for this very request
                self.finish(conn, TIMED_OUT)
                conn.abandon()

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_S)
            self.sweep(self.clock())

    async def run(self) -> None:
        sweeper = self.loop.create_task(self._sweeper())
        try:
            clock = self.clock
            t0 = clock() + 0.01
            offsets = self.offsets
            i = 0
            total = self.total
            while i < total:
                now = clock()
                due = t0 + offsets[i]
                if due > now:
                    await asyncio.sleep(due - now)
                    now = clock()
                if i == 0:
                    self.first_send = now
                # send everything that is due (catch up after a late wake-up), then yield once
                while i < total and t0 + offsets[i] <= now:
                    self.dispatch(i, t0 + offsets[i])
                    i += 1
                self.last_send = clock()
                self.dispatched = i
                if i < total and t0 + offsets[i] <= clock():
                    await asyncio.sleep(0)  # let responses in even when we are behind
            # wait for the stragglers: at most one deadline after the last send
            self.done_sending = True
            if self.outstanding > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.drained.wait(), self.deadline_s + 2 * SWEEP_S)
            self.sweep(float("inf"))
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            for conn in self.idle:
                conn.abandon()
            self.idle.clear()
            await asyncio.sleep(0)

    # summary ---------------------------------------------------------------------------------------

    def window(self, indices: range | list[int], seconds: float) -> dict[str, Any]:
        """Figures of the requests ``indices`` (scheduled over ``seconds``)."""
        ok_lat: list[float] = []
        sent = ok = rejected = timeouts = other = 0
        deadline = self.deadline_s
        status, latency = self.status, self.latency
        for i in indices:
            st = status[i]
            if i >= self.dispatched:
                continue
            sent += 1
            if 200 <= st < 300 and latency[i] <= deadline:
                ok += 1
                ok_lat.append(latency[i] * 1e3)
            elif st in (503, 429):
                rejected += 1
            elif st == TIMED_OUT or 200 <= st < 300:
                timeouts += 1
            else:
                other += 1
        ok_lat.sort()
        return {
            "seconds": seconds,
            "sent": sent,
            "ok": ok,
            "goodput_rps": ok / seconds if seconds > 0 else 0.0,
            "ok_fraction": ok / sent if sent else None,
            "rejected": rejected,
            "timeouts": timeouts,
            "other": other,
            "p50_ms": percentile(ok_lat, 50),
            "p99_ms": percentile(ok_lat, 99),
            "max_ms": ok_lat[-1] if ok_lat else None,
        }

    def summary(self) -> LoadResult:
        ok_lat: list[float] = []
        reject_lat: list[float] = []
        ok = s503 = s429 = other = timeouts = errors = no_conn = 0
        deadline = self.deadline_s
        for status, lat in zip(self.status, self.latency, strict=True):
            if 200 <= status < 300:
                if lat <= deadline:
                    ok += 1
                    ok_lat.append(lat * 1e3)
                else:
                    timeouts += 1
            elif status == TIMED_OUT:
                timeouts += 1
            elif status == CONN_ERROR or status == 0:
                errors += 1
            elif status == NO_CONN:
                no_conn += 1
            else:
                if status == 503:
                    s503 += 1
                elif status == 429:
                    s429 += 1
                else:
                    other += 1
                reject_lat.append(lat * 1e3)
        ok_lat.sort()
        reject_lat.sort()
        dispatched = self.dispatched
        lags = sorted(x * 1e3 for x in self.lag[:dispatched])
        span = self.last_send - self.first_send
        # achieved offered rate: arrivals actually dispatched per second of the send span
        send_rps = (dispatched - 1) / span if span > 0 and dispatched > 1 else 0.0
        warning = None
        if send_rps < self.rate * (1 - LAG_TOLERANCE):
            warning = (
                f"generator lag: achieved send rate {send_rps:,.0f}/s is more than "
                f"{LAG_TOLERANCE:.0%} below the target {self.rate:,.0f}/s"
            )
        elif no_conn:
            warning = f"{no_conn} arrivals found no connection (max_conns={self.max_conns})"
        return LoadResult(
            url=self.url,
            target_rps=self.rate,
            duration_s=self.duration_s,
            deadline_s=deadline,
            scheduled=self.total,
            sent=self.sent,
            send_rps=send_rps,
            lag_p50_ms=percentile(lags, 50) or 0.0,
            lag_p99_ms=percentile(lags, 99) or 0.0,
            lag_max_ms=lags[-1] if lags else 0.0,
            completed=ok + s503 + s429 + other,
            ok=ok,
            goodput_rps=ok / self.duration_s,
            status_503=s503,
            status_429=s429,
            status_other=other,
            timeouts=timeouts,
            errors=errors,
            no_conn=no_conn,
            conns_opened=self.opened,
            max_open_conns=self.max_open,
            p50_ms=percentile(ok_lat, 50),
            p90_ms=percentile(ok_lat, 90),
            p99_ms=percentile(ok_lat, 99),
            max_ms=ok_lat[-1] if ok_lat else None,
            reject_p99_ms=percentile(reject_lat, 99),
            warning=warning,
            onset=self._windowed(0.0, min(self.onset_s, self.duration_s)),
            steady=(
                self._windowed(self.steady_from_s, self.duration_s)
                if self.steady_from_s < self.duration_s
                else None
            ),
            classes=self._classes() if self.priority_fraction > 0 else None,
        )

    def _windowed(self, start_s: float, end_s: float) -> dict[str, Any]:
        first = min(self.total, math.ceil(start_s * self.rate))
        last = min(self.total, math.ceil(end_s * self.rate))
        return self.window(range(first, last), end_s - start_s)

    def _classes(self) -> dict[str, dict[str, Any]]:
        prio = [i for i, p in enumerate(self.priority) if p]
        normal = [i for i, p in enumerate(self.priority) if not p]
        out = {"priority": self.window(prio, self.duration_s), "normal": self.window(normal, self.duration_s)}
        for name, idx in (("priority", prio), ("normal", normal)):
            steady = [i for i in idx if i >= self.steady_from_s * self.rate]
            if self.steady_from_s < self.duration_s:
                out[name]["steady"] = self.window(steady, self.duration_s - self.steady_from_s)
        return out


async def run(
    url: str,
    *,
    rate: float,
    duration_s: float,
    deadline_s: float = 1.0,
    max_conns: int = 4000,
    priority_fraction: float = 0.0,
    priority_header: str = "x-priority: critical",
    poisson_seed: int | None = None,
) -> LoadResult:
    """Offer ``rate`` GET requests/s to ``url`` for ``duration_s`` seconds, open loop; summarise.

    Arrivals are evenly spaced, or Poisson (exponential gaps from ``random.Random(poisson_seed)``)
    when a seed is given."""
    gen = _Generator(
        url,
        rate=rate,
        duration_s=duration_s,
        deadline_s=deadline_s,
        max_conns=max_conns,
        priority_fraction=priority_fraction,
        priority_header=priority_header,
        poisson_seed=poisson_seed,
    )
    await gen.run()
    return gen.summary()


def _raise_nofile(want: int) -> None:
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a bench dependency
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run_sync(
    url: str,
    *,
    rate: float,
    duration_s: float,
    deadline_s: float = 1.0,
    max_conns: int = 4000,
    priority_fraction: float = 0.0,
    priority_header: str = "x-priority: critical",
    poisson_seed: int | None = None,
) -> LoadResult:
    """:func:`run` on a fresh uvloop event loop (for scripts)."""
    _raise_nofile(max_conns + 256)
    loop = _new_loop()
    try:
        return loop.run_until_complete(
            run(
                url,
                rate=rate,
                duration_s=duration_s,
                deadline_s=deadline_s,
                max_conns=max_conns,
                priority_fraction=priority_fraction,
                priority_header=priority_header,
                poisson_seed=poisson_seed,
            )
        )
    finally:
        loop.close()


# --------------------------------------------------------------------------------------------------
# a trivial server, to verify what the generator itself can offer


class _Trivial(asyncio.Protocol):
    RESPONSE: Final = (
        b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'
    )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not subclasses
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            self.buf = self.buf[end + 4 :]
            self.transport.write(self.RESPONSE)


async def serve_trivial(host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    """A minimal keep-alive HTTP/1.1 server answering every request with ``{"ok":true}``."""
    return await asyncio.get_running_loop().create_server(_Trivial, host, port, backlog=4096)


def _serve_trivial_forever(port: int) -> None:
    loop = _new_loop()
    server = loop.run_until_complete(serve_trivial(port=port))
    with contextlib.suppress(KeyboardInterrupt):
        loop.run_until_complete(server.serve_forever())


def _self_test(args: argparse.Namespace) -> LoadResult:
    """Serve the trivial server in a child process (on another CPU if possible) and drive it."""
    import multiprocessing

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    child = multiprocessing.get_context("spawn").Process(target=_serve_trivial_forever, args=(port,))
    child.start()
    try:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 2:
            os.sched_setaffinity(child.pid, {cpus[-1]})  # type: ignore[arg-type]
            os.sched_setaffinity(0, {cpus[0]})
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        return run_sync(
            f"http://127.0.0.1:{port}/",
            rate=args.rate,
            duration_s=args.duration,
            deadline_s=args.deadline,
            max_conns=args.max_conns,
        )
    finally:
        child.terminate()
        child.join(5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url", nargs="?", help="http://host:port/path")
    parser.add_argument("--rate", type=float, default=1000.0, help="arrivals per second (default 1000)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of arrivals (default 10)")
    parser.add_argument("--deadline", type=float, default=1.0, help="client deadline, seconds (default 1)")
    parser.add_argument("--max-conns", type=int, default=4000, help="connection cap (default 4000)")
    parser.add_argument(
        "--priority-fraction", type=float, default=0.0, help="fraction of requests sent as priority (0)"
    )
    parser.add_argument(
        "--priority-header", default="x-priority: critical", help="the header priority requests carry"
    )
    parser.add_argument(
        "--poisson-seed", type=int, default=None, help="Poisson arrivals from this seed (default: even)"
    )
    parser.add_argument("--self-test", action="store_true", help="drive a built-in trivial server")
    args = parser.parse_args(argv)
    if args.self_test:
        result = _self_test(args)
    elif args.url:
        result = run_sync(
            args.url,
            rate=args.rate,
            duration_s=args.duration,
            deadline_s=args.deadline,
            max_conns=args.max_conns,
            priority_fraction=args.priority_fraction,
            priority_header=args.priority_header,
            poisson_seed=args.poisson_seed,
        )
    else:
        parser.error("give a URL or --self-test")
    if result.warning:
        print(f"WARNING: {result.warning}", file=sys.stderr, flush=True)
    print(json.dumps(result.as_dict(), separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
