"""The raw-protobuf hot path stores exactly what the Firestore client stores, against the emulator."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import grpc
import pytest
from google.api_core import exceptions

from common.store import wire
from common.store.db import get_db
from tests.support.services import firestore_impl

VALUES = {
    "s": "héllo",
    "i": 2**40,
    "f": 1.5,
    "t": True,
    "n": None,
    "b": b"\x00\xff",
    "when": datetime(2026, 11, 21, 10, 30, 15, 123456, tzinfo=UTC),
    "list": [1, "two", {"three": 3.0, "four": [False]}],
    "map": {"nested": {"deep": ["x"]}, "empty": {}},
    "empty_list": [],
}


# The npm emulator ignores quoted field paths in masks and applies the rest of a commit whose
# precondition failed; gcloud's emulator (and Firestore) do neither.
reference_only = pytest.mark.skipif(
    firestore_impl() != "gcloud",
    reason="needs gcloud's Firestore emulator (the npm one does not implement these semantics)",
)


def _path() -> tuple[str, str]:
    return "wiretest", secrets.token_hex(6)


async def test_written_raw_reads_the_same_through_the_client(stack):
    col, doc = _path()
    await wire.commit([wire.create(wire.doc_name(col, doc), VALUES)])
    snap = await get_db().collection(col).document(doc).get()
    assert snap.to_dict() == VALUES


async def test_written_by_the_client_reads_the_same_raw(stack):
    col, doc = _path()
    await get_db().collection(col).document(doc).set(VALUES)
    assert await wire.get(wire.doc_name(col, doc)) == VALUES
    assert await wire.get(wire.doc_name(col, doc + "-missing")) is None


@reference_only
async def test_merge_adds_to_counters_and_keeps_other_fields(stack):
    col, doc = _path()
    name = wire.doc_name(col, doc)
    await get_db().collection(col).document(doc).set({"other": "kept", "requests": 5})
    for _ in range(2):
        await wire.commit([wire.merge(name, {"day": "d", "odd-key": "q"}, {"requests": 1, "cost": 0.25})])
    assert await wire.get(name) == {"other": "kept", "requests": 7, "cost": 0.5, "day": "d", "odd-key": "q"}


@reference_only
async def test_update_of_a_missing_document_fails_and_the_commit_applies_nothing(stack):
    col, doc = _path()
    created = wire.create(wire.doc_name(col, doc + "-new"), {"a": 1})
    with pytest.raises(exceptions.NotFound):
        await wire.commit([created, wire.update(wire.doc_name(col, doc), {"a": 2})])
    assert await wire.get(wire.doc_name(col, doc + "-new")) is None
    assert await wire.get(wire.doc_name(col, doc)) is None


async def test_create_of_an_existing_document_is_a_conflict(stack):
    col, doc = _path()
    await wire.commit([wire.create(wire.doc_name(col, doc), {"a": 1})])
    with pytest.raises(exceptions.Conflict):
        await wire.commit([wire.create(wire.doc_name(col, doc), {"a": 2})])
    assert await wire.get(wire.doc_name(col, doc)) == {"a": 1}


async def test_update_sets_only_the_named_fields(stack):
    col, doc = _path()
    await wire.commit([wire.create(wire.doc_name(col, doc), {"a": 1, "b": 2})])
    await wire.commit([wire.update(wire.doc_name(col, doc), {"b": 3})])
    assert await wire.get(wire.doc_name(col, doc)) == {"a": 1, "b": 3}


async def test_query_filters_orders_and_limits(stack):
    col, doc = _path()
    parent = wire.doc_name(col, doc)
    await wire.commit([wire.create(f"{parent}/items/{k}", {"seq": k}) for k in ("a", "b", "c", "d")])
    assert [d.id for d in await wire.query(parent, "items", order_by="seq")] == ["a", "b", "c", "d"]
    got = await wire.query(parent, "items", order_by="seq", descending=True, where=("seq", "<", "d"), limit=2)
    assert [(d.id, d.data) for d in got] == [("c", {"seq": "c"}), ("b", {"seq": "b"})]
    assert [d.id for d in await wire.query(parent, "items", order_by="seq", where=("seq", ">", "b"))] == [
        "c",
        "d",
    ]


def _rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="injected")


async def test_transient_errors_are_retried_like_the_client_does():
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _rpc_error(grpc.StatusCode.UNAVAILABLE)
        return "ok"

    assert await wire._with_retry(flaky, wire._READ_RETRY) == "ok"
    assert len(calls) == 3


async def test_a_commit_retried_after_it_was_applied_counts_as_done():
    codes = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ALREADY_EXISTS]

    async def commit() -> None:
        raise _rpc_error(codes.pop(0))

    assert await wire._with_retry(commit, wire._WRITE_RETRY, commit=True) is None


async def test_other_errors_surface_as_the_clients_exceptions_without_retry():
    calls: list[int] = []

    async def bad() -> None:
        calls.append(1)
        raise _rpc_error(grpc.StatusCode.ALREADY_EXISTS)

    with pytest.raises(exceptions.Conflict):
        await wire._with_retry(bad, wire._WRITE_RETRY, commit=True)
    with pytest.raises(exceptions.Conflict):
        await wire._with_retry(bad, wire._READ_RETRY)
    assert len(calls) == 2


async def test_message_bodies_stay_out_of_the_clients_debug_log(stack, caplog):
    """The Firestore client logs whole requests when its transport logger is at DEBUG (an
    operator chasing an outage may turn that on); the hot path's writes bypass that hook, so
    what users wrote never reaches the log."""
    import logging

    from google.cloud.firestore_v1.services.firestore.transports import grpc_asyncio

    marker = "user-wrote-" + secrets.token_hex(4)
    col, doc = _path()
    with caplog.at_level(logging.DEBUG, logger=grpc_asyncio._LOGGER.name):
        await get_db().collection(col).document(doc + "-client").set({"content": "probe"})
        assert any("probe" in str(r.__dict__) for r in caplog.records), "the client's hook is off"
        await wire.commit([wire.create(wire.doc_name(col, doc), {"content": marker})])
        assert await wire.get(wire.doc_name(col, doc)) == {"content": marker}
    assert not [r for r in caplog.records if marker in str(r.__dict__)]
