"""``breaker``: a circuit breaker on a route or a dependency, 503 ``CIRCUIT_OPEN`` while it is open.

The same check serves both sides. On a route it sheds calls whose handler keeps failing (its
database is down) instead of letting them pile up; on a dependency (``seawall.http.client``) it
stops calling a dependency that keeps failing, and the caller gets :class:`~seawall.errors.CircuitOpen`
at once. What counts, from the call's :class:`~seawall.governance.Outcome`:

- failure: an error (5xx, an exception, a refused or broken connection), a timeout, or a 429
  (the other side said it is overloaded; with the 503s, these are what may open the breaker);
- success: any other answer (4xx included: the caller's fault says nothing of the callee);
- not counted: calls refused by governance (here or downstream) and calls the client abandoned;
  a half-open circuit breaker gets its probe permit back.
"""

from __future__ import annotations

import logging
import random
from typing import Annotated, Any, Final, Literal, final

import msgspec

from seawall._clock import MONOTONIC, Clock
from seawall.breaker import (
    AdaptiveBreaker,
    Breaker,
    BreakerState,
    BreakerTicket,
    CircuitBreaker,
    TransitionListener,
)
from seawall.errors import CircuitOpen
from seawall.governance._call import Call, Outcome
from seawall.governance._check import CompileContext, Exit, register_check
from seawall.governance._policy import Policy, Section, define_section, validate_struct
from seawall.governance._registry import ResourceInfo
from seawall.governance.checks._types import Count, PositiveSeconds, Seconds, Size

__all__ = ["BREAKER", "BreakerCheck", "BreakerPolicy"]

logger = logging.getLogger("seawall.governance")

_Percent = Annotated[float, msgspec.Meta(gt=0, le=100)]
_Factor = Annotated[float, msgspec.Meta(ge=1, le=1000)]

_ADAPTIVE_FIELDS: Final = ("k", "min_k", "window", "buckets", "protection", "force_pass")
_CIRCUIT_FIELDS: Final = (
    "window_type",
    "window_size",
    "minimum_calls",
    "failure_rate_threshold",
    "slow_call_rate_threshold",
    "slow_call_duration",
    "wait_duration_in_open",
    "wait_multiplier",
    "max_wait_in_open",
    "permitted_calls_in_half_open",
    "max_wait_in_half_open",
)


class BreakerPolicy(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, repr_omit_defaults=True
):
    """Which breaker guards the route or dependency, and its settings.

    ``kind="adaptive"`` (the default) is Google SRE client-side throttling with go-zero's
    ``googlebreaker`` semantics (:class:`~seawall.breaker.AdaptiveBreaker`): no fixed open time,
    drops a share of calls that grows with the recent failure rate. ``kind="circuit"`` is the
    closed / open / half-open state machine with resilience4j's semantics
    (:class:`~seawall.breaker.CircuitBreaker`). Settings left unset take the primitive's defaults
    (go-zero's K=1.5 over 10 s in 40 buckets; resilience4j's thresholds with seawall's shorter
    ``minimum_calls=20`` and 5 s open wait); a setting of the other kind is an error.
    ``force_pass=0`` turns the adaptive breaker's forced pass off.

    Example::

        Policy(breaker=BreakerPolicy())  # adaptive
        Policy(breaker=BreakerPolicy(kind="circuit", failure_rate_threshold=50, wait_duration_in_open=2))
    """

    kind: Literal["adaptive", "circuit"] = "adaptive"
    # adaptive (go-zero googlebreaker)
    k: Annotated[float, msgspec.Meta(ge=1, le=1000)] | None = None
    min_k: Annotated[float, msgspec.Meta(ge=1, le=1000)] | None = None
    window: PositiveSeconds | None = None
    buckets: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    protection: Size | None = None
    force_pass: Seconds | None = None
    # circuit (resilience4j CircuitBreakerConfig)
    window_type: Literal["count", "time"] | None = None
    window_size: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None
    minimum_calls: Count | None = None
    failure_rate_threshold: _Percent | None = None
    slow_call_rate_threshold: _Percent | None = None
    slow_call_duration: PositiveSeconds | None = None
    wait_duration_in_open: PositiveSeconds | None = None
    wait_multiplier: _Factor | None = None
    max_wait_in_open: PositiveSeconds | None = None
    permitted_calls_in_half_open: Count | None = None
    max_wait_in_half_open: PositiveSeconds | None = None

    def __post_init__(self) -> None:
        validate_struct(self)
        others = _CIRCUIT_FIELDS if self.kind == "adaptive" else _ADAPTIVE_FIELDS
        for name in others:
            if getattr(self, name) is not None:
                other = "circuit" if self.kind == "adaptive" else "adaptive"
                raise ValueError(
                    f"{name} must not be set with kind {self.kind!r} (it belongs to kind {other!r})"
                )
        self.build()  # the primitive checks the settings together (k >= min_k, ...)

    def build(
        self,
        *,
        clock: Clock = MONOTONIC,
        rng: random.Random | None = None,
        on_transition: TransitionListener | None = None,
    ) -> AdaptiveBreaker | CircuitBreaker:
        """A new breaker with these settings.

        Raises:
            ValueError: the settings do not fit together (naming the field).
        """
        if self.kind == "adaptive":
            adaptive: dict[str, Any] = {
                name: value for name in _ADAPTIVE_FIELDS if (value := getattr(self, name)) is not None
            }
            if adaptive.get("force_pass") == 0:
                adaptive["force_pass"] = None
            return AdaptiveBreaker(**adaptive, rng=rng, clock=clock, on_transition=on_transition)
        circuit: dict[str, Any] = {
            name: value for name in _CIRCUIT_FIELDS if (value := getattr(self, name)) is not None
        }
        return CircuitBreaker(**circuit, clock=clock, on_transition=on_transition)


#: A circuit breaker on the route (off by default) or dependency (adaptive by default there).
BREAKER: Final[Section[BreakerPolicy | None]] = define_section(
    "breaker", BreakerPolicy | None, None, "circuit breaker (503 CIRCUIT_OPEN while open)"
)


@final
class BreakerCheck:
    """503 ``CIRCUIT_OPEN`` (with ``Retry-After``) when the :class:`~seawall.breaker.Breaker` says no;
    reports each admitted call's outcome to it (see the module docstring for what counts)."""

    __slots__ = ("breaker", "target")
    name = "breaker"
    cost = 15  # after the concurrency limit, before rate limits (go-zero: maxConns -> breaker)

    def __init__(self, breaker: Breaker, target: str = "") -> None:
        self.breaker = breaker
        self.target = target

    def enter(self, call: Call) -> Exit | None:
        ticket = self.breaker.allow()
        if ticket is None:
            raise CircuitOpen(
                f"the circuit breaker of {self.target or call.target} is open",
                retry_after=self.breaker.retry_after(),
                check=self.name,
            )
        return _Report(ticket)


@final
class _Report:
    __slots__ = ("ticket",)

    def __init__(self, ticket: BreakerTicket) -> None:
        self.ticket = ticket

    def __call__(self, outcome: Outcome) -> None:
        kind = outcome.kind
        if kind == "ok":
            if outcome.status == 429:
                self.ticket.failure(duration=outcome.end - outcome.start)
            else:
                self.ticket.success(duration=outcome.end - outcome.start)
        elif kind == "error" or kind == "timeout":
            self.ticket.failure(duration=outcome.end - outcome.start)
        else:  # rejected by governance, or abandoned: says nothing about the breaker's target
            self.ticket.ignore()


def _listener(target: str, method: str) -> _TransitionLogger:
    return _TransitionLogger(f"{method} {target}" if method and method != "*" else target)


@final
class _TransitionLogger:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, old: BreakerState, new: BreakerState) -> None:
        level = logging.WARNING if new in ("open", "forced_open") else logging.INFO
        logger.log(level, "circuit breaker of %s: %s -> %s", self.name, old, new)


def _factory(policy: Policy, ctx: CompileContext) -> BreakerCheck | None:
    b = policy[BREAKER]
    if b is None:
        return None
    breaker = ctx.registry.obtain(
        ctx.resource_key("breaker", b),
        lambda: b.build(clock=ctx.clock, rng=ctx.rng, on_transition=_listener(ctx.target, ctx.method)),
        info=ResourceInfo(f"{b.kind}_breaker", ctx.target, ctx.method, BreakerCheck.name),
    )
    return BreakerCheck(breaker, ctx.target)


register_check(BREAKER.name, _factory)
