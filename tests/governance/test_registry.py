"""The resource registry: one object per key, transactions that change nothing on failure,
eviction of what no chain uses, lifecycle hooks and snapshots."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from seawall.governance import Registry, ResourceInfo


@dataclass(frozen=True)
class Stats:
    value: int


class Thing:
    """A resource that records its lifecycle."""

    def __init__(self, log: list[str], name: str) -> None:
        self.log = log
        self.name = name
        log.append(f"build {name}")

    def start(self) -> None:
        self.log.append(f"start {self.name}")

    async def aclose(self) -> None:
        self.log.append(f"close {self.name}")

    def statistics(self) -> Stats:
        return Stats(len(self.name))


def obtain(reg: Registry, log: list[str], name: str) -> Thing:
    thing: Thing = reg.obtain(
        name,
        lambda: Thing(log, name),
        info=ResourceInfo("thing", f"/{name}", "GET", "c"),
        start=Thing.start,
        close=Thing.aclose,
    )
    return thing


def test_same_key_gives_the_same_object() -> None:
    """A second obtain under one key builds nothing new."""
    reg, log = Registry(), []
    assert obtain(reg, log, "a") is obtain(reg, log, "a")
    assert log == ["build a"]
    assert len(reg) == 1
    assert "a" in reg


async def test_failed_transaction_closes_what_it_built_and_keeps_the_rest() -> None:
    """An exception inside a transaction drops (and closes) its new resources; old ones stay."""
    reg, log = Registry(), []
    a = obtain(reg, log, "a")

    def failing_compile() -> None:
        with reg.transaction(evict=True):
            assert obtain(reg, log, "a") is a
            obtain(reg, log, "b")
            raise RuntimeError("compile failed")

    with pytest.raises(RuntimeError):
        failing_compile()
    await asyncio.sleep(0)
    assert "b" not in reg
    assert "a" in reg
    assert log == ["build a", "build b", "close b"]


async def test_evicting_transaction_closes_unused_resources() -> None:
    """After a full recompile, resources not obtained again are closed and forgotten."""
    reg, log = Registry(), []
    obtain(reg, log, "a")
    obtain(reg, log, "b")
    with reg.transaction(evict=True):
        obtain(reg, log, "b")
    await asyncio.sleep(0)  # the async close hook runs as a task
    assert ("a" in reg, "b" in reg) == (False, True)
    assert log[-1] == "close a"


async def test_resources_start_with_the_registry_and_after_it() -> None:
    """Existing resources start on start(); new ones start when obtained while running."""
    reg, log = Registry(), []
    obtain(reg, log, "a")
    assert log == ["build a"]
    await reg.start()
    assert log == ["build a", "start a"]
    obtain(reg, log, "b")
    assert log[-1] == "start b"
    await reg.aclose()
    assert sorted(log[-2:]) == ["close a", "close b"]
    assert len(reg) == 0


def test_snapshot_lists_described_resources_only() -> None:
    """Resources with a ResourceInfo appear with their statistics; anonymous ones do not."""
    reg, log = Registry(), []
    obtain(reg, log, "abc")
    reg.obtain("hidden", lambda: Thing(log, "hidden"))
    (snap,) = reg.snapshot()
    assert snap.info == ResourceInfo("thing", "/abc", "GET", "c")
    assert snap.statistics == Stats(3)


def test_transactions_do_not_nest() -> None:
    """A transaction inside a transaction is a programming error."""
    reg = Registry()
    with pytest.raises(RuntimeError, match="do not nest"), reg.transaction(), reg.transaction():
        pass


async def test_failing_close_hook_is_logged_and_the_rest_still_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One resource failing to close does not keep the others open."""
    reg, log = Registry(), []

    def broken(thing: Thing) -> None:
        raise OSError("socket already gone")

    reg.obtain("bad", lambda: Thing(log, "bad"), close=broken)
    obtain(reg, log, "good")
    await reg.aclose()
    assert log[-1] == "close good"
    assert "closing a governance resource failed" in caplog.text


def test_async_hook_without_a_running_loop_is_dropped_cleanly() -> None:
    """Evicting outside an event loop (configured before serving) closes sync, skips async safely."""
    reg, log = Registry(), []
    obtain(reg, log, "a")
    with reg.transaction(evict=True):
        pass
    assert "a" not in reg
    assert log == ["build a"]  # the async close had no loop to run on; the coroutine was closed


async def test_failing_async_hook_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """An async start hook that raises while the registry runs is logged, not lost silently."""
    reg, log = Registry(), []
    await reg.start()

    async def explode(thing: Thing) -> None:
        raise RuntimeError("cannot connect")

    reg.obtain("x", lambda: Thing(log, "x"), start=explode)
    await reg.aclose()
    assert "lifecycle hook failed" in caplog.text
