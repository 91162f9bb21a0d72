"""Typed handler parameters: turn a handler's signature into a fast argument builder.

A handler declares what it needs and seawall supplies it, converted and validated:

* a parameter named like a path placeholder (``/items/{item_id}``) gets that segment, converted to
  its annotation (``int``, ``float``, ``str``, ``uuid.UUID``...);
* a ``msgspec.Struct`` (or ``list``/``dict``) parameter is the JSON body; one named ``query`` is
  built from the query string instead;
* other scalar parameters are query parameters (required unless they have a default);
* ``Annotated[str, Header()]`` reads a header (``x_request_id`` -> ``x-request-id``);
* a parameter annotated :class:`~seawall.http.Request` receives the request itself.

Bad input becomes a 400 naming the field (``path.item_id``, ``query.limit``, ``body.$.name``).
Signatures are inspected once, when the route is added; nothing here runs per request except
the builder it returns.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Final, Literal, Union, final, get_args, get_origin, get_type_hints

import msgspec

from seawall.errors import MalformedBody, ValidationFailed
from seawall.http._request import Request

__all__ = ["Header", "ParamSpec", "compile_params"]

Source = Literal["path", "query", "query_struct", "header", "body", "request"]
_AT_PATH: Final = re.compile(r" - at `(\$[^`]*)`$")
_MISSING: Final = inspect.Parameter.empty


@final
@dataclass(frozen=True, slots=True)
class Header:
    """Marks a parameter as a request header: ``Annotated[str, Header("x-api-key")]``."""

    name: str | None = None


@final
@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One handler parameter: where it comes from and its type (read by the OpenAPI generator)."""

    name: str
    source: Source
    annotation: Any
    default: Any
    key: str  # the path/query/header name it is read from

    @property
    def required(self) -> bool:
        return self.default is _MISSING


def _is_body_type(tp: Any) -> bool:
    if get_origin(tp) in (Union, UnionType):  # `Item | None`: the body is optional
        args = [a for a in get_args(tp) if a is not type(None)]
        return len(args) == 1 and _is_body_type(args[0])
    origin = get_origin(tp) or tp
    return (inspect.isclass(origin) and issubclass(origin, msgspec.Struct)) or origin in (list, dict)


def _classify(name: str, tp: Any, default: Any, path_names: set[str]) -> ParamSpec:
    if get_origin(tp) is Annotated:
        base, *meta = get_args(tp)
        for m in meta:
            if isinstance(m, Header):
                return ParamSpec(name, "header", base, default, m.name or name.replace("_", "-").lower())
        tp = base
    if tp is Request:
        return ParamSpec(name, "request", tp, default, name)
    if name in path_names:
        return ParamSpec(name, "path", tp, default, name)
    if _is_body_type(tp):
        if name == "query":
            return ParamSpec(name, "query_struct", tp, default, name)
        return ParamSpec(name, "body", tp, default, name)
    return ParamSpec(name, "query", tp, default, name)


def _convert(value: str, tp: Any, field: str) -> Any:
    if tp is str or tp is Any:
        return value
    try:
        return msgspec.convert(value, tp, strict=False)
    except msgspec.ValidationError as exc:
        raise ValidationFailed(f"{field}: {exc}", details={"field": field}) from None


def compile_params(
    fn: Callable[..., Any], path_names: set[str]
) -> tuple[list[ParamSpec], Callable[[Request], Awaitable[dict[str, Any]]] | None]:
    """Inspect ``fn`` once and return its parameter specs and an async kwargs builder.

    The builder is ``None`` when the handler takes no parameters (the fast path).

    Raises:
        TypeError: a parameter cannot be supplied (e.g. ``*args``) or a path placeholder has no
            matching parameter.
    """
    hints = get_type_hints(fn, include_extras=True)
    specs: list[ParamSpec] = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{fn.__qualname__}: *args/**kwargs parameters are not supported")
        specs.append(_classify(p.name, hints.get(p.name, str), p.default, path_names))
    missing = path_names - {s.name for s in specs if s.source == "path"}
    if missing:
        raise TypeError(f"{fn.__qualname__}: no parameter for path placeholder(s) {sorted(missing)}")
    if sum(s.source == "body" for s in specs) > 1:
        raise TypeError(f"{fn.__qualname__}: at most one body parameter")
    if not specs:
        return specs, None

    body_spec = next((s for s in specs if s.source == "body"), None)
    body_decoder = msgspec.json.Decoder(body_spec.annotation) if body_spec else None
    frozen_specs = tuple(specs)

    async def build(request: Request) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for spec in frozen_specs:
            source = spec.source
            if source == "path":
                kwargs[spec.name] = _convert(request.params[spec.key], spec.annotation, f"path.{spec.key}")
            elif source == "request":
                kwargs[spec.name] = request
            elif source == "query" or source == "header":
                values = request.query if source == "query" else request.headers
                raw = values.get(spec.key)
                if raw is None:
                    if spec.required:
                        raise ValidationFailed(
                            f"{source}.{spec.key}: required", details={"field": f"{source}.{spec.key}"}
                        )
                    kwargs[spec.name] = spec.default
                else:
                    kwargs[spec.name] = _convert(raw, spec.annotation, f"{source}.{spec.key}")
            elif source == "query_struct":
                try:
                    kwargs[spec.name] = msgspec.convert(request.query, spec.annotation, strict=False)
                except msgspec.ValidationError as exc:
                    raise _validation("query", exc) from None
            else:
                assert body_decoder is not None
                raw_body = await request.body()
                if not raw_body and not spec.required:
                    kwargs[spec.name] = spec.default
                    continue
                try:
                    kwargs[spec.name] = body_decoder.decode(raw_body)
                except msgspec.ValidationError as exc:
                    raise _validation("body", exc) from None
                except msgspec.DecodeError as exc:
                    raise MalformedBody(f"body is not valid JSON: {exc}") from None
        return kwargs

    return specs, build


def _validation(where: str, exc: msgspec.ValidationError) -> ValidationFailed:
    message = str(exc)
    match = _AT_PATH.search(message)
    field = f"{where}.{match.group(1)}" if match else where
    return ValidationFailed(f"{field}: {_AT_PATH.sub('', message)}", details={"field": field})
