"""Usage counters per tenant, app, assistant and day: `tenants/{t}/usage/{day}_{app}_{assistant}`.

Counters are Firestore increments, so concurrent turns on many instances add
up without a transaction. `POST /chat` adds them in the reply's commit;
the stateless endpoint through `common.store.usage_buffer`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def usage_doc(
    app_id: str,
    assistant_id: str,
    input_tokens: int,
    output_tokens: int,
    cost: float,
    *,
    requests: int = 1,
    day: str | None = None,
) -> tuple[str, dict[str, Any]]:
    day = day or datetime.now(UTC).strftime("%Y-%m-%d")
    return f"{day}_{app_id}_{assistant_id}", {
        "day": day,
        "app_id": app_id,
        "assistant_id": assistant_id,
        "requests": requests,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost": cost,
    }


def as_increments(counters: dict[str, Any]) -> dict[str, Any]:
    from google.cloud.firestore import Increment

    return {k: Increment(v) if isinstance(v, int | float) else v for k, v in counters.items()}
