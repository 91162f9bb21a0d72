"""Tests for seawall.observe.RuntimeDir: worker indexes claimed with file locks."""

from __future__ import annotations

from pathlib import Path

from seawall.observe import RuntimeDir


def test_claim_takes_the_smallest_free_index(tmp_path: Path) -> None:
    """Workers claim 0, 1, 2; a released index is reused by the next claimer."""
    dirs = [RuntimeDir(tmp_path) for _ in range(3)]
    assert [d.claim() for d in dirs] == [0, 1, 2]
    assert dirs[0].claim() == 0  # idempotent
    dirs[1].release()
    assert RuntimeDir(tmp_path).claim() == 1
