"""seawall.retry's public surface."""

from __future__ import annotations

import seawall.retry


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted (constants, classes, then functions) and every name in it exists."""
    names = seawall.retry.__all__
    key = [(0 if n.isupper() else 1 if n[0].isupper() else 2, n) for n in names]
    assert key == sorted(key)
    for name in names:
        assert hasattr(seawall.retry, name)


def test_classes_come_from_the_package() -> None:
    """Exported classes are defined in seawall.retry's own modules."""
    for name in seawall.retry.__all__:
        obj = getattr(seawall.retry, name)
        if isinstance(obj, type):
            assert obj.__module__.startswith("seawall.retry."), name
