"""Request metrics: pre-bound per-route counters, Prometheus exposition, multi-worker merging.

Why not ``prometheus_client.Counter`` on the hot path: each ``inc()``/``observe()`` takes a lock
and, in multiprocess mode, writes to an mmap; plain integer updates on a pre-bound per-route
object cost a fraction of that (bench/hotpath.py, default-chain row). prometheus_client still
does the exposition: a custom collector turns the counters into metric families at scrape time.

With several worker processes (``seawall run --workers N``) each worker periodically writes a
snapshot to ``SEAWALL_METRICS_DIR``; a scrape merges its own live figures with the others'
latest snapshots, so totals count every worker's requests (counters of exited workers are kept,
as Prometheus' multiprocess mode does).
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Final, final

import msgspec
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

__all__ = ["DURATION_BUCKETS", "MetricsDir", "RequestMetrics", "RouteStats"]

#: Upper bounds (seconds) of the request-duration histogram buckets.
DURATION_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@final
class RouteStats:
    """The counters of one ``(route template, method)``, bound once when the route is compiled."""

    __slots__ = ("buckets", "codes", "in_flight", "method", "rejected", "route", "total_seconds")

    def __init__(self, route: str, method: str) -> None:
        self.route = route
        self.method = method
        self.codes: dict[int, int] = {}
        self.buckets = [0] * (len(DURATION_BUCKETS) + 1)
        self.total_seconds = 0.0
        self.rejected: dict[str, int] = {}
        self.in_flight = 0

    def observe(self, status: int, seconds: float) -> None:
        codes = self.codes
        codes[status] = codes.get(status, 0) + 1
        self.buckets[bisect_left(DURATION_BUCKETS, seconds)] += 1
        self.total_seconds += seconds

    def reject(self, reason: str, check: str = "") -> None:
        key = f"{reason}:{check}"
        self.rejected[key] = self.rejected.get(key, 0) + 1


class _RouteSnapshot(msgspec.Struct, array_like=True):
    route: str
    method: str
    codes: dict[int, int]
    buckets: list[int]
    total_seconds: float
    rejected: dict[str, int]
    in_flight: int


class _WorkerSnapshot(msgspec.Struct):
    pid: int
    routes: list[_RouteSnapshot]


@final
class MetricsDir:
    """A directory where worker processes leave their metric snapshots for each other."""

    __slots__ = ("_decoder", "path")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._decoder = msgspec.msgpack.Decoder(_WorkerSnapshot)

    def write(self, snapshot: _WorkerSnapshot) -> None:
        final_path = self.path / f"{snapshot.pid}.msgpack"
        tmp = final_path.with_suffix(".tmp")
        tmp.write_bytes(msgspec.msgpack.encode(snapshot))
        tmp.replace(final_path)  # atomic: readers never see a half-written file

    def read_others(self, pid: int) -> list[_WorkerSnapshot]:
        out = []
        for f in self.path.glob("*.msgpack"):
            if f.stem == str(pid):
                continue
            try:
                out.append(self._decoder.decode(f.read_bytes()))
            except (OSError, msgspec.DecodeError):
                continue  # a worker is replacing its file right now; its next snapshot will do
        return out


@final
class RequestMetrics(Collector):
    """All routes' request counters, exposed as Prometheus families.

    Families: ``seawall_http_server_requests_total{route,method,code}``,
    ``seawall_http_server_request_duration_seconds{route,method}`` (histogram),
    ``seawall_http_server_rejected_total{route,method,reason}`` and
    ``seawall_http_server_in_flight{route,method}``.
    """

    def __init__(
        self,
        shared_dir: MetricsDir | None = None,
        *,
        hidden: Callable[[], Collection[tuple[str, str]]] | None = None,
    ) -> None:
        """``hidden()`` names the ``(route, method)`` pairs to leave out (``metrics: false`` routes)."""
        self._hidden = hidden
        self._routes: dict[tuple[str, str], RouteStats] = {}
        self.shared_dir = shared_dir

    def route(self, route: str, method: str) -> RouteStats:
        """The (pre-bound) stats object for a route template and method."""
        key = (route, method)
        stats = self._routes.get(key)
        if stats is None:
            stats = self._routes[key] = RouteStats(route, method)
        return stats

    def snapshot(self) -> _WorkerSnapshot:
        return _WorkerSnapshot(
            os.getpid(),
            [
                _RouteSnapshot(
                    s.route,
                    s.method,
                    dict(s.codes),
                    list(s.buckets),
                    s.total_seconds,
                    dict(s.rejected),
                    s.in_flight,
                )
                for s in self._routes.values()
            ],
        )

    def flush(self) -> None:
        """Write this worker's snapshot to the shared directory, if there is one."""
        if self.shared_dir is not None:
            self.shared_dir.write(self.snapshot())

    def _merged(self) -> Iterable[_RouteSnapshot]:
        own = self.snapshot()
        if self.shared_dir is None:
            return own.routes
        self.shared_dir.write(own)
        merged: dict[tuple[str, str], _RouteSnapshot] = {}
        for worker in [own, *self.shared_dir.read_others(own.pid)]:
            for r in worker.routes:
                m = merged.get((r.route, r.method))
                if m is None:
                    merged[(r.route, r.method)] = msgspec.structs.replace(
                        r, codes=dict(r.codes), buckets=list(r.buckets), rejected=dict(r.rejected)
                    )
                    continue
                for code, n in r.codes.items():
                    m.codes[code] = m.codes.get(code, 0) + n
                for reason, n in r.rejected.items():
                    m.rejected[reason] = m.rejected.get(reason, 0) + n
                m.buckets = [a + b for a, b in zip(m.buckets, r.buckets, strict=True)]
                m.total_seconds += r.total_seconds
                m.in_flight += r.in_flight
        return merged.values()

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily | GaugeMetricFamily]:
        labels = ["route", "method"]
        requests = CounterMetricFamily(
            "seawall_http_server_requests",
            "HTTP requests served, by route template and status code.",
            labels=[*labels, "code"],
        )
        duration = HistogramMetricFamily(
            "seawall_http_server_request_duration_seconds",
            "Time from admission to the response being sent, by route template.",
            labels=labels,
        )
        rejected = CounterMetricFamily(
            "seawall_http_server_rejected",
            "Requests rejected by governance checks, by reason.",
            labels=[*labels, "reason", "check"],
        )
        in_flight = GaugeMetricFamily(
            "seawall_http_server_in_flight", "Requests being handled now.", labels=labels
        )
        hidden = self._hidden() if self._hidden is not None else ()
        for r in self._merged():
            if (r.route, r.method) in hidden:
                continue
            for code, n in sorted(r.codes.items()):
                requests.add_metric([r.route, r.method, str(code)], n)
            cumulative = 0
            buckets = []
            for bound, n in zip((*DURATION_BUCKETS, float("inf")), r.buckets, strict=True):
                cumulative += n
                buckets.append((_le(bound), cumulative))
            duration.add_metric([r.route, r.method], buckets, r.total_seconds)
            for key, n in sorted(r.rejected.items()):
                reason, _, check = key.partition(":")
                rejected.add_metric([r.route, r.method, reason, check], n)
            in_flight.add_metric([r.route, r.method], r.in_flight)
        yield requests
        yield duration
        yield rejected
        yield in_flight


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)
