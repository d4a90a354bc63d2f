"""Raw-protobuf Firestore RPCs for the per-turn hot path (thread, history, messages).

Why: the high-level client wraps every request and every field in proto-plus objects
and api-core retry wrappers; for the three RPCs a chat turn makes that is about 0.2 ms
of CPU each on this kind of machine, a third of the call (measured in `bench/`). These
calls send the same requests on the same client's gRPC channel (so credentials, TLS
and the emulator host are the client's own), with plain protobuf messages, and without
the client's interceptor (it exists to log whole requests at DEBUG; see `_stubs`).

What it keeps from the client, so callers see no difference:
- the same request metadata (resource prefix, routing header, emulator auth);
- the same retry policy: UNAVAILABLE and RESOURCE_EXHAUSTED retried with backoff and
  jitter (reads also DEADLINE_EXCEEDED and INTERNAL), bounded by the caller's deadline
  (`common.store.errors.firestore_guard`);
- the same exceptions (`google.api_core.exceptions`), so the outage mapping to 503 is
  unchanged;
- the same stored types: what is written here reads back identically through the
  client, and the other way round (tests check both directions).

A commit retried after an UNAVAILABLE may find its first attempt applied: every
commit here creates at least one document with a fresh id, so the retry fails as
a whole with ALREADY_EXISTS and is taken as success (nothing is applied twice).
"""

from __future__ import annotations

import asyncio
import functools
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from common.store.db import RPC_TIMEOUT_S, get_db

_SIMPLE_FIELD = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")
_READ_RETRY = ("UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "INTERNAL")
_WRITE_RETRY = ("UNAVAILABLE", "RESOURCE_EXHAUSTED")
_OPERATORS = {
    "<": "LESS_THAN",
    "<=": "LESS_THAN_OR_EQUAL",
    ">": "GREATER_THAN",
    ">=": "GREATER_THAN_OR_EQUAL",
    "==": "EQUAL",
}


@dataclass
class _Rpc:
    db: Any  # the AsyncClient whose channel this uses
    database: str  # projects/{p}/databases/{d}
    metadata: tuple[tuple[str, str], ...]  # without the routing header, which names the resource
    database_metadata: tuple[tuple[str, str], ...]  # with `database=...` routing
    batch_get: Any
    run_query: Any
    commit: Any


_rpc: _Rpc | None = None


def _stubs() -> _Rpc:
    """Multicallables on the current client's channel, rebuilt when the client is."""
    global _rpc
    db = get_db()
    if _rpc is not None and _rpc.db is db:
        return _rpc
    from google.cloud.firestore_v1.types import firestore as f

    # Private attributes of the pinned client: its channel and its per-database metadata.
    channel = db._firestore_api.transport.grpc_channel
    database = db._database_string

    def bare(stub: Any) -> Any:
        # No client interceptors on our calls: the client adds one that logs whole requests
        # (message bodies) when its logger is at DEBUG, and costs a task per call otherwise.
        stub._interceptors = None
        return stub

    def unary_stream(name: str, req: Any, resp: Any) -> Any:
        return bare(
            channel.unary_stream(
                f"/google.firestore.v1.Firestore/{name}",
                request_serializer=req.pb().SerializeToString,
                response_deserializer=resp.pb().FromString,
                _registered_method=True,  # as generated stubs do: the method is interned once
            )
        )

    metadata = tuple(db._rpc_metadata)
    _rpc = _Rpc(
        db=db,
        database=database,
        metadata=metadata,
        database_metadata=_routed(metadata, "database", database),
        batch_get=unary_stream("BatchGetDocuments", f.BatchGetDocumentsRequest, f.BatchGetDocumentsResponse),
        run_query=unary_stream("RunQuery", f.RunQueryRequest, f.RunQueryResponse),
        commit=bare(
            channel.unary_unary(
                "/google.firestore.v1.Firestore/Commit",
                request_serializer=f.CommitRequest.pb().SerializeToString,
                response_deserializer=f.CommitResponse.pb().FromString,
                _registered_method=True,
            )
        ),
    )
    return _rpc


def _routed(metadata: tuple[tuple[str, str], ...], key: str, resource: str) -> tuple[tuple[str, str], ...]:
    """The client's metadata plus the routing header GAPIC adds (`database=...` or `parent=...`)."""
    from urllib.parse import quote

    return (*metadata, ("x-goog-request-params", f"{key}={quote(resource, safe='')}"))


def doc_name(*path: str) -> str:
    """Full resource name of a document: `doc_name("tenants", t, "threads", id)`."""
    return f"{_stubs().database}/documents/" + "/".join(path)


@functools.cache
def pb() -> SimpleNamespace:
    """Plain protobuf classes (imported on first use: nothing of this at import time)."""
    from google.cloud.firestore_v1.types import common, document, firestore, query, write

    return SimpleNamespace(
        value=document.Value.pb(),
        array=document.ArrayValue.pb(),
        map=document.MapValue.pb(),
        document=document.Document.pb(),
        write=write.Write.pb(),
        transform=write.DocumentTransform.FieldTransform.pb(),
        precondition=common.Precondition.pb(),
        mask=common.DocumentMask.pb(),
        structured_query=query.StructuredQuery.pb(),
        batch_get=firestore.BatchGetDocumentsRequest.pb(),
        run_query=firestore.RunQueryRequest.pb(),
        commit=firestore.CommitRequest.pb(),
    )


# --- values -------------------------------------------------------------------------------


def encode(value: Any) -> Any:
    """A Python value as a Firestore `Value`, with the client's type mapping."""
    V = pb().value
    if value is None:
        return V(null_value=0)
    if isinstance(value, bool):
        return V(boolean_value=value)
    if isinstance(value, int):
        return V(integer_value=value)
    if isinstance(value, float):
        return V(double_value=value)
    if isinstance(value, str):
        return V(string_value=value)
    if isinstance(value, bytes):
        return V(bytes_value=value)
    if isinstance(value, datetime):
        v = V()
        v.timestamp_value.FromDatetime(value)
        return v
    if isinstance(value, Mapping):
        return V(map_value=pb().map(fields={str(k): encode(x) for k, x in value.items()}))
    if isinstance(value, list | tuple):
        return V(array_value=pb().array(values=[encode(x) for x in value]))
    raise TypeError(f"cannot store a {type(value).__name__} in Firestore")


def decode(value: Any) -> Any:
    kind = value.WhichOneof("value_type")
    if kind == "string_value":
        return value.string_value
    if kind == "integer_value":
        return value.integer_value
    if kind == "map_value":
        return decode_fields(value.map_value.fields)
    if kind == "array_value":
        return [decode(x) for x in value.array_value.values]
    if kind == "timestamp_value":
        from google.api_core.datetime_helpers import DatetimeWithNanoseconds

        return DatetimeWithNanoseconds.from_timestamp_pb(value.timestamp_value)
    if kind == "boolean_value":
        return value.boolean_value
    if kind == "double_value":
        return value.double_value
    if kind == "bytes_value":
        return value.bytes_value
    if kind == "null_value" or kind is None:
        return None
    if kind == "reference_value":
        return value.reference_value
    if kind == "geo_point_value":
        return {"latitude": value.geo_point_value.latitude, "longitude": value.geo_point_value.longitude}
    raise TypeError(f"unknown Firestore value type {kind}")


def decode_fields(fields: Any) -> dict[str, Any]:
    return {k: decode(v) for k, v in fields.items()}


def _field_path(name: str) -> str:
    return name if _SIMPLE_FIELD.match(name) else "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


# --- writes -------------------------------------------------------------------------------


def create(name: str, data: Mapping[str, Any]) -> Any:
    """Create `name`; the commit fails (ALREADY_EXISTS) if it exists."""
    P = pb()
    doc = P.document(name=name, fields={k: encode(v) for k, v in data.items()})
    return P.write(update=doc, current_document=P.precondition(exists=False))


def update(name: str, data: Mapping[str, Any]) -> Any:
    """Set the given top-level fields of an existing document (NOT_FOUND otherwise)."""
    P = pb()
    doc = P.document(name=name, fields={k: encode(v) for k, v in data.items()})
    mask = P.mask(field_paths=[_field_path(k) for k in data])
    return P.write(update=doc, update_mask=mask, current_document=P.precondition(exists=True))


def merge(name: str, data: Mapping[str, Any], increments: Mapping[str, int | float]) -> Any:
    """`set(..., merge=True)` with `Increment` fields: upsert, adding to counters."""
    P = pb()
    doc = P.document(name=name, fields={k: encode(v) for k, v in data.items()})
    transforms = [P.transform(field_path=_field_path(k), increment=encode(v)) for k, v in increments.items()]
    mask = P.mask(field_paths=[_field_path(k) for k in data])
    return P.write(update=doc, update_mask=mask, update_transforms=transforms)


# --- calls --------------------------------------------------------------------------------


async def _with_retry(call: Callable[[], Any], retry_on: Sequence[str], *, commit: bool = False) -> Any:
    """The client's policy: backoff from 0.1 s, x1.3, with jitter; the deadline is the caller's."""
    import grpc
    from google.api_core import exceptions

    delay = 0.1
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except grpc.aio.AioRpcError as exc:
            code = exc.code().name
            if commit and attempt > 1 and code == "ALREADY_EXISTS":
                return None  # the earlier attempt was applied (see the module docstring)
            if code not in retry_on:
                raise exceptions.from_grpc_error(exc) from None
        await asyncio.sleep(random.uniform(0, delay))
        delay = min(delay * 1.3, 5.0)


async def get(name: str) -> dict[str, Any] | None:
    """One document's fields, or None when it does not exist."""
    rpc = _stubs()
    request = pb().batch_get(database=rpc.database, documents=[name])

    async def call() -> dict[str, Any] | None:
        async for r in rpc.batch_get(request, metadata=rpc.database_metadata, timeout=RPC_TIMEOUT_S):
            if r.HasField("found"):
                return decode_fields(r.found.fields)
        return None

    result: dict[str, Any] | None = await _with_retry(call, _READ_RETRY)
    return result


@dataclass(frozen=True)
class Doc:
    id: str
    data: dict[str, Any]


async def query(
    parent: str,
    collection: str,
    *,
    order_by: str,
    descending: bool = False,
    where: tuple[str, str, Any] | None = None,
    limit: int | None = None,
) -> list[Doc]:
    """A query over one subcollection of `parent` (a document name), in order.

    `where` is `(field, op, value)` with op one of `<`, `<=`, `>`, `>=`, `==`.
    """
    rpc = _stubs()
    Q = pb().structured_query
    direction = Q.Direction.DESCENDING if descending else Q.Direction.ASCENDING
    q = Q(
        from_=[Q.CollectionSelector(collection_id=collection)],
        order_by=[Q.Order(field=Q.FieldReference(field_path=_field_path(order_by)), direction=direction)],
    )
    if where is not None:
        field, op, value = where
        q.where.field_filter.CopyFrom(
            Q.FieldFilter(
                field=Q.FieldReference(field_path=_field_path(field)),
                op=Q.FieldFilter.Operator.Value(_OPERATORS[op]),
                value=encode(value),
            )
        )
    if limit is not None:
        q.limit.value = limit
    request = pb().run_query(parent=parent, structured_query=q)
    metadata = _routed(rpc.metadata, "parent", parent)

    async def call() -> list[Doc]:
        docs = []
        async for r in rpc.run_query(request, metadata=metadata, timeout=RPC_TIMEOUT_S):
            if r.HasField("document"):
                docs.append(Doc(r.document.name.rsplit("/", 1)[1], decode_fields(r.document.fields)))
        return docs

    result: list[Doc] = await _with_retry(call, _READ_RETRY)
    return result


async def commit(writes: Sequence[Any]) -> None:
    """Apply the writes atomically (all or none)."""
    rpc = _stubs()
    request = pb().commit(database=rpc.database, writes=list(writes))

    async def call() -> None:
        await rpc.commit(request, metadata=rpc.database_metadata, timeout=RPC_TIMEOUT_S)

    await _with_retry(call, _WRITE_RETRY, commit=True)
