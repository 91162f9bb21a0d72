"""Outlier ejection: take an instance out of the pool after consecutive failures, for a while.

Semantics follow Envoy's consecutive-5xx detector (``source/common/upstream/
outlier_detection_impl.cc``, ``DetectorImpl::ejectHost`` / ``checkHostForUneject`` /
``onIntervalTimer``): the ``consecutive_failures``-th failure in a row ejects the instance for
``min(base_ejection_time * backoff, max_ejection_time)``, where ``backoff`` grows by one per
ejection and shrinks by one per ``interval`` the instance then stays healthy; an ejection that
would put more than ``max_ejection_percent`` of the pool out is refused (counted as overflow).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Protocol, final, runtime_checkable

from seawall._clock import MONOTONIC, Clock
from seawall.discovery._instance import Instance, normalize

__all__ = [
    "Ejector",
    "HostOutlierStatistics",
    "NoopOutlierDetector",
    "OutlierDetector",
    "OutlierStatistics",
]

_EMPTY: Final[frozenset[Instance]] = frozenset()


@final
@dataclass(frozen=True, slots=True)
class HostOutlierStatistics:
    """One instance as the detector sees it.

    Attributes:
        instance: the instance.
        consecutive_failures: failures in a row since the last success, ejection or return.
        ejections: times this instance was ejected since it joined.
        backoff: the multiplier of ``base_ejection_time`` its latest ejection used, decayed by the
            healthy intervals since it returned (Envoy's ``ejectTimeBackoff``).
        ejected_until: when it returns, on the detector's clock; ``None`` if it is not ejected.
    """

    instance: Instance
    consecutive_failures: int
    ejections: int
    backoff: int
    ejected_until: float | None


@final
@dataclass(frozen=True, slots=True)
class OutlierStatistics:
    """A snapshot of an outlier detector, for metrics, logs and the dashboard.

    Attributes:
        hosts: instances in the pool.
        ejected: instances ejected now.
        ejections: ejections enforced since creation (Envoy's ``ejections_enforced_total``).
        overflow: ejections refused by the ``max_ejection_percent`` cap (``ejections_overflow``).
        returns: ejected instances that came back after their time.
        instances: per-instance figures, in a stable order.
    """

    hosts: int
    ejected: int
    ejections: int
    overflow: int
    returns: int
    instances: tuple[HostOutlierStatistics, ...]


@runtime_checkable
class Ejector(Protocol):
    """Learns from call outcomes which instances to keep out of the pool for a while.

    :class:`OutlierDetector` and :class:`NoopOutlierDetector` satisfy it. Wire it beside a
    balancer: feed it the same instance set, record each outcome, exclude what it ejects::

        resolver.subscribe(detector.update)
        pick = balancer.pick(exclude=detector.ejected())
        ...
        detector.record(pick.instance, ok=ok)
    """

    def update(self, instances: Iterable[Instance]) -> None:
        """Replace the pool; instances that stay keep their state."""
        ...

    def record(self, instance: Instance, ok: bool) -> None:
        """Count one call outcome (instances outside the pool are ignored)."""
        ...

    def ejected(self) -> frozenset[Instance]:
        """The instances ejected now (those whose time is up have returned)."""
        ...

    def statistics(self) -> OutlierStatistics:
        """A frozen snapshot of the detector's state."""
        ...


@final
class _Host:
    __slots__ = ("backoff", "consecutive", "ejected_until", "ejections", "instance", "returned_at")

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.consecutive = 0
        self.ejections = 0
        self.backoff = 0
        self.ejected_until: float | None = None
        self.returned_at: float | None = None


@final
class OutlierDetector:
    """Ejects an instance after consecutive failures, for longer each time it fails again.

    Use it with any balancer to stop sending calls to an instance that keeps failing (a crashed
    pod whose address DNS still returns, a host with a broken disk), and to let it back in after
    a while without a health checker. Ejected instances return lazily: :meth:`ejected` and
    :meth:`record` compare their return time with the clock.

    Rules (Envoy's consecutive-5xx detector, with its defaults):

    - the ``consecutive_failures``-th failure in a row (5) triggers an ejection attempt; a success
      resets the count, and so does the attempt, enforced or not, and the instance's return;
    - the attempt is allowed when ``100 * (ejected + 1) / hosts <= max_ejection_percent`` (10), or,
      with ``always_eject_one`` (Envoy's ``always_eject_one_host``), when nothing is ejected yet
      and the pool has at least two instances; otherwise it is refused and counted as overflow;
    - an ejection increments the instance's ``backoff`` (up to the first value where
      ``backoff * base >= max + base``) and lasts ``min(base_ejection_time * backoff,
      max_ejection_time)`` (30 s, then 60 s, 90 s, ... up to 300 s), plus a random jitter of up to
      ``max_ejection_jitter`` seconds;
    - once back, each full ``interval`` (10 s) without another ejection takes one off ``backoff``,
      so an instance that fails again soon after its return is ejected for longer (probation),
      and one that stays healthy is forgiven step by step.

    Differences from Envoy, on purpose: ``always_eject_one`` defaults to True (Envoy's default of
    False with ``max_ejection_percent=10`` never ejects anything from a pool under 10 instances,
    which is most pools a service calls) but never ejects the only instance of a pool; ejected
    instances return exactly when their time is up rather than at the next ``interval`` tick;
    the backoff decay is counted in whole intervals since the return rather than on a timer. Only
    the consecutive-failure detector is implemented (not success-rate or failure-percentage
    ejection); what counts as a failure is the caller's choice (5xx, timeouts, connection errors).

    Args:
        instances: the initial pool (more through :meth:`update`).
        consecutive_failures: failures in a row that trigger an ejection (>= 1).
        base_ejection_time: seconds of the first ejection (> 0).
        max_ejection_time: cap on an ejection's length; defaults to ``max(300, base_ejection_time)``
            and must be >= ``base_ejection_time``.
        max_ejection_percent: share of the pool that may be ejected at once, in [0, 100].
        always_eject_one: allow one ejection whatever the percentage (pools of two or more).
        interval: seconds of health that take one step off the backoff (> 0).
        max_ejection_jitter: up to this many seconds are added at random to each ejection (>= 0).
        on_eject: called with ``(instance, seconds)`` when an instance is ejected.
        on_return: called with the instance when it comes back.
        clock: the time source.
        rng: draws the jitter.

    Example::

        detector = OutlierDetector(instances, on_eject=lambda i, s: log.warning("%s out for %ss", i, s))
        pick = balancer.pick(exclude=detector.ejected())
        detector.record(pick.instance, ok=False)
    """

    __slots__ = (
        "_always_eject_one",
        "_base",
        "_consecutive",
        "_ejected",
        "_ejections",
        "_hosts",
        "_interval",
        "_jitter",
        "_max",
        "_max_percent",
        "_next_return",
        "_now",
        "_on_eject",
        "_on_return",
        "_overflow",
        "_returns",
        "_rng",
    )

    def __init__(
        self,
        instances: Iterable[Instance] = (),
        *,
        consecutive_failures: int = 5,
        base_ejection_time: float = 30.0,
        max_ejection_time: float | None = None,
        max_ejection_percent: float = 10.0,
        always_eject_one: bool = True,
        interval: float = 10.0,
        max_ejection_jitter: float = 0.0,
        on_eject: Callable[[Instance, float], None] | None = None,
        on_return: Callable[[Instance], None] | None = None,
        clock: Clock = MONOTONIC,
        rng: random.Random | None = None,
    ) -> None:
        if isinstance(consecutive_failures, bool) or not isinstance(consecutive_failures, int):
            raise ValueError("consecutive_failures must be an int >= 1")
        if consecutive_failures < 1:
            raise ValueError("consecutive_failures must be an int >= 1")
        if not (base_ejection_time > 0 and math.isfinite(base_ejection_time)):
            raise ValueError("base_ejection_time must be > 0 and finite")
        if max_ejection_time is None:
            max_ejection_time = max(300.0, base_ejection_time)
        if not (math.isfinite(max_ejection_time) and max_ejection_time >= base_ejection_time):
            raise ValueError("max_ejection_time must be finite and >= base_ejection_time")
        if not 0 <= max_ejection_percent <= 100:
            raise ValueError("max_ejection_percent must be in [0, 100]")
        if not (interval > 0 and math.isfinite(interval)):
            raise ValueError("interval must be > 0 and finite")
        if not (max_ejection_jitter >= 0 and math.isfinite(max_ejection_jitter)):
            raise ValueError("max_ejection_jitter must be >= 0 and finite")
        self._consecutive = consecutive_failures
        self._base = float(base_ejection_time)
        self._max = float(max_ejection_time)
        self._max_percent = float(max_ejection_percent)
        self._always_eject_one = always_eject_one
        self._interval = float(interval)
        self._jitter = float(max_ejection_jitter)
        self._on_eject = on_eject
        self._on_return = on_return
        self._now = clock.now
        self._rng = rng if rng is not None else random.Random()
        self._hosts: dict[Instance, _Host] = {}
        self._ejected: frozenset[Instance] = _EMPTY
        self._next_return = math.inf
        self._ejections = 0
        self._overflow = 0
        self._returns = 0
        self.update(instances)

    def update(self, instances: Iterable[Instance]) -> None:
        old = self._hosts
        self._hosts = {i: old.get(i) or _Host(i) for i in normalize(instances)}
        if any(i not in self._hosts for i in self._ejected):
            self._reindex()

    def record(self, instance: Instance, ok: bool) -> None:
        host = self._hosts.get(instance)
        if host is None:
            return
        now = self._now()
        if now >= self._next_return:
            self._return_due(now)
        if ok:
            host.consecutive = 0
            return
        host.consecutive += 1
        # Envoy fires on ``== threshold`` and ignores hosts already ejected (late failures of
        # calls that were in flight); their count is reset when they return.
        if host.consecutive != self._consecutive or host.ejected_until is not None:
            return
        host.consecutive = 0
        self._try_eject(host, now)

    def ejected(self) -> frozenset[Instance]:
        if self._next_return <= self._now():
            self._return_due(self._now())
        return self._ejected

    def _try_eject(self, host: _Host, now: float) -> None:
        active = len(self._ejected)
        total = len(self._hosts)
        allowed = 100.0 * (active + 1) / total <= self._max_percent or (
            self._always_eject_one and active == 0 and total >= 2
        )
        if not allowed:
            self._overflow += 1
            return
        backoff = self._decayed_backoff(host, now)
        # Envoy: the multiplier stops growing once it covers max_ejection_time.
        if backoff * self._base < self._max + self._base:
            backoff += 1
        host.backoff = backoff
        host.returned_at = None
        duration = min(self._base * backoff, self._max)
        if self._jitter:
            duration += self._rng.uniform(0.0, self._jitter)
        host.ejected_until = now + duration
        host.ejections += 1
        self._ejections += 1
        self._reindex()
        if self._on_eject is not None:
            self._on_eject(host.instance, duration)

    def _decayed_backoff(self, host: _Host, now: float) -> int:
        if host.returned_at is None:
            return host.backoff
        healthy_intervals = int((now - host.returned_at) // self._interval)
        return max(0, host.backoff - healthy_intervals)

    def _return_due(self, now: float) -> None:
        back: list[_Host] = []
        for host in self._hosts.values():  # in the stable order, so on_return calls are too
            until = host.ejected_until
            if until is None or until > now:
                continue
            # Back at the exact time its ejection ended (the backoff decay counts from there).
            host.returned_at = until
            host.ejected_until = None
            host.consecutive = 0
            back.append(host)
            self._returns += 1
        self._reindex()
        if self._on_return is not None:
            for host in back:
                self._on_return(host.instance)

    def _reindex(self) -> None:
        ejected = [host for host in self._hosts.values() if host.ejected_until is not None]
        self._ejected = frozenset(host.instance for host in ejected) if ejected else _EMPTY
        self._next_return = min(
            (host.ejected_until for host in ejected if host.ejected_until is not None), default=math.inf
        )

    def statistics(self) -> OutlierStatistics:
        now = self._now()
        if now >= self._next_return:
            self._return_due(now)
        return OutlierStatistics(
            hosts=len(self._hosts),
            ejected=len(self._ejected),
            ejections=self._ejections,
            overflow=self._overflow,
            returns=self._returns,
            instances=tuple(
                HostOutlierStatistics(
                    instance=host.instance,
                    consecutive_failures=host.consecutive,
                    ejections=host.ejections,
                    backoff=self._decayed_backoff(host, now),
                    ejected_until=host.ejected_until,
                )
                for host in self._hosts.values()
            ),
        )

    def __repr__(self) -> str:
        return f"OutlierDetector(hosts={len(self._hosts)!r}, ejected={len(self._ejected)!r})"


_STATS: Final = OutlierStatistics(hosts=0, ejected=0, ejections=0, overflow=0, returns=0, instances=())


@final
class NoopOutlierDetector:
    """An :class:`Ejector` that never ejects; use it where outlier detection is switched off."""

    __slots__ = ()

    def update(self, instances: Iterable[Instance]) -> None:
        """Ignored."""

    def record(self, instance: Instance, ok: bool) -> None:
        """Ignored."""

    def ejected(self) -> frozenset[Instance]:
        return _EMPTY

    def statistics(self) -> OutlierStatistics:
        return _STATS

    def __repr__(self) -> str:
        return "NoopOutlierDetector()"
