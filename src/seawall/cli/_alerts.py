"""``seawall gen alerts``: Prometheus alerting rules for seawall services, and an Alertmanager
configuration skeleton to receive them.

Rules (group ``seawall``), each with a runbook in its annotations:

- ``SeawallHigh5xxRatio``: more than 5 % of answers are 5xx over 5 minutes.
- ``SeawallLatencySLOFastBurn`` / ``SeawallLatencySLOSlowBurn``: the latency SLO ("``objective``
  of requests answer within ``threshold`` seconds") burns its error budget 14.4x over 1 h and
  5 min, or 6x over 6 h and 30 min: the multiwindow, multi-burn-rate alerts of the Google SRE
  workbook, chapter 5 "Alerting on SLOs" (a fast burn spends 2 % of a 30-day budget in an hour).
- ``SeawallSheddingActive``: requests are being shed (``OVERLOADED``) for 5 minutes.
- ``SeawallBreakerOpen``: answers say a circuit breaker is open (``CIRCUIT_OPEN``).
- ``SeawallEventLoopLagHigh``: the p99 event-loop lag of a worker is over 100 ms.
- ``SeawallTargetDown``: Prometheus cannot scrape an instance.
- ``SeawallMemoryNearLimit``: resident memory is over 90 % of the container's limit.

Every rule's ``expr`` is ``signal condition``; :class:`AlertRule` keeps the parts apart so that
tests can check each signal returns series once traffic flows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

import yaml

from seawall.cli._promql import REJECTED, Matchers, error_ratio, rate
from seawall.http._metrics import DURATION_BUCKETS

__all__ = ["AlertRule", "alert_rules", "alertmanager_config", "render_yaml", "rules_document"]

#: Burn-rate windows of the SRE workbook (table 5-8): (long, short, burn rate, for, severity).
_BURN_WINDOWS: Final = (
    ("1h", "5m", 14.4, "2m", "page", "Fast"),
    ("6h", "30m", 6.0, "15m", "ticket", "Slow"),
)


@dataclass(frozen=True, slots=True)
class AlertRule:
    """One alerting rule: ``expr`` is its signals joined with their conditions."""

    name: str
    expr: str
    signals: tuple[str, ...]
    duration: str
    severity: str
    summary: str
    description: str
    runbook: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.duration,
            "labels": {"severity": self.severity},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook": self.runbook,
            },
        }


def _job(service: str | None) -> Matchers:
    return (f'job="{service}"',) if service else ()


def alert_rules(
    *, service: str | None = None, latency_threshold: float = 0.5, latency_objective: float = 0.99
) -> list[AlertRule]:
    """The rules for ``service`` (a Prometheus job; ``None``: every job exporting seawall metrics).

    Args:
        latency_threshold: the SLO's latency bound in seconds; must be a bucket bound of
            ``seawall_http_server_request_duration_seconds`` (so the SLI is exact).
        latency_objective: the share of requests that must be under the bound, in (0, 1).

    Raises:
        ValueError: the threshold is not a bucket bound, or the objective is not in (0, 1).
    """
    if latency_threshold not in DURATION_BUCKETS:
        bounds = ", ".join(f"{b:g}" for b in DURATION_BUCKETS)
        raise ValueError(f"latency threshold must be a histogram bucket bound ({bounds})")
    if not (math.isfinite(latency_objective) and 0 < latency_objective < 1):
        raise ValueError("latency objective must be in (0, 1)")
    job = _job(service)
    budget = 1 - latency_objective
    rules = [
        AlertRule(
            name="SeawallHigh5xxRatio",
            expr=f"({error_ratio(job, '5m')}) > 0.05",
            signals=(error_ratio(job, "5m"),),
            duration="5m",
            severity="page",
            summary="{{ $labels.job }}: {{ $value | humanizePercentage }} of answers are 5xx",
            description="More than 5 % of the requests {{ $labels.job }} answered in the last 5 minutes "
            "were server errors (5xx: INTERNAL, OVERLOADED, CIRCUIT_OPEN, DEADLINE_EXCEEDED...).",
            runbook=_RUNBOOK_5XX,
        )
    ]
    le = f'le="{latency_threshold!r}"'
    for long, short, burn, duration, severity, speed in _BURN_WINDOWS:
        ratios = tuple(_slow_ratio(job, le, window) for window in (long, short))
        limit = f"{burn * budget:.6g}"
        rules.append(
            AlertRule(
                name=f"SeawallLatencySLO{speed}Burn",
                expr=f"({ratios[0]}) > {limit} and ({ratios[1]}) > {limit}",
                signals=ratios,
                duration=duration,
                severity=severity,
                summary=f"{{{{ $labels.job }}}}: latency SLO burning {burn:g}x its budget",
                description=f"More than {burn * budget:.4g} of requests took over {latency_threshold:g}s "
                f"both over the last {long} and {short}: at this rate the {latency_objective:.4g} "
                f"objective's 30-day error budget lasts {30 / burn:.3g} days.",
                runbook=_RUNBOOK_LATENCY,
            )
        )
    shed = rate(REJECTED, (*job, 'reason="OVERLOADED"'), "5m")
    breaker = rate(REJECTED, (*job, 'reason="CIRCUIT_OPEN"'), "5m")
    lag = latency_quantile_of("seawall_event_loop_lag_seconds", job, "5m", "job, instance, worker")
    rss = f"sum by (job, instance) (seawall_process_resident_memory_bytes{_sel(job)})"
    limit_bytes = f"max by (job, instance) (seawall_memory_limit_bytes{_sel(job)})"
    rules += [
        AlertRule(
            name="SeawallSheddingActive",
            expr=f"sum by (job, instance) ({shed}) > 0",
            signals=(f"sum by (job, instance) ({shed})",),
            duration="5m",
            severity="ticket",
            summary="{{ $labels.instance }} of {{ $labels.job }} is shedding load",
            description="Requests are answered 503 OVERLOADED (adaptive shedding, queue-delay admission, "
            "a concurrency limit or a full bulkhead) for 5 minutes: the service is at capacity.",
            runbook=_RUNBOOK_SHEDDING,
        ),
        AlertRule(
            name="SeawallBreakerOpen",
            expr=f"sum by (job, route) ({breaker}) > 0",
            signals=(f"sum by (job, route) ({breaker})",),
            duration="1m",
            severity="ticket",
            summary="{{ $labels.job }} {{ $labels.route }}: a circuit breaker is open",
            description="Requests to {{ $labels.route }} are answered 503 CIRCUIT_OPEN: a dependency "
            "it calls is failing and its breaker stopped calling it.",
            runbook=_RUNBOOK_BREAKER,
        ),
        AlertRule(
            name="SeawallEventLoopLagHigh",
            expr=f"{lag} > 0.1",
            signals=(lag,),
            duration="5m",
            severity="ticket",
            summary="{{ $labels.instance }} worker {{ $labels.worker }}: event loop p99 lag over 100 ms",
            description="Timers on the serving loop fire over 100 ms late (p99, 5 minutes): something "
            "blocks the loop, and every request on it waits as long.",
            runbook=_RUNBOOK_LAG,
        ),
        AlertRule(
            name="SeawallTargetDown",
            expr=f"up{_sel(job)} == 0",
            signals=(f"up{_sel(job)}",),
            duration="1m",
            severity="page",
            summary="{{ $labels.job }}: {{ $labels.instance }} cannot be scraped",
            description="Prometheus has failed to scrape {{ $labels.instance }} for a minute: the "
            "process is down, restarting, or /metrics does not answer.",
            runbook=_RUNBOOK_DOWN,
        ),
        AlertRule(
            name="SeawallMemoryNearLimit",
            expr=f"{rss} / {limit_bytes} > 0.9",
            signals=(f"{rss} / {limit_bytes}",),
            duration="10m",
            severity="ticket",
            summary="{{ $labels.instance }}: memory at {{ $value | humanizePercentage }} of its limit",
            description="The workers' resident memory is over 90 % of the container's memory limit "
            "(or the host's RAM): the next growth ends in the OOM killer.",
            runbook=_RUNBOOK_MEMORY,
        ),
    ]
    return rules


def _sel(matchers: Matchers) -> str:
    return "{" + ", ".join(matchers) + "}" if matchers else ""


def latency_quantile_of(metric: str, matchers: Matchers, window: str, by: str) -> str:
    """``histogram_quantile(0.99, ...)`` of any histogram ``metric`` per ``by``."""
    return f"histogram_quantile(0.99, sum by ({by}, le) ({rate(metric + '_bucket', matchers, window)}))"


def _slow_ratio(job: Matchers, le: str, window: str) -> str:
    """The share of requests slower than the bucket ``le`` over ``window`` (the SLI's complement)."""
    fast = rate("seawall_http_server_request_duration_seconds_bucket", (*job, le), window)
    total = rate("seawall_http_server_request_duration_seconds_count", job, window)
    return f"1 - sum by (job) ({fast}) / sum by (job) ({total})"


def rules_document(rules: list[AlertRule]) -> dict[str, Any]:
    """The Prometheus rule file holding ``rules``."""
    return {"groups": [{"name": "seawall", "rules": [r.as_dict() for r in rules]}]}


def alertmanager_config(*, webhook_url: str = "http://alert-receiver.example:9095/alerts") -> dict[str, Any]:
    """An Alertmanager configuration skeleton: pages and tickets to two receivers (webhooks to
    replace by your pager and ticketing integrations), grouped by alert and job, and a down
    target silencing the other alerts of the same instance."""
    return {
        "route": {
            "receiver": "tickets",
            "group_by": ["alertname", "job"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [{"receiver": "pager", "matchers": ['severity="page"'], "repeat_interval": "1h"}],
        },
        "inhibit_rules": [
            {
                "source_matchers": ['alertname="SeawallTargetDown"'],
                "target_matchers": ['alertname=~"Seawall.+"', 'alertname!="SeawallTargetDown"'],
                "equal": ["job", "instance"],
            }
        ],
        "receivers": [
            {"name": "pager", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]},
            {"name": "tickets", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]},
        ],
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (runbooks) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render_yaml(document: dict[str, Any], header: str = "") -> str:
    """``document`` as YAML (key order kept, runbooks as literal blocks), after a comment header."""
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)
    return header + body


_RUNBOOK_5XX = """1. Open the seawall dashboard for the job: which routes, which status codes?
2. 500 INTERNAL: the service's log has the traceback (JSON logs carry trace_id; find the trace).
3. 503 OVERLOADED / CIRCUIT_OPEN / 504 DEADLINE_EXCEEDED: governance is protecting the service;
   see the shedding, breaker and latency panels and their alerts.
4. If it started with a deploy, compare seawall_build_info and roll back.
"""
_RUNBOOK_LATENCY = """1. Dashboard: latency percentiles by route; which route got slow?
2. Event-loop lag and CPU vs quota: a blocked loop or a saturated CPU slows every route.
3. Dependencies panel: a slow dependency shows as slow callers.
4. Profile a worker: seawall debug profile http://HOST:PORT --seconds 10 -o profile.html
"""
_RUNBOOK_SHEDDING = """1. The service is at capacity: CPU vs quota, in-flight and saturation panels.
2. Scale out (more replicas or workers) or raise the CPU limit if the work is legitimate.
3. If one client drives it, see rejections by check (per-client limits help).
4. Profile to find what got more expensive: seawall debug profile http://HOST:PORT -o p.html
"""
_RUNBOOK_BREAKER = """1. A dependency is failing: find it in the dependencies panel (errors by dependency).
2. Check that dependency's own dashboard and alerts.
3. The breaker closes by itself once probes succeed; fallbacks answer meanwhile.
"""
_RUNBOOK_LAG = """1. Something blocks the event loop (CPU-heavy code in an async handler, sync I/O).
2. Profile the loop: seawall debug profile http://HOST:PORT --seconds 10 -o profile.html
3. Also check GC pauses (seawall_gc_pause_seconds) and /_seawall/debug/tasks for a task pile-up.
4. Move CPU-bound work to a sync handler (thread pool) or a process pool.
"""
_RUNBOOK_DOWN = """1. Is the process running? (kubectl get pods / systemctl status); check its last logs.
2. Does /healthz answer locally? Does /metrics? (a scrape timeout also counts as down)
3. A crash loop at start names the bad configuration field in its log.
"""
_RUNBOOK_MEMORY = """1. Dashboard: RSS vs limit per instance; is it growing steadily (a leak) or a spike?
2. Heap: curl http://HOST:PORT/_seawall/debug/heap twice, minutes apart: the diff shows what grew.
3. Caches and queues without bounds are the usual suspects; raise the limit only after that.
"""
