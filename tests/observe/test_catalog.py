"""``docs/metrics.md`` and ``/metrics`` agree both ways: every exported family is documented with
its type and labels, and every documented family is exported by a service with every check on."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.observe.catalog_app import POLICIES, every_check_service

from seawall import Service

CATALOG = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
ROW = re.compile(r"^\| `(seawall_[a-z0-9_]+)` \| (counter|gauge|histogram) \| ?([a-z_, ]*?) ?\| .+ \|$")

Family = tuple[str, frozenset[str]]  # type, label names


def documented() -> dict[str, Family]:
    """The catalog's rows: family name (counters with ``_total``) -> (type, labels)."""
    out: dict[str, Family] = {}
    for line in CATALOG.read_text().splitlines():
        m = ROW.match(line)
        if m is None:
            assert not line.startswith("| `seawall_"), f"malformed catalog row: {line}"
            continue
        name, kind, labels = m.groups()
        assert name not in out, f"{name} documented twice"
        out[name] = (kind, frozenset(x.strip() for x in labels.split(",") if x.strip()))
    return out


def exported(text: str) -> dict[str, Family]:
    out: dict[str, Family] = {}
    for family in text_string_to_metric_families(text):
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = frozenset(k for s in family.samples for k in s.labels if k != "le")
        out[name] = (family.type, labels)
    return out


@pytest.fixture
async def scraped() -> Iterator[str]:
    """/metrics of the every-check service after one request per route and a rejection."""
    logging.disable(logging.WARNING)  # the unreachable Redis is expected
    svc: Service = every_check_service()
    await svc.startup()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=svc), base_url="http://t") as c:
            for path in POLICIES:
                assert (await c.get(path, params={"id": "1"})).status_code == 200
            assert (await c.get("/limited")).status_code == 429
            assert (await c.get("/calls")).status_code == 200
            yield (await c.get("/metrics")).text
    finally:
        await svc.shutdown()
        logging.disable(logging.NOTSET)


def test_catalog_rows_parse() -> None:
    """The catalog lists families (sanity: the parser found the four sections' rows)."""
    docs = documented()
    assert "seawall_http_server_requests_total" in docs
    assert "seawall_gc_pause_seconds" in docs
    assert "seawall_build_info" in docs
    assert any(name.startswith("seawall_redis_limiter_") for name in docs)


async def test_every_exported_family_is_documented(scraped: str) -> None:
    """No family in /metrics is missing from docs/metrics.md."""
    assert sorted(set(exported(scraped)) - set(documented())) == []


async def test_every_documented_family_is_exported(scraped: str) -> None:
    """No family in docs/metrics.md is missing from /metrics of the every-check service."""
    assert sorted(set(documented()) - set(exported(scraped))) == []


async def test_types_and_labels_agree(scraped: str) -> None:
    """Each family's type and label names are those the catalog says (labels where it has series)."""
    docs, live = documented(), exported(scraped)
    wrong = {
        name: (docs[name], live[name])
        for name in docs.keys() & live.keys()
        if docs[name][0] != live[name][0] or (live[name][1] and docs[name][1] != live[name][1])
    }
    assert wrong == {}
