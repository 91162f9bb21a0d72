"""Governance: the layer between primitives and transports.

It owns the check protocol, the compilation of a :class:`Policy` into a flat :class:`Chain`, the
one guarded call path (:class:`Guard`) that every entry point (server routes, the ASGI
middleware, the outbound transport) runs calls through, the open set of policy sections, the
layered and versioned rules (:class:`Rules`), and the :class:`Registry` of stateful primitives
with their lifecycle and ``snapshot()``.

It knows no transport: no ASGI scope, no httpx request; entry points adapt to it through
:class:`Call` and :class:`Transport`. It never reads the OS clock (a :class:`~seawall.Clock` is
injected) or draws randomness except from an injected ``random.Random``.
"""

from __future__ import annotations

from seawall.governance._call import Call, Outcome, OutcomeKind, Propagated
from seawall.governance._chain import Chain, admit, admit_async, compile_chain
from seawall.governance._check import (
    AsyncCheck,
    Check,
    CheckFactory,
    CompileContext,
    Exit,
    FieldError,
    register_check,
    registered_checks,
)
from seawall.governance._governor import Governor, Target
from seawall.governance._guard import FALLBACK_GRACE, Accounting, Fallback, Guard, Observer, Transport
from seawall.governance._keys import KeyFn, check_key_spec, key_function
from seawall.governance._metrics import GovernanceCollector
from seawall.governance._policy import (
    METRICS,
    TIMEOUT,
    Policy,
    Section,
    decode_patch,
    define_section,
    sections,
    validate_struct,
)
from seawall.governance._registry import Registry, ResourceInfo, ResourceSnapshot
from seawall.governance._rules import Rule, RuleLayer, Rules, RulesVersion, overlay
from seawall.governance._timeouts import TimeoutWheel, Watch
from seawall.governance.checks import (
    ADAPTIVE_CONCURRENCY,
    BREAKER,
    BULKHEAD,
    CALL_CHAIN_HEADER,
    CLIENT_KEY,
    HOTSPOTS,
    LOOP_DETECTION,
    MAX_CONNS,
    MAX_CONNS_PER_CLIENT,
    PACING,
    PRIORITY,
    QUEUE_DELAY,
    RATE_LIMIT,
    SHEDDING,
    WARMUP,
    WINDOW,
    AdaptiveConcurrencyPolicy,
    BreakerPolicy,
    BulkheadPolicy,
    HotspotPolicy,
    Inbound,
    LoopPolicy,
    PacingPolicy,
    PriorityPolicy,
    QueueDelayPolicy,
    RateLimitPolicy,
    SheddingPolicy,
    WarmUpPolicy,
    WindowPolicy,
    inbound,
)

__all__ = [
    "ADAPTIVE_CONCURRENCY",
    "BREAKER",
    "BULKHEAD",
    "CALL_CHAIN_HEADER",
    "CLIENT_KEY",
    "FALLBACK_GRACE",
    "HOTSPOTS",
    "LOOP_DETECTION",
    "MAX_CONNS",
    "MAX_CONNS_PER_CLIENT",
    "METRICS",
    "PACING",
    "PRIORITY",
    "QUEUE_DELAY",
    "RATE_LIMIT",
    "SHEDDING",
    "TIMEOUT",
    "WARMUP",
    "WINDOW",
    "Accounting",
    "AdaptiveConcurrencyPolicy",
    "AsyncCheck",
    "BreakerPolicy",
    "BulkheadPolicy",
    "Call",
    "Chain",
    "Check",
    "CheckFactory",
    "CompileContext",
    "Exit",
    "Fallback",
    "FieldError",
    "GovernanceCollector",
    "Governor",
    "Guard",
    "HotspotPolicy",
    "Inbound",
    "KeyFn",
    "LoopPolicy",
    "Observer",
    "Outcome",
    "OutcomeKind",
    "PacingPolicy",
    "Policy",
    "PriorityPolicy",
    "Propagated",
    "QueueDelayPolicy",
    "RateLimitPolicy",
    "Registry",
    "ResourceInfo",
    "ResourceSnapshot",
    "Rule",
    "RuleLayer",
    "Rules",
    "RulesVersion",
    "Section",
    "SheddingPolicy",
    "Target",
    "TimeoutWheel",
    "Transport",
    "WarmUpPolicy",
    "Watch",
    "WindowPolicy",
    "admit",
    "admit_async",
    "check_key_spec",
    "compile_chain",
    "decode_patch",
    "define_section",
    "inbound",
    "key_function",
    "overlay",
    "register_check",
    "registered_checks",
    "sections",
    "validate_struct",
]
