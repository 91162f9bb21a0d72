"""Tests for the ``/_seawall/debug/`` endpoints of a Service: who may call them, and what they answer."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import msgspec
import pytest

from seawall import Service
from seawall.http._config import SeawallConfig

DEBUG = "/_seawall/debug"
ENDPOINTS = ("/", "/profile?seconds=0.05", "/heap", "/tasks", "/threads", "/gc", "/config")


def client(app: Service, peer: str = "127.0.0.1", **headers: str) -> httpx.AsyncClient:
    """An in-process client whose ASGI scope says the peer is ``peer`` (no traffic leaves)."""
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)


def config(**sections: Any) -> SeawallConfig:
    return msgspec.convert(sections, SeawallConfig)


def seawall_test_burns_cpu_in_handler(seconds: float) -> int:
    """Spin for ``seconds`` of real time: the function the profile must name."""
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        n += 1
    return n


def busy_service() -> Service:
    svc = Service("busy")

    @svc.get("/burn")
    async def burn() -> dict[str, int]:
        return {"n": seawall_test_burns_cpu_in_handler(0.01)}

    return svc


# --- who may call -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_remote_client_is_forbidden_with_the_error_body(path: str) -> None:
    """Without an admin token, a non-loopback peer gets 403 FORBIDDEN with seawall's error body."""
    async with client(Service("s"), peer="203.0.113.9") as c:
        r = await c.get(DEBUG + path)
    assert r.status_code == 403
    assert r.json()["reason"] == "FORBIDDEN"
    assert r.json()["code"] == 40300


async def test_loopback_client_is_allowed() -> None:
    """A loopback peer reads the index without a token."""
    async with client(Service("s")) as c:
        r = await c.get(DEBUG + "/")
    assert r.status_code == 200
    assert "/_seawall/debug/profile" in r.text


async def test_forwarded_for_is_not_trusted_without_trusted_proxies() -> None:
    """A loopback peer relaying ``X-Forwarded-For`` (a local proxy) is refused: the origin is unknown."""
    async with client(Service("s"), **{"x-forwarded-for": "127.0.0.1"}) as c:
        r = await c.get(DEBUG + "/gc")
    assert r.status_code == 403


async def test_forwarded_for_is_believed_from_a_trusted_proxy() -> None:
    """With the proxy's network in ``admin.trusted_proxies``, its ``X-Forwarded-For`` decides."""
    svc = Service("s")
    svc.configure(config(admin={"trusted_proxies": ["198.51.100.0/24"]}))
    async with client(svc, peer="198.51.100.4", **{"x-forwarded-for": "127.0.0.1"}) as c:
        assert (await c.get(DEBUG + "/gc")).status_code == 200
    async with client(svc, peer="198.51.100.4", **{"x-forwarded-for": "203.0.113.9"}) as c:
        assert (await c.get(DEBUG + "/gc")).status_code == 403


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic c2VjcmV0"])
async def test_wrong_or_missing_token_is_unauthorized(authorization: str | None) -> None:
    """With a configured token, even loopback callers need it: 401 UNAUTHENTICATED otherwise."""
    svc = Service("s")
    svc.configure(config(admin={"token": "s3cret-admin-token"}))
    headers = {"authorization": authorization} if authorization else {}
    async with client(svc, **headers) as c:
        r = await c.get(DEBUG + "/gc")
    assert r.status_code == 401
    assert r.json()["reason"] == "UNAUTHENTICATED"
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_right_token_is_accepted_from_anywhere() -> None:
    """The configured token lets a remote client in."""
    svc = Service("s")
    svc.configure(config(admin={"token": "s3cret-admin-token"}))
    async with client(svc, peer="203.0.113.9", authorization="Bearer s3cret-admin-token") as c:
        assert (await c.get(DEBUG + "/gc")).status_code == 200


async def test_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``$SEAWALL_ADMIN_TOKEN`` sets the token when the configuration does not."""
    monkeypatch.setenv("SEAWALL_ADMIN_TOKEN", "env-admin-token")
    svc = Service("s")
    async with client(svc, peer="203.0.113.9", authorization="Bearer env-admin-token") as c:
        assert (await c.get(DEBUG + "/gc")).status_code == 200
    async with client(svc, peer="203.0.113.9") as c:
        assert (await c.get(DEBUG + "/gc")).status_code == 401


def test_bad_trusted_proxy_fails_the_configuration() -> None:
    """A trusted proxy that is not an address or network is a configuration error."""
    with pytest.raises(msgspec.ValidationError, match="trusted_proxies"):
        config(admin={"trusted_proxies": ["not-an-ip"]})


async def test_debug_routes_have_no_metrics_and_no_openapi() -> None:
    """Debug endpoints are built-ins: no series in /metrics, not in the OpenAPI document."""
    svc = Service("s")
    async with client(svc) as c:
        await c.get(DEBUG + "/gc")
        metrics = (await c.get("/metrics")).text
        doc = (await c.get("/openapi.json")).json()
    assert "_seawall" not in metrics
    assert not [p for p in doc["paths"] if p.startswith("/_seawall")]


# --- profile ------------------------------------------------------------------------------------


async def test_profile_names_the_handler_burning_cpu() -> None:
    """A 1 s profile taken while requests burn CPU in a named function names that function
    (speedscope JSON), and the service kept answering while it ran."""
    svc = busy_service()
    async with client(svc) as c:
        stop = asyncio.Event()

        async def load() -> int:
            n = 0
            while not stop.is_set():
                assert (await c.get("/burn")).status_code == 200
                n += 1
                await asyncio.sleep(0)  # an in-process request may complete without yielding
            return n

        loader = asyncio.ensure_future(load())
        r = await c.get(DEBUG + "/profile?seconds=1")
        stop.set()
        served = await loader
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    frames = {f["name"] for f in r.json()["shared"]["frames"]}
    assert "seawall_test_burns_cpu_in_handler" in frames
    assert served > 10


async def test_profile_as_html_flame_graph() -> None:
    """``format=html`` answers pyinstrument's HTML page."""
    async with client(busy_service()) as c:
        r = await c.get(DEBUG + "/profile?seconds=0.05&format=html")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "<html" in r.text.lower()


async def test_second_profile_gets_409_while_one_runs() -> None:
    """While one profile runs, another is refused at once with 409 PROFILE_BUSY."""
    async with client(busy_service()) as c:
        first = asyncio.ensure_future(c.get(DEBUG + "/profile?seconds=0.5"))
        await asyncio.sleep(0.1)
        second = await c.get(DEBUG + "/profile?seconds=0.5")
        assert (await first).status_code == 200
    assert second.status_code == 409
    assert second.json()["reason"] == "PROFILE_BUSY"
    assert second.json()["code"] == 40900


@pytest.mark.parametrize("query", ["seconds=0", "seconds=-1", "seconds=100000", "format=pdf", "seconds=x"])
async def test_profile_parameters_are_validated(query: str) -> None:
    """Out-of-range seconds or an unknown format answer 400 with the field named."""
    async with client(Service("s")) as c:
        r = await c.get(f"{DEBUG}/profile?{query}")
    assert r.status_code == 400
    assert r.json()["details"]["field"].startswith("query.")


# --- the others ---------------------------------------------------------------------------------


async def test_heap_starts_tracing_then_diffs_and_stops() -> None:
    """/heap starts tracemalloc, the second call shows growth, ``stop=true`` turns it off."""
    import tracemalloc

    async with client(Service("s")) as c:
        try:
            first = (await c.get(DEBUG + "/heap?top=5")).text
            second = (await c.get(DEBUG + "/heap?top=5")).text
        finally:
            stopped = (await c.get(DEBUG + "/heap?stop=true")).text
    assert "started now" in first
    assert "growth since the previous call" in second
    assert "stopped" in stopped
    assert not tracemalloc.is_tracing()


async def test_tasks_and_threads_list_stacks() -> None:
    """/tasks lists asyncio tasks with stacks; /threads lists the main thread."""
    async with client(Service("s")) as c:
        tasks = (await c.get(DEBUG + "/tasks")).text
        threads = (await c.get(DEBUG + "/threads")).text
    assert "tasks" in tasks.splitlines()[0]
    assert "MainThread" in threads


async def test_gc_has_the_monitors_pauses_after_startup() -> None:
    """/gc reports the collector and, once the service started, the pause statistics."""
    svc = Service("s")
    await svc.startup()
    try:
        async with client(svc) as c:
            body = (await c.get(DEBUG + "/gc")).json()
    finally:
        await svc.shutdown()
    assert "thresholds" in body
    assert len(body["pauses"]["generations"]) == 3


async def test_config_shows_policies_with_secrets_redacted() -> None:
    """/config has every route's effective policy and the configuration with the admin token,
    the Redis password and configured secret fields redacted."""
    svc = Service("s")

    @svc.get("/x")
    async def x() -> dict[str, bool]:
        return {"ok": True}

    svc.configure(
        config(
            redis_url="redis://:hunter2@cache:6379/0",
            admin={"token": "s3cret-admin-token"},
            logging={"secret_fields": ["tenant_pin"]},
            routes={"GET /x": {"max_conns": 7}},
        )
    )
    async with client(svc, authorization="Bearer s3cret-admin-token") as c:
        r = await c.get(DEBUG + "/config")
    body = r.json()
    assert body["policies"]["GET /x"]["max_conns"] == 7
    assert body["config"]["admin"]["token"] == "<redacted>"
    assert body["config"]["redis_url"] == "redis://:<redacted>@cache:6379/0"
    assert "hunter2" not in r.text
    assert "s3cret" not in r.text
    assert json.loads(r.text)["service"] == "s"
