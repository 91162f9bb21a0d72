"""Path routing: static paths by dict lookup, templated paths by one compiled regex each.

Templates use ``{name}`` for one segment and ``{name:path}`` for the rest of the path. The router
only matches paths to route entries; methods, checks and handlers belong to the service.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final, Generic, TypeVar, final

__all__ = ["Router", "parse_template"]

V = TypeVar("V")

_PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(path))?\}")


def parse_template(template: str) -> tuple[re.Pattern[str] | None, list[str]]:
    """Compile ``template``; returns ``(None, [])`` for a static path.

    Raises:
        ValueError: the template does not start with ``/`` or repeats a placeholder.
    """
    if not template.startswith("/"):
        raise ValueError(f"route path must start with '/': {template!r}")
    names: list[str] = []
    pattern = ["^"]
    last = 0
    for m in _PLACEHOLDER.finditer(template):
        pattern.append(re.escape(template[last : m.start()]))
        name, kind = m.group(1), m.group(2)
        if name in names:
            raise ValueError(f"placeholder {{{name}}} appears twice in {template!r}")
        names.append(name)
        pattern.append(f"(?P<{name}>.+)" if kind == "path" else f"(?P<{name}>[^/]+)")
        last = m.end()
    if not names:
        return None, []
    pattern.append(re.escape(template[last:]) + "$")
    return re.compile("".join(pattern)), names


@final
class Router(Generic[V]):
    """Maps a request path to ``(value, path params)``; the value is a route entry.

    Static templates are found in O(1); templated ones are tried in the order they were added.
    """

    __slots__ = ("_dynamic", "_static")

    def __init__(self) -> None:
        self._static: dict[str, V] = {}
        self._dynamic: list[tuple[str, re.Pattern[str], V]] = []

    def add(self, template: str, value: V) -> None:
        regex, _ = parse_template(template)
        if regex is None:
            self._static[template] = value
        else:
            self._dynamic.append((template, regex, value))

    def get(self, template: str) -> V | None:
        """The value registered for exactly ``template``."""
        if template in self._static:
            return self._static[template]
        return next((v for t, _, v in self._dynamic if t == template), None)

    def match(self, path: str) -> tuple[V, dict[str, str]] | None:
        value = self._static.get(path)
        if value is not None:
            return value, {}
        for _, regex, value in self._dynamic:
            m = regex.match(path)
            if m is not None:
                return value, m.groupdict()
        return None

    @property
    def static(self) -> dict[str, V]:
        """The static routes, for the server's fast path (do not mutate)."""
        return self._static

    def __iter__(self) -> Iterator[tuple[str, V]]:
        yield from self._static.items()
        for template, _, value in self._dynamic:
            yield template, value
