"""Admin users: top-level `users/{id}` plus a `usernames/{username}` index.

The index document is created in the same batch as the user, with `create`
(fails if present), so two concurrent sign-ups of one username cannot both
succeed: Firestore has no unique constraints, and this is how to get one.

Users are not tenant-scoped documents (a platform admin belongs to no
tenant); tenant users carry `tenant_id` and every read checks it.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from common.auth import keys, passwords, throttle, tokens
from common.auth.roles import PLATFORM_ADMIN, Principal, Role
from common.errors import Forbidden, Unauthorized
from common.logging import get_logger, log
from common.settings import get_settings
from common.store.db import RPC_TIMEOUT_S, get_db
from common.store.errors import firestore_guard

USERS = "users"
USERNAMES = "usernames"
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9_.@+-]{0,127}$"
MAX_USERNAME = 128
_USERNAME_RE = re.compile(USERNAME_PATTERN)
_log = get_logger("auth")
_bootstrap_checked = False


class UserRecord(BaseModel):
    """The stored user. `password_hash` never leaves this module's callers' responses."""

    model_config = ConfigDict(extra="ignore")

    id: str
    username: str
    email: str | None = None
    full_name: str = ""
    role: Role
    tenant_id: str | None = None
    is_active: bool = True
    password_hash: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Tokens carry the version they were issued under; bumping it (password or role
    # change, deactivation) ends every token issued before.
    token_version: int = 0

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"password_hash", "token_version"})

    def doc(self) -> dict[str, Any]:
        return self.model_dump(exclude={"id"})


def normalize_username(username: str) -> str:
    return username.strip().lower()


def valid_username(username: str) -> bool:
    return bool(_USERNAME_RE.match(username))


def new_user_id() -> str:
    return "u-" + secrets.token_hex(8)


def user_ref(user_id: str) -> Any:
    return get_db().collection(USERS).document(user_id)


def username_ref(username: str) -> Any:
    return get_db().collection(USERNAMES).document(username)


def now() -> datetime:
    return datetime.now(UTC)


def _record(snap: Any) -> UserRecord | None:
    if not snap.exists:
        return None
    return UserRecord.model_validate({**(snap.to_dict() or {}), "id": snap.id})


async def get_user(user_id: str) -> UserRecord | None:
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$", user_id):
        return None
    async with firestore_guard():
        return _record(await user_ref(user_id).get(timeout=RPC_TIMEOUT_S))


async def get_by_username(username: str) -> UserRecord | None:
    if not valid_username(username):
        return None
    async with firestore_guard():
        snap = await username_ref(username).get(timeout=RPC_TIMEOUT_S)
    if not snap.exists:
        return None
    return await get_user(str((snap.to_dict() or {}).get("user_id", "")))


async def list_users(tenant: str | None, limit: int, after: str | None) -> list[UserRecord]:
    """Users ordered by id; of one tenant, or all of them (platform scope)."""
    from google.cloud.firestore import FieldFilter
    from google.cloud.firestore_v1.field_path import FieldPath

    query: Any = get_db().collection(USERS)
    if tenant is not None:
        query = query.where(filter=FieldFilter("tenant_id", "==", tenant))
    query = query.order_by(FieldPath.document_id())
    if after:
        query = query.where(filter=FieldFilter(FieldPath.document_id(), ">", user_ref(after)))
    async with firestore_guard():
        docs = [d async for d in query.limit(limit).stream(timeout=RPC_TIMEOUT_S)]
    return [u for u in (_record(d) for d in docs) if u is not None]


def stage_create(batch: Any, user: UserRecord) -> None:
    batch.create(user_ref(user.id), user.doc())
    batch.create(username_ref(user.username), {"user_id": user.id})


def stage_save(batch: Any, user: UserRecord) -> None:
    batch.set(user_ref(user.id), user.doc())


def stage_delete(batch: Any, user: UserRecord) -> None:
    batch.delete(user_ref(user.id))
    batch.delete(username_ref(user.username))


async def any_user_exists() -> bool:
    async with firestore_guard():
        docs = [d async for d in get_db().collection(USERS).limit(1).stream(timeout=RPC_TIMEOUT_S)]
    return bool(docs)


async def ensure_bootstrap_admin() -> None:
    """Create the first platform admin from BOOTSTRAP_ADMIN_USERNAME/_PASSWORD when no user exists.

    There are no default credentials: without both variables nothing is
    created. Checked once per instance; concurrent instances race safely on
    the username index (the loser's batch fails and is ignored).
    """
    global _bootstrap_checked
    if _bootstrap_checked:
        return
    username = normalize_username(os.environ.get("BOOTSTRAP_ADMIN_USERNAME", ""))
    password = os.environ.get("BOOTSTRAP_ADMIN_PASSWORD", "")
    if not username or not password:
        _bootstrap_checked = True
        return
    if await any_user_exists():
        _bootstrap_checked = True
        return
    problem = passwords.check_policy(password)
    if not valid_username(username) or problem:
        log(_log, logging.ERROR, "bootstrap admin not created: invalid username or password policy")
        _bootstrap_checked = True
        return
    ts = now()
    user = UserRecord(
        id=new_user_id(),
        username=username,
        role=PLATFORM_ADMIN,
        password_hash=await passwords.hash_password(password),
        created_at=ts,
        updated_at=ts,
    )
    from google.api_core.exceptions import AlreadyExists

    batch = get_db().batch()
    stage_create(batch, user)
    try:
        async with firestore_guard():
            await batch.commit(timeout=RPC_TIMEOUT_S)
        log(_log, logging.INFO, "bootstrap platform admin created", user_id=user.id)
    except AlreadyExists:
        pass
    _bootstrap_checked = True


def reset_bootstrap() -> None:
    """Tests: check the bootstrap variables again on the next login."""
    global _bootstrap_checked
    _bootstrap_checked = False


def _tenant_allowed(user: UserRecord) -> bool:
    pinned = get_settings().tenant_id
    return user.role == PLATFORM_ADMIN or not pinned or user.tenant_id == pinned


def _sign_in_elsewhere(user: UserRecord) -> Forbidden:
    if user.role == PLATFORM_ADMIN:
        url = get_settings().platform_admin_url
        where = f" ({url})" if url else ""
        return Forbidden(
            f"platform admins log in at the platform admin deployment{where}; "
            "this deployment cannot sign platform tokens"
        )
    return Forbidden(f"users of tenant {user.tenant_id!r} log in at that tenant's admin deployment")


async def login(username: str, password: str, address: str = "local") -> tuple[str, int]:
    """A token for valid credentials; 401 (after the same argon2 work) for anything else.

    `common.auth.throttle` admits the attempt (or answers 429) before any
    read or hash. Credentials that are right but belong to a user this
    deployment cannot sign for (a platform admin at a per-tenant admin)
    get 403 saying where to log in.
    """
    await ensure_bootstrap_admin()
    name = normalize_username(username)
    attempt = throttle.admit(name[:MAX_USERNAME], address)
    try:
        user = await get_by_username(name)
        ok = await passwords.verify_password(
            user.password_hash if user else None, password, priority=attempt.priority
        )
    except BaseException:
        attempt.abandoned()  # busy, or a dependency failed: no guess was judged
        raise
    if user is None or not ok or not user.is_active or not _tenant_allowed(user):
        attempt.failed()
        log(_log, logging.INFO, "admin login refused", known=user is not None)
        raise Unauthorized("invalid username or password")
    attempt.succeeded()
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = await passwords.hash_password(password)
        batch = get_db().batch()
        stage_save(batch, user)
        async with firestore_guard():
            await batch.commit(timeout=RPC_TIMEOUT_S)
    try:
        token = await tokens.issue(user.id, user.role, user.tenant_id, user.token_version)
    except keys.KeyNotReadable:
        log(_log, logging.INFO, "admin login refused: signed elsewhere", user_id=user.id, role=user.role)
        raise _sign_in_elsewhere(user) from None
    log(_log, logging.INFO, "admin login", user_id=user.id, role=user.role)
    return token


async def principal(token: str) -> Principal:
    """Who holds this token, checked against the live user record.

    One read per admin request buys immediate effect for deactivation, role
    changes and password changes; admin traffic is small enough to afford it.
    """
    claims = await tokens.verify(token)
    user = await get_user(claims.sub)
    if (
        user is None
        or not user.is_active
        or user.role != claims.role
        or user.tenant_id != claims.tenant
        or claims.version != user.token_version
        or not _tenant_allowed(user)
    ):
        raise Unauthorized("invalid token")
    return Principal(user.id, user.username, user.role, user.tenant_id)


def revoke_tokens(user: UserRecord) -> None:
    """Invalidate every token issued to `user` so far (stage the save yourself)."""
    user.token_version += 1
