"""Chain compilation: a policy becomes a flat, immutable list of checks, cheapest first.

A :class:`Chain` is compiled once per target (and again when rules change); the guarded path
runs its sync checks, then its async ones. Recompiling swaps a target's chain in one assignment,
so a call in flight keeps the chain (and exits) it entered with and none is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import final

from seawall.errors import ConfigError, Rejected
from seawall.governance._call import Call, Outcome
from seawall.governance._check import AsyncCheck, Check, CheckFactory, CompileContext, Exit
from seawall.governance._policy import METRICS, TIMEOUT, Policy

__all__ = ["Chain", "admit", "admit_async", "compile_chain", "release"]


@final
@dataclass(frozen=True, slots=True)
class Chain:
    """A compiled chain: sync checks, then async checks, each group cheapest first.

    ``timeout`` and ``metrics`` are copied out of the policy for the hot path.
    """

    checks: tuple[Check, ...]
    async_checks: tuple[AsyncCheck, ...]
    policy: Policy
    timeout: float | None
    metrics: bool
    #: Whether any exit reads the outcome (checks that only release a slot say ``wants_outcome =
    #: False``; then no Outcome is made for them).
    needs_outcome: bool = True

    @property
    def names(self) -> list[str]:
        """The checks' names in the order they run."""
        return [c.name for c in self.checks] + [c.name for c in self.async_checks]

    @property
    def empty(self) -> bool:
        return not self.checks and not self.async_checks


def compile_chain(
    policy: Policy,
    ctx: CompileContext,
    factories: Sequence[tuple[str, CheckFactory]],
    *,
    path: str = "$",
) -> Chain:
    """Build a chain from ``policy``: every factory's checks, sorted by cost.

    Args:
        factories: ``(section, factory)`` pairs (see :func:`register_check`).
        path: where the policy sits in the configuration, for error messages.

    Raises:
        ConfigError: a factory refused its section; the path names the section (and the field
            when the factory says which).
    """
    built: list[Check | AsyncCheck] = []
    for section, factory in factories:
        try:
            made = factory(policy, ctx)
        except ValueError as exc:
            raise ConfigError(str(exc), path=_where(path, section, exc)) from None
        if made is None:
            continue
        if isinstance(made, Check | AsyncCheck):
            built.append(made)
        else:
            built.extend(_each(made))
    sync = sorted((c for c in built if isinstance(c, Check)), key=lambda c: c.cost)
    waiting = sorted((c for c in built if not isinstance(c, Check)), key=lambda c: c.cost)
    needs = any(getattr(c, "wants_outcome", True) for c in (*sync, *waiting))
    return Chain(tuple(sync), tuple(waiting), policy, policy[TIMEOUT], policy[METRICS], needs)


def _where(path: str, section: str, exc: ValueError) -> str:
    """The configuration path a factory's error names: the section, and the field if it says."""
    section = getattr(exc, "section", None) or section
    if not section:
        return path
    field = getattr(exc, "field", None)
    if not field:
        return f"{path}.{section}"
    return f"{path}.{section}{field}" if field.startswith("[") else f"{path}.{section}.{field}"


def _each(made: Iterable[Check | AsyncCheck]) -> list[Check | AsyncCheck]:
    return list(made)


def admit(chain: Chain, call: Call, start: float) -> list[Exit]:
    """Run the chain's sync checks, cheapest first; the exits of the checks that admitted.

    Whatever stops admission (a rejection, or an error such as an invalid key value) releases
    the exits taken so far, with a ``rejected`` outcome, before it propagates.
    """
    exits: list[Exit] = []
    try:
        for check in chain.checks:
            if (ex := check.enter(call)) is not None:
                exits.append(ex)  # noqa: PERF401 - a loop that stops at the first rejection
    except BaseException as exc:
        release(exits, exc, start)
        raise
    return exits


async def admit_async(chain: Chain, call: Call, exits: list[Exit], start: float) -> None:
    """Run the chain's async checks after :func:`admit`, adding to ``exits``.

    Whatever ends admission early (a rejection, an error, or cancellation while a check waited)
    releases every exit taken, including :func:`admit`'s, before it propagates.
    """
    try:
        for check in chain.async_checks:
            if (ex := await check.enter_async(call)) is not None:
                exits.append(ex)  # noqa: PERF401
    except BaseException as exc:
        release(exits, exc, start)
        exits.clear()  # released: whoever catches this must not release them again
        raise


def release(exits: list[Exit], exc: BaseException, start: float) -> None:
    """Give every exit the outcome of an admission that ``exc`` ended."""
    if not exits:
        return
    if isinstance(exc, Rejected):
        outcome = Outcome(exc.status, "rejected", start, start, exc.reason)
    elif isinstance(exc, Exception):
        outcome = Outcome(getattr(exc, "status", 500), "error", start, start)
    else:  # cancelled while waiting: the client went away
        outcome = Outcome(499, "cancelled", start, start)
    for ex in exits:
        ex(outcome)
