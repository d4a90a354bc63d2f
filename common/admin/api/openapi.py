"""The OpenAPI 3.1 document of every function, built from the route tables and pydantic models.

Admin rows are handed in by `common.admin.api.routes.openapi_document` (the same
rows that register the routes; this module never imports the routes, which
serve it), start/chat/health rows come from `common.admin.api.openapi_public`.
Schemas are generated in one pass (`models_json_schema`) so shared models get
one component each. Paths are written as `make dev` serves them (each
function under its own prefix); deployed, a function's URL replaces its
prefix (SPEC §2).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from common.admin.api.openapi_public import PUBLIC_OPS, Health, OpenAIErrorResponse, PublicOp
from common.admin.api.operations import Op
from common.admin.api.schemas import ErrorResponse
from common.auth.roles import Access
from common.config.models import IDENT, Bundle
from common.settings import get_settings

_REF = "#/components/schemas/{model}"
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No content",
    400: "Bad JSON or not an object",
    401: "Missing, invalid or expired credentials",
    403: "The caller's role may not do this",
    404: "Not found (also: another tenant's or app's resource)",
    405: "Method not allowed",
    409: "Conflict: duplicate id or slug, record in use, concurrent change, request in progress",
    413: "Body or message too large",
    422: "Validation failed; `error.field` names the field",
    429: "Rate limited or over budget; see Retry-After",
    502: "The model provider failed",
    503: "A dependency is unavailable; see Retry-After",
    504: "The model provider timed out",
}
# One path segment: no slash, no control characters (the framework's router matches neither).
_SEGMENT = r"^[^/\u0000-\u001f\u007f]+$"
_SSE = {"text/event-stream": {"schema": {"type": "string", "description": "Server-Sent Events"}}}


def _param_names(path: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", path)


def _op_id(prefix: str, method: str, path: str) -> str:
    words = [w for w in re.split(r"[^A-Za-z0-9]+", path) if w]
    return "_".join([prefix, method.lower(), *words]) or prefix


def _schemas(ops: Sequence[Op]) -> tuple[dict[Any, dict[str, Any]], dict[str, Any]]:
    pairs: set[tuple[type[BaseModel], JsonSchemaMode]] = {
        (ErrorResponse, "serialization"),
        (OpenAIErrorResponse, "serialization"),
        (Bundle, "serialization"),  # the YAML body of config export
    }
    for op in ops:
        if op.request:
            pairs.add((op.request, "validation"))
        if op.response:
            pairs.add((op.response, "serialization"))
    for pop in PUBLIC_OPS:
        if pop.request:
            pairs.add((pop.request, "validation"))
        if pop.response:
            pairs.add((pop.response, "serialization"))
    ordered = sorted(pairs, key=lambda p: (p[0].__name__, p[1]))
    refs, defs = models_json_schema(ordered, ref_template=_REF)
    return dict(refs), defs.get("$defs", {})


def _error_responses(codes: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {str(c): {"$ref": f"#/components/responses/Error{c}"} for c in sorted(set(codes))}
    out["default"] = {"$ref": "#/components/responses/Error"}
    return out


def _shared_responses() -> dict[str, Any]:
    error = {"application/json": {"schema": {"$ref": _REF.format(model="ErrorResponse")}}}
    out = {
        f"Error{c}": {"description": text, "content": error} for c, text in _STATUS_TEXT.items() if c >= 400
    }
    out["Error"] = {"description": "Any other error, same shape", "content": error}
    return out


def _admin_operation(op: Op, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string", "pattern": IDENT}}
        for n in _param_names(op.path)
    ]
    params += [{"name": q, "in": "query", "required": False, "schema": _QUERY[q]} for q in op.query]
    if op.access is not Access.PUBLIC and op.scope.value != "none":
        params.append(
            {
                "name": "X-Tenant-Id",
                "in": "header",
                "required": False,
                "description": "platform admins: the tenant to act on (a tenant user naming another: 404)",
                "schema": {"type": "string"},
            }
        )
    codes = [503]
    if op.access is not Access.PUBLIC:
        codes += [401, 403]
    if op.scope.value != "none" or _param_names(op.path):
        codes += [404]
    if op.request is not None:
        codes += [400, 413, 422]
    if op.query or op.scope.value == "tenant":
        codes += [422]
    if op.method != "GET" and op.access is not Access.PUBLIC:
        codes += [409]
    if op.path == "/auth/login":
        codes += [401]
    codes += list(op.extra_errors)
    responses = _error_responses(codes)
    ok: dict[str, Any] = {"description": _STATUS_TEXT.get(op.status, "OK")}
    if op.response is not None:
        ok["content"] = {op.media: {"schema": refs[(op.response, "serialization")]}}
    elif op.media == "application/yaml":
        ok["content"] = {op.media: {"schema": refs[(Bundle, "serialization")]}}
    elif op.status != 204:
        ok["content"] = {op.media: {"schema": {"type": "object"}}}
    if op.streams:
        ok.setdefault("content", {}).update(_SSE)
    responses[str(op.status)] = ok
    operation: dict[str, Any] = {
        "operationId": _op_id("admin", op.method, op.path),
        "summary": op.summary,
        "tags": [f"admin: {op.tag}"],
        "parameters": params,
        "responses": responses,
        "x-roles": _roles(op.access),
    }
    if op.access is not Access.PUBLIC:
        operation["security"] = [{"adminToken": []}]
    else:
        operation["security"] = []
    if op.request is not None:
        schema = refs[(op.request, "validation")]
        content = {m: {"schema": schema} for m in op.request_media}
        operation["requestBody"] = {"required": True, "content": content}
    return operation


def _roles(access: Access) -> list[str]:
    from common.auth.roles import ROLES, allows

    return [] if access is Access.PUBLIC else [r for r in ROLES if allows(r, access)]


def _public_operation(op: PublicOp, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string", "pattern": _SEGMENT}}
        for n in _param_names(op.path)
    ]
    params += [{"name": n, "in": "query", "required": False, "schema": s} for n, s in op.query]
    if op.idempotent:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "a replay returns the stored result without a second upstream call",
                "schema": {"type": "string", "maxLength": 255},
            }
        )
    ok: dict[str, Any] = {"description": _STATUS_TEXT[op.status]}
    if op.response is not None:
        ok["content"] = {"application/json": {"schema": refs[(op.response, "serialization")]}}
    if op.streams:
        ok.setdefault("content", {}).update(_SSE)
    responses = _error_responses([503, *op.errors])
    if op.openai_errors:
        shape = {"application/json": {"schema": refs[(OpenAIErrorResponse, "serialization")]}}
        text = {**_STATUS_TEXT, 400: "Invalid request; `error.param` names the parameter"}
        responses = {
            code: {
                "description": "Any other error" if code == "default" else text[int(code)],
                "content": shape,
            }
            for code in responses
        }
    responses[str(op.status)] = ok
    if op.response is Health:
        responses["503"] = {"description": "A check failed; `failing` names it", "content": ok["content"]}
    operation: dict[str, Any] = {
        "operationId": _op_id(op.function, op.method, op.path),
        "summary": op.summary,
        "tags": [op.function],
        "parameters": params,
        "responses": responses,
        "security": [{"clientKey": []}] if op.auth else [],
    }
    if op.request is not None:
        schema = refs[(op.request, "validation")]
        operation["requestBody"] = {
            "required": op.function != "start",
            "content": {"application/json": {"schema": schema}},
        }
    return operation


_QUERY: dict[str, dict[str, Any]] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
    "page_token": {"type": "string", "description": "next_page_token of the previous page"},
    "app_id": {"type": "string"},
    "assistant_id": {"type": "string"},
    "from": {"type": "string", "format": "date", "description": "first day (default: 30 days before `to`)"},
    "to": {"type": "string", "format": "date", "description": "last day (default: today, UTC)"},
    "kind": {
        "type": "string",
        "enum": ["anthropic", "openai", "openai_compatible", "cohere", "gemini", "ollama"],
        "description": "which API the code provider template talks to",
    },
}


def _full_path(function: str, path: str) -> str:
    return f"/{function}" + ("" if path == "/" else path)


def document(ops: Sequence[Op]) -> dict[str, Any]:
    """The whole document: `ops` (the admin rows) and the public functions' rows."""
    refs, defs = _schemas(ops)
    paths: dict[str, dict[str, Any]] = {}
    for pop in PUBLIC_OPS:
        paths.setdefault(_full_path(pop.function, pop.path), {})[pop.method.lower()] = _public_operation(
            pop, refs
        )
    for op in ops:
        paths.setdefault(_full_path("admin", op.path), {})[op.method.lower()] = _admin_operation(op, refs)
    schemes: dict[str, Any] = {
        "adminToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "clientKey": {"type": "http", "scheme": "bearer", "description": "an app's client key (ak_...)"},
    }
    kind: Literal["3.1.0"] = "3.1.0"
    return {
        "openapi": kind,
        "info": {
            "title": "Assistant service",
            "version": get_settings().version,
            "description": (
                "Multi-tenant LLM assistants on Cloud Functions. Paths are as `make dev` serves them; "
                "deployed, each function's URL replaces its prefix (/start, /chat, /admin, /health). "
                'Errors: {"error": {"type", "message", "request_id", "field"?}}.'
            ),
        },
        "paths": paths,
        "components": {"schemas": defs, "responses": _shared_responses(), "securitySchemes": schemes},
    }
