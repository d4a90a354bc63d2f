"""Who is calling and what they may reach: a client key sees only its own app.

Anything outside the key's app (another app's thread, another tenant's
assistant) answers 404, never 403, so ids do not leak (SPEC §5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from common.auth.client_keys import ClientKey, authenticate
from common.config.cache import get_config
from common.config.effective import TenantConfig
from common.config.models import App, Assistant
from common.errors import NotFound, PayloadTooLarge, Unauthorized, ValidationFailed
from common.http.request import bearer_token
from common.settings import get_settings
from common.store import threads
from common.store.threads import Thread


@dataclass
class Caller:
    key: ClientKey
    cfg: TenantConfig
    app: App

    @property
    def tenant(self) -> str:
        return self.key.tenant_id


async def caller(request: Request) -> Caller:
    key = await authenticate(bearer_token(request))
    cfg = await get_config(key.tenant_id)
    app = cfg.app(key.app_id) if cfg.active else None
    if app is None:
        # A key whose tenant or app was disabled is as good as revoked.
        raise Unauthorized("invalid client key")
    return Caller(key, cfg, app)


def assistant_of(c: Caller, ref: str | None) -> Assistant:
    found = c.cfg.assistant(c.app.id, ref) if ref else c.cfg.default_assistant(c.app.id)
    if found is None:
        raise NotFound("assistant not found" if ref else "this app has no active assistant")
    return found


@dataclass
class Prefetched:
    """A thread and its history, read in one round trip (see `thread_with_history`)."""

    thread: Thread
    user_message_id: str
    history: list[dict[str, Any]]


async def thread_with_history(c: Caller, thread_id: str) -> Prefetched:
    """The thread and its history, in one Firestore round trip before the user message is
    written: on a thread this instance knows to have messages, the history query; else a
    read of the thread, which also says whether there is any history to query (a thread's
    first turn, usually on an instance that did not create it, has none)."""
    if not threads.valid_id(thread_id):
        raise NotFound("thread not found")
    user_message_id = threads.new_message_id()
    limit = get_settings().history_max_messages
    known = threads.known_thread(c.tenant, thread_id)
    if known is not None and known.has_messages:
        thread = known
    else:
        found = await threads.get_thread(c.tenant, thread_id, fresh=True)
        if found is None:
            raise NotFound("thread not found")
        thread = found
    if thread.app_id != c.app.id:
        raise NotFound("thread not found")
    if thread.has_messages is False:
        return Prefetched(thread, user_message_id, [])
    return Prefetched(
        thread, user_message_id, await threads.history(c.tenant, thread_id, user_message_id, limit)
    )


async def thread_of(c: Caller, thread_id: str) -> Thread:
    thread = await threads.get_thread(c.tenant, thread_id)
    if thread is None or thread.app_id != c.app.id:
        raise NotFound("thread not found")
    return thread


def check_message(text: str) -> str:
    limit = get_settings().max_message_bytes
    if len(text.encode()) > limit:
        raise PayloadTooLarge(f"message exceeds {limit} bytes")
    if not text.strip():
        raise ValidationFailed("message: must not be empty", field="message")
    return text
