"""``loop_detection``: 508 ``LOOP_DETECTED`` when a call comes back to a service it already went
through, or has gone through too many; and the call context outbound calls forward.

Every outbound call made with seawall's client carries ``X-Seawall-Call-Chain``: the names of the
services the call has passed through, oldest first (``orders,inventory``). A service that finds
its own name in the chain of an incoming call is part of a cycle (a -> b -> c -> a): it answers
508 at once, so the loop ends after one lap instead of at a timeout with every hop's resources
held. A chain longer than ``max_depth`` is refused the same way (a runaway fan-in, or a cycle
through services that do not check).

The check also records, for the duration of the call, what outbound calls made while handling it
must forward (:func:`inbound`): the incoming chain and the W3C ``traceparent``/``tracestate``.
It is on by default, and cheap: two header lookups when the call carries neither header, a split
and a membership test when it does.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Annotated, Final, final

import msgspec

from seawall.errors import LoopDetected
from seawall.governance._call import Call, Outcome
from seawall.governance._check import CompileContext, Exit, register_check
from seawall.governance._policy import Policy, Section, define_section, validate_struct

__all__ = [
    "CALL_CHAIN_HEADER",
    "LOOP_DETECTION",
    "MAX_CHAIN",
    "Inbound",
    "LoopCheck",
    "LoopPolicy",
    "inbound",
    "parse_chain",
]

#: The request header listing the services a call went through, oldest first, comma-separated.
CALL_CHAIN_HEADER: Final = "x-seawall-call-chain"
#: The most names a chain carries (and the largest ``max_depth``): outbound calls keep the newest.
MAX_CHAIN: Final = 64


class LoopPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Refuse (508) a call whose chain holds this service's name, or already ``max_depth`` names.

    ``max_depth`` counts services: a call that went through ``max_depth`` services before
    reaching this one is refused (a -> b -> c arrives at c with a chain of two names).
    """

    max_depth: Annotated[int, msgspec.Meta(ge=1, le=MAX_CHAIN)] = 10

    def __post_init__(self) -> None:
        validate_struct(self)


#: Loop detection on the route (on by default; ``None`` turns it off, and with it the forwarding
#: of the incoming call chain and trace context to outbound calls).
LOOP_DETECTION: Final[Section[LoopPolicy | None]] = define_section(
    "loop_detection", LoopPolicy | None, LoopPolicy(), "508 when the call chain visits this service twice"
)


@final
class Inbound:
    """What outbound calls made while handling a call forward: its chain and trace context.

    ``chain`` may be given parsed, or as the raw header value (parsed on first use: most
    requests that carry a chain make no outbound call, or pay for it once).
    """

    __slots__ = ("_chain", "_raw", "traceparent", "tracestate")

    def __init__(self, chain: tuple[str, ...] | str, traceparent: str | None, tracestate: str | None) -> None:
        self._chain: tuple[str, ...] | None = None if isinstance(chain, str) else chain
        self._raw = chain if isinstance(chain, str) else ""
        #: The incoming W3C ``traceparent``, forwarded as is until tracing takes over.
        self.traceparent = traceparent
        self.tracestate = tracestate

    @property
    def chain(self) -> tuple[str, ...]:
        """The services the incoming call went through, oldest first (this one not included)."""
        chain = self._chain
        if chain is None:
            chain = self._chain = parse_chain(self._raw)
        return chain

    def __repr__(self) -> str:
        return f"Inbound(chain={self.chain!r}, traceparent={self.traceparent!r})"


_INBOUND: ContextVar[Inbound | None] = ContextVar("seawall_inbound", default=None)


def inbound() -> Inbound | None:
    """The call context of the call being handled in this task, if it carried one."""
    return _INBOUND.get()


def parse_chain(value: str) -> tuple[str, ...]:
    """The names of a ``X-Seawall-Call-Chain`` value (blank entries dropped)."""
    return tuple(filter(None, map(str.strip, value.split(","))))


@final
class _Reset:
    __slots__ = ("token",)

    def __init__(self, token: Token[Inbound | None]) -> None:
        self.token = token

    def __call__(self, outcome: Outcome) -> None:
        _INBOUND.reset(self.token)


@final
class LoopCheck:
    """508 when the incoming chain names this service or is ``max_depth`` long; records :func:`inbound`."""

    __slots__ = ("max_depth", "service")
    name = "loop_detection"
    cost = 5  # first: a looping call should not take a slot or a token anywhere
    wants_outcome = False  # the exit only resets the call context

    def __init__(self, service: str, max_depth: int) -> None:
        self.service = service
        self.max_depth = max_depth

    def enter(self, call: Call) -> Exit | None:
        sent = call.propagated
        if sent is None:  # nothing to check or forward: the common case, one attribute read
            return None
        value, traceparent = sent.chain, sent.traceparent
        chain: tuple[str, ...] | str = ()
        if value is not None:
            chain = value
            # Parsed only when a cheap test says it may matter (a substring, a comma count):
            # most chains are short and do not name this service.
            if self.service in value or value.count(",") + 1 >= self.max_depth:
                chain = parse_chain(value)
                if self.service in chain:
                    raise LoopDetected(
                        f"{self.service} is already in the call chain {','.join(chain)}", check=self.name
                    )
                if len(chain) >= self.max_depth:
                    raise LoopDetected(
                        f"the call chain is {len(chain)} services deep (at most {self.max_depth - 1} "
                        f"may come before {self.service})",
                        check=self.name,
                    )
        return _Reset(_INBOUND.set(Inbound(chain, traceparent, sent.tracestate)))


def _factory(policy: Policy, ctx: CompileContext) -> LoopCheck | None:
    p = policy[LOOP_DETECTION]
    if p is None:
        return None
    return LoopCheck(ctx.service, p.max_depth)


register_check(LOOP_DETECTION.name, _factory)
