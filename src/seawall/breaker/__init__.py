"""Circuit breakers: stop calling a dependency that keeps failing, and notice when it recovers.

Two algorithms behind one :class:`Breaker` interface (``allow()`` → a :class:`BreakerTicket` or
``None``; the ticket reports ``success()``, ``failure()`` or ``ignore()``):

- :class:`AdaptiveBreaker`: Google SRE client-side throttling with go-zero's ``googlebreaker``
  semantics: drops a share of calls that grows with the recent failure rate; no fixed wait.
- :class:`CircuitBreaker`: the closed / open / half-open state machine with resilience4j's
  semantics (count- or time-based window, failure- and slow-call-rate thresholds, half-open
  probes, forced-open and disabled operator states).

:class:`NoopBreaker` is the no-op twin. These are pure primitives: time comes from an injected
clock, randomness from an injected ``random.Random``; no I/O, no timers, no global state, and no
knowledge of HTTP: deciding whether a response or exception is a failure (a 5xx, a timeout), or
not to be counted (a 4xx, a cancellation), belongs to the caller.
"""

from __future__ import annotations

from seawall.breaker._base import (
    Breaker,
    BreakerState,
    BreakerStatistics,
    BreakerTicket,
    TransitionListener,
)
from seawall.breaker._google import AdaptiveBreaker, AdaptiveBreakerStatistics
from seawall.breaker._noop import NoopBreaker
from seawall.breaker._state_machine import CircuitBreaker, CircuitBreakerStatistics

__all__ = [
    "AdaptiveBreaker",
    "AdaptiveBreakerStatistics",
    "Breaker",
    "BreakerState",
    "BreakerStatistics",
    "BreakerTicket",
    "CircuitBreaker",
    "CircuitBreakerStatistics",
    "NoopBreaker",
    "TransitionListener",
]
