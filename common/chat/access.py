"""Who is calling and what they may reach: a client key sees only its own app.

Anything outside the key's app (another app's thread, another tenant's
assistant) answers 404, never 403, so ids do not leak (SPEC §5).

A key's `scopes` say which endpoints it may call (403 otherwise):
`chat` everything an app does (the default), `actions` the assistant catalogue
and running actions, `threads:read` reading a thread's messages.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from common.auth.client_keys import ClientKey, authenticate
from common.config.cache import get_config
from common.config.effective import TenantConfig
from common.config.models import App, Assistant
from common.errors import Forbidden, NotFound, PayloadTooLarge, Unauthorized, ValidationFailed
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


SCOPES = frozenset({"chat", "actions", "threads:read"})


def check_scope(key: ClientKey, accepted: tuple[str, ...]) -> None:
    if not set(key.scopes) & set(accepted):
        raise Forbidden(f"this client key's scopes do not include {' or '.join(accepted)}")


async def caller(request: Request, scopes: tuple[str, ...] = ("chat",)) -> Caller:
    """The authenticated key, its tenant's config and its app; 403 unless the key has one of `scopes`."""
    key = await authenticate(bearer_token(request))
    check_scope(key, scopes)
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


class SpeculationGauge:
    """Whether threads this instance has not seen before usually have messages already.

    Cheap to learn, and it decides what a turn on such a thread waits for: when they
    usually do (many instances share the conversations), the history is queried at the
    same time as the thread is read, one round trip of wall time; when they usually do
    not (first turns, which reach `chat` right after `start` on another function), the
    query is not sent until the thread says there is history, saving its cost.
    """

    def __init__(self, alpha: float = 0.1, initial: float = 0.5) -> None:
        self.alpha, self.rate = alpha, initial

    def speculate(self) -> bool:
        return self.rate >= 0.5

    def observe(self, had_messages: bool) -> None:
        self.rate += self.alpha * (float(had_messages) - self.rate)


unseen_threads = SpeculationGauge()


async def thread_with_history(c: Caller, thread_id: str) -> Prefetched:
    """The thread and its history, in as little Firestore time as possible before the user
    message is written.

    - A thread this instance knows to have messages: the history query alone.
    - Otherwise the thread is read (it says whether it `has_messages`; a first turn has
      none, so no query); the history query starts with the read or after it, as
      `unseen_threads` predicts pays off.

    History of a thread outside the key's app is dropped with the 404.
    """
    if not threads.valid_id(thread_id):
        raise NotFound("thread not found")
    user_message_id = threads.new_message_id()
    limit = get_settings().history_max_messages

    def query() -> asyncio.Future[list[dict[str, Any]]]:
        return asyncio.ensure_future(threads.history(c.tenant, thread_id, user_message_id, limit))

    known = threads.known_thread(c.tenant, thread_id)
    if known is not None and known.has_messages:
        if known.app_id != c.app.id:
            raise NotFound("thread not found")
        return Prefetched(known, user_message_id, await query())
    mode = get_settings().history_prefetch
    early = query() if mode == "always" or (mode == "auto" and unseen_threads.speculate()) else None
    try:
        thread = await threads.get_thread(c.tenant, thread_id, fresh=True)
        if thread is None or thread.app_id != c.app.id:
            raise NotFound("thread not found")
        unseen_threads.observe(thread.has_messages is not False)
        if thread.has_messages is False:
            return Prefetched(thread, user_message_id, [])
        return Prefetched(thread, user_message_id, await (early or query()))
    finally:
        if early is not None:  # not waited for when the thread has no messages (or a 404)
            early.cancel()  # a no-op once done
            early.add_done_callback(lambda t: t.cancelled() or t.exception())  # never "not retrieved"


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
