"""Layered rules: code ⊕ file ⊕ runtime, each layer kept, every effective rule set versioned.

The *code* layer is what the service declares (a route's ``policy=``, the service default). The
*file* layer comes from ``seawall.yaml`` (``default:`` and ``routes:``); the *runtime* layer from
``Service.recompile`` and the rules API. A rule is either a whole :class:`Policy` (it replaces what
is below it) or a patch of sections (it overrides only the sections it names), so a runtime change
to one route never disturbs another route's file rules, and a file rule that sets ``max_conns``
keeps the timeout declared in code.

For a route ``M /t``: start from its code policy, or (when it has none) the code default overlaid
by the file and runtime defaults; then overlay the file rules for ``/t`` and ``M /t``, then the
runtime rules for ``/t`` and ``M /t``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, TypeAlias, final

import msgspec

from seawall.governance._policy import Policy

__all__ = ["Rule", "RuleLayer", "Rules", "RulesVersion", "overlay"]

#: A whole policy (replaces) or a patch of validated section values (overrides those sections).
Rule: TypeAlias = Policy | Mapping[str, Any]

_EMPTY: Final[Mapping[str, Rule]] = MappingProxyType({})


def overlay(base: Policy, rule: Rule | None) -> Policy:
    """``base`` with ``rule`` applied on top."""
    if rule is None:
        return base
    if isinstance(rule, Policy):
        return rule
    return base.merge(rule)


def _combine(old: Rule | None, new: Rule) -> Rule:
    """A later rule for the same key: a patch accumulates on what was there, a policy replaces it."""
    if old is None or isinstance(new, Policy):
        return new
    if isinstance(old, Policy):
        return old.merge(new)
    return {**old, **new}


@final
@dataclass(frozen=True, slots=True)
class RuleLayer:
    """One layer: the rule for routes without a policy of their own, and rules by route key
    (``"GET /items/{id}"`` for one method, ``"/items/{id}"`` for all)."""

    default: Rule | None = None
    routes: Mapping[str, Rule] = field(default_factory=lambda: _EMPTY)

    def updated(
        self, routes: Mapping[str, Rule | None] | None = None, *, default: Rule | None = None
    ) -> RuleLayer:
        """A copy with ``routes`` merged in (``None`` removes a route's rule) and ``default`` on top."""
        merged = dict(self.routes)
        for key, rule in (routes or {}).items():
            if rule is None:
                merged.pop(key, None)
            else:
                merged[key] = _combine(merged.get(key), rule)
        new_default = self.default if default is None else _combine(self.default, default)
        return RuleLayer(new_default, MappingProxyType(merged))

    def to_builtins(self) -> dict[str, Any]:
        """Plain data (for listing versions)."""
        return {
            "default": _rule_builtins(self.default),
            "routes": {k: _rule_builtins(v) for k, v in sorted(self.routes.items())},
        }


def _rule_builtins(rule: Rule | None) -> Any:
    if rule is None:
        return None
    if isinstance(rule, Policy):
        return {"replace": rule.to_builtins()}
    return {"patch": msgspec.to_builtins(dict(rule))}


@final
@dataclass(frozen=True, slots=True)
class RulesVersion:
    """One effective rule set.

    Attributes:
        version: increases by one with every change that took effect (rollbacks included).
        file: the file layer.
        runtime: the runtime layer.
        at: clock time of the change.
        note: what the change was (``"configure"``, ``"recompile"``, ``"rollback to 3"``...).
    """

    version: int
    file: RuleLayer
    runtime: RuleLayer
    at: float
    note: str = ""

    def effective(self, method: str, target: str, code: Policy | None, code_default: Policy) -> Policy:
        """The policy of route ``method target`` under this version (see the module docstring)."""
        if code is None:
            policy = overlay(overlay(code_default, self.file.default), self.runtime.default)
        else:
            policy = code
        for layer in (self.file, self.runtime):
            routes = layer.routes
            if routes:
                policy = overlay(policy, routes.get(target))
                policy = overlay(policy, routes.get(f"{method} {target}"))
        return policy

    def keys(self) -> set[str]:
        """Every route key this version's layers name."""
        return {*self.file.routes, *self.runtime.routes}

    def to_builtins(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "at": self.at,
            "note": self.note,
            "file": self.file.to_builtins(),
            "runtime": self.runtime.to_builtins(),
        }


@final
class Rules:
    """The history of rule versions; the newest is :attr:`current`.

    It only records versions: the owner compiles a candidate first and :meth:`commit`s it when
    every chain compiled, so a change that fails leaves no trace.

    Args:
        keep: how many versions to remember for listing and rollback.
    """

    __slots__ = ("_history", "_keep")

    def __init__(self, *, keep: int = 50) -> None:
        if keep < 2:
            raise ValueError("keep must be >= 2")
        self._keep = keep
        self._history: list[RulesVersion] = [RulesVersion(0, RuleLayer(), RuleLayer(), 0.0, "code")]

    @property
    def current(self) -> RulesVersion:
        return self._history[-1]

    def versions(self) -> tuple[RulesVersion, ...]:
        """The remembered versions, oldest first."""
        return tuple(self._history)

    def candidate(
        self, *, file: RuleLayer | None = None, runtime: RuleLayer | None = None, at: float, note: str
    ) -> RulesVersion:
        """The next version with the given layers (the current ones where not given); not committed."""
        cur = self.current
        return RulesVersion(
            cur.version + 1,
            cur.file if file is None else file,
            cur.runtime if runtime is None else runtime,
            at,
            note,
        )

    def get(self, version: int) -> RulesVersion:
        """A remembered version.

        Raises:
            KeyError: it is not (or no longer) remembered.
        """
        for v in self._history:
            if v.version == version:
                return v
        raise KeyError(version)

    def commit(self, version: RulesVersion) -> None:
        """Make ``version`` (a :meth:`candidate`) the current one."""
        if version.version != self.current.version + 1:
            raise ValueError(f"version {version.version} does not follow {self.current.version}")
        self._history.append(version)
        del self._history[: -self._keep]
