"""OpenAPI 3.1 from the handlers' types (msgspec generates the JSON Schemas)."""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Any, get_type_hints

import msgspec

from seawall.errors import ErrorBody
from seawall.http._request import Request
from seawall.http._response import Response

if TYPE_CHECKING:
    from seawall.http._service import Service

__all__ = ["BUILTIN_PATHS", "openapi_document"]

BUILTIN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})
_REF = "#/components/schemas/{name}"
_PATH_CONVERTER = re.compile(r"\{(\w+):path\}")
_ERRORS = {
    "400": "Invalid input (malformed body, wrong field type)",
    "413": "Body too large",
    "429": "Rate limited",
    "503": "Overloaded (shed, concurrency limit)",
    "504": "Deadline exceeded",
}


def openapi_document(service: Service) -> bytes:
    """Render the service's OpenAPI 3.1 document as JSON bytes."""
    types: list[Any] = [ErrorBody]
    slots: list[tuple[dict[str, Any], str, int]] = []  # (target dict, key, index into types)

    def schema_of(tp: Any, target: dict[str, Any], key: str) -> None:
        types.append(tp)
        slots.append((target, key, len(types) - 1))

    paths: dict[str, dict[str, Any]] = {}
    for ep in service.endpoints():
        if ep.route in BUILTIN_PATHS or ep.route.startswith("/_seawall/"):
            continue
        op: dict[str, Any] = {
            "operationId": f"{ep.method.lower()}_{ep.fn.__name__}",
            "summary": (inspect.getdoc(ep.fn) or ep.fn.__name__).split("\n")[0],
            "responses": {},
        }
        parameters = []
        for p in ep.params:
            if p.source in ("path", "query", "header"):
                param: dict[str, Any] = {
                    "name": p.key,
                    "in": p.source,
                    "required": p.source == "path" or p.required,
                }
                schema_of(p.annotation, param, "schema")
                parameters.append(param)
            elif p.source == "query_struct":
                for field in msgspec.structs.fields(p.annotation):
                    param = {"name": field.encode_name, "in": "query", "required": field.required}
                    schema_of(field.type, param, "schema")
                    parameters.append(param)
            elif p.source == "body":
                media: dict[str, Any] = {}
                schema_of(p.annotation, media, "schema")
                op["requestBody"] = {"required": p.required, "content": {"application/json": media}}
        if parameters:
            op["parameters"] = parameters
        ret = get_type_hints(ep.fn).get("return", Any)
        ok: dict[str, Any] = {"description": "OK"}
        if ret not in (Any, Response, bytes, str, type(None), Request):
            media = {}
            schema_of(ret, media, "schema")
            ok["content"] = {"application/json": media}
        op["responses"]["200"] = ok
        for status, description in _ERRORS.items():
            op["responses"][status] = {
                "description": description,
                "content": {"application/json": {"schema": {"$ref": _REF.format(name="ErrorBody")}}},
            }
        # OpenAPI templates have no converters: ``{rest:path}`` is ``{rest}`` there.
        paths.setdefault(_PATH_CONVERTER.sub(r"{\1}", ep.route), {})[ep.method.lower()] = op

    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)
    for target, key, index in slots:
        target[key] = schemas[index]
    doc = {
        "openapi": "3.1.0",
        "info": {"title": service.name, "version": service.version},
        "paths": paths,
        "components": {"schemas": components},
    }
    return msgspec.json.encode(doc)
