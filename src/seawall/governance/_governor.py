"""The governance of one app: its targets' guards, their rules and the resources they use.

A :class:`Governor` is what a :class:`~seawall.http.Service` or a
:class:`~seawall.http.SeawallMiddleware` (and later an outbound client) holds: it compiles a
chain for every target it guards, applies rule changes to all of them atomically (compile
everything, then swap, then evict what no chain uses; a failure changes nothing), keeps the
version history for listing and rollback, and starts and stops the resources.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, final

from seawall._clock import MONOTONIC, Clock
from seawall.errors import ConfigError
from seawall.governance._call import Call
from seawall.governance._chain import Chain, compile_chain
from seawall.governance._check import CheckFactory, CompileContext, registered_checks
from seawall.governance._guard import Accounting, Fallback, Guard, Transport
from seawall.governance._keys import KeyFn
from seawall.governance._policy import Policy
from seawall.governance._registry import Registry, ResourceSnapshot
from seawall.governance._rules import Rule, RuleLayer, Rules, RulesVersion
from seawall.governance._timeouts import TimeoutWheel
from seawall.load import CpuProbe

__all__ = ["Governor", "Target"]

C = TypeVar("C", bound=Call)
R = TypeVar("R")


@final
@dataclass(slots=True)
class Target(Generic[C, R]):
    """One guarded target: its guard and the policy its code declared (``None``: the default)."""

    method: str
    target: str
    guard: Guard[C, R]
    code: Policy | None

    @property
    def key(self) -> str:
        return f"{self.method} {self.target}"


@final
class Governor:
    """Guards, rules and resources of one app (see the module docstring).

    Args:
        service: the app's name (namespaces shared state such as Redis keys).
        default: the code-level policy of targets that declare none.
        clock: the time source of every primitive and deadline.
        rng: the randomness source of primitives that draw (seeded in tests).
        factories: check factories beyond the registered ones, as ``(section, factory)``.
        cpu_probe: the CPU signal for shedding (default: this process's CPU share).
        redis_url: the Redis server of ``backend: redis`` limits.
        logger: where guards log unexpected errors (the transport's logger).
    """

    def __init__(
        self,
        service: str,
        *,
        default: Policy,
        clock: Clock = MONOTONIC,
        rng: random.Random | None = None,
        factories: Sequence[tuple[str, CheckFactory]] = (),
        cpu_probe: CpuProbe | None = None,
        redis_url: str | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.service = service
        self.logger = logger if logger is not None else logging.getLogger("seawall.governance")
        self.default = default
        self.clock = clock
        self.rng = rng if rng is not None else random.Random()
        self.registry = Registry()
        self.rules = Rules()
        self.wheel = TimeoutWheel(clock=clock)
        self.cpu_probe = cpu_probe
        self.redis_url = redis_url
        self._extra = tuple(factories)
        self._key_functions: dict[str, KeyFn] = {}
        self._targets: list[Target[Any, Any]] = []

    # -- targets --------------------------------------------------------------------------------

    def key_function(self, name: str, fn: KeyFn) -> None:
        """Register ``fn(call) -> key`` as key spec ``fn:<name>`` (before targets use it)."""
        self._key_functions[name] = fn

    def guard(
        self,
        method: str,
        target: str,
        transport: Transport[C, R],
        stats: Accounting,
        *,
        policy: Policy | None = None,
        fallback: Fallback | None = None,
    ) -> Guard[C, R]:
        """Compile a guard for a new target under the current rules.

        Raises:
            ConfigError: the effective policy cannot be compiled (naming the route and field).
        """
        entry_policy = self.rules.current.effective(method, target, policy, self.default)
        with self.registry.transaction():
            chain = self._compile(method, target, entry_policy)
        guard: Guard[C, R] = Guard(
            f"{method} {target}", chain, transport, stats, self.wheel, self.clock, fallback, self.logger
        )
        self._targets.append(Target(method, target, guard, policy))
        return guard

    def targets(self) -> tuple[Target[Any, Any], ...]:
        return tuple(self._targets)

    def effective(self) -> dict[str, Policy]:
        """Every target's current policy, by ``"METHOD /target"``."""
        return {t.key: t.guard.chain.policy for t in self._targets}

    # -- rules ----------------------------------------------------------------------------------

    def apply(
        self,
        *,
        file: RuleLayer | None = None,
        runtime: Mapping[str, Rule | None] | None = None,
        runtime_default: Rule | None = None,
        note: str = "",
    ) -> RulesVersion:
        """Change rules: replace the file layer and/or update the runtime layer, atomically.

        Every target is recompiled before any chain is swapped; on any error nothing changes
        (no chain, no resource, no version). Resources no chain uses afterwards are closed.

        Raises:
            ConfigError: a route key matches no target, or a policy cannot be compiled.
        """
        current = self.rules.current
        new_runtime = None
        if runtime is not None or runtime_default is not None:
            new_runtime = current.runtime.updated(runtime, default=runtime_default)
        candidate = self.rules.candidate(file=file, runtime=new_runtime, at=self.clock.now(), note=note)
        return self._switch(candidate)

    def rollback(self, version: int | None = None) -> RulesVersion:
        """Return to an earlier version's layers (default: the one before the current), as a new version.

        Raises:
            KeyError: the version is not remembered.
        """
        target = self.rules.get(self.rules.current.version - 1 if version is None else version)
        candidate = self.rules.candidate(
            file=target.file,
            runtime=target.runtime,
            at=self.clock.now(),
            note=f"rollback to {target.version}",
        )
        return self._switch(candidate)

    def _switch(self, candidate: RulesVersion) -> RulesVersion:
        self._check_keys(candidate)
        with self.registry.transaction(evict=True):
            chains = [
                (
                    t,
                    self._compile(
                        t.method, t.target, candidate.effective(t.method, t.target, t.code, self.default)
                    ),
                )
                for t in self._targets
            ]
            for t, chain in chains:  # every chain compiled: swap (one assignment each)
                t.guard.chain = chain
        self.rules.commit(candidate)
        return candidate

    def _check_keys(self, candidate: RulesVersion) -> None:
        known = {t.target for t in self._targets} | {t.key for t in self._targets}
        for key in sorted(candidate.keys()):
            if key not in known:
                raise ConfigError(f"no route matches {key!r}", path=f"$.routes[{_quote(key)}]")

    def _compile(self, method: str, target: str, policy: Policy) -> Chain:
        ctx = CompileContext(
            service=self.service,
            target=target,
            method=method,
            registry=self.registry,
            key_functions=self._key_functions,
            clock=self.clock,
            rng=self.rng,
            cpu_probe=self.cpu_probe,
            redis_url=self.redis_url,
        )
        factories = (*registered_checks(), *self._extra)
        return compile_chain(policy, ctx, factories, path=f"$.routes[{_quote(f'{method} {target}')}]")

    # -- resources ------------------------------------------------------------------------------

    def quiet(self) -> frozenset[tuple[str, str]]:
        """``(target, method)`` of every target whose policy says ``metrics: false``."""
        return frozenset((t.target, t.method) for t in self._targets if not t.guard.chain.metrics)

    def snapshot(self) -> tuple[ResourceSnapshot, ...]:
        """Every governance resource's ``statistics()``, except those of ``metrics: false`` targets."""
        quiet = self.quiet()
        snaps = self.registry.snapshot()
        if not quiet:
            return snaps
        return tuple(s for s in snaps if (s.info.target, s.info.method) not in quiet)

    async def start(self) -> None:
        await self.registry.start()

    async def stop(self) -> None:
        await self.registry.aclose()


def _quote(key: str) -> str:
    return '"' + key.replace('"', '\\"') + '"'
