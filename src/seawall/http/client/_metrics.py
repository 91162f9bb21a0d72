"""Client metrics: per-dependency counters bound once, exported as ``seawall_http_client_*``.

Each dependency's calls are counted on a pre-bound :class:`DependencyStats` (plain integer
updates; the call guard's :class:`~seawall.governance.Accounting`); everything else (retries,
the breaker, outlier ejection, the resolver) is read from the primitives' ``statistics()`` at
scrape time, so nothing but the counters runs per call. Labels are bounded: the dependency's
name, an outcome or reason from a fixed set, a status code; never a URL or an instance address.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from seawall.breaker import BreakerStatistics
from seawall.discovery import OutlierStatistics, ResolverStatistics
from seawall.retry import RetryStatistics

__all__ = ["DURATION_BUCKETS", "ClientMetrics", "DependencyStatistics", "DependencyStats"]

#: Upper bounds (seconds) of the call-duration histogram buckets (as the server's).
DURATION_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: Retry refusals exported as "suppressed" (``ok`` and the granted ``retry``/``hedge`` are not).
_SUPPRESSED: Final = (
    "budget_exhausted",
    "deadline",
    "timeout_ratio",
    "max_attempts",
    "not_idempotent",
    "retry_after_too_long",
)
_STATES: Final = ("closed", "open", "half_open", "forced_open", "disabled")


@final
class DependencyStats:
    """The call counters of one dependency (bound once; the call guard's accounting).

    Attributes:
        in_flight: calls in progress.
        outcomes: calls by ``(outcome, status)``; status 0 when the call raised.
        attempts: attempts sent, by outcome.
        rejected: calls refused by the client, by reason.
    """

    __slots__ = ("attempts", "buckets", "dependency", "in_flight", "outcomes", "rejected", "total_seconds")

    def __init__(self, dependency: str) -> None:
        self.dependency = dependency
        self.in_flight = 0
        self.outcomes: dict[tuple[str, int], int] = {}
        self.attempts: dict[str, int] = {}
        self.rejected: dict[str, int] = {}
        self.buckets = [0] * (len(DURATION_BUCKETS) + 1)
        self.total_seconds = 0.0

    def observe(self, status: int, seconds: float) -> None:
        self.buckets[bisect_left(DURATION_BUCKETS, seconds)] += 1
        self.total_seconds += seconds

    def reject(self, reason: str, check: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def outcome(self, outcome: str, status: int) -> None:
        key = (outcome, status)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1

    def attempt(self, outcome: str) -> None:
        self.attempts[outcome] = self.attempts.get(outcome, 0) + 1


@final
@dataclass(frozen=True, slots=True)
class DependencyStatistics:
    """A snapshot of one dependency, for metrics, logs and the dashboard.

    Attributes:
        dependency: its name.
        in_flight: calls in progress.
        outcomes: calls by ``(outcome, status)`` (status 0: the call raised).
        attempts: attempts sent, by outcome.
        rejected: calls refused by the client, by reason (``CIRCUIT_OPEN``, ``OVERLOADED``,
            ``DEADLINE_EXCEEDED``...).
        buckets: call durations per :data:`DURATION_BUCKETS` bucket (the last: beyond).
        total_seconds: the sum of call durations.
        instances: instances the resolver offers now.
        retries: the retry controller's snapshot, ``None`` without retries.
        breaker: the breaker's snapshot, ``None`` without a breaker.
        outliers: the outlier detector's snapshot, ``None`` without one.
        resolver: the resolver's snapshot.
    """

    dependency: str
    in_flight: int
    outcomes: dict[tuple[str, int], int]
    attempts: dict[str, int]
    rejected: dict[str, int]
    buckets: tuple[int, ...]
    total_seconds: float
    instances: int
    retries: RetryStatistics | None
    breaker: BreakerStatistics | None
    outliers: OutlierStatistics | None
    resolver: ResolverStatistics | None


@final
class ClientMetrics(Collector):
    """Every dependency's figures as ``seawall_http_client_*`` Prometheus families.

    Register it with a ``CollectorRegistry`` (``Service.client`` registers one with the service's
    registry, so they appear on ``/metrics``). Families (label ``dependency`` everywhere):

    - ``requests_total{outcome,code}`` calls made, by how they ended (``ok``, ``failure``,
      ``timeout``, ``connect_error``, ``overloaded``, ``rejected``, ``fallback``, ``cancelled``)
      and the status the caller got (``none`` when the call raised);
    - ``request_duration_seconds`` (histogram) call time, every attempt and backoff included;
    - ``in_flight`` calls in progress; ``attempts_total{outcome}`` attempts sent;
    - ``rejected_total{reason}`` calls refused by the client (breaker open, bulkhead full,
      deadline spent);
    - ``retries_total``, ``hedges_total``, ``retries_suppressed_total{reason}`` (``budget_exhausted``,
      ``deadline``, ``timeout_ratio``, ``max_attempts``, ``not_idempotent``,
      ``retry_after_too_long``), ``retry_budget_balance``;
    - ``breaker_state{state}`` (1 for the current state), ``breaker_transitions_total``;
    - ``ejections_total``, ``ejected``; ``instances``, ``resolver_errors_total``, ``resolver_stale``.
    """

    def __init__(self) -> None:
        self._sources: list[Callable[[], DependencyStatistics]] = []

    def add(self, source: Callable[[], DependencyStatistics]) -> None:
        """Export the snapshots ``source()`` returns (a dependency's ``statistics``)."""
        self._sources.append(source)

    def remove(self, source: Callable[[], DependencyStatistics]) -> None:
        """Stop exporting ``source`` (its client closed)."""
        self._sources = [s for s in self._sources if s != source]

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        dep = ["dependency"]

        def counter(name: str, doc: str, *labels: str) -> CounterMetricFamily:
            return CounterMetricFamily(f"seawall_http_client_{name}", doc, labels=[*dep, *labels])

        def gauge(name: str, doc: str, *labels: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"seawall_http_client_{name}", doc, labels=[*dep, *labels])

        requests = counter("requests", "Calls to a dependency, by outcome and status.", "outcome", "code")
        duration = HistogramMetricFamily(
            "seawall_http_client_request_duration_seconds",
            "Time a call to a dependency took, every attempt and backoff included.",
            labels=dep,
        )
        in_flight = gauge("in_flight", "Calls to a dependency in progress.")
        attempts = counter("attempts", "Attempts sent to a dependency's instances, by outcome.", "outcome")
        rejected = counter("rejected", "Calls the client refused, by reason.", "reason")
        retries = counter("retries", "Retries granted.")
        hedges = counter("hedges", "Hedged attempts granted.")
        suppressed = counter("retries_suppressed", "Retries refused, by the rule that refused.", "reason")
        balance = gauge("retry_budget_balance", "Retries the budget would grant now.")
        state = gauge("breaker_state", "The breaker's state (1 for the current one).", "state")
        transitions = counter("breaker_transitions", "Breaker state changes.")
        ejections = counter("ejections", "Instances ejected by outlier detection.")
        ejected = gauge("ejected", "Instances ejected now.")
        instances = gauge("instances", "Instances the resolver offers.")
        errors = counter("resolver_errors", "Resolver lookups that failed.")
        stale = gauge("resolver_stale", "1 while the resolver serves its last known instances.")
        for source in self._sources:
            s = source()
            d = [s.dependency]
            for (outcome, code), n in sorted(s.outcomes.items()):
                requests.add_metric([*d, outcome, str(code) if code else "none"], n)
            cumulative = 0
            buckets = []
            for bound, n in zip((*DURATION_BUCKETS, float("inf")), s.buckets, strict=True):
                cumulative += n
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
            duration.add_metric(d, buckets, s.total_seconds)
            in_flight.add_metric(d, s.in_flight)
            for outcome, n in sorted(s.attempts.items()):
                attempts.add_metric([*d, outcome], n)
            for reason, n in sorted(s.rejected.items()):
                rejected.add_metric([*d, reason], n)
            if s.retries is not None:
                r = s.retries
                retries.add_metric(d, r.retries)
                hedges.add_metric(d, r.hedges)
                for reason in _SUPPRESSED:
                    suppressed.add_metric([*d, reason], getattr(r, reason))
                balance.add_metric(d, r.budget.balance)
            if s.breaker is not None:
                for name in _STATES:
                    state.add_metric([*d, name], 1.0 if s.breaker.state == name else 0.0)
                transitions.add_metric(d, s.breaker.transitions)
            if s.outliers is not None:
                ejections.add_metric(d, s.outliers.ejections)
                ejected.add_metric(d, s.outliers.ejected)
            instances.add_metric(d, s.instances)
            if s.resolver is not None:
                errors.add_metric(d, s.resolver.errors)
                stale.add_metric(d, 1.0 if s.resolver.stale else 0.0)
        yield from (requests, duration, in_flight, attempts, rejected, retries, hedges, suppressed, balance)
        yield from (state, transitions, ejections, ejected, instances, errors, stale)
