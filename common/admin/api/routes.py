"""The admin API as one table: each row registers a route and documents it.

A row names the method and path, the handler, who may call it (`Access`),
whether it acts on a tenant (`Scope`), and its request and response models.
`build_router` turns rows into routes on our own `Router` (so errors have the
one JSON shape of every function); `openapi_document` hands the same rows to
`common.admin.api.openapi`, so the two cannot disagree. The row type is
`common.admin.api.operations.Op`; the document reads rows it is given and never
imports this module.

Every non-public route authenticates first (401), then checks the role
(403), then resolves the tenant (404), then validates path ids (404), and
only then reads the body: a viewer gets 403 for a write whatever it sends.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from functools import lru_cache, partial
from typing import Any

from starlette.responses import Response

from common.admin.accounts import client_keys_admin, tenants, users_admin
from common.admin.api import schemas
from common.admin.api.context import Call, Scope, resolve_tenant
from common.admin.api.operations import Op, op
from common.admin.observability import audit, usage
from common.admin.providers import code_providers, playground
from common.admin.records import config_io, crud, revisions
from common.admin.records.record_models import MODELS, CollectionModels
from common.auth import throttle, users
from common.auth.roles import Access, Principal, allows
from common.config.models import IDENT, Assistant, Bundle, Model, Provider, Tenant
from common.errors import Forbidden, NotFound
from common.http.request import bearer_token
from common.http.responses import json_response
from common.http.routing import Ctx, Router

_ID_RE = re.compile(IDENT)

R, W, P, PUB = Access.READ, Access.WRITE, Access.PLATFORM, Access.PUBLIC
OPT, NONE = Scope.OPTIONAL, Scope.NONE
PAGE = ("limit", "page_token")


async def _login(call: Call) -> Response:
    body = await call.body(schemas.LoginRequest)
    request = call.ctx.request
    address = throttle.client_address(
        request.client.host if request.client else None, request.headers.getlist("x-forwarded-for")
    )
    token, ttl = await users.login(body.username, body.password, address)
    return json_response({"access_token": token, "token_type": "bearer", "expires_in": ttl})


async def _me(call: Call) -> Response:
    p = call.actor
    return json_response({"id": p.user_id, "username": p.username, "role": p.role, "tenant_id": p.tenant_id})


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of these rows (and the public functions'), built once.

    Imported here, not at the top: describing the public APIs pulls in chat's
    request models (~60 ms), which an admin cold start should not pay.
    """
    from common.admin.api import openapi

    return openapi.document(OPS)


async def _openapi(call: Call) -> Response:
    return json_response(openapi_document())


# fmt: off
def _crud_ops(cm: CollectionModels) -> list[Op]:
    coll, item = f"/{cm.path}", f"/{cm.path}/{{id}}"
    one = ("an " if cm.singular[0] in "AEIOU" else "a ") + cm.singular.lower()
    page = schemas.page_model(cm.record, f"{cm.singular}Page")
    return [
        op(f"GET {coll}", partial(crud.list_records, cm=cm), R, f"List {cm.name}", response=page, query=PAGE),
        op(f"POST {coll}", partial(crud.create_record, cm=cm), W, f"Create {one}", request=cm.create,
           response=cm.record, status=201),
        op(f"GET {item}", partial(crud.get_record, cm=cm), R, f"Get {one}", response=cm.record),
        op(f"PATCH {item}", partial(crud.patch_record, cm=cm), W, f"Update {one}", request=cm.patch,
           response=cm.record),
        op(f"DELETE {item}", partial(crud.delete_record, cm=cm), W, f"Delete {one}", status=204),
    ]


def _table() -> list[Op]:
    page = schemas.page_model
    ops = [
        # Before the collection rows, so `/providers/code/...` is never read as a provider id.
        op("GET /providers/code/template", code_providers.template, P,
           "A working code provider to start from (kind: anthropic, openai, openai_compatible, cohere, "
           "gemini, ollama)", scope=NONE, response=schemas.CodeTemplate, query=("kind",)),
        op("POST /providers/code/validate", code_providers.validate, P,
           "Check a code provider without running it: problems with line and column", scope=NONE,
           request=schemas.CodeValidateRequest, response=schemas.CodeValidateResult),
        op("POST /auth/login", _login, PUB, "Log in; returns a bearer token", scope=NONE,
           request=schemas.LoginRequest, response=schemas.TokenResponse, extra_errors=(403, 429)),
        op("GET /auth/me", _me, R, "Who the token belongs to", scope=NONE, response=schemas.Me),
        op("GET /openapi.json", _openapi, PUB, "This document", scope=NONE),
        op("GET /tenants", tenants.list_tenants, P, "List tenants", scope=NONE,
           response=page(Tenant, "TenantPage"), query=PAGE),
        op("POST /tenants", tenants.create_tenant, P, "Create a tenant", scope=NONE,
           request=schemas.TenantCreate, response=Tenant, status=201),
        op("GET /tenants/{id}", tenants.get_tenant, P, "Get a tenant", scope=NONE, response=Tenant),
        op("PATCH /tenants/{id}", tenants.patch_tenant, P, "Update a tenant", scope=NONE,
           request=schemas.TenantPatch, response=Tenant),
        op("DELETE /tenants/{id}", tenants.delete_tenant, P, "Deactivate and hide a tenant", scope=NONE,
           status=204),
    ]
    for cm in MODELS.values():
        ops += _crud_ops(cm)
    models_of = partial(crud.list_children, parent="providers", child="models", field="provider_id")
    assistants_of = partial(crud.list_children, parent="apps", child="assistants", field="app_id")
    ops += [
        op("GET /providers/{id}/models", models_of, R, "Models of a provider",
           response=page(Model, "ModelPage"), query=PAGE),
        op("GET /apps/{id}/assistants", assistants_of, R, "Assistants of an app",
           response=page(Assistant, "AssistantPage"), query=PAGE),
        op("GET /assistants/{id}/revisions", revisions.list_revisions, R, "Revision history, newest first",
           response=page(schemas.Revision, "RevisionPage"), query=PAGE),
        op("POST /assistants/{id}/rollback", revisions.rollback, W,
           "Make an earlier revision current (as a new revision)", request=schemas.RollbackRequest,
           response=Assistant),
        op("POST /providers/{id}/test", playground.test_provider, W,
           "One small real call to the provider (code providers: validation, validation_code and a "
           "streamed call through the sandbox, step by step; platform admins only)",
           request=schemas.ProviderTestRequest, response=schemas.ProviderTestResult),
        op("GET /providers/{id}/code", code_providers.get_code, P, "A code provider's source and config",
           response=schemas.ProviderCode),
        op("GET /providers/{id}/revisions", partial(revisions.list_revisions, collection="providers"), P,
           "A code provider's revision history, newest first",
           response=page(schemas.ProviderRevision, "ProviderRevisionPage"), query=PAGE),
        op("POST /providers/{id}/rollback", partial(revisions.rollback, collection="providers"), P,
           "Make an earlier revision of a code provider's code current (as a new revision)",
           request=schemas.RollbackRequest, response=Provider),
        op("POST /playground/chat", playground.playground, W,
           "Chat with a provider directly (JSON or SSE); nothing is stored",
           request=schemas.PlaygroundRequest, response=schemas.PlaygroundResult, streams=True,
           extra_errors=(502, 504)),
        op("GET /usage", usage.usage, R, "Tokens, requests and cost per app, assistant and day",
           response=schemas.UsagePage, query=("from", "to", "app_id", "assistant_id", *PAGE)),
        op("GET /audit", audit.list_audit, R, "Audit log, newest first", scope=OPT,
           response=page(schemas.AuditEntry, "AuditPage"), query=PAGE),
        op("GET /config/export", config_io.export_config, R, "Effective config as a YAML bundle",
           media="application/yaml"),
        op("POST /config/import", config_io.import_config, W, "Validate a bundle and store it in GCS",
           request=Bundle, response=schemas.ImportResult,
           request_media=("application/yaml", "application/json")),
        op("GET /users", users_admin.list_users, R, "List users", scope=OPT,
           response=page(schemas.UserOut, "UserPage"), query=PAGE),
        op("POST /users", users_admin.create_user, W, "Create a user", scope=OPT, request=schemas.UserCreate,
           response=schemas.UserOut, status=201),
        op("GET /users/{id}", users_admin.get_user, R, "Get a user", scope=OPT, response=schemas.UserOut),
        op("PATCH /users/{id}", users_admin.patch_user, W, "Update a user", scope=OPT,
           request=schemas.UserPatch, response=schemas.UserOut),
        op("DELETE /users/{id}", users_admin.delete_user, W, "Delete a user", scope=OPT, status=204),
        op("GET /client-keys", client_keys_admin.list_keys, R, "List client keys",
           response=page(schemas.ClientKeyOut, "ClientKeyPage"), query=("app_id", *PAGE)),
        op("POST /client-keys", client_keys_admin.create_key, W,
           "Mint a client key (the plaintext is in this response only)", request=schemas.ClientKeyCreate,
           response=schemas.ClientKeyCreated, status=201),
        op("GET /client-keys/{id}", client_keys_admin.get_key, R, "Get a client key",
           response=schemas.ClientKeyOut),
        op("PATCH /client-keys/{id}", client_keys_admin.patch_key, W,
           "Rename, rescope, revoke (is_active false) or restore a key", request=schemas.ClientKeyPatch,
           response=schemas.ClientKeyOut),
        op("DELETE /client-keys/{id}", client_keys_admin.revoke_key, W,
           "Revoke a key (the record stays, inactive)", status=204),
    ]
    return ops
# fmt: on


OPS: list[Op] = _table()


async def _principal(ctx: Ctx) -> Principal:
    return await users.principal(bearer_token(ctx.request))


def _endpoint(op: Op) -> Callable[[Ctx], Awaitable[Response]]:
    async def handle(ctx: Ctx) -> Response:
        principal = None
        tenant = None
        if op.access is not Access.PUBLIC:
            principal = await _principal(ctx)
            ctx.log_fields.update(user=principal.user_id, role=principal.role)
            if not allows(principal.role, op.access):
                raise Forbidden(f"role {principal.role} may not {op.method} this resource")
            tenant = await resolve_tenant(ctx, principal, op.scope)
            if tenant:
                ctx.log_fields["tenant"] = tenant
        for value in ctx.params.values():
            if not _ID_RE.match(value):
                raise NotFound("not found")
        return await op.handler(Call(ctx, principal, tenant))

    return handle


def build_router() -> Router:
    router = Router("admin")
    for row in OPS:
        router.add(row.method, row.path, _endpoint(row))
    return router
