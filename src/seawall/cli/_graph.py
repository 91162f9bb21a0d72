"""``seawall graph CONFIG...``: the call graph that several services' ``dependencies:`` declare.

A static lint, run before deploying: every cycle (a -> b -> c -> a would end in 508
``LOOP_DETECTED`` at run time, after one lap) is named and makes the command fail; the longest
call chain is printed, since a chain deeper than a service's ``loop_detection.max_depth`` is
refused at run time too. A service is named by ``NAME=FILE``, else by the file's name
(``orders.yaml`` -> ``orders``), or its directory's for ``seawall.yaml`` (``orders/seawall.yaml``).
An edge goes to a dependency's ``service`` (else its name); a dependency without a file of its
own is a leaf.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, final

from seawall import config
from seawall.errors import ConfigError
from seawall.governance import LoopPolicy
from seawall.http._config import DEFAULT_FILES, SeawallConfig

__all__ = ["CallGraph", "load_graph", "run_graph", "service_name"]

#: Cycles listed at most (a dense graph has exponentially many; the first ones say enough).
MAX_CYCLES: Final = 100


def service_name(path: Path) -> str:
    """The service a config file belongs to: its stem, or its directory's name for ``seawall.yaml``."""
    if path.name in DEFAULT_FILES:
        return path.resolve().parent.name
    return path.stem


@final
@dataclass(frozen=True, slots=True)
class CallGraph:
    """Services and the services each one calls.

    Attributes:
        edges: each service with a config, and the services it calls (sorted).
    """

    edges: Mapping[str, tuple[str, ...]]

    @property
    def services(self) -> tuple[str, ...]:
        """Every service: those with a config and those only called."""
        return tuple(sorted({*self.edges, *(v for vs in self.edges.values() for v in vs)}))

    def cycles(self, limit: int = MAX_CYCLES) -> list[tuple[str, ...]]:
        """Every elementary cycle (up to ``limit``), each once, starting at its smallest name.

        For each start ``s`` in name order, a depth-first search through names greater than
        ``s`` finds the paths back to ``s``: each cycle is found from its smallest member only.
        """
        order = {name: i for i, name in enumerate(self.services)}
        found: list[tuple[str, ...]] = []
        for start in self.services:
            path = [start]
            on_path = {start}
            stack: list[Iterator[str]] = [iter(self.edges.get(start, ()))]
            while stack:
                nxt = next(stack[-1], None)
                if nxt is None:
                    stack.pop()
                    on_path.discard(path.pop())
                elif nxt == start:
                    found.append(tuple(path))
                    if len(found) >= limit:
                        return found
                elif order[nxt] > order[start] and nxt not in on_path:
                    path.append(nxt)
                    on_path.add(nxt)
                    stack.append(iter(self.edges.get(nxt, ())))
        return found

    def longest_chain(self) -> tuple[str, ...]:
        """The longest call chain (most services), the first by name among equals.

        Raises:
            ValueError: the graph has a cycle (chains are unbounded).
        """
        if self.cycles(limit=1):
            raise ValueError("the call graph has a cycle")

        @functools.cache
        def longest(node: str) -> tuple[str, ...]:
            best: tuple[str, ...] = ()
            for callee in self.edges.get(node, ()):
                chain = longest(callee)
                if len(chain) > len(best):
                    best = chain
            return (node, *best)

        chains = [longest(s) for s in self.services]
        return max(chains, key=len) if chains else ()


def load_graph(files: Sequence[str]) -> CallGraph:
    """Read ``NAME=FILE`` or ``FILE`` arguments into a :class:`CallGraph` (no environment overrides).

    Raises:
        ConfigError: a file is invalid, or two files name the same service.
    """
    edges: dict[str, tuple[str, ...]] = {}
    sources: dict[str, str] = {}
    for arg in files:
        name, sep, file = arg.partition("=")
        path = Path(file if sep else arg)
        if not sep:
            name = service_name(path)
        if name in sources:
            raise ConfigError(f"service {name!r} is also defined by {sources[name]}", source=str(path))
        cfg = config.load(SeawallConfig, path, environ={})
        sources[name] = str(path)
        edges[name] = tuple(sorted({dep.service or key for key, dep in cfg.dependencies.items()}))
    return CallGraph(edges)


def run_graph(files: Sequence[str], echo: Callable[[str], None] = print) -> int:
    """What ``seawall graph`` does: print cycles and depth; 0 when acyclic, 1 on cycles, 2 on bad input."""
    if not files:
        echo("give at least one config file")
        return 2
    try:
        graph = load_graph(files)
    except ConfigError as exc:
        echo(f"invalid configuration: {exc}")
        return 2
    echo(f"{len(graph.services)} services, {sum(len(v) for v in graph.edges.values())} calls")
    cycles = graph.cycles()
    if cycles:
        for cycle in cycles:
            echo(f"cycle: {' -> '.join((*cycle, cycle[0]))}")
        more = " (listing stopped there)" if len(cycles) >= MAX_CYCLES else ""
        echo(f"{len(cycles)} cycle(s){more}: calls around them end in 508 LOOP_DETECTED")
        return 1
    chain = graph.longest_chain()
    echo(f"no cycles; longest call chain: {' -> '.join(chain)} (depth {len(chain)})")
    limit = LoopPolicy().max_depth
    if len(chain) > limit:
        echo(f"warning: deeper than loop_detection.max_depth's default {limit}: such calls are refused (508)")
    return 0
