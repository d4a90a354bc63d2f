"""The smallest functions-framework aio function: the cold-start baseline for `health`."""

from __future__ import annotations

from typing import Any

import functions_framework.aio


@functions_framework.aio.http
async def bare(request: Any) -> dict[str, bool]:
    return {"ok": True}
