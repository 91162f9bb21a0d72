"""Client keys: which client (or which value) a per-key limit counts a call against.

A key spec is a string so that it can come from configuration: ``ip`` (the peer address),
``global`` (one key for everyone), ``header:<name>``, ``query:<name>``, ``path:<placeholder>`` (the
converted value, so ``/items/1`` and ``/items/01`` share a key), or ``fn:<name>`` for a function
registered with ``Service.key_function(name)`` that receives the :class:`Call`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Final

from seawall.governance._call import Call

__all__ = ["KeyFn", "KeySpec", "check_key_spec", "key_function"]

#: Where a per-client or hotspot key comes from (see the module docstring).
KeySpec = str
#: Computes a call's key.
KeyFn = Callable[[Call], Hashable]

_KINDS: Final = ("header", "query", "path", "fn")


def check_key_spec(spec: str, what: str = "key") -> None:
    """Raise ``ValueError`` unless ``spec`` is a well-formed key spec."""
    kind, sep, name = spec.partition(":")
    if spec in ("ip", "global") or (kind in _KINDS and sep and name):
        return
    raise ValueError(
        f"{what} must be 'ip', 'global', 'header:<name>', 'query:<name>', 'path:<name>' or 'fn:<name>', "
        f"not {spec!r}"
    )


def _global(call: Call) -> Hashable:
    return ""


def _ip(call: Call) -> Hashable:
    return call.peer


def key_function(spec: KeySpec, functions: Mapping[str, KeyFn] | None = None) -> KeyFn:
    """Compile a key spec; ``fn:<name>`` is looked up in ``functions``.

    Raises:
        ValueError: the spec is malformed or names no registered function.
    """
    check_key_spec(spec)
    kind, _, name = spec.partition(":")
    if spec == "global":
        return _global
    if spec == "ip":
        return _ip
    if kind == "fn":
        if functions is None or name not in functions:
            raise ValueError(f"no key function named {name!r} is registered")
        return functions[name]
    if kind == "header":
        header = name.lower()
        return lambda call: call.header(header) or ""
    if kind == "query":
        return lambda call: call.query_param(name) or ""
    return lambda call: call.path_param(name)
