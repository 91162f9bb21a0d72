"""Adaptive (BBR-style) load shedding.

Semantics follow go-zero's ``core/load/adaptiveshedder.go`` and Kratos/aegis
``ratelimit/bbr/bbr.go``: when the CPU is over its threshold, admit only as many concurrent
requests as the service has shown it can complete — Little's law on the best bucket of a rolling
window, ``max_flight = max_pass * buckets_per_second * min_rt``.
"""

from __future__ import annotations

from typing import Final, final

from seawall._clock import MONOTONIC, Clock
from seawall.load._base import ShedderStatistics, ShedTicket
from seawall.load._cpu import CPU_MAX, CpuProbe

__all__ = ["AdaptiveShedder"]

#: go-zero's ``defaultMinRt`` (1 s): with no completed request in the window, assume a slow
#: service, so that the estimate errs towards admitting.
_DEFAULT_MIN_RT: Final = 1.0
#: The bucket number of a ring slot that never held a bucket: older than any window.
_NEVER: Final = -(1 << 62)


@final
class _Gate:
    """Per-priority overload state: the threshold, when the CPU was last seen over it, and
    whether a drop happened since (go-zero's ``overloadTime`` / ``droppedRecently``)."""

    __slots__ = ("dropped", "hot_at", "threshold")

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.hot_at = 0.0
        self.dropped = False


@final
class AdaptiveShedder:
    """Drops requests when the CPU is overloaded and more are in flight than the service can carry.

    A request is dropped when both hold:

    1. the CPU signal is at or over ``cpu_threshold`` (permille), or a drop happened and the CPU
       was last seen over the threshold less than ``cool_off`` seconds ago (go-zero's cool-off,
       which keeps shedding steady instead of flapping with a noisy CPU signal);
    2. more than one request, and more than ``max_flight``, are in flight, where
       ``max_flight = max(1, max_pass * buckets_per_second * min_rt)`` over the completed
       buckets of the rolling window: ``max_pass`` is the most requests accepted in one bucket,
       ``min_rt`` the lowest average response time (seconds) of a bucket.

    ``allow(priority=True)`` uses the higher threshold ``(cpu_threshold + 1000) // 2``, as go-zero
    does for priority routes, so important traffic is shed last.

    Differences from go-zero, on purpose: response times are kept in float seconds (go-zero rounds
    them up to whole milliseconds, which for sub-millisecond Python handlers would inflate
    ``max_flight``); the instantaneous in-flight count is compared, as Kratos does, without
    go-zero's smoothed ``avgFlying`` and CPU-scaled ``overloadFactor``.

    Not thread-safe: use one shedder per event loop (or guard it), as the request path does.

    Args:
        cpu: the CPU signal, e.g. a started :class:`ProcessCpuProbe`.
        cpu_threshold: permille (0..1000) at or over which the CPU counts as overloaded.
        window: seconds of history for ``max_pass`` and ``min_rt``.
        buckets: how many buckets the window is split into (>= 2; the current one is ignored).
        cool_off: seconds shedding stays armed after the CPU was last seen overloaded, if a drop
            happened.
        running: 1 when ``allow()`` is only ever called while no admitted request is executing,
            as on a single-threaded event loop (the admitting code holds the only thread): the
            request a goroutine server would count as running is then added to the in-flight
            count, so the comparison keeps go-zero's meaning. 0 (default) for go-zero's count.
        clock: the time source.

    Example::

        with ProcessCpuProbe() as cpu:
            shedder = AdaptiveShedder(cpu=cpu)
            ticket = shedder.allow()
            if ticket is None:
                raise Overloaded(check="shedding", retry_after=1)
            ...
            ticket.accept()
    """

    __slots__ = (
        "_bucket_rate",
        "_buckets",
        "_cache_bucket",
        "_cache_max_flight",
        "_cache_max_pass",
        "_cache_min_rt",
        "_cool_off",
        "_cpu",
        "_cur_bucket",
        "_cur_pass",
        "_cur_rt",
        "_dropped",
        "_in_flight",
        "_normal",
        "_now",
        "_origin",
        "_passed",
        "_priority",
        "_ring_bucket",
        "_ring_pass",
        "_ring_rt",
        "_running",
        "_usage",
        "_window",
    )

    def __init__(
        self,
        *,
        cpu: CpuProbe,
        cpu_threshold: int = 900,
        window: float = 5.0,
        buckets: int = 50,
        cool_off: float = 1.0,
        running: int = 0,
        clock: Clock = MONOTONIC,
    ) -> None:
        if not 0 <= cpu_threshold <= CPU_MAX:
            raise ValueError(f"cpu_threshold must be in [0, {CPU_MAX}]")
        if not window > 0:
            raise ValueError("window must be > 0")
        if buckets < 2:
            raise ValueError("buckets must be >= 2")
        if cool_off < 0:
            raise ValueError("cool_off must be >= 0")
        if running not in (0, 1):
            raise ValueError("running must be 0 or 1")
        self._running = running
        self._cpu = cpu
        self._usage = cpu.usage
        self._normal = _Gate(cpu_threshold)
        # go-zero's rest engine: priorityShedder threshold = (CpuThreshold + topCpuUsage) >> 1.
        self._priority = _Gate((cpu_threshold + CPU_MAX) // 2)
        self._window = window
        self._buckets = buckets
        self._bucket_rate = buckets / window  # buckets per second
        self._cool_off = cool_off
        self._now = clock.now
        self._origin = clock.now()
        self._in_flight = 0
        self._passed = 0
        self._dropped = 0
        # Completed buckets, in a ring indexed by bucket number % buckets; a slot is valid only
        # while its bucket number is inside the window (slots of idle buckets just go stale).
        self._ring_bucket = [_NEVER] * buckets
        self._ring_pass = [0] * buckets
        self._ring_rt = [0.0] * buckets
        # The bucket accept() is filling; moved into the ring once time leaves it.
        self._cur_bucket = 0
        self._cur_pass = 0
        self._cur_rt = 0.0
        self._cache_bucket = -1
        self._cache_max_pass = 1
        self._cache_min_rt = _DEFAULT_MIN_RT
        self._cache_max_flight = 1.0

    @property
    def cpu_threshold(self) -> int:
        """Permille at or over which normal requests may be shed."""
        return self._normal.threshold

    @property
    def priority_threshold(self) -> int:
        """Permille at or over which priority requests may be shed."""
        return self._priority.threshold

    def hot(self, priority: bool = False) -> bool:
        """Whether requests are subject to shedding now (CPU over threshold, or a recent drop)."""
        gate = self._priority if priority else self._normal
        return gate.dropped or self._usage() >= gate.threshold

    def allow(self, priority: bool = False) -> ShedTicket | None:
        """A ticket if the request may run now, ``None`` if it must be dropped."""
        now = self._now()
        gate = self._priority if priority else self._normal
        if self._usage() >= gate.threshold:
            gate.hot_at = now
        elif not gate.dropped:
            self._in_flight += 1
            self._passed += 1
            return ShedTicket(self, now)
        elif now - gate.hot_at >= self._cool_off:
            gate.dropped = False
            self._in_flight += 1
            self._passed += 1
            return ShedTicket(self, now)
        # Overloaded or cooling off: drop only if more is in flight than the service can carry.
        in_flight = self._in_flight + self._running
        if in_flight > 1 and in_flight > self._max_flight(now):
            gate.dropped = True
            self._dropped += 1
            return None
        self._in_flight += 1
        self._passed += 1
        return ShedTicket(self, now)

    def admit(self) -> ShedTicket:
        """A ticket for a request the caller admits whatever the load (a traffic class still under
        its guaranteed share of :meth:`max_flight`): counted in flight and as passed like one
        :meth:`allow` admitted."""
        self._in_flight += 1
        self._passed += 1
        return ShedTicket(self, self._now())

    def max_flight(self) -> float:
        """How many requests the service has shown it carries at once now:
        ``max(1, max_pass * buckets_per_second * min_rt)`` over the window."""
        return self._max_flight(self._now())

    # Called by ShedTicket (the _Owner protocol), not by users.
    def _rejected(self) -> None:
        self._in_flight -= 1

    def _accepted(self, start: float) -> None:
        self._in_flight -= 1
        now = self._now()
        bucket = int((now - self._origin) * self._bucket_rate)
        if bucket != self._cur_bucket:
            self._roll(bucket)
        self._cur_pass += 1
        self._cur_rt += now - start

    def _roll(self, bucket: int) -> None:
        if self._cur_pass:
            slot = self._cur_bucket % self._buckets
            self._ring_bucket[slot] = self._cur_bucket
            self._ring_pass[slot] = self._cur_pass
            self._ring_rt[slot] = self._cur_rt
        self._cur_bucket = bucket
        self._cur_pass = 0
        self._cur_rt = 0.0

    def _max_flight(self, now: float) -> float:
        bucket = int((now - self._origin) * self._bucket_rate)
        if bucket != self._cache_bucket:
            self._refresh(bucket)
        return self._cache_max_flight

    def _refresh(self, bucket: int) -> None:
        # Completed buckets only (go-zero's IgnoreCurrentBucket): the current one is partial.
        # Results change only when the bucket number does, so they are cached per bucket
        # (as Kratos caches maxPASS/minRt for one bucket duration).
        if self._cur_bucket < bucket:
            self._roll(bucket)
        oldest = bucket - self._buckets
        max_pass = 1
        min_rt = _DEFAULT_MIN_RT
        for b, n, rt in zip(self._ring_bucket, self._ring_pass, self._ring_rt, strict=True):
            if oldest < b < bucket:
                max_pass = max(max_pass, n)
                min_rt = min(min_rt, rt / n)
        self._cache_bucket = bucket
        self._cache_max_pass = max_pass
        self._cache_min_rt = min_rt
        self._cache_max_flight = max(1.0, max_pass * self._bucket_rate * min_rt)

    def statistics(self) -> ShedderStatistics:
        now = self._now()
        max_flight = self._max_flight(now)
        cpu = self._usage()
        gate = self._normal
        overloaded = cpu >= gate.threshold or (gate.dropped and now - gate.hot_at < self._cool_off)
        return ShedderStatistics(
            in_flight=self._in_flight,
            max_pass=self._cache_max_pass,
            min_rt=self._cache_min_rt,
            max_flight=max_flight,
            cpu=cpu,
            dropped=self._dropped,
            passed=self._passed,
            overloaded=overloaded,
        )

    def __repr__(self) -> str:
        return (
            f"AdaptiveShedder(cpu_threshold={self._normal.threshold!r}, window={self._window!r}, "
            f"buckets={self._buckets!r}, in_flight={self._in_flight!r})"
        )
