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

Text scalars (path, query and header values, and the fields of a ``query`` Struct) are converted
strictly, so that one value has one spelling and nothing unbounded is parsed:

* ``int`` (also ``IntEnum``, ``Literal`` of ints, ``NewType`` of int): JSON integer syntax only
  (``-?(0|[1-9][0-9]*)``, at most 20 digits, within -2**63 .. 2**64-1, the integer range of a JSON
  body); ``1.0``, ``1e3``, ``+1``, ``01``, `` 1`` are refused;
* ``float`` and ``Decimal``: JSON number syntax (at most 128 characters) and finite: ``nan``,
  ``inf``, ``Infinity``, ``1e999`` are refused;
* ``bool``: ``true``/``false`` in any letter case, ``1``, ``0``;
* anything else (``str``, ``UUID``, ``datetime``, enums of strings, unions) goes to msgspec's
  lax conversion, and a non-finite float or Decimal result is refused.

Path parameter values must not contain NUL, nor a ``..`` segment (split on ``/`` and ``\\``):
both are refused with 400 before the handler (or a hotspot key) sees them. seawall refuses
rather than normalises ``..``: a client that sends one is either confused or probing.

JSON bodies nesting deeper than ``Request.max_json_depth`` (default :data:`MAX_JSON_DEPTH`) are
refused with 400 ``MALFORMED_BODY`` before msgspec decodes them, as is invalid UTF-8.
"""

from __future__ import annotations

import decimal
import inspect
import itertools
import math
import re
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Final, Literal, Union, final, get_args, get_origin, get_type_hints

import msgspec

from seawall.errors import MalformedBody, ValidationFailed
from seawall.http._request import MAX_JSON_DEPTH, Request

__all__ = [
    "MAX_INT_DIGITS",
    "MAX_JSON_DEPTH",
    "MAX_NUMBER_CHARS",
    "Header",
    "ParamSpec",
    "compile_params",
    "compile_path_converters",
    "json_depth_exceeds",
]

Source = Literal["path", "query", "query_struct", "header", "body", "request"]
Converter = Callable[[str], Any]
_AT_PATH: Final = re.compile(r" - at `(\$[^`]*)`$")
_MISSING: Final = inspect.Parameter.empty

#: Most digits accepted in an integer path/query/header value (2**64 has 20): bounds the cost
#: of ``int()`` and keeps text integers within the range a JSON body accepts.
MAX_INT_DIGITS: Final = 20
#: Longest text accepted for a ``float`` or ``Decimal`` path/query/header value.
MAX_NUMBER_CHARS: Final = 128

_INT_MIN: Final = -(1 << 63)
_INT_MAX: Final = (1 << 64) - 1
# JSON's number grammar (RFC 8259 section 6), ASCII digits only ([0-9], not \d).
_INT_TEXT: Final = re.compile(rf"-?(?:0|[1-9][0-9]{{0,{MAX_INT_DIGITS - 1}}})")
_NUMBER_TEXT: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_BOOLS: Final = {"true": True, "false": False, "1": True, "0": False}


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
    base = tp
    if get_origin(tp) is Annotated:
        # Keep the other metadata (msgspec.Meta constraints): conversion and OpenAPI apply it.
        base, *meta = get_args(tp)
        for m in meta:
            if isinstance(m, Header):
                rest = [other for other in meta if other is not m]
                annotation = Annotated[(base, *rest)] if rest else base
                return ParamSpec(
                    name, "header", annotation, default, m.name or name.replace("_", "-").lower()
                )
    if base is Request:
        return ParamSpec(name, "request", base, default, name)
    if name in path_names:
        return ParamSpec(name, "path", tp, default, name)
    if _is_body_type(base):
        if name == "query":
            return ParamSpec(name, "query_struct", tp, default, name)
        return ParamSpec(name, "body", tp, default, name)
    return ParamSpec(name, "query", tp, default, name)


# -- strict text scalars -------------------------------------------------------------------------


def _parse_int(raw: str) -> int:
    # Fast path (a plain non-negative id, the common case) skips the regex: ~2x faster.
    if raw.isdigit() and raw.isascii() and len(raw) < MAX_INT_DIGITS and (raw[0] != "0" or raw == "0"):
        return int(raw)
    if _INT_TEXT.fullmatch(raw) is None:
        raise ValueError(
            f"expected an integer (at most {MAX_INT_DIGITS} digits, no sign '+', point or exponent)"
        )
    value = int(raw)
    if not _INT_MIN <= value <= _INT_MAX:
        raise ValueError("integer out of range")
    return value


def _parse_float(raw: str) -> float:
    if len(raw) > MAX_NUMBER_CHARS or _NUMBER_TEXT.fullmatch(raw) is None:
        raise ValueError("expected a finite number")
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _parse_decimal(raw: str) -> decimal.Decimal:
    if len(raw) > MAX_NUMBER_CHARS or _NUMBER_TEXT.fullmatch(raw) is None:
        raise ValueError("expected a finite number")
    return decimal.Decimal(raw)


def _parse_bool(raw: str) -> bool:
    value = _BOOLS.get(raw.lower()) if len(raw) <= 5 else None
    if value is None:
        raise ValueError("expected true, false, 1 or 0")
    return value


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """``tp`` without ``Annotated``, ``NewType`` and an ``| None``; and whether it was optional."""
    nullable = False
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif hasattr(tp, "__supertype__"):  # typing.NewType
            tp = tp.__supertype__
        elif get_origin(tp) in (Union, UnionType) and type(None) in get_args(tp):
            rest = [a for a in get_args(tp) if a is not type(None)]
            if len(rest) != 1:
                return tp, nullable
            tp, nullable = rest[0], True
        else:
            return tp, nullable


def _parser_for(core: Any) -> Callable[[str], Any] | None:
    if core is bool:
        return _parse_bool
    if core is int or (inspect.isclass(core) and issubclass(core, int) and not issubclass(core, bool)):
        return _parse_int  # int, IntEnum, IntFlag
    if get_origin(core) is Literal and all(type(v) is int for v in get_args(core)):
        return _parse_int
    if core is float:
        return _parse_float
    if core is decimal.Decimal:
        return _parse_decimal
    return None


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: {message}", details={"field": field})


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, decimal.Decimal):
        return value.is_finite()
    return True


def _scalar_converter(tp: Any, field: str) -> Converter:
    """A strict ``str -> tp`` conversion raising :class:`ValidationFailed` naming ``field``."""
    if tp is str or tp is Any:
        return str
    core, nullable = _unwrap(tp)
    parse = _parser_for(core)

    def lax(raw: Any) -> Any:
        try:
            value = msgspec.convert(raw, tp, strict=False)
        except msgspec.ValidationError as exc:
            raise _invalid(field, str(exc)) from None
        if not _finite(value):
            raise _invalid(field, "expected a finite number")
        return value

    if parse is None:
        return lax
    parser = parse
    direct = tp in (int, float, bool, decimal.Decimal)  # the parsed value is the answer

    def strict(raw: str) -> Any:
        if nullable and raw == "null":  # msgspec's lax text form of None, kept for `int | None`
            return None
        try:
            value = parser(raw)
        except ValueError as exc:
            raise _invalid(field, str(exc)) from None
        return value if direct else lax(value)  # constraints, enums, literals

    return strict


def _has_dot_dot_segment(value: str) -> bool:
    return ".." in value.replace("\\", "/").split("/")


def _path_converter(tp: Any, field: str) -> Converter:
    convert = _scalar_converter(tp, field)

    def path(raw: str) -> Any:
        if "\x00" in raw:
            raise _invalid(field, "must not contain NUL")
        if ".." in raw and _has_dot_dot_segment(raw):
            raise _invalid(field, "must not contain a '..' segment")
        return convert(raw)

    return path


def _struct_field_parsers(tp: Any) -> dict[str, Callable[[str], Any]]:
    """For a ``query`` Struct: the strict parser of each int/float/bool/Decimal field, by its name
    in the query string (msgspec then converts the parsed values and checks constraints)."""
    core, _ = _unwrap(tp)
    if not (inspect.isclass(core) and issubclass(core, msgspec.Struct)):
        return {}
    parsers: dict[str, Callable[[str], Any]] = {}
    for f in msgspec.structs.fields(core):
        field_core, nullable = _unwrap(f.type)
        parse = _parser_for(field_core)
        if parse is not None:
            parsers[f.encode_name] = _null_passes(parse) if nullable else parse
    return parsers


def _null_passes(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    return lambda raw: raw if raw == "null" else parse(raw)  # msgspec makes "null" None


# -- JSON nesting depth --------------------------------------------------------------------------

_KEEP_STRUCTURE: Final = bytes(c for c in range(256) if c not in b'[]{}"')  # deleted by translate
_BRACES_AS_BRACKETS: Final = bytes.maketrans(b"{}", b"[]")
_SIGNED_STEPS: Final = bytes.maketrans(b"[]", b"\x01\xff")  # +1 / -1 as signed bytes


def json_depth_exceeds(body: bytes, max_depth: int) -> bool:
    """Whether the JSON text ``body`` nests arrays/objects more than ``max_depth`` levels deep.

    Exact for valid JSON (brackets inside strings do not count); for invalid JSON the answer is
    unspecified (the decoder refuses it anyway). Cost: two ``bytes.count`` calls when the body
    has at most ``max_depth`` opening brackets (a typical 1 KB body: under 1 us); otherwise a few
    linear C passes plus one running sum over the brackets, about 15 ms for 1 MiB of brackets on
    a 2024 laptop core (``bench`` in the commit adding it), below msgspec's cost to decode them.
    """
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False  # cannot nest deeper than it has openers: the common case stops here
    if b"\\" in body:  # escaped backslashes, then escaped quotes, cannot end a string
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Keep brackets and quotes. Dropping an adjacent quote pair keeps every bracket's side of the
    # string boundaries, so empty (or bracket-free) strings vanish cheaply; what is left inside
    # quotes is then cut out by splitting on them.
    structure = body.translate(_BRACES_AS_BRACKETS, _KEEP_STRUCTURE).replace(b'""', b"")
    if b'"' in structure:
        structure = b"".join(structure.split(b'"')[::2])
    if b"[" * (max_depth + 1) in structure:
        return True
    steps = memoryview(structure.translate(_SIGNED_STEPS)).cast("b")
    return max(itertools.accumulate(steps), default=0) > max_depth


async def _decode_body(request: Request, decoder: msgspec.json.Decoder[Any]) -> Any:
    raw_body = await request.body()
    max_depth = request.max_json_depth
    if json_depth_exceeds(raw_body, max_depth):
        raise MalformedBody(f"body nests arrays/objects deeper than {max_depth} levels")
    try:
        return decoder.decode(raw_body)
    except msgspec.ValidationError as exc:
        raise _validation("body", exc) from None
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"body is not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:  # msgspec decodes strings lazily, past its own checks
        raise MalformedBody(f"body is not valid UTF-8: byte {exc.start} of a string") from None
    except RecursionError:  # deep enough for the interpreter's stack but under max_depth
        raise MalformedBody("body nests arrays/objects too deeply") from None


# -- compilation ---------------------------------------------------------------------------------


def _specs(fn: Callable[..., Any], path_names: set[str]) -> list[ParamSpec]:
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
    return specs


def compile_path_converters(fn: Callable[..., Any], path_names: Collection[str]) -> dict[str, Converter]:
    """The converter of each path parameter of ``fn``, by placeholder name: ``raw text -> value``.

    The same conversion the handler's arguments get (strict scalars, NUL and ``..`` refused),
    for use before the handler runs, e.g. to key a hotspot limit on the canonical value, so that
    ``/items/1`` and ``/items/01`` cannot be two keys for one item, and so that an invalid value
    is refused (400) before it takes any budget. Each converter raises
    :class:`~seawall.errors.ValidationFailed` naming ``path.<name>``.

    Example::

        convert = compile_path_converters(get_item, {"item_id"})["item_id"]
        convert("42")  # 42
        convert("4.2e1")  # ValidationFailed: path.item_id: expected an integer ...

    Raises:
        TypeError: as :func:`compile_params` (a placeholder without a parameter, ``*args``...).
    """
    specs = _specs(fn, set(path_names))
    return {s.key: _path_converter(s.annotation, f"path.{s.key}") for s in specs if s.source == "path"}


def compile_params(
    fn: Callable[..., Any], path_names: set[str]
) -> tuple[list[ParamSpec], Callable[[Request], Awaitable[dict[str, Any]]] | None]:
    """Inspect ``fn`` once and return its parameter specs and an async kwargs builder.

    The builder is ``None`` when the handler takes no parameters (the fast path).

    Raises:
        TypeError: a parameter cannot be supplied (e.g. ``*args``) or a path placeholder has no
            matching parameter.
    """
    specs = _specs(fn, path_names)
    if not specs:
        return specs, None

    body_spec = next((s for s in specs if s.source == "body"), None)
    body_decoder = msgspec.json.Decoder(body_spec.annotation) if body_spec else None
    converters: dict[str, Converter] = {}
    field_parsers: dict[str, dict[str, Callable[[str], Any]]] = {}
    for s in specs:
        if s.source == "path":
            converters[s.name] = _path_converter(s.annotation, f"path.{s.key}")
        elif s.source in ("query", "header"):
            converters[s.name] = _scalar_converter(s.annotation, f"{s.source}.{s.key}")
        elif s.source == "query_struct":
            field_parsers[s.name] = _struct_field_parsers(s.annotation)
    frozen_specs = tuple(specs)

    async def build(request: Request) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for spec in frozen_specs:
            source = spec.source
            if source == "path":
                kwargs[spec.name] = converters[spec.name](request.params[spec.key])
            elif source == "request":
                kwargs[spec.name] = request
            elif source == "query" or source == "header":
                values = request.query if source == "query" else request.headers
                raw = values.get(spec.key)
                if raw is None:
                    if spec.required:
                        raise _invalid(f"{source}.{spec.key}", "required")
                    kwargs[spec.name] = spec.default
                else:
                    kwargs[spec.name] = converters[spec.name](raw)
            elif source == "query_struct":
                kwargs[spec.name] = _build_query_struct(
                    request.query, spec.annotation, field_parsers[spec.name]
                )
            else:
                assert body_decoder is not None
                if not spec.required and not await request.body():
                    kwargs[spec.name] = spec.default
                    continue
                kwargs[spec.name] = await _decode_body(request, body_decoder)
        return kwargs

    return specs, build


def _build_query_struct(query: dict[str, str], tp: Any, parsers: dict[str, Callable[[str], Any]]) -> Any:
    values: dict[str, Any] = query
    if parsers and not parsers.keys().isdisjoint(query):
        values = dict(query)
        for name, parse in parsers.items():
            raw = query.get(name)
            if raw is not None:
                try:
                    values[name] = parse(raw)
                except ValueError as exc:
                    raise _invalid(f"query.$.{name}", str(exc)) from None
    try:
        return msgspec.convert(values, tp, strict=False)
    except msgspec.ValidationError as exc:
        raise _validation("query", exc) from None


def _validation(where: str, exc: msgspec.ValidationError) -> ValidationFailed:
    message = str(exc)
    match = _AT_PATH.search(message)
    field = f"{where}.{match.group(1)}" if match else where
    return ValidationFailed(f"{field}: {_AT_PATH.sub('', message)}", details={"field": field})
