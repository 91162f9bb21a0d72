"""Fixtures shared by the whole suite (the ``mock_clock``/``autojump_clock`` fixtures come from
the ``seawall.testing`` pytest plugin)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import settings

# In CI, property tests run a fixed set of examples (no flaky first-time finds, no deadline noise on a
# shared machine); locally they explore new examples every run. HYPOTHESIS_PROFILE overrides.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

ASGIApp = Callable[..., Any]


@pytest.fixture
def asgi_client() -> Callable[[ASGIApp], httpx.AsyncClient]:
    """A factory of in-process clients: ``async with asgi_client(service) as client: ...``.

    ``httpx.ASGITransport`` does not run the lifespan; call ``await service.startup()`` where
    readiness matters.
    """

    def make(app: ASGIApp) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")

    return make


@pytest.fixture
def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
