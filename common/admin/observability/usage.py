"""Usage per app, assistant and day, from the counters chat keeps.

Chat increments `tenants/{t}/usage/{day}_{app}_{assistant}` in the same
commit as each reply (`common.store.threads.finish_turn`). This reads a day
range with one range query on `day` (a single-field index, no composite one)
and filters app and assistant in memory: a range holds at most
days x apps x assistants rows, and the range is capped at `MAX_DAYS`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.responses import Response

from common.admin.api.context import Call, paginate
from common.errors import ValidationFailed
from common.http.responses import json_response
from common.store.db import RPC_TIMEOUT_S, tenant_collection
from common.store.errors import firestore_guard

DEFAULT_DAYS = 30
MAX_DAYS = 366


def _day(call: Call, name: str, default: date) -> date:
    raw = call.query(name)
    if raw is None:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"{name}: must be a date, YYYY-MM-DD", field=name) from None


def _row(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "day": str(data.get("day", "")),
        "app_id": str(data.get("app_id", "")),
        "assistant_id": str(data.get("assistant_id", "")),
        "requests": int(data.get("requests") or 0),
        "input_tokens": int(data.get("input_tokens") or 0),
        "output_tokens": int(data.get("output_tokens") or 0),
        "cost": round(float(data.get("cost") or 0.0), 8),
    }


async def usage(call: Call) -> Response:
    from google.cloud.firestore import FieldFilter

    today = datetime.now(UTC).date()
    end = _day(call, "to", today)
    start = _day(call, "from", end - timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise ValidationFailed("from: must not be after `to`", field="from")
    if (end - start).days >= MAX_DAYS:
        raise ValidationFailed(f"from: the range is limited to {MAX_DAYS} days", field="from")
    app_id, assistant_id = call.query("app_id"), call.query("assistant_id")
    query = (
        tenant_collection(call.tenant_id, "usage")
        .where(filter=FieldFilter("day", ">=", start.isoformat()))
        .where(filter=FieldFilter("day", "<=", end.isoformat()))
    )
    async with firestore_guard():
        docs = [d async for d in query.stream(timeout=RPC_TIMEOUT_S)]
    rows = [_row(d.to_dict() or {}) for d in docs]
    rows = [
        r
        for r in rows
        if (app_id is None or r["app_id"] == app_id)
        and (assistant_id is None or r["assistant_id"] == assistant_id)
    ]
    totals = {
        "requests": sum(r["requests"] for r in rows),
        "input_tokens": sum(r["input_tokens"] for r in rows),
        "output_tokens": sum(r["output_tokens"] for r in rows),
        "cost": round(sum(r["cost"] for r in rows), 8),
    }

    # Newest day first; the key inverts the day so ascending pagination yields that order.
    def key(r: dict[str, Any]) -> str:
        inverted = (date(9999, 12, 31) - date.fromisoformat(r["day"])).days if r["day"] else 0
        return f"{inverted:07d}|{r['app_id']}|{r['assistant_id']}"

    page, token = paginate(rows, key, call.limit(), call.page_token())
    return json_response(
        {
            "items": page,
            "totals": totals,
            "next_page_token": token,
            "from": start.isoformat(),
            "to": end.isoformat(),
        }
    )
