"""A crashing handler is a 500 INTERNAL: generic body for the client, traceback in the log."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from seawall import HTTPError, Service
from seawall.errors import Forbidden

Client = Callable[[Any], httpx.AsyncClient]


@pytest.fixture
def service() -> Service:
    svc = Service("crash")

    @svc.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret-internal-detail")

    @svc.get("/sync-boom")
    def sync_boom() -> None:
        raise KeyError("also-secret")

    @svc.get("/forbidden")
    async def forbidden() -> None:
        raise Forbidden("not you", details={"role": "guest"})

    @svc.get("/teapot-ish")
    async def custom_reason() -> None:
        raise HTTPError("try later", reason="CIRCUIT_OPEN")

    return svc


async def test_crash_is_500_internal(service: Service, asgi_client: Client) -> None:
    """An exception escaping a handler answers 500 with reason INTERNAL."""
    async with asgi_client(service) as client:
        r = await client.get("/boom")
    assert r.status_code == 500
    assert r.json()["reason"] == "INTERNAL"
    assert r.json()["code"] == 50000


async def test_crash_body_has_no_traceback(service: Service, asgi_client: Client) -> None:
    """The 500 body reveals neither the exception's message nor a traceback."""
    async with asgi_client(service) as client:
        r = await client.get("/boom")
    assert "secret-internal-detail" not in r.text
    assert "Traceback" not in r.text
    assert "RuntimeError" not in r.text


async def test_crash_traceback_is_logged(
    service: Service, asgi_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """The traceback of a crash is logged on ``seawall.http`` at ERROR with the route."""
    with caplog.at_level(logging.ERROR, logger="seawall.http"):
        async with asgi_client(service) as client:
            await client.get("/boom")
    records = [r for r in caplog.records if r.name == "seawall.http"]
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR
    assert "GET /boom" in records[0].getMessage()
    assert records[0].exc_info is not None
    assert "secret-internal-detail" in caplog.text
    assert "Traceback" in caplog.text


async def test_sync_handler_crash_is_500(service: Service, asgi_client: Client) -> None:
    """A plain ``def`` handler that raises is a 500 too."""
    async with asgi_client(service) as client:
        r = await client.get("/sync-boom")
    assert r.status_code == 500
    assert "also-secret" not in r.text


async def test_raised_http_error_is_answered_as_is(service: Service, asgi_client: Client) -> None:
    """An HTTPError raised by a handler becomes its own status and error body, not a 500."""
    async with asgi_client(service) as client:
        r = await client.get("/forbidden")
    assert r.status_code == 403
    assert r.json() == {
        "code": 40300,
        "reason": "FORBIDDEN",
        "message": "not you",
        "details": {"role": "guest"},
    }


async def test_http_error_with_explicit_reason(service: Service, asgi_client: Client) -> None:
    """``HTTPError(reason=...)`` answers with that reason's registered status."""
    async with asgi_client(service) as client:
        r = await client.get("/teapot-ish")
    assert r.status_code == 503
    assert r.json()["reason"] == "CIRCUIT_OPEN"


async def test_crash_is_counted_as_500(service: Service, asgi_client: Client) -> None:
    """A crash is accounted in the route's metrics with status 500."""
    async with asgi_client(service) as client:
        await client.get("/boom")
    assert service.metrics.route("/boom", "GET").codes == {500: 1}
