"""PromQL building blocks shared by the generated dashboard and alert rules.

Every generated expression is built from these, so the dashboard and the rules read the same
families with the same selectors (``docs/metrics.md`` lists the families). A service is a
Prometheus ``job``: the dashboard's ``service`` variable and ``--service`` select ``job``.
Label matchers are passed as tuples of strings (``('job="orders"', 'code=~"5.."')``).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CLIENT_DURATION",
    "CLIENT_REQUESTS",
    "DURATION",
    "REJECTED",
    "REQUESTS",
    "Matchers",
    "error_ratio",
    "latency_quantile",
    "rate",
    "selector",
]

REQUESTS: Final = "seawall_http_server_requests_total"
DURATION: Final = "seawall_http_server_request_duration_seconds"
REJECTED: Final = "seawall_http_server_rejected_total"
#: The outbound client's families (the outbound-calls work): labels ``dependency`` and ``code``.
CLIENT_REQUESTS: Final = "seawall_http_client_requests_total"
CLIENT_DURATION: Final = "seawall_http_client_request_duration_seconds"

Matchers = tuple[str, ...]


def selector(matchers: Matchers) -> str:
    """``{a, b}`` from label matchers, ``""`` when there are none."""
    return "{" + ", ".join(matchers) + "}" if matchers else ""


def rate(metric: str, matchers: Matchers, window: str) -> str:
    """``rate(metric{matchers}[window])``."""
    return f"rate({metric}{selector(matchers)}[{window}])"


def error_ratio(matchers: Matchers, window: str, by: str = "job") -> str:
    """The share of answered requests that were 5xx over ``window``, per ``by``."""
    errors = rate(REQUESTS, (*matchers, 'code=~"5.."'), window)
    return f"sum by ({by}) ({errors}) / sum by ({by}) ({rate(REQUESTS, matchers, window)})"


def latency_quantile(q: float, matchers: Matchers, window: str, by: str = "") -> str:
    """``histogram_quantile(q, ...)`` of the server's request duration, per ``by`` (and ``le``)."""
    group = f"{by}, le" if by else "le"
    buckets = rate(DURATION + "_bucket", matchers, window)
    return f"histogram_quantile({q:g}, sum by ({group}) ({buckets}))"
