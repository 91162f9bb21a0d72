"""seawall.breaker's public surface."""

from __future__ import annotations

import seawall.breaker


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted and every name in it exists."""
    names = seawall.breaker.__all__
    assert names == sorted(names)
    for name in names:
        assert hasattr(seawall.breaker, name)
