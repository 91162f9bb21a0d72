"""The client package's public surface: ``__all__`` sorted and complete."""

from __future__ import annotations

import seawall.http.client as client


def isort_key(name: str) -> tuple[int, str]:
    if name.isupper():
        return 0, name
    return (1 if name[0].isupper() else 2), name


def test_all_is_sorted() -> None:
    """``__all__`` follows ruff's RUF022 order."""
    assert client.__all__ == sorted(client.__all__, key=isort_key)


def test_all_names_exist() -> None:
    """Every name in ``__all__`` exists, once."""
    assert len(set(client.__all__)) == len(client.__all__)
    assert [n for n in client.__all__ if not hasattr(client, n)] == []
