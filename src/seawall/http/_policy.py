"""The HTTP side of policies: the ``max_body`` section, and the two policies every service knows.

Policies themselves (and every check's section) live in :mod:`seawall.governance`; this module
adds what only the HTTP transport reads.
"""

from __future__ import annotations

from typing import Annotated, Final

import msgspec

from seawall.governance import Policy, Section, define_section

__all__ = ["BARE", "DEFAULT_POLICY", "MAX_BODY"]

#: Largest request body accepted, in bytes (413 beyond it).
MAX_BODY: Final[Section[int]] = define_section(
    "max_body", Annotated[int, msgspec.Meta(ge=0, le=1 << 34)], 1 << 20, "largest request body in bytes (413)"
)

#: The default chain: concurrency limit, timeout and request metrics.
DEFAULT_POLICY: Final = Policy()

#: No checks, no deadline, no metrics: the handler alone (built-in endpoints and benchmarks use it).
BARE: Final = Policy(timeout=None, max_conns=None, metrics=False, loop_detection=None)
