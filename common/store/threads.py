"""Threads and messages: `tenants/{t}/threads/{id}` and its `messages` subcollection.

Message ids are time-ordered (`{ns:020d}-{random}`), so concurrent turns on
one thread are all kept, in arrival order, without a transaction: the history
of a turn is "every message whose id sorts before mine".

A thread document says whether it `has_messages` (False when created, True from its
first user message on, never back): a thread's first turn, the most common turn on
an instance that did not create the thread, reads the thread and skips the history
query. A document without the field (written before it existed, or by another tool)
counts as having messages, and gets the field on its next turn.

Every call here is on a chat turn's path, so it goes through `common.store.wire`
(plain protobuf on the client's channel) rather than the high-level client; the
stored documents are the same either way.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from common.store import wire
from common.store.errors import firestore_guard


def new_thread_id() -> str:
    return "th_" + secrets.token_urlsafe(18).replace("-", "x").replace("_", "y")


def new_message_id() -> str:
    return f"{time.time_ns():020d}-{secrets.token_hex(4)}"


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Thread:
    id: str
    app_id: str
    assistant_id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # False: no message yet, as of the read or creation; True: has some (final once seen);
    # None: unknown.
    has_messages: bool | None = None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "app_id": self.app_id,
            "assistant_id": self.assistant_id,
            "metadata": self.metadata,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _thread_name(tenant: str, thread_id: str) -> str:
    return wire.doc_name("tenants", tenant, "threads", thread_id)


def _message_name(tenant: str, thread_id: str, message_id: str) -> str:
    return wire.doc_name("tenants", tenant, "threads", thread_id, "messages", message_id)


async def create_thread(tenant: str, app_id: str, assistant_id: str, metadata: dict[str, Any]) -> Thread:
    ts = now()
    thread = Thread(new_thread_id(), app_id, assistant_id, metadata, ts, ts, has_messages=False)
    data = {
        "app_id": app_id,
        "assistant_id": assistant_id,
        "metadata": metadata,
        "created_at": ts,
        "updated_at": ts,
        "has_messages": False,
    }
    async with firestore_guard():
        await wire.commit([wire.create(_thread_name(tenant, thread.id), data)])
    _remember(tenant, thread)
    return thread


# A thread's app and assistant never change, so a thread seen once on this
# instance needs no read on later turns: one Firestore round trip saved per turn.
_known: OrderedDict[tuple[str, str], Thread] = OrderedDict()
_KNOWN_MAX = 20_000


def _remember(tenant: str, thread: Thread) -> None:
    _known[(tenant, thread.id)] = thread
    _known.move_to_end((tenant, thread.id))
    if len(_known) > _KNOWN_MAX:
        _known.popitem(last=False)


def valid_id(thread_id: str) -> bool:
    return bool(thread_id) and "/" not in thread_id and len(thread_id) <= 128


def known_thread(tenant: str, thread_id: str) -> Thread | None:
    """The thread if this instance has seen it (its app and assistant are current; only a
    True `has_messages` is)."""
    return _known.get((tenant, thread_id))


async def get_thread(tenant: str, thread_id: str, *, fresh: bool = False) -> Thread | None:
    """The thread, from this instance's memory when seen before (its identity is immutable);
    `fresh` reads the document anyway, for a current `has_messages`."""
    if not valid_id(thread_id):
        return None
    known = _known.get((tenant, thread_id))
    if known is not None and not fresh:
        return known
    async with firestore_guard():
        d = await wire.get(_thread_name(tenant, thread_id))
    if d is None:
        return None
    thread = Thread(
        thread_id,
        d.get("app_id", ""),
        d.get("assistant_id", ""),
        d.get("metadata") or {},
        d.get("created_at"),
        d.get("updated_at"),
        has_messages=d.get("has_messages"),  # None: written without the flag
    )
    _remember(tenant, thread)
    return thread


async def add_message(
    tenant: str,
    thread_id: str,
    message: dict[str, Any],
    message_id: str | None = None,
    *,
    first: bool = False,
) -> str:
    """Store one message; `first` (the thread may have none yet) also sets `has_messages`,
    in the same commit, which then also fails (NotFound) if the thread does not exist."""
    mid = message_id or new_message_id()
    data = {**message, "seq": mid, "created_at": message.get("created_at") or now()}
    writes = [wire.create(_message_name(tenant, thread_id, mid), data)]
    if first:
        writes.append(wire.update(_thread_name(tenant, thread_id), {"has_messages": True}))
    async with firestore_guard():
        await wire.commit(writes)
    known = _known.get((tenant, thread_id))
    if first and known is not None:
        known.has_messages = True
    return mid


async def history(tenant: str, thread_id: str, before_id: str, limit: int) -> list[dict[str, Any]]:
    """The last `limit` messages with ids before `before_id`, oldest first."""
    # `seq` mirrors the document id: Firestore cannot scan document ids descending.
    async with firestore_guard():
        docs = await wire.query(
            _thread_name(tenant, thread_id),
            "messages",
            order_by="seq",
            descending=True,
            where=("seq", "<", before_id),
            limit=limit,
        )
    return [_public(d) for d in reversed(docs)]


async def list_messages(tenant: str, thread_id: str, limit: int, after: str | None) -> list[dict[str, Any]]:
    async with firestore_guard():
        docs = await wire.query(
            _thread_name(tenant, thread_id),
            "messages",
            order_by="seq",
            where=("seq", ">", after) if after else None,
            limit=limit,
        )
    return [_public(d) for d in docs]


def _public(doc: wire.Doc) -> dict[str, Any]:
    data = dict(doc.data)
    data.pop("seq", None)
    return {"id": doc.id, **data}


async def finish_turn(
    tenant: str,
    thread_id: str,
    message_id: str,
    message: dict[str, Any],
    usage_doc: tuple[str, dict[str, Any]] | None,
) -> None:
    """Store the reply, touch the thread and count usage in one atomic commit."""
    ts = now()
    writes = [
        wire.create(
            _message_name(tenant, thread_id, message_id), {**message, "seq": message_id, "created_at": ts}
        ),
        wire.update(_thread_name(tenant, thread_id), {"updated_at": ts}),
    ]
    if usage_doc:
        doc_id, counters = usage_doc
        increments = {
            k: v for k, v in counters.items() if isinstance(v, int | float) and not isinstance(v, bool)
        }
        fields = {k: v for k, v in counters.items() if k not in increments}
        writes.append(wire.merge(wire.doc_name("tenants", tenant, "usage", doc_id), fields, increments))
    async with firestore_guard():
        await wire.commit(writes)
