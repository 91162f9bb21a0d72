"""``seawall graph``: cycles named, the longest call chain printed (a static lint)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seawall.cli import app
from seawall.cli._graph import CallGraph, load_graph, service_name


def write(path: Path, *calls: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(f"  {c}: {{instances: ['127.0.0.1:1']}}\n" for c in calls)
    path.write_text(f"dependencies:\n{body}" if calls else "{}\n")
    return str(path)


def test_service_names_from_files(tmp_path: Path) -> None:
    """A file names its service by its stem, or by its directory for seawall.yaml."""
    assert service_name(tmp_path / "orders.yaml") == "orders"
    assert service_name(tmp_path / "orders" / "seawall.yaml") == "orders"


def test_cycle_is_named_and_fails(tmp_path: Path) -> None:
    """a -> b -> c -> a exits 1 naming the cycle."""
    files = [
        write(tmp_path / "a.yaml", "b"),
        write(tmp_path / "b.yaml", "c"),
        write(tmp_path / "c.yaml", "a"),
    ]
    result = CliRunner().invoke(app, ["graph", *files])
    assert result.exit_code == 1
    assert "cycle: a -> b -> c -> a" in result.output


def test_every_cycle_is_named(tmp_path: Path) -> None:
    """Two cycles through one service are both named, each once."""
    graph = CallGraph({"a": ("b", "c"), "b": ("a",), "c": ("a",), "d": ("d",)})
    assert graph.cycles() == [("a", "b"), ("a", "c"), ("d",)]


def test_acyclic_prints_the_longest_chain(tmp_path: Path) -> None:
    """Without cycles it exits 0 and prints the longest chain and its depth."""
    files = [
        write(tmp_path / "edge.yaml", "orders", "users"),
        write(tmp_path / "orders.yaml", "inventory", "pricing"),
        write(tmp_path / "inventory.yaml", "pricing"),
        write(tmp_path / "users.yaml"),
    ]
    result = CliRunner().invoke(app, ["graph", *files])
    assert result.exit_code == 0, result.output
    assert "longest call chain: edge -> orders -> inventory -> pricing (depth 4)" in result.output
    assert "5 services, 5 calls" in result.output


def test_name_equals_file(tmp_path: Path) -> None:
    """``NAME=FILE`` names the service; a dependency's ``service:`` names the edge's target."""
    a = tmp_path / "x" / "seawall.yaml"
    a.parent.mkdir()
    a.write_text("dependencies:\n  stock: {service: inventory, instances: ['127.0.0.1:1']}\n")
    graph = load_graph([f"orders={a}"])
    assert graph.edges == {"orders": ("inventory",)}


def test_duplicate_service_is_refused(tmp_path: Path) -> None:
    """Two files for one service are an error (exit 2)."""
    one = write(tmp_path / "one" / "orders.yaml")
    two = write(tmp_path / "two" / "orders.yaml")
    result = CliRunner().invoke(app, ["graph", one, two])
    assert result.exit_code == 2
    assert "also defined" in result.output


def test_invalid_config_exits_2(tmp_path: Path) -> None:
    """A config that does not validate exits 2 naming the field."""
    bad = tmp_path / "a.yaml"
    bad.write_text("dependencies:\n  b: {timeout: -1}\n")
    result = CliRunner().invoke(app, ["graph", str(bad)])
    assert result.exit_code == 2
    assert "$.dependencies.b.timeout" in result.output


def test_longest_chain_refuses_cycles() -> None:
    """There is no longest chain in a cyclic graph."""
    with pytest.raises(ValueError, match="cycle"):
        CallGraph({"a": ("a",)}).longest_chain()


def test_deep_chain_is_warned_about(tmp_path: Path) -> None:
    """A chain deeper than loop_detection's default max_depth is flagged (such calls get 508)."""
    names = [f"s{i:02d}" for i in range(12)]
    files = [write(tmp_path / f"{a}.yaml", b) for a, b in itertools.pairwise(names)]
    result = CliRunner().invoke(app, ["graph", *files])
    assert result.exit_code == 0
    assert "(depth 12)" in result.output
    assert "warning: deeper than loop_detection.max_depth" in result.output
