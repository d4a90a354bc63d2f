"""Usage counters per tenant, app, assistant and day: `tenants/{t}/usage/{day}_{app}_{assistant}`.

Counters are Firestore increments, so concurrent turns on many instances add
up without a transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from common.store.db import RPC_TIMEOUT_S, tenant_collection
from common.store.errors import firestore_guard


def usage_doc(
    app_id: str, assistant_id: str, input_tokens: int, output_tokens: int, cost: float
) -> tuple[str, dict[str, Any]]:
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    return f"{day}_{app_id}_{assistant_id}", {
        "day": day,
        "app_id": app_id,
        "assistant_id": assistant_id,
        "requests": 1,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost": cost,
    }


def as_increments(counters: dict[str, Any]) -> dict[str, Any]:
    from google.cloud.firestore import Increment

    return {k: Increment(v) if isinstance(v, int | float) else v for k, v in counters.items()}


async def record(
    tenant: str, *, app_id: str, assistant_id: str, input_tokens: int, output_tokens: int, cost: float
) -> None:
    doc_id, counters = usage_doc(app_id, assistant_id, input_tokens, output_tokens, cost)
    async with firestore_guard():
        await (
            tenant_collection(tenant, "usage")
            .document(doc_id)
            .set(as_increments(counters), merge=True, timeout=RPC_TIMEOUT_S)
        )
