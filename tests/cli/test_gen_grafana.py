"""``seawall gen grafana``: the dashboard model, its variables and panels."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from seawall.cli import app
from seawall.cli._grafana import dashboard, panel_queries

runner = CliRunner()


def titles(model: dict) -> list[str]:
    return [p["title"] for p in model["panels"]]


def test_cli_prints_the_dashboard_json() -> None:
    """``seawall gen grafana --service orders`` prints a JSON model with that job preselected."""
    result = runner.invoke(app, ["gen", "grafana", "--service", "orders"])
    assert result.exit_code == 0, result.output
    model = json.loads(result.stdout)
    service = next(v for v in model["templating"]["list"] if v["name"] == "service")
    assert service["current"] == {"text": "orders", "value": "orders"}
    assert model["title"] == "seawall: orders"
    assert model["uid"] == "seawall-orders"


def test_cli_writes_a_file(tmp_path: Path) -> None:
    """``-o FILE`` writes the model there instead of stdout."""
    out = tmp_path / "dash.json"
    result = runner.invoke(app, ["gen", "grafana", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["title"] == "seawall services"


def test_variables_are_datasource_service_and_route() -> None:
    """A Prometheus data-source variable, the service (job) and the route (All = .*)."""
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["service"]["definition"] == "label_values(seawall_build_info, job)"
    assert variables["route"]["allValue"] == ".*"
    assert variables["route"]["includeAll"] is True


def test_every_panel_uses_the_datasource_variable() -> None:
    """Panels and their targets query ``${datasource}``, never a hard-coded data source."""
    for panel in dashboard()["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}"
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])


def test_panels_cover_what_operators_need() -> None:
    """Traffic, 2xx/4xx/5xx, the four rejection reasons, P50-P99, in-flight, saturation,
    runtime and a dependency group keyed on the client families are all there."""
    model = dashboard()
    exprs = " ".join(e for _, e in panel_queries(model, service="svc"))
    for needle in (
        'code=~"2.."',
        'code=~"4.."',
        'code=~"5.."',
        'reason="RATE_LIMITED"',
        'reason="OVERLOADED"',
        'reason="CIRCUIT_OPEN"',
        'reason="DEADLINE_EXCEEDED"',
        "histogram_quantile(0.5,",
        "histogram_quantile(0.9,",
        "histogram_quantile(0.95,",
        "histogram_quantile(0.99,",
        "seawall_http_server_in_flight",
        "seawall_cpu_limit_cores",
        "seawall_memory_limit_bytes",
        "seawall_event_loop_lag_seconds_bucket",
        "seawall_gc_collections_total",
        "seawall_http_client_requests_total",
        "seawall_http_client_request_duration_seconds_bucket",
    ):
        assert needle in exprs, needle
    rows = [p["title"] for p in model["panels"] if p["type"] == "row"]
    assert rows == [
        "Traffic",
        "Governance",
        "Latency",
        "Saturation",
        "Runtime",
        "Dependencies (outbound calls)",
    ]


def test_panel_ids_are_unique_and_panels_do_not_overlap() -> None:
    """Grafana needs unique ids; no two panels share a grid cell."""
    panels = dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, p["title"]
                cells.add((x, y))


def test_queries_select_the_service_and_substitute_variables() -> None:
    """Every query is scoped to ``job=~"$service"``; substitution leaves no Grafana variable."""
    model = dashboard()
    for panel in model["panels"]:
        for target in panel.get("targets", ()):
            assert 'job=~"$service"' in target["expr"], panel["title"]
    for _, expr in panel_queries(model, service="my-svc"):
        assert "$" not in expr
        assert 'job=~"my-svc"' in expr


def test_rate_windows_use_grafanas_rate_interval() -> None:
    """Range selectors use ``$__rate_interval`` (at least four scrape intervals)."""
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", ()):
            windows = set(re.findall(r"\[([^\]]+)\]", target["expr"]))
            assert windows <= {"$__rate_interval"}, panel["title"]
