"""The troubleshooting endpoints' implementations: Go's pprof workflow, for an asyncio service.

Each function returns a :class:`DebugResponse` (body bytes and content type); the transport
mounts them under ``/_seawall/debug/`` behind :class:`AdminGate`. Nothing here touches the
request path or changes governance; everything runs only when an operator asks.

- :func:`profile` (async): a sampling CPU profile of the event-loop thread (pyinstrument), as
  speedscope JSON or an HTML flame graph; it awaits while sampling, one at a time.
- :func:`heap`: tracemalloc's top allocation sites and the diff against the previous call.
- :func:`tasks`, :func:`threads`: every asyncio task's and every thread's stack.
- :func:`gc_stats`: the collector's counters and thresholds.
- :func:`config_dump`, :func:`redact_config`: the effective configuration with secrets blanked.
- :func:`is_loopback`, :func:`check_admin`, :class:`AdminGate`: who may call them.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import io
import ipaddress
import math
import sys
import threading
import traceback
import tracemalloc
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, final

import msgspec

from seawall._clock import MONOTONIC, Clock
from seawall.errors import Forbidden, HTTPError, Unauthorized
from seawall.observe._gc import GcMonitor
from seawall.observe._logging import SECRET_FIELDS, Redactor

__all__ = [
    "AdminGate",
    "CpuProfiler",
    "DebugResponse",
    "HeapTracker",
    "ProfileBusy",
    "check_admin",
    "config_dump",
    "gc_stats",
    "heap",
    "is_loopback",
    "profile",
    "redact_config",
    "tasks",
    "threads",
]

_JSON: Final = "application/json"
_TEXT: Final = "text/plain; charset=utf-8"
_HTML: Final = "text/html; charset=utf-8"
_encode = msgspec.json.Encoder(enc_hook=str).encode


@dataclass(frozen=True, slots=True)
class DebugResponse:
    """What a debug endpoint answers: the body and its ``Content-Type``."""

    body: bytes
    content_type: str


class ProfileBusy(HTTPError):
    """409 PROFILE_BUSY: a CPU profile is already being taken; only one runs at a time."""

    reason = "PROFILE_BUSY"


# --- CPU profile --------------------------------------------------------------------------------


@final
class CpuProfiler:
    """Takes sampling CPU profiles of the event-loop thread, one at a time.

    :meth:`profile` starts pyinstrument's statistical profiler on the calling thread (the loop's)
    with ``async_mode="disabled"``, so every task's work on the loop is attributed to its own
    functions, then *awaits* ``seconds`` on the clock while requests keep being served, and
    renders the samples. Profiling costs the loop roughly 10-30 % while it runs (a profile hook
    on every call); nothing otherwise. A second :meth:`profile` while one runs raises
    :class:`ProfileBusy` at once. pyinstrument is imported on first use.

    Args:
        clock: what to wait on while sampling.
        interval: seconds between samples (pyinstrument's default 1 ms).
        max_seconds: the longest profile allowed.

    Example::

        profiler = CpuProfiler()
        out = await profiler.profile(10, format="html")
    """

    __slots__ = ("_clock", "_interval", "_lock", "_max_seconds")

    def __init__(
        self, *, clock: Clock = MONOTONIC, interval: float = 0.001, max_seconds: float = 300.0
    ) -> None:
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError("interval must be > 0 and finite")
        if not (math.isfinite(max_seconds) and max_seconds > 0):
            raise ValueError("max_seconds must be > 0 and finite")
        self._clock = clock
        self._interval = interval
        self._max_seconds = max_seconds
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        """Whether a profile is being taken now."""
        return self._lock.locked()

    async def profile(
        self, seconds: float, *, format: Literal["speedscope", "html"] = "speedscope"
    ) -> DebugResponse:
        """Sample the loop thread for ``seconds`` and render the profile.

        Raises:
            ValueError: ``seconds`` is not in ``(0, max_seconds]`` or ``format`` is unknown.
            ProfileBusy: another profile is running.
        """
        if not (math.isfinite(seconds) and 0 < seconds <= self._max_seconds):
            raise ValueError(f"seconds must be in (0, {self._max_seconds:g}]")
        if format not in ("speedscope", "html"):
            raise ValueError(f"format must be 'speedscope' or 'html', got {format!r}")
        if not self._lock.acquire(blocking=False):
            raise ProfileBusy("a CPU profile is already running; try again when it ends")
        try:
            try:
                from pyinstrument import Profiler
            except ImportError as exc:  # pragma: no cover - pyinstrument is a dependency
                raise ImportError("CPU profiles need pyinstrument: pip install pyinstrument") from exc

            profiler = Profiler(interval=self._interval, async_mode="disabled")
            profiler.start(target_description=f"seawall event loop, {seconds:g} s")
            try:
                await self._clock.sleep(seconds)
            finally:
                session = profiler.stop()
        finally:
            self._lock.release()
        # Rendering a long profile takes tens of milliseconds: do it off the loop. The renderers
        # are imported here, on the loop: importing reads files, and each read in the thread
        # hands the GIL back to a busy loop for a whole switch interval (5 ms): the first profile
        # of a process took 40 s under a CPU-bound loop that way (tests/observe/test_debug.py).
        from pyinstrument.renderers import HTMLRenderer, SpeedscopeRenderer  # noqa: F401

        # While it renders, the thread asks for the GIL more often than every 5 ms: a busy loop
        # (the very moment a profile is wanted) would otherwise give it one slice per interval.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, _RENDER_SWITCH_INTERVAL))
        try:
            return await asyncio.to_thread(_render, session, format)
        finally:
            sys.setswitchinterval(interval)

    def __repr__(self) -> str:
        return f"CpuProfiler(interval={self._interval!r}, busy={self.busy!r})"


#: The GIL switch interval while a profile renders in its thread (Python's default is 5 ms).
_RENDER_SWITCH_INTERVAL: Final = 0.0002


def _render(session: Any, format: str) -> DebugResponse:
    from pyinstrument.renderers import HTMLRenderer, SpeedscopeRenderer

    if format == "html":
        return DebugResponse(HTMLRenderer().render(session).encode(), _HTML)
    return DebugResponse(SpeedscopeRenderer().render(session).encode(), _JSON)


_PROFILER: Final = CpuProfiler()


async def profile(
    seconds: float,
    *,
    format: Literal["speedscope", "html"] = "speedscope",
    profiler: CpuProfiler | None = None,
) -> DebugResponse:
    """A CPU profile of the event-loop thread for ``seconds`` (see :class:`CpuProfiler`).

    Uses a process-wide profiler unless one is given, so concurrent calls raise
    :class:`ProfileBusy`. ``format="speedscope"`` answers JSON for https://www.speedscope.app,
    ``"html"`` pyinstrument's interactive flame graph.
    """
    return await (profiler if profiler is not None else _PROFILER).profile(seconds, format=format)


# --- heap ---------------------------------------------------------------------------------------


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


_HEAP_FILTERS: Final = (
    tracemalloc.Filter(inclusive=False, filename_pattern=tracemalloc.__file__),
    tracemalloc.Filter(inclusive=False, filename_pattern="<frozen importlib._bootstrap>"),
    tracemalloc.Filter(inclusive=False, filename_pattern="<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(inclusive=False, filename_pattern="<unknown>"),
)


@final
class HeapTracker:
    """tracemalloc snapshots on demand: the top allocation sites, and the growth since last time.

    tracemalloc is started lazily by the first :meth:`heap` call (and the answer says so): it
    slows every allocation while it runs, so a service does not pay for it until an operator
    asks. :meth:`stop` turns it off again. Taking a snapshot walks every traced block; on a heap
    of millions of objects that holds the loop for a noticeable time.

    Args:
        frames: stack frames kept per allocation (1 groups by the allocating line).

    Example::

        tracker = HeapTracker()
        tracker.heap(top=20)  # starts tracing
        ...                   # let the leak grow
        tracker.heap(top=20)  # top sites, and what grew since the first call
    """

    __slots__ = ("_frames", "_previous")

    def __init__(self, *, frames: int = 1) -> None:
        if frames < 1:
            raise ValueError("frames must be >= 1")
        self._frames = frames
        self._previous: tracemalloc.Snapshot | None = None

    def heap(self, top: int = 25) -> DebugResponse:
        """The ``top`` allocation sites by size, and the ``top`` changes since the previous call."""
        if not 1 <= top <= 1000:
            raise ValueError("top must be in [1, 1000]")
        out = io.StringIO()
        if not tracemalloc.is_tracing():
            tracemalloc.start(self._frames)
            self._previous = None
            out.write(
                "# tracemalloc was not tracing: started now. Only allocations from now on are traced;\n"
                "# call again later for the growth since this call. Tracing slows every allocation\n"
                "# until stopped.\n"
            )
        snapshot = tracemalloc.take_snapshot().filter_traces(_HEAP_FILTERS)
        current, peak = tracemalloc.get_traced_memory()
        out.write(
            f"# traced now {_size(current)}, peak {_size(peak)}; "
            f"tracemalloc's own memory {_size(tracemalloc.get_tracemalloc_memory())}\n\n"
        )
        out.write(f"## top {top} allocation sites by size\n")
        for i, stat in enumerate(snapshot.statistics("lineno")[:top], 1):
            out.write(f"{i:4d}. {_size(stat.size):>10} in {stat.count:8d} blocks  {_where(stat.traceback)}\n")
        previous, self._previous = self._previous, snapshot
        out.write("\n## growth since the previous call\n")
        if previous is None:
            out.write("(no previous snapshot: call again for a diff)\n")
        else:
            diff = [d for d in snapshot.compare_to(previous, "lineno") if d.size_diff or d.count_diff]
            for i, d in enumerate(diff[:top], 1):
                out.write(
                    f"{i:4d}. {'+' if d.size_diff >= 0 else '-'}{_size(abs(d.size_diff)):>10} "
                    f"({d.count_diff:+d} blocks, now {_size(d.size)})  {_where(d.traceback)}\n"
                )
            if not diff:
                out.write("(no change)\n")
        return DebugResponse(out.getvalue().encode(), _TEXT)

    def stop(self) -> DebugResponse:
        """Stop tracing and forget the previous snapshot."""
        was = tracemalloc.is_tracing()
        tracemalloc.stop()
        self._previous = None
        return DebugResponse(b"tracemalloc stopped\n" if was else b"tracemalloc was not tracing\n", _TEXT)

    def __repr__(self) -> str:
        return f"HeapTracker(frames={self._frames!r}, tracing={tracemalloc.is_tracing()!r})"


def _where(tb: tracemalloc.Traceback) -> str:
    frame = tb[0]
    return f"{frame.filename}:{frame.lineno}"


_HEAP: Final = HeapTracker()


def heap(top: int = 25, *, tracker: HeapTracker | None = None) -> DebugResponse:
    """tracemalloc's top-``top`` allocation sites and the diff against the previous call.

    Starts tracemalloc on the first call (see :class:`HeapTracker`); plain text.
    """
    return (tracker if tracker is not None else _HEAP).heap(top)


# --- tasks, threads, gc -------------------------------------------------------------------------


def tasks(loop: asyncio.AbstractEventLoop | None = None, *, limit: int = 50) -> DebugResponse:
    """Every unfinished asyncio task on ``loop`` (default: the running one) with its stack.

    Plain text, one block per task sorted by name; ``limit`` caps frames per stack.
    """
    found = asyncio.all_tasks(loop)
    out = io.StringIO()
    out.write(f"{len(found)} tasks\n")
    for task in sorted(found, key=lambda t: t.get_name()):
        coro = task.get_coro()
        name = getattr(coro, "__qualname__", type(coro).__name__)
        out.write(f"\n--- {task.get_name()} ({name})\n")
        task.print_stack(limit=limit, file=out)
    return DebugResponse(out.getvalue().encode(), _TEXT)


def threads() -> DebugResponse:
    """Every thread's current stack (``sys._current_frames``), plain text."""
    frames = sys._current_frames()
    by_ident = {t.ident: t for t in threading.enumerate()}
    out = io.StringIO()
    out.write(f"{len(frames)} threads\n")
    for ident, frame in sorted(frames.items()):
        t = by_ident.get(ident)
        label = f"{t.name!r} daemon={t.daemon}" if t is not None else "(not a threading.Thread)"
        out.write(f"\n--- thread {ident} {label}\n")
        out.write("".join(traceback.format_stack(frame)))
    return DebugResponse(out.getvalue().encode(), _TEXT)


def gc_stats(monitor: GcMonitor | None = None) -> DebugResponse:
    """The garbage collector's state as JSON; with a :class:`GcMonitor`, its pause statistics too."""
    out: dict[str, Any] = {
        "enabled": gc.isenabled(),
        "thresholds": gc.get_threshold(),
        "counts": gc.get_count(),
        "generations": gc.get_stats(),
        "garbage": len(gc.garbage),
        "frozen": gc.get_freeze_count(),
    }
    if monitor is not None:
        stats = monitor.statistics()
        out["pauses"] = {
            "buckets": stats.buckets,
            "generations": [
                {
                    "generation": g.generation,
                    "collections": g.collections,
                    "pause_seconds_total": g.pause_sum,
                    "pause_counts": g.pause_counts,
                }
                for g in stats.generations
            ],
        }
    return DebugResponse(_encode(out), _JSON)


# --- configuration ------------------------------------------------------------------------------


def redact_config(obj: Any, *, fields: Iterable[str] = SECRET_FIELDS) -> Any:
    """A plain (JSON-ready) copy of a configuration with secret-looking fields redacted.

    ``obj`` may be a mapping, a msgspec Struct or a dataclass (e.g. ``SeawallConfig``); the
    values of fields named like a secret (see :class:`~seawall.observe.Redactor`: passwords,
    tokens, API keys, DSNs, authorization, cookies) become ``"<redacted>"``, and URLs keep their
    host but lose their password (``redis://:<redacted>@cache:6379``).
    """
    return Redactor(fields=fields).redact(msgspec.to_builtins(obj, str_keys=True, enc_hook=str))


def config_dump(obj: Any, *, fields: Iterable[str] = SECRET_FIELDS) -> DebugResponse:
    """The effective configuration as JSON, secrets redacted (see :func:`redact_config`)."""
    return DebugResponse(_encode(redact_config(obj, fields=fields)), _JSON)


# --- who may call -------------------------------------------------------------------------------

_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: The default header carrying the admin token (as ``Bearer <token>``).
_AUTHORIZATION: Final = "authorization"
#: Headers that say a request was relayed by a proxy.
_FORWARDING: Final = (b"x-forwarded-for", b"forwarded", b"x-real-ip")


def _parse_ip(text: str) -> _IP | None:
    text = text.strip()
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        if text.startswith("["):  # "[::1]:8080"
            host = text[1:].partition("]")[0]
        elif text.count(":") == 1:  # "10.0.0.1:8080"
            host = text.partition(":")[0]
        else:
            return None
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _peer(scope: Mapping[str, Any]) -> _IP | None:
    client = scope.get("client")
    if not client:
        return None  # unix socket or unknown: never assumed local (a local proxy may front it)
    return _parse_ip(str(client[0]))


def _header(scope: Mapping[str, Any], name: bytes) -> str | None:
    values = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == name]
    return ",".join(values) if values else None


def is_loopback(scope: Mapping[str, Any]) -> bool:
    """Whether the ASGI connection's peer (``scope["client"]``) is a loopback address.

    Only the TCP peer counts; no header is read. A missing client (unix socket) is not loopback.
    """
    peer = _peer(scope)
    return peer is not None and peer.is_loopback


@final
class AdminGate:
    """Decides whether a request may use the ``/_seawall/`` admin and debug endpoints.

    - With an admin ``token`` configured, every caller must present it (``Authorization:
      Bearer <token>``, or the raw value of a custom ``token_header``), compared in constant
      time; otherwise 401 with ``WWW-Authenticate: Bearer``.
    - Without one, only loopback clients are allowed; others get 403.

    The client is the TCP peer, unless the peer is in ``trusted_proxies``: then
    ``X-Forwarded-For`` is walked from the right, skipping trusted proxies, and the first
    untrusted address is the client (uvicorn's ``ProxyHeadersMiddleware`` and nginx's
    ``real_ip_recursive`` do the same). A loopback peer that is *not* a trusted proxy but sends
    ``X-Forwarded-For``, ``Forwarded`` or ``X-Real-IP`` is refused: it is a local reverse proxy
    relaying someone whose address cannot be trusted.

    Args:
        token: the admin token; ``None`` or empty for loopback-only access.
        token_header: the request header carrying the token.
        trusted_proxies: addresses or networks (``"10.0.0.0/8"``) of proxies whose
            ``X-Forwarded-For`` is believed.

    Example::

        gate = AdminGate(token=os.environ.get("SEAWALL_ADMIN_TOKEN"))
        if (error := gate.check(scope)) is not None:
            ...  # answer error.status with error.body()
    """

    __slots__ = ("_header", "_proxies", "_token")

    def __init__(
        self,
        *,
        token: str | None = None,
        token_header: str = _AUTHORIZATION,
        trusted_proxies: Iterable[str] = (),
    ) -> None:
        if not token_header:
            raise ValueError("token_header must not be empty")
        self._token = token.encode() if token else None
        self._header = token_header.lower().encode("latin-1")
        proxies: list[_Network] = []
        for p in trusted_proxies:
            try:
                proxies.append(ipaddress.ip_network(p.strip(), strict=False))
            except ValueError:
                raise ValueError(f"trusted_proxies: {p!r} is not an IP address or network") from None
        self._proxies = tuple(proxies)

    def _trusted(self, ip: _IP) -> bool:
        return any(ip in net for net in self._proxies)

    def client(self, scope: Mapping[str, Any]) -> _IP | None:
        """The client's address as far as it can be trusted; ``None`` when unknown."""
        peer = _peer(scope)
        if peer is None:
            return None
        if not self._trusted(peer):
            if peer.is_loopback and any(_header(scope, h) is not None for h in _FORWARDING):
                return None  # relayed by an untrusted local proxy: the origin is unknown
            return peer
        forwarded = _header(scope, b"x-forwarded-for")
        if forwarded is None:
            return peer
        hops = [h for h in forwarded.split(",") if h.strip()]
        for hop in reversed(hops):
            ip = _parse_ip(hop)
            if ip is None:
                return None  # garbage where an address should be: trust nothing beyond it
            if not self._trusted(ip):
                return ip
        return _parse_ip(hops[0]) if hops else peer

    def _presented(self, scope: Mapping[str, Any]) -> bytes | None:
        value = _header(scope, self._header)
        if value is None:
            return None
        if self._header == b"authorization":
            scheme, _, credential = value.strip().partition(" ")
            if scheme.lower() != "bearer":
                return None
            value = credential
        return value.strip().encode("latin-1")

    def check(self, scope: Mapping[str, Any]) -> HTTPError | None:
        """``None`` if the request may proceed, else the error to answer with (401 or 403)."""
        if self._token is not None:
            presented = self._presented(scope)
            if presented is not None and hmac.compare_digest(presented, self._token):
                return None
            return Unauthorized(
                "a valid admin token is required",
                headers=[(b"www-authenticate", b'Bearer realm="seawall"')],
            )
        client = self.client(scope)
        if client is not None and client.is_loopback:
            return None
        return Forbidden("only loopback clients may use this endpoint unless an admin token is configured")

    def __repr__(self) -> str:
        return f"AdminGate(token={'set' if self._token else None!r}, trusted_proxies={len(self._proxies)!r})"


def check_admin(
    scope: Mapping[str, Any],
    *,
    configured_token: str | None,
    token_header: str = _AUTHORIZATION,
    trusted_proxies: Iterable[str] = (),
) -> HTTPError | None:
    """One-off :meth:`AdminGate.check`: ``None`` to proceed, else a 401/403 error to answer with.

    Build an :class:`AdminGate` once instead when checking many requests.
    """
    gate = AdminGate(token=configured_token, token_header=token_header, trusted_proxies=trusted_proxies)
    return gate.check(scope)
