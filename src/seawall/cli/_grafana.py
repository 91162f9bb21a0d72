"""``seawall gen grafana``: a Grafana dashboard (JSON model, schema 39) for seawall services.

Rows: traffic (requests by status class, 5xx ratio, by route), governance (rejections by reason:
rate limited, shed, breaker open, deadline; shedder and concurrency state), latency (P50, P90,
P95, P99 from the duration histogram; P99 by route), saturation (in-flight, concurrency limit
use, CPU against the quota, memory against the limit), runtime (event-loop lag, GC, threads and
tasks, descriptors), and dependencies (the outbound client's ``seawall_http_client_*`` families
by ``dependency``). Variables: ``datasource`` (a Prometheus data source), ``service`` (the
Prometheus ``job``) and ``route``.

:func:`panel_queries` lists every query with Grafana's variables substituted, for tests that run
them against a real Prometheus.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Final

from seawall.cli._promql import (
    CLIENT_DURATION,
    CLIENT_REQUESTS,
    REJECTED,
    REQUESTS,
    Matchers,
    latency_quantile,
    rate,
    selector,
)

__all__ = ["dashboard", "panel_queries"]

_WINDOW: Final = "$__rate_interval"
_DS: Final = {"type": "prometheus", "uid": "${datasource}"}
_JOB: Final[Matchers] = ('job=~"$service"',)
_ROUTE: Final[Matchers] = ('job=~"$service"', 'route=~"$route"')
_WIDTH: Final = 24


def _sum(by: str, expr: str) -> str:
    return f"sum by ({by}) ({expr})" if by else f"sum({expr})"


def _traffic() -> list[dict[str, Any]]:
    by_class = [
        (_sum("", rate(REQUESTS, (*_ROUTE, f'code=~"{c}.."'), _WINDOW)), f"{c}xx") for c in ("2", "4", "5")
    ]
    errors = _sum("", rate(REQUESTS, (*_ROUTE, 'code=~"5.."'), _WINDOW))
    total = _sum("", rate(REQUESTS, _ROUTE, _WINDOW))
    return [
        _panel("Requests by status class", "reqps", by_class, "Answers per second: 2xx, 4xx, 5xx."),
        _panel(
            "5xx ratio",
            "percentunit",
            [(f"{errors} / {total}", "5xx / all")],
            "The share of answers that were server errors (what SeawallHigh5xxRatio alerts on).",
        ),
        _panel(
            "Requests by route",
            "reqps",
            [(_sum("route, method", rate(REQUESTS, _ROUTE, _WINDOW)), "{{method}} {{route}}")],
            "Answers per second by route template and method.",
        ),
    ]


def _governance() -> list[dict[str, Any]]:
    reasons = [
        ("RATE_LIMITED", "rate limited (429)"),
        ("OVERLOADED", "shed (503)"),
        ("CIRCUIT_OPEN", "breaker open (503)"),
        ("DEADLINE_EXCEEDED", "deadline (504)"),
    ]
    return [
        _panel(
            "Limited, shed, breaker and deadline rejections",
            "reqps",
            [(_sum("", rate(REJECTED, (*_ROUTE, f'reason="{r}"'), _WINDOW)), label) for r, label in reasons],
            "Requests governance refused or cut off, per second, by reason.",
        ),
        _panel(
            "Rejections by route and check",
            "reqps",
            [
                (
                    _sum("route, reason, check", rate(REJECTED, _ROUTE, _WINDOW)),
                    "{{route}} {{reason}} {{check}}",
                )
            ],
            "Which check (rate_limit, max_conns, shedding, timeout...) refused on which route.",
        ),
        _panel(
            "Adaptive shedder",
            "short",
            [
                (
                    f"max by (instance) (seawall_shedder_overloaded{selector(_JOB)})",
                    "overloaded {{instance}}",
                ),
                (f"max by (instance) (seawall_shedder_cpu{selector(_JOB)}) / 1000", "cpu {{instance}}"),
            ],
            "1 while the shedder judges the instance overloaded; the CPU it reads (0-1).",
        ),
    ]


def _latency() -> list[dict[str, Any]]:
    quantiles = [(latency_quantile(q, _ROUTE, _WINDOW), f"P{round(q * 100)}") for q in (0.5, 0.9, 0.95, 0.99)]
    return [
        _panel(
            "Latency percentiles",
            "s",
            quantiles,
            "From the request-duration histogram: time from admission to the answer.",
        ),
        _panel(
            "P99 by route",
            "s",
            [(latency_quantile(0.99, _ROUTE, _WINDOW, by="route"), "{{route}}")],
            "The slowest percent of each route.",
        ),
    ]


def _saturation() -> list[dict[str, Any]]:
    cpu = _sum("instance", rate("seawall_process_cpu_seconds_total", _JOB, _WINDOW))
    rss = _sum("instance", f"seawall_process_resident_memory_bytes{selector(_JOB)}")
    return [
        _panel(
            "In flight",
            "short",
            [(_sum("route", f"seawall_http_server_in_flight{selector(_ROUTE)}"), "{{route}}")],
            "Requests being handled now, by route (all workers).",
        ),
        _panel(
            "Concurrency limit use",
            "percentunit",
            [
                (
                    f"max by (route) (seawall_concurrency_in_flight{selector(_ROUTE)}"
                    f" / seawall_concurrency_limit{selector(_ROUTE)})",
                    "{{route}}",
                )
            ],
            "In-flight requests over the route's max_conns (1 = requests are being refused).",
        ),
        _panel(
            "CPU vs quota",
            "percentunit",
            [(f"{cpu} / max by (instance) (seawall_cpu_limit_cores{selector(_JOB)})", "{{instance}}")],
            "CPU used by all workers over the cgroup CPU quota (or the CPUs available).",
        ),
        _panel(
            "Memory vs limit",
            "percentunit",
            [(f"{rss} / max by (instance) (seawall_memory_limit_bytes{selector(_JOB)})", "{{instance}}")],
            "Resident memory of all workers over the cgroup memory limit (or the host's RAM).",
        ),
    ]


def _runtime() -> list[dict[str, Any]]:
    lag = rate("seawall_event_loop_lag_seconds_bucket", _JOB, _WINDOW)
    return [
        _panel(
            "Event-loop lag P99",
            "s",
            [
                (
                    f"histogram_quantile(0.99, sum by (instance, worker, le) ({lag}))",
                    "{{instance}} w{{worker}}",
                )
            ],
            "How late timers on the serving loop fire: every request on the loop waits as long.",
        ),
        _panel(
            "GC collections",
            "ops",
            [(_sum("generation", rate("seawall_gc_collections_total", _JOB, _WINDOW)), "gen {{generation}}")],
            "Garbage collections per second, by generation.",
        ),
        _panel(
            "GC pause time",
            "percentunit",
            [
                (
                    _sum("instance, worker", rate("seawall_gc_pause_seconds_sum", _JOB, _WINDOW)),
                    "{{instance}} w{{worker}}",
                )
            ],
            "Share of wall time each worker spent stopped in garbage collection.",
        ),
        _panel(
            "Threads and tasks",
            "short",
            [
                (_sum("instance", f"seawall_python_threads{selector(_JOB)}"), "threads {{instance}}"),
                (_sum("instance", f"seawall_asyncio_tasks{selector(_JOB)}"), "tasks {{instance}}"),
            ],
            "Live threads and unfinished asyncio tasks, all workers.",
        ),
        _panel(
            "Open file descriptors",
            "short",
            [
                (
                    f"max by (instance, worker) (seawall_process_open_fds{selector(_JOB)}"
                    f" / seawall_process_max_fds{selector(_JOB)})",
                    "{{instance}} w{{worker}}",
                )
            ],
            "Open descriptors over each worker's soft limit.",
        ),
    ]


def _dependencies() -> list[dict[str, Any]]:
    dep: Matchers = ('job=~"$service"',)
    return [
        _panel(
            "Calls by dependency and code",
            "reqps",
            [(_sum("dependency, code", rate(CLIENT_REQUESTS, dep, _WINDOW)), "{{dependency}} {{code}}")],
            "Outbound calls per second by dependency and answer (seawall's httpx transport).",
        ),
        _panel(
            "Dependency P99",
            "s",
            [
                (
                    "histogram_quantile(0.99, sum by (dependency, le) "
                    f"({rate(CLIENT_DURATION + '_bucket', dep, _WINDOW)}))",
                    "{{dependency}}",
                )
            ],
            "The slowest percent of calls to each dependency.",
        ),
    ]


_ROWS: Final = (
    ("Traffic", _traffic),
    ("Governance", _governance),
    ("Latency", _latency),
    ("Saturation", _saturation),
    ("Runtime", _runtime),
    ("Dependencies (outbound calls)", _dependencies),
)


def _panel(title: str, unit: str, queries: list[tuple[str, str]], description: str) -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": _DS,
        "fieldConfig": {"defaults": {"unit": unit, "custom": {"fillOpacity": 10}}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": _DS, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(queries)
        ],
    }


def _layout() -> list[dict[str, Any]]:
    panels: list[dict[str, Any]] = []
    y = 0
    next_id = 1
    for title, make in _ROWS:
        panels.append(
            {
                "type": "row",
                "title": title,
                "id": next_id,
                "collapsed": False,
                "panels": [],
                "gridPos": {"h": 1, "w": _WIDTH, "x": 0, "y": y},
            }
        )
        next_id += 1
        y += 1
        row = make()
        width = _WIDTH // min(len(row), 3)
        for i, panel in enumerate(row):
            x = (i % 3) * width
            if i and i % 3 == 0:
                y += 8
            panel["id"] = next_id
            panel["gridPos"] = {"h": 8, "w": width, "x": x, "y": y}
            next_id += 1
            panels.append(panel)
        y += 8
    return panels


def _variable_query(name: str, query: str, *, all_value: str | None = None) -> dict[str, Any]:
    variable: dict[str, Any] = {
        "name": name,
        "label": name,
        "type": "query",
        "datasource": _DS,
        "definition": query,
        "query": {"query": query, "refId": f"{name}-variable"},
        "refresh": 2,
        "sort": 1,
        "includeAll": all_value is not None,
        "multi": all_value is not None,
    }
    if all_value is not None:
        variable["allValue"] = all_value
        variable["current"] = {"text": ["All"], "value": ["$__all"]}
    return variable


def dashboard(service: str | None = None) -> dict[str, Any]:
    """The dashboard model; with ``service``, that job is preselected and named in the title."""
    service_var = _variable_query("service", "label_values(seawall_build_info, job)")
    if service:
        service_var["current"] = {"text": service, "value": service}
    route_var = _variable_query(
        "route", 'label_values(seawall_http_server_requests_total{job=~"$service"}, route)', all_value=".*"
    )
    slug = re.sub(r"[^a-z0-9-]+", "-", (service or "services").lower()).strip("-")[:30]
    return {
        "uid": f"seawall-{slug}",
        "title": f"seawall: {service}" if service else "seawall services",
        "description": "Generated by `seawall gen grafana`; see docs/metrics.md for every family.",
        "tags": ["seawall"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "refresh": 1,
                },
                service_var,
                route_var,
            ]
        },
        "panels": _layout(),
    }


def panel_queries(model: dict[str, Any], *, service: str, window: str = "1m") -> Iterator[tuple[str, str]]:
    """Every panel's ``(title, PromQL)`` with the variables replaced: ``$service`` by
    ``service`` (used as is: give a job name without regex metacharacters), ``$route`` by ``.*``
    (All) and ``$__rate_interval`` by ``window``."""
    for panel in model["panels"]:
        for target in panel.get("targets", ()):
            expr = (
                target["expr"]
                .replace("$__rate_interval", window)
                .replace("$service", service)
                .replace("$route", ".*")
            )
            yield panel["title"], expr
