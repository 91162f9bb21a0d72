"""The two-service example (examples/inventory.py, examples/shop.py) runs as its docstring says."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tests.client.procs import REPO, seawall_run, write_config
from tests.servers import free_port

from seawall.cli._graph import run_graph

pytestmark = pytest.mark.integration


def test_shop_calls_inventory_and_degrades_without_it(tmp_path: Path) -> None:
    """The shop answers with inventory's stock; with inventory stopped, with ``stock: null``."""
    pi, ps = free_port(), free_port()
    config = write_config(tmp_path, "shop", {"inventory": {"instances": [f"127.0.0.1:{pi}"], "timeout": 1.0}})
    with seawall_run("examples.shop:service", ps, config) as shop:
        with seawall_run("examples.inventory:service", pi):
            found = httpx.get(f"{shop.url}/products/1", timeout=5)
            missing = httpx.get(f"{shop.url}/products/9", timeout=5)
        gone = [httpx.get(f"{shop.url}/products/1", timeout=5) for _ in range(3)]
    assert found.json() == {"id": 1, "stock": 12}
    assert missing.status_code == 404
    assert [r.json() for r in gone] == [{"id": 1, "stock": None}] * 3


def test_example_graph_is_acyclic() -> None:
    """``seawall graph examples/shop.yaml`` finds no cycle."""
    lines: list[str] = []
    assert run_graph([str(REPO / "examples" / "shop.yaml")], echo=lines.append) == 0
    assert lines[-1] == "no cycles; longest call chain: shop -> inventory (depth 2)"
