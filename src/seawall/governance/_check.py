"""The check protocol: what one admission check is, and how a policy section becomes one.

A check's ``enter(call)`` either raises a :class:`~seawall.errors.Rejected` (the call does not
run) or returns ``None`` or an *exit*: a callable given the call's :class:`Outcome` when it ends
(release a slot, record a latency, report to a breaker). Checks that must wait (a bulkhead
queue, pacing, a Redis round trip) are :class:`AsyncCheck` and run after every sync one.

A check adapts exactly one primitive (``seawall.limit``, ``seawall.load``, ``seawall.bulkhead``...)
and never re-implements one; its state lives in the primitive, which the service's
:class:`~seawall.governance.Registry` owns.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, final, runtime_checkable

from seawall._clock import Clock
from seawall.governance._call import Call, Outcome
from seawall.governance._keys import KeyFn, KeySpec, key_function
from seawall.load import CpuProbe

if TYPE_CHECKING:
    from seawall.governance._policy import Policy
    from seawall.governance._registry import Registry

__all__ = [
    "AsyncCheck",
    "Check",
    "CheckFactory",
    "CompileContext",
    "Exit",
    "FieldError",
    "register_check",
    "registered_checks",
]

#: Called once with the call's outcome by a check that admitted it.
Exit = Callable[[Outcome], None]


@runtime_checkable
class Check(Protocol):
    """A synchronous admission check: decides at once.

    A check whose exit only releases what it took (and never reads the outcome) may say so with
    a class attribute ``wants_outcome = False``; when no exit of a chain wants it, the guard
    hands them a shared placeholder instead of making an :class:`Outcome` per call.
    """

    name: str
    #: Lower runs earlier: a counter ~10, a local limiter ~20, a shedder ~30, waiting checks 40+.
    cost: int

    def enter(self, call: Call) -> Exit | None: ...


@runtime_checkable
class AsyncCheck(Protocol):
    """An admission check that may wait; runs after every sync check."""

    name: str
    cost: int

    def enter_async(self, call: Call) -> Awaitable[Exit | None]: ...


@final
@dataclass(frozen=True, slots=True)
class CompileContext:
    """What a check factory knows when it compiles a check for one target.

    Attributes:
        service: the service's name (namespaces shared state, e.g. Redis keys).
        target: the route template or dependency name.
        method: the method (``*`` for every method).
        registry: owns every stateful primitive; obtain them through it so a recompile keeps
            unchanged ones and evicts the rest.
        key_functions: client-key functions registered by name (key spec ``fn:<name>``).
        clock: the time source for primitives.
        rng: the randomness source for primitives that draw (jitter, probabilistic drops).
        cpu_probe: the CPU signal given to the service (``None``: shedding builds its own).
        redis_url: the Redis server of ``backend: redis`` limits, if configured.
    """

    service: str
    target: str
    method: str
    registry: Registry
    key_functions: Mapping[str, KeyFn]
    clock: Clock
    rng: random.Random
    cpu_probe: CpuProbe | None = None
    redis_url: str | None = None

    def key(self, spec: KeySpec, field: str = "key", *, section: str | None = None) -> KeyFn:
        """Compile a key spec (``ip``, ``header:x``, ``fn:name``...) for this target's calls.

        Raises:
            FieldError: naming ``field`` (of ``section`` when it is not the factory's own), e.g.
                for an unregistered ``fn:<name>``.
        """
        try:
            return key_function(spec, self.key_functions)
        except ValueError as exc:
            raise FieldError(field, str(exc), section=section) from None

    def resource_key(self, kind: str, config: object) -> tuple[object, ...]:
        """The registry key of a per-target primitive built from ``config``."""
        return (self.target, self.method, kind, repr(config))


#: Builds the checks one policy section asks for (none, one or several).
CheckFactory = Callable[
    ["Policy", CompileContext], "Check | AsyncCheck | Iterable[Check | AsyncCheck] | None"
]


class FieldError(ValueError):
    """A check factory cannot compile a section because of one of its fields.

    Raised by factories so that the configuration error names the leaf
    (``$.routes["GET /x"].rate_limit.key``), not just the route.
    """

    def __init__(self, field: str, message: str, *, section: str | None = None) -> None:
        super().__init__(message)
        #: The field within the section (``key``, ``[0].key`` for an item of a list section).
        self.field = field
        #: The section the field belongs to, when not the factory's own (``client_key``).
        self.section = section


_REGISTERED: list[tuple[str, CheckFactory]] = []


def register_check(section: str, factory: CheckFactory) -> CheckFactory:
    """Make ``factory`` part of every chain compiled from now on.

    ``section`` names the policy section the factory reads, so that its configuration errors
    name it. Built-in checks register themselves when ``seawall.governance.checks`` is imported;
    a new check registers its section (:func:`~seawall.governance.define_section`) and factory the
    same way, without touching the core.
    """
    _REGISTERED.append((section, factory))
    return factory


def registered_checks() -> tuple[tuple[str, CheckFactory], ...]:
    """Every registered ``(section, factory)``, in registration order."""
    return tuple(_REGISTERED)
