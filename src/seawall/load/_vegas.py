"""TCP-Vegas concurrency limit, with Envoy-style no-load RTT probing.

The update rule follows Netflix concurrency-limits ``limit/VegasLimit.java``; the no-load RTT is
re-measured as Envoy's adaptive concurrency ``controller/gradient_controller.cc`` does (a window
at a pinned low limit), because Netflix's own probe re-learns it from a loaded sample and creeps.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Final, Protocol, final

__all__ = ["VegasLimit", "VegasLimitStatistics"]

#: Envoy ``updateConcurrencyLimit`` (envoyproxy/envoy#10647) re-measures the minRTT at once after
#: 5 consecutive limit updates at the floor (one per 100 ms window there); Vegas updates per sample,
#: so the run is counted in samples.
FLOOR_RUN_BEFORE_PROBE: Final = 20


class _Random(Protocol):
    def random(self) -> float: ...


def _log10_root(n: int) -> int:
    # Netflix Log10RootIntFunction: max(1, (int) log10(n)) below 1000, (int) log10(n) above.
    if n < 100:
        return 1
    if n < 1000:
        return 2
    return int(math.log10(n))


@dataclass(frozen=True, slots=True)
class VegasLimitStatistics:
    """A snapshot of a :class:`VegasLimit`."""

    #: The limit enforced now (the pinned probe limit while probing).
    limit: int
    #: The estimate the algorithm moves (restored when a probe ends).
    estimate: float
    #: The no-load RTT in seconds (0.0 before the first probe completes).
    rtt_noload: float
    #: Whether a no-load probe is running (the limit is pinned to ``probe_limit``).
    probing: bool
    #: Probes completed since creation.
    probes: int


@final
class VegasLimit:
    """A delay-based concurrency limit: grow while requests do not queue, shrink when they do.

    Per sample, the queue in front of the bottleneck is estimated as in TCP Vegas,
    ``queue = ceil(limit * (1 - rtt_noload / rtt))``, and with ``a = log10(limit)`` (at least 1):
    ``queue <= a`` grows the limit by ``6a``; ``queue < 3a`` by ``a``; ``queue > 6a`` shrinks it by
    ``a`` (a drop always shrinks it); otherwise it holds. It does not grow while fewer than half the
    limit are in flight (the service is app-limited, the sample says nothing about capacity).
    ``smoothing`` blends the new limit with the old. In steady saturation behind a bottleneck of
    width ``W`` the limit settles about ``W + 3a .. W + 6a``: a few requests of queue, no more.

    This is Netflix ``VegasLimit`` (defaults: initial 20, max 1000, smoothing 1.0; the alpha, beta,
    threshold, increase and decrease functions of ``Log10RootIntFunction``) with three changes:

    - **Growth waits for a sample admitted after the last change.** Netflix applies the rule to
      every sample, but for one RTT after an increase the samples still come from requests
      admitted under the old limit and report no queue, so a saturated limit climbs ``6a`` per
      sample, overshoots by a whole RTT's worth of samples and then falls as far the other way (a
      limit cycle, 9 to 21 behind an 8-wide bottleneck). Like TCP Vegas, which adjusts once per
      RTT, an increase here needs a sample of a request admitted after the last change; decreases
      and drops still act at once, so the limit backs off within one RTT of an overload.
    - **No-load RTT probing, Envoy-style.** Netflix re-probes every ``30 * limit`` samples by
      taking the current sample as the new no-load RTT; under sustained saturation every sample is
      queued, so each probe raises the estimate, the limit grows, latency grows, and the next probe
      raises it again (the minRTT creep of envoyproxy/envoy#11579). Here, as in Envoy's gradient
      controller, the limit starts in a probe and re-probes every ``probe_interval`` seconds
      (plus up to ``probe_jitter`` of it, at random, so replicas do not probe together:
      envoyproxy/envoy#8337): the limit is pinned to ``probe_limit`` until ``probe_samples``
      requests *admitted after the probe began* (envoyproxy/envoy#11579) have completed, and the
      smallest of their RTTs becomes the no-load RTT; the previous limit is then restored. A probe
      also starts at once after ``FLOOR_RUN_BEFORE_PROBE`` consecutive samples with the limit at
      ``min_limit`` (envoyproxy/envoy#10647: a limit stuck at the floor suggests a stale no-load
      RTT, and probing there costs little). Between probes the no-load RTT only falls, to any
      smaller sample (Netflix).
    - **Drops never teach the no-load RTT.** A timed-out or shed request's RTT is censored or cut
      short; it still shrinks the limit, as in Netflix.

    Samples with ``rtt <= 0`` are ignored (Netflix rejects them). Time is read from the samples
    (``start + rtt``), so the algorithm takes no clock.

    Args:
        initial_limit: the limit after the first probe, before any adjustment.
        min_limit: the floor of the limit (Netflix: 1).
        max_limit: the ceiling of the limit (Netflix ``maxConcurrency``: 1000).
        smoothing: weight of the new limit against the old, in (0, 1] (Netflix: 1.0, none).
        probe_interval: seconds between no-load probes (Envoy's documented example: 60 s).
        probe_jitter: the fraction of ``probe_interval`` added at random, in [0, 1] (Envoy: 15%).
        probe_limit: the limit pinned during a probe (Envoy ``min_concurrency``: 3), even if
            below ``min_limit``. Keep it below the width of the likely bottleneck, so probe
            requests do not queue.
        probe_samples: completed probe requests needed to end a probe (Envoy aggregates 50 for a
            p50; a minimum needs fewer).
        rng: the randomness for the jitter, e.g. a seeded :class:`random.Random`.

    Example::

        limiter = AdaptiveConcurrencyLimiter(limit=VegasLimit(initial_limit=10))
    """

    __slots__ = (
        "_changed_at",
        "_deferred",
        "_estimate",
        "_floor_run",
        "_limit",
        "_max_limit",
        "_min_limit",
        "_next_probe",
        "_noload",
        "_probe_count",
        "_probe_interval",
        "_probe_jitter",
        "_probe_limit",
        "_probe_min",
        "_probe_samples",
        "_probe_start",
        "_probes",
        "_probing",
        "_rng",
        "_smoothing",
    )

    def __init__(
        self,
        *,
        initial_limit: int = 20,
        min_limit: int = 1,
        max_limit: int = 1000,
        smoothing: float = 1.0,
        probe_interval: float = 60.0,
        probe_jitter: float = 0.15,
        probe_limit: int = 3,
        probe_samples: int = 10,
        rng: _Random | None = None,
    ) -> None:
        if min_limit < 1:
            raise ValueError("min_limit must be >= 1")
        if max_limit < min_limit:
            raise ValueError("max_limit must be >= min_limit")
        if not min_limit <= initial_limit <= max_limit:
            raise ValueError("initial_limit must be in [min_limit, max_limit]")
        if not 0 < smoothing <= 1:
            raise ValueError("smoothing must be in (0, 1]")
        if not probe_interval > 0 or math.isinf(probe_interval):
            raise ValueError("probe_interval must be > 0 and finite")
        if not 0 <= probe_jitter <= 1:
            raise ValueError("probe_jitter must be in [0, 1]")
        if probe_limit < 1:
            raise ValueError("probe_limit must be >= 1")
        if probe_samples < 1:
            raise ValueError("probe_samples must be >= 1")
        self._min_limit = int(min_limit)
        self._max_limit = int(max_limit)
        self._smoothing = float(smoothing)
        self._probe_interval = float(probe_interval)
        self._probe_jitter = float(probe_jitter)
        self._probe_limit = int(probe_limit)
        self._probe_samples = int(probe_samples)
        self._rng: _Random = rng if rng is not None else random.Random()
        self._estimate = float(initial_limit)
        self._changed_at = -math.inf
        self._noload = 0.0
        self._floor_run = 0
        self._probes = 0
        self._next_probe = math.inf
        # Envoy's controller is created inside a minRTT window: start probing at once. Every
        # sample is admitted after -inf, so none is discarded as pre-probe.
        self._probing = True
        self._probe_start = -math.inf
        self._probe_min = math.inf
        self._probe_count = 0
        self._deferred = self._estimate
        self._limit = self._probe_limit

    @property
    def limit(self) -> int:
        """The most requests allowed in flight now."""
        return self._limit

    @property
    def rtt_noload(self) -> float:
        """The no-load RTT in seconds (0.0 until the first probe completes)."""
        return self._noload

    @property
    def probing(self) -> bool:
        """Whether a no-load probe is running (the limit is pinned to ``probe_limit``)."""
        return self._probing

    def on_sample(self, start: float, rtt: float, inflight: int, dropped: bool) -> None:
        """Record one completed request (see :meth:`Limit.on_sample`)."""
        if not rtt > 0:
            return
        if self._probing:
            self._probe_sample(start, rtt, dropped)
            return
        end = start + rtt
        if end >= self._next_probe:
            # This sample was admitted before the probe began: it only opens the window.
            self._begin_probe(end)
            return
        noload = self._noload
        if not dropped and rtt < noload:
            self._noload = rtt
            return
        self._update(start, rtt, noload, inflight, dropped)
        if self._limit <= self._min_limit:
            self._floor_run += 1
            if self._floor_run >= FLOOR_RUN_BEFORE_PROBE:
                self._begin_probe(end)
        else:
            self._floor_run = 0

    def _update(self, start: float, rtt: float, noload: float, inflight: int, dropped: bool) -> None:
        estimate = self._estimate
        a = 1 if estimate < 100.0 else _log10_root(int(estimate))  # skip a call in the common case
        if dropped:
            new = estimate - a
        elif inflight * 2 < estimate:
            return  # app-limited: no evidence about capacity
        else:
            queue = math.ceil(estimate * (1.0 - noload / rtt))
            if queue > 6 * a:
                new = estimate - a
            elif queue >= 3 * a or start < self._changed_at:
                # In the band, or a request admitted before the last change: it cannot show
                # whether the last change made a queue, so it may not grow the limit again.
                return
            elif queue <= a:
                new = estimate + 6 * a
            else:
                new = estimate + a
        if new < self._min_limit:
            new = float(self._min_limit)
        elif new > self._max_limit:
            new = float(self._max_limit)
        s = self._smoothing
        estimate = (1.0 - s) * estimate + s * new
        self._estimate = estimate
        self._limit = int(estimate)
        self._changed_at = start + rtt

    def _begin_probe(self, now: float) -> None:
        self._probing = True
        self._probe_start = now
        self._probe_min = math.inf
        self._probe_count = 0
        self._deferred = self._estimate
        self._limit = self._probe_limit
        self._floor_run = 0

    def _probe_sample(self, start: float, rtt: float, dropped: bool) -> None:
        if start < self._probe_start or dropped:
            return
        if rtt < self._probe_min:
            self._probe_min = rtt
        self._probe_count += 1
        if self._probe_count < self._probe_samples:
            return
        self._probing = False
        self._probes += 1
        self._noload = self._probe_min
        self._estimate = self._deferred
        self._limit = int(self._deferred)
        self._changed_at = start + rtt
        jitter = self._probe_jitter * self._rng.random()
        self._next_probe = start + rtt + self._probe_interval * (1.0 + jitter)

    def statistics(self) -> VegasLimitStatistics:
        """A frozen snapshot; reading it changes nothing."""
        return VegasLimitStatistics(
            limit=self._limit,
            estimate=self._deferred if self._probing else self._estimate,
            rtt_noload=self._noload,
            probing=self._probing,
            probes=self._probes,
        )

    def __repr__(self) -> str:
        return f"VegasLimit(limit={self._limit!r}, rtt_noload={self._noload!r})"
