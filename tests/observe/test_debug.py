"""Tests for seawall.observe's debug endpoint implementations and the admin gate."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import math
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.errors import Forbidden, Unauthorized
from seawall.observe import (
    REDACTED,
    AdminGate,
    CpuProfiler,
    DebugResponse,
    GcMonitor,
    HeapTracker,
    ProfileBusy,
    check_admin,
    config_dump,
    gc_stats,
    heap,
    is_loopback,
    profile,
    redact_config,
    tasks,
    threads,
)
from seawall.testing import MockClock

# --- profile ------------------------------------------------------------------------------------


def seawall_test_burns_cpu_here(seconds: float) -> int:
    """Spin for ``seconds`` (real time): the function the profile must name."""
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        n += 1
    return n


async def test_profile_names_the_function_burning_cpu() -> None:
    """A 1 s profile of the loop thread, taken while another task burns CPU, names its function.

    The only test that really waits: profiling is sampling of real execution.
    """
    stop = asyncio.Event()

    async def burner() -> None:
        while not stop.is_set():
            seawall_test_burns_cpu_here(0.005)
            await asyncio.sleep(0)  # yield: serving (here, the profiler's own wake-up) goes on

    task = asyncio.ensure_future(burner())
    try:
        out = await profile(1.0)
    finally:
        stop.set()
        await task
    assert out.content_type == "application/json"
    speedscope = json.loads(out.body)
    names = {frame["name"] for frame in speedscope["shared"]["frames"]}
    assert "seawall_test_burns_cpu_here" in names


async def test_second_profile_is_refused_while_one_runs(mock_clock: MockClock) -> None:
    """While a profile runs, another raises ProfileBusy at once; after it ends, profiling is free."""
    profiler = CpuProfiler(clock=mock_clock)
    first = asyncio.ensure_future(profiler.profile(5.0, format="html"))
    await asyncio.sleep(0)
    assert profiler.busy
    with pytest.raises(ProfileBusy):
        await profiler.profile(1.0)
    mock_clock.jump(5.0)
    out = await first
    assert out.content_type == "text/html; charset=utf-8"
    assert out.body.lstrip().lower().startswith(b"<!doctype html>")
    assert not profiler.busy


async def test_cancelled_profile_frees_the_profiler(mock_clock: MockClock) -> None:
    """A client that goes away mid-profile does not leave the profiler busy."""
    profiler = CpuProfiler(clock=mock_clock)
    first = asyncio.ensure_future(profiler.profile(5.0))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert not profiler.busy


@pytest.mark.parametrize("seconds", [0, -1, math.nan, math.inf, 61])
async def test_profile_seconds_are_bounded(seconds: float) -> None:
    """seconds must be in (0, max_seconds]."""
    profiler = CpuProfiler(clock=MockClock(), max_seconds=60)
    with pytest.raises(ValueError, match=r"seconds must be in \(0, 60\]"):
        await profiler.profile(seconds)
    assert not profiler.busy


async def test_profile_format_is_validated() -> None:
    """Only speedscope and html are offered."""
    with pytest.raises(ValueError, match="format must be 'speedscope' or 'html'"):
        await CpuProfiler(clock=MockClock()).profile(1, format="pprof")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval": 0}, "interval must be > 0"),
        ({"max_seconds": math.inf}, "max_seconds must be > 0"),
    ],
)
def test_profiler_config_is_validated(kwargs: dict[str, float], message: str) -> None:
    """interval and max_seconds must be positive and finite."""
    with pytest.raises(ValueError, match=message):
        CpuProfiler(**kwargs)


# --- heap ---------------------------------------------------------------------------------------


@pytest.fixture
def no_tracing() -> Iterator[None]:
    """Start with tracemalloc off and leave it as found."""
    was = tracemalloc.is_tracing()
    tracemalloc.stop()
    yield
    if not was:
        tracemalloc.stop()


def seawall_test_hoard() -> list[bytearray]:
    return [bytearray(512) for _ in range(4000)]


@pytest.mark.usefixtures("no_tracing")
def test_first_heap_call_starts_tracing_and_says_so() -> None:
    """tracemalloc is off until the first call, which starts it and announces it."""
    tracker = HeapTracker()
    out = tracker.heap(10)
    assert tracemalloc.is_tracing()
    assert out.content_type.startswith("text/plain")
    text = out.body.decode()
    assert "started now" in text
    assert "no previous snapshot" in text


@pytest.mark.usefixtures("no_tracing")
def test_heap_diff_shows_what_grew() -> None:
    """Allocations between two calls show up in the diff with their source line."""
    tracker = HeapTracker()
    tracker.heap(10)
    hoard = seawall_test_hoard()
    text = tracker.heap(10).body.decode()
    top, _, diff = text.partition("## growth since the previous call")
    assert "started now" not in text
    assert "test_debug.py" in top
    assert "test_debug.py" in diff
    assert "+" in diff
    assert len(hoard) == 4000


@pytest.mark.usefixtures("no_tracing")
def test_heap_stop_turns_tracing_off() -> None:
    """stop() ends tracing; the next heap() starts again from scratch."""
    tracker = HeapTracker()
    tracker.heap(1)
    assert tracker.stop().body == b"tracemalloc stopped\n"
    assert not tracemalloc.is_tracing()
    assert "started now" in tracker.heap(1).body.decode()


@pytest.mark.usefixtures("no_tracing")
def test_module_heap_uses_a_shared_tracker() -> None:
    """heap() without a tracker keeps its previous snapshot across calls."""
    heap(5)
    assert "growth since the previous call" in heap(5).body.decode()
    assert "no previous snapshot" not in heap(5).body.decode()


@pytest.mark.parametrize("top", [0, 1001])
def test_heap_top_is_bounded(top: int) -> None:
    """top must be in [1, 1000]."""
    with pytest.raises(ValueError, match=r"top must be in \[1, 1000\]"):
        HeapTracker().heap(top)


def test_heap_frames_validated() -> None:
    """frames must be >= 1."""
    with pytest.raises(ValueError, match="frames must be >= 1"):
        HeapTracker(frames=0)


# --- tasks, threads, gc -------------------------------------------------------------------------


async def seawall_test_parked(event: asyncio.Event) -> None:
    await event.wait()


async def test_tasks_lists_every_task_with_its_stack() -> None:
    """A parked task appears under its name with the coroutine it is suspended in."""
    event = asyncio.Event()
    task = asyncio.ensure_future(seawall_test_parked(event))
    task.set_name("seawall-test-parked")
    await asyncio.sleep(0)
    try:
        text = tasks().body.decode()
    finally:
        event.set()
        await task
    assert f"{len(asyncio.all_tasks()) + 1} tasks" in text.splitlines()[0]
    block = text.split("--- seawall-test-parked", 1)[1]
    assert "seawall_test_parked" in block.split("\n---", 1)[0]


def seawall_test_thread_waits(event: threading.Event) -> None:
    event.wait()


def test_threads_lists_every_threads_stack() -> None:
    """A blocked thread appears with its name and the function it waits in."""
    event = threading.Event()
    thread = threading.Thread(target=seawall_test_thread_waits, args=(event,), name="seawall-test-thread")
    thread.start()
    try:
        out = threads()
    finally:
        event.set()
        thread.join()
    text = out.body.decode()
    block = text.split("'seawall-test-thread'", 1)[1].split("\n---", 1)[0]
    assert "seawall_test_thread_waits" in block
    assert "MainThread" in text


def test_gc_stats_reports_the_collector() -> None:
    """gc_stats is JSON with thresholds, counts and per-generation stats; pauses with a monitor."""
    plain = json.loads(gc_stats().body)
    assert plain["thresholds"] == list(__import__("gc").get_threshold())
    assert len(plain["generations"]) == 3
    assert "pauses" not in plain
    clock = MockClock()
    monitor = GcMonitor(clock=clock)
    monitor.callback("start", {"generation": 0})
    clock.jump(0.002)
    monitor.callback("stop", {"generation": 0, "collected": 1, "uncollectable": 0})
    out = gc_stats(monitor)
    assert out.content_type == "application/json"
    pauses = json.loads(out.body)["pauses"]["generations"][0]
    assert pauses["collections"] == 1
    assert pauses["pause_seconds_total"] == pytest.approx(0.002)


# --- config -------------------------------------------------------------------------------------


class RedisSection(msgspec.Struct):
    url: str
    password: str | None = None


class AppConfig(msgspec.Struct):
    redis: RedisSection
    redis_url: str
    rate_key: str = "ip"
    headers: dict[str, str] = msgspec.field(default_factory=dict)


@dataclasses.dataclass
class DataConfig:
    api_key: str
    port: int


def test_redact_config_of_a_struct() -> None:
    """A msgspec config becomes plain data with passwords, URL credentials and auth headers hidden."""
    cfg = AppConfig(
        redis=RedisSection(url="redis://cache:6379", password="hunter2"),
        redis_url="redis://default:hunter2@cache:6379/0",
        headers={"Authorization": "Bearer hunter2", "Accept": "json"},
    )
    assert redact_config(cfg) == {
        "redis": {"url": "redis://cache:6379", "password": REDACTED},
        "redis_url": f"redis://default:{REDACTED}@cache:6379/0",
        "rate_key": "ip",
        "headers": {"Authorization": REDACTED, "Accept": "json"},
    }


def test_redact_config_of_a_dataclass_with_custom_fields() -> None:
    """Dataclasses work too, and the field list is configurable."""
    assert redact_config(DataConfig(api_key="k", port=1), fields=["port"]) == {
        "api_key": "k",
        "port": REDACTED,
    }


def test_config_endpoint_is_json() -> None:
    """config_dump() answers the redacted configuration as JSON."""
    out = config_dump({"token": "abc", "n": 1})
    assert out == DebugResponse(b'{"token":"<redacted>","n":1}', "application/json")


# --- admin gate ---------------------------------------------------------------------------------


def scope(client: tuple[str, int] | None, **headers: str) -> dict[str, Any]:
    return {
        "type": "http",
        "client": client,
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("203.0.113.5", False),
        ("testclient", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    """Only loopback peers (IPv4, IPv6, v4-mapped) count; hostnames are not resolved."""
    assert is_loopback(scope((host, 1234))) is expected


def test_missing_client_is_not_loopback() -> None:
    """A unix-socket connection (no client) is not assumed local: a proxy may front it."""
    assert not is_loopback(scope(None))
    assert isinstance(AdminGate().check(scope(None)), Forbidden)


def test_loopback_allowed_without_token() -> None:
    """With no token configured, a loopback client passes."""
    assert AdminGate().check(scope(("127.0.0.1", 5000))) is None


def test_remote_client_forbidden_without_token() -> None:
    """With no token configured, a remote client gets 403 with seawall's error body."""
    error = AdminGate().check(scope(("203.0.113.5", 5000)))
    assert isinstance(error, Forbidden)
    assert error.status == 403
    assert json.loads(error.body())["reason"] == "FORBIDDEN"


def test_forwarded_for_from_untrusted_peer_is_ignored() -> None:
    """A remote client cannot claim to be loopback through X-Forwarded-For."""
    assert isinstance(AdminGate().check(scope(("203.0.113.5", 1), x_forwarded_for="127.0.0.1")), Forbidden)


@pytest.mark.parametrize("header", ["x_forwarded_for", "forwarded", "x_real_ip"])
def test_untrusted_local_proxy_is_refused(header: str) -> None:
    """A loopback peer relaying someone (a forwarding header, proxy not trusted) is refused."""
    assert isinstance(AdminGate().check(scope(("127.0.0.1", 1), **{header: "203.0.113.5"})), Forbidden)


def test_trusted_proxy_forwarding_a_remote_client_is_refused() -> None:
    """Behind a trusted proxy, the forwarded client is what counts."""
    gate = AdminGate(trusted_proxies=["10.0.0.0/8"])
    assert isinstance(gate.check(scope(("10.0.0.2", 1), x_forwarded_for="203.0.113.9, 10.0.0.3")), Forbidden)
    assert gate.client(scope(("10.0.0.2", 1), x_forwarded_for="203.0.113.9, 10.0.0.3")) == (
        ipaddress.ip_address("203.0.113.9")
    )


def test_spoofed_leftmost_forwarded_for_is_not_believed() -> None:
    """The client is the rightmost untrusted hop: a forged leftmost 127.0.0.1 changes nothing."""
    gate = AdminGate(trusted_proxies=["10.0.0.2"])
    s = scope(("10.0.0.2", 1), x_forwarded_for="127.0.0.1, 203.0.113.9")
    assert gate.client(s) == ipaddress.ip_address("203.0.113.9")
    assert isinstance(gate.check(s), Forbidden)


def test_trusted_local_proxy_forwarding_a_loopback_client_passes() -> None:
    """A trusted local proxy whose client was itself on loopback lets it through."""
    gate = AdminGate(trusted_proxies=["127.0.0.1"])
    assert gate.check(scope(("127.0.0.1", 1), x_forwarded_for="127.0.0.1")) is None
    assert gate.check(scope(("127.0.0.1", 1))) is None


def test_trusted_proxy_without_forwarded_for_is_the_client() -> None:
    """A trusted non-loopback proxy that forwards nothing is itself the (remote) client."""
    assert isinstance(AdminGate(trusted_proxies=["10.0.0.2"]).check(scope(("10.0.0.2", 1))), Forbidden)


def test_forwarded_for_with_garbage_is_not_trusted() -> None:
    """An unparseable hop makes the client unknown, which is refused."""
    gate = AdminGate(trusted_proxies=["127.0.0.1"])
    s = scope(("127.0.0.1", 1), x_forwarded_for="127.0.0.1, not-an-ip")
    assert gate.client(s) is None
    assert isinstance(gate.check(s), Forbidden)


def test_forwarded_for_hops_with_ports() -> None:
    """Hops written with ports ("[::1]:80", "10.1.2.3:5") are understood."""
    gate = AdminGate(trusted_proxies=["10.0.0.0/8"])
    assert gate.client(scope(("10.0.0.2", 1), x_forwarded_for="[::1]:80, 10.1.2.3:5")) == (
        ipaddress.ip_address("::1")
    )


def test_correct_token_passes_from_anywhere() -> None:
    """With a token configured, the right bearer token is enough, from any client."""
    gate = AdminGate(token="s3cret-token")
    assert gate.check(scope(("203.0.113.5", 1), authorization="Bearer s3cret-token")) is None


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer wrong"}, {"authorization": "Basic s3cret-token"}, {"authorization": ""}],
)
def test_missing_or_wrong_token_is_unauthorized(headers: dict[str, str]) -> None:
    """A missing, wrong or non-bearer token gets 401 with WWW-Authenticate, even from loopback."""
    error = AdminGate(token="s3cret-token").check(scope(("127.0.0.1", 1), **headers))
    assert isinstance(error, Unauthorized)
    assert error.status == 401
    assert (b"www-authenticate", b'Bearer realm="seawall"') in error.headers
    assert json.loads(error.body())["reason"] == "UNAUTHENTICATED"


def test_custom_token_header_takes_the_raw_value() -> None:
    """With a custom header, its whole value is the token."""
    gate = AdminGate(token="abc", token_header="X-Seawall-Admin-Token")
    assert gate.check(scope(("203.0.113.5", 1), x_seawall_admin_token="abc")) is None
    assert isinstance(gate.check(scope(("203.0.113.5", 1), authorization="Bearer abc")), Unauthorized)


def test_check_admin_function() -> None:
    """check_admin is the one-off form of AdminGate.check."""
    assert check_admin(scope(("::1", 1)), configured_token=None) is None
    assert isinstance(check_admin(scope(("10.0.0.9", 1)), configured_token=None), Forbidden)
    assert isinstance(check_admin(scope(("10.0.0.9", 1)), configured_token="t"), Unauthorized)
    assert (
        check_admin(
            scope(("10.0.0.2", 1), x_forwarded_for="127.0.0.1"),
            configured_token=None,
            trusted_proxies=["10.0.0.2"],
        )
        is None
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trusted_proxies": ["10.0.0.0/33"]}, "is not an IP address or network"),
        ({"trusted_proxies": ["proxy.local"]}, "is not an IP address or network"),
        ({"token_header": ""}, "token_header must not be empty"),
    ],
)
def test_gate_config_is_validated(kwargs: dict[str, Any], message: str) -> None:
    """Bad proxy entries and an empty header name fail at construction."""
    with pytest.raises(ValueError, match=message):
        AdminGate(**kwargs)


public_v4 = st.ip_addresses(v=4).filter(lambda ip: not ip.is_loopback)


@given(public_v4, st.lists(st.ip_addresses(v=4), max_size=5))
def test_untrusted_peer_is_never_its_forwarded_for(peer: Any, hops: list[Any]) -> None:
    """Without trusted proxies, the client is always the TCP peer, whatever X-Forwarded-For says."""
    s = scope((str(peer), 1), x_forwarded_for=", ".join(map(str, hops)))
    assert AdminGate().client(s) == peer
    assert isinstance(AdminGate().check(s), Forbidden)


@given(st.lists(st.ip_addresses(v=4), min_size=1, max_size=6))
def test_client_is_the_rightmost_untrusted_hop(hops: list[Any]) -> None:
    """Behind a chain of trusted 10/8 proxies, the client is the last hop outside 10/8."""
    trusted = ipaddress.ip_network("10.0.0.0/8")
    gate = AdminGate(trusted_proxies=[str(trusted)])
    s = scope(("10.0.0.1", 1), x_forwarded_for=", ".join(map(str, hops)))
    untrusted = [h for h in hops if h not in trusted]
    assert gate.client(s) == (untrusted[-1] if untrusted else hops[0])


def test_seawall_config_keeps_key_specs_and_hides_redis_password() -> None:
    """seawall's own config: the Redis password is hidden, rate-limit key specs stay readable."""
    from seawall.http._config import SeawallConfig

    limit = {"rate": 5, "key": "header:x-api-key"}
    raw = {"redis_url": "redis://:pw@r:6379/0", "default": {"rate_limit": limit}}
    cfg = msgspec.convert(raw, SeawallConfig)
    out = json.loads(config_dump(cfg).body)
    assert out["redis_url"] == f"redis://:{REDACTED}@r:6379/0"
    assert out["default"]["rate_limit"]["key"] == "header:x-api-key"
    assert "client_key" not in out["default"]  # the file's patch: only the sections it sets
