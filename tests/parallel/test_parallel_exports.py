"""seawall.parallel's public surface."""

from __future__ import annotations

import seawall.parallel


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted (constants, classes, then functions) and every name in it exists."""
    names = seawall.parallel.__all__
    key = [(0 if n.isupper() else 1 if n[0].isupper() else 2, n) for n in names]
    assert key == sorted(key)
    for name in names:
        assert hasattr(seawall.parallel, name)


def test_functions_come_from_the_package() -> None:
    """The exported functions are seawall's own (map is not the builtin)."""
    assert seawall.parallel.map is not map  # type: ignore[comparison-overlap]
    for name in ("gather", "map", "map_reduce"):
        assert getattr(seawall.parallel, name).__module__.startswith("seawall.parallel."), name
