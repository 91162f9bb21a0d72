"""The public surface of seawall.limit."""

from __future__ import annotations

import importlib
import pkgutil

import seawall.limit


def test_all_is_sorted() -> None:
    """__all__ is sorted, so additions are easy to review."""
    assert seawall.limit.__all__ == sorted(seawall.limit.__all__)


def test_all_is_complete() -> None:
    """Every name a private module exports is re-exported by the package."""
    exported = set(seawall.limit.__all__)
    for info in pkgutil.iter_modules(seawall.limit.__path__):
        module = importlib.import_module(f"seawall.limit.{info.name}")
        assert set(module.__all__) <= exported, info.name
    assert all(hasattr(seawall.limit, name) for name in exported)
