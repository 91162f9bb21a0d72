"""seawall.discovery's public surface."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import seawall.discovery


def _isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: SCREAMING_SNAKE_CASE first, then CamelCase, then the rest."""
    if name.isupper():
        return 0, name
    return (1 if name[0].isupper() else 2), name


def test_all_is_sorted() -> None:
    """__all__ is sorted, so additions are easy to review."""
    assert seawall.discovery.__all__ == sorted(seawall.discovery.__all__, key=_isort_key)


def test_all_is_complete() -> None:
    """Every name a private module exports is re-exported by the package, and exists."""
    exported = set(seawall.discovery.__all__)
    for info in pkgutil.iter_modules(seawall.discovery.__path__):
        module = importlib.import_module(f"seawall.discovery.{info.name}")
        assert set(module.__all__) <= exported, info.name
    assert all(hasattr(seawall.discovery, name) for name in exported)


def test_import_adds_no_http_or_network_library() -> None:
    """Importing seawall.discovery (beyond ``import seawall``) loads no HTTP or network client."""
    code = (
        "import sys, seawall; before = set(sys.modules); import seawall.discovery; "
        "added = {m.split('.')[0] for m in set(sys.modules) - before}; "
        "print(sorted(added & {'httpx', 'httpcore', 'starlette', 'granian', 'uvicorn', 'redis', 'aiohttp'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
