"""``seawall gen alerts``: the rule file, the Alertmanager skeleton, and promtool's verdict."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from seawall.cli import app
from seawall.cli._alerts import alert_rules, rules_document

runner = CliRunner()
NAMES = {
    "SeawallHigh5xxRatio",
    "SeawallLatencySLOFastBurn",
    "SeawallLatencySLOSlowBurn",
    "SeawallSheddingActive",
    "SeawallBreakerOpen",
    "SeawallEventLoopLagHigh",
    "SeawallTargetDown",
    "SeawallMemoryNearLimit",
}


def rules_of(text: str) -> dict[str, dict]:
    doc = yaml.safe_load(text)
    (group,) = doc["groups"]
    return {r["alert"]: r for r in group["rules"]}


def test_cli_prints_every_rule_with_a_runbook() -> None:
    """The rule file has every alert, each with severity, summary, description and runbook."""
    result = runner.invoke(app, ["gen", "alerts"])
    assert result.exit_code == 0, result.output
    rules = rules_of(result.stdout)
    assert set(rules) == NAMES
    for rule in rules.values():
        assert rule["labels"]["severity"] in ("page", "ticket")
        assert {"summary", "description", "runbook"} <= set(rule["annotations"])
        assert rule["annotations"]["runbook"].startswith("1. ")


def test_service_scopes_every_rule_to_its_job() -> None:
    """``--service orders`` puts ``job="orders"`` in every expression."""
    result = runner.invoke(app, ["gen", "alerts", "--service", "orders"])
    assert result.exit_code == 0, result.output
    for rule in rules_of(result.stdout).values():
        assert 'job="orders"' in rule["expr"], rule["alert"]


def test_burn_rate_alerts_follow_the_sre_workbook() -> None:
    """A 99 % objective: fast burn 14.4x (0.144) over 1h and 5m, slow burn 6x (0.06) over 6h and 30m."""
    rules = {r.name: r for r in alert_rules(latency_threshold=0.25, latency_objective=0.99)}
    fast, slow = rules["SeawallLatencySLOFastBurn"], rules["SeawallLatencySLOSlowBurn"]
    assert "[1h]" in fast.signals[0]
    assert "[5m]" in fast.signals[1]
    assert "[6h]" in slow.signals[0]
    assert "[30m]" in slow.signals[1]
    assert fast.expr.count("> 0.144") == 2
    assert slow.expr.count("> 0.06") == 2
    assert 'le="0.25"' in fast.expr


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--latency-threshold", "0.3"], "bucket bound"), (["--latency-objective", "1"], "objective")],
)
def test_bad_slo_is_refused(args: list[str], message: str) -> None:
    """A threshold that is not a bucket bound, or an objective outside (0, 1), exits 2."""
    result = runner.invoke(app, ["gen", "alerts", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_every_expr_is_its_signal_and_condition() -> None:
    """Each rule's expression contains each of its signals (what the integration test evaluates)."""
    for rule in alert_rules():
        assert rule.signals
        for signal in rule.signals:
            assert signal in rule.expr


def test_alertmanager_skeleton(tmp_path: Path) -> None:
    """``--alertmanager`` prints a config routing pages and tickets, inhibiting by TargetDown."""
    result = runner.invoke(app, ["gen", "alerts", "--alertmanager"])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.stdout)
    receivers = {r["name"] for r in config["receivers"]}
    assert receivers == {"pager", "tickets"}
    assert config["route"]["routes"][0]["receiver"] == "pager"
    assert config["inhibit_rules"][0]["source_matchers"] == ['alertname="SeawallTargetDown"']


def test_output_dir_writes_both_files(tmp_path: Path) -> None:
    """``-o DIR`` writes seawall-rules.yml and alertmanager.yml."""
    result = runner.invoke(app, ["gen", "alerts", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert set(rules_of((tmp_path / "seawall-rules.yml").read_text())) == NAMES
    assert "receivers" in yaml.safe_load((tmp_path / "alertmanager.yml").read_text())


def _require(binary: str) -> str:
    import os

    path = shutil.which(binary)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{binary} not found on PATH, and CI is set")
        pytest.skip(f"{binary} not found on PATH (skipped because CI is unset)")
    return path


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    """``promtool check rules`` passes on the generated file (with and without --service)."""
    promtool = _require("promtool")
    for service in (None, "orders"):
        path = tmp_path / f"rules-{service}.yml"
        path.write_text(yaml.safe_dump(rules_document(alert_rules(service=service)), sort_keys=False))
        result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS: 8 rules found" in result.stdout


def test_amtool_accepts_the_alertmanager_skeleton(tmp_path: Path) -> None:
    """``amtool check-config`` passes on the generated Alertmanager configuration."""
    amtool = _require("amtool")
    result = runner.invoke(app, ["gen", "alerts", "-o", str(tmp_path)])
    assert result.exit_code == 0
    check = subprocess.run(
        [amtool, "check-config", str(tmp_path / "alertmanager.yml")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
