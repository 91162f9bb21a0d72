"""Keep client tests hermetic: no config file, no ``SEAWALL_*`` overrides."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _hermetic_service_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``Service.startup()`` reads ``./seawall.yaml`` and ``SEAWALL_*``; give it neither."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("SEAWALL_"):
            monkeypatch.delenv(name)
