"""Call in parallel: bounded fan-out that fails fast and respects the request's deadline.

A handler that needs three independent dependencies should call them at once, not one after the
other; and when one fails, the others' work is wasted and should stop. These helpers do that with
asyncio (go-zero's ``core/mr`` is the model):

- :func:`gather`: await several awaitables, at most ``limit`` at once; the first error cancels
  the rest and is raised.
- :func:`map`: apply an async function to many items, at most ``limit`` at once, results in input
  order; optionally keep going and return each failed item's exception in its slot.
- :func:`map_reduce`: go-zero's ``MapReduce``: concurrent mappers streaming into one reducer.

All three read the current request's deadline (:func:`seawall.deadline.remaining`) before starting
each piece of work and start nothing once it is spent (or under ``min_remaining``): that work fails
with :class:`~seawall.errors.DeadlineExceeded`. They take no clock: they never wait on time
themselves. This package must not retry, time out or limit rates itself; compose it with the
primitives that do.
"""

from __future__ import annotations

from seawall.parallel._map import DEFAULT_LIMIT, gather, map
from seawall.parallel._mapreduce import map_reduce

__all__ = ["DEFAULT_LIMIT", "gather", "map", "map_reduce"]
