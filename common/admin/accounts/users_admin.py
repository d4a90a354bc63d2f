"""Admin users over HTTP: who may see and change whom.

- A tenant admin manages the users of its own tenant, with roles
  tenant_admin and tenant_viewer only; `role: platform_admin` from it is a 422.
- A platform admin manages everyone. With `X-Tenant-Id` it acts in that
  tenant; without, it sees every user and may create platform admins.
- `id`, `username`, `tenant_id` and the password hash cannot be changed
  (422 naming the field); `password` can, and a new password (like a role
  change or deactivation) ends every token issued before it.
- Nobody can delete, deactivate or demote themselves (409 / 422), so the last
  platform admin cannot lock everyone out by accident.
- Users of another tenant answer 404, never 403.
- Usernames (and user ids) are global: one login form serves every tenant.
  A taken one is a 409 that says only "username taken" (or "username or id
  taken"): no id, username or tenant of the holder, who may be another
  tenant's user.
"""

from __future__ import annotations

import re

from starlette.responses import Response

from common.admin.api.context import Call, encode_token, tenant_exists
from common.admin.api.schemas import UserCreate, UserPatch
from common.admin.records.crud import refuse_immutable
from common.admin.records.writes import Writes, now
from common.auth import passwords, users
from common.auth.roles import PLATFORM_ADMIN
from common.auth.users import UserRecord
from common.config.models import IDENT
from common.errors import Conflict, NotFound, ValidationFailed
from common.http.request import validate
from common.http.responses import json_response
from common.store.storable import check_storable

_ID = re.compile(IDENT)
_IMMUTABLE = frozenset({"id", "username", "tenant_id", "password_hash", "token_version", "created_at"})


def _visible(call: Call, user: UserRecord | None) -> UserRecord:
    if user is None or (call.tenant is not None and user.tenant_id != call.tenant):
        raise NotFound("user not found")
    if call.tenant is None and not call.actor.is_platform:  # cannot happen: scope is resolved first
        raise NotFound("user not found")
    return user


def _check_role(call: Call, role: str) -> None:
    if role == PLATFORM_ADMIN and not call.actor.is_platform:
        raise ValidationFailed("role: only a platform admin may grant platform_admin", field="role")


def _check_password(password: str) -> None:
    problem = passwords.check_policy(password)
    if problem:
        raise ValidationFailed(f"password: {problem}", field="password")


async def list_users(call: Call) -> Response:
    limit = call.limit()
    after = call.page_token()
    if after is not None and not _ID.match(after):
        raise ValidationFailed("page_token: not a token this API issued", field="page_token")
    found = await users.list_users(call.tenant, limit + 1, after)
    page = found[:limit]
    token = encode_token(page[-1].id) if len(found) > limit else None
    return json_response({"items": [u.public() for u in page], "next_page_token": token})


async def get_user(call: Call) -> Response:
    return json_response(_visible(call, await users.get_user(call.params["id"])).public())


async def create_user(call: Call) -> Response:
    body = await call.body(UserCreate)
    _check_role(call, body.role)
    _check_password(body.password)
    tenant = body.tenant_id
    if call.tenant is not None:
        if tenant not in (None, call.tenant):
            raise ValidationFailed("tenant_id: must be the tenant you act in", field="tenant_id")
        tenant = None if body.role == PLATFORM_ADMIN else call.tenant
    if body.role == PLATFORM_ADMIN and tenant is not None:
        raise ValidationFailed("tenant_id: platform admins belong to no tenant", field="tenant_id")
    if body.role != PLATFORM_ADMIN:
        if tenant is None:
            raise ValidationFailed("tenant_id: required for tenant roles", field="tenant_id")
        if call.tenant is None and not await tenant_exists(tenant):
            raise ValidationFailed(f"tenant_id: no tenant {tenant!r}", field="tenant_id")
    username = users.normalize_username(body.username)
    if await users.get_by_username(username) is not None:
        raise Conflict("username taken", field="username")
    ts = now()
    user = UserRecord(
        id=body.id or users.new_user_id(),
        username=username,
        email=body.email,
        full_name=body.full_name,
        role=body.role,
        tenant_id=tenant,
        is_active=body.is_active,
        password_hash=await passwords.hash_password(body.password),
        created_at=ts,
        updated_at=ts,
    )
    writes = Writes(call, tenant)
    check_storable(user.public())
    users.stage_create(writes.batch, user)
    writes.audit("create", "users", user.id, sorted(body.model_fields_set))
    await writes.commit("username or id taken")
    return json_response(user.public(), status=201)


async def patch_user(call: Call) -> Response:
    raw = await call.json()
    refuse_immutable(raw, _IMMUTABLE)
    body = validate(UserPatch, raw)
    user = _visible(call, await users.get_user(call.params["id"]))
    changes = body.model_dump(include=body.model_fields_set)
    password = changes.pop("password", None)
    if "role" in changes:
        _check_role(call, changes["role"])
        if (changes["role"] == PLATFORM_ADMIN) != (user.tenant_id is None):
            raise ValidationFailed("role: cannot move a user between platform and tenant roles", field="role")
    if user.id == call.actor.user_id:
        for field in ("role", "is_active"):
            if field in changes and changes[field] != getattr(user, field):
                raise ValidationFailed(f"{field}: you cannot change your own {field}", field=field)
    changed = sorted(k for k, v in changes.items() if getattr(user, k) != v)
    if password is not None:
        _check_password(password)
        user.password_hash = await passwords.hash_password(password)
        changed.append("password")
    if not changed:
        return json_response(user.public())
    for key, value in changes.items():
        setattr(user, key, value)
    if password is not None or "role" in changed or changes.get("is_active") is False:
        users.revoke_tokens(user)
    user.updated_at = now()
    writes = Writes(call, user.tenant_id)
    check_storable(user.public())
    users.stage_save(writes.batch, user)
    writes.audit("update", "users", user.id, changed)
    await writes.commit()
    return json_response(user.public())


async def delete_user(call: Call) -> Response:
    user = _visible(call, await users.get_user(call.params["id"]))
    if user.id == call.actor.user_id:
        raise Conflict("you cannot delete your own account")
    writes = Writes(call, user.tenant_id)
    users.stage_delete(writes.batch, user)
    writes.audit("delete", "users", user.id, [])
    await writes.commit()
    return Response(status_code=204)
