"""The demo tenant's tools (tenants/demo/tools.py) load and behave: `make dev` depends on them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.providers.base import ToolCall
from common.settings import get_settings
from common.tools import ToolContext
from common.tools.python import PythonTool, reset_registries, tenant_tools

ROOT = Path(__file__).resolve().parents[2]
CTX = ToolContext("demo", "shop", "support", "th_abcdef123456", "req-1")


@pytest.fixture()
def demo(monkeypatch) -> Iterator[dict[str, PythonTool]]:
    monkeypatch.setenv("TENANTS_DIR", str(ROOT / "tenants"))
    monkeypatch.delenv("TENANT_ID", raising=False)
    get_settings.cache_clear()
    reset_registries()
    yield tenant_tools("demo")
    reset_registries()
    monkeypatch.undo()
    get_settings.cache_clear()


async def run(tools: dict[str, PythonTool], name: str, arguments: dict) -> tuple[str, bool]:
    outcome = await tools[name](ToolCall("c1", name, json.dumps(arguments)), CTX)
    return outcome.result, outcome.is_error


async def test_demo_tools_load_with_their_schemas(demo):
    assert set(demo) == {"order_status", "shipping_quote", "return_policy", "start_return"}
    parcel = demo["shipping_quote"].spec.parameters["properties"]["parcel"]
    assert parcel["properties"]["weight_kg"]["maximum"] == 30
    assert "ctx" not in demo["start_return"].spec.parameters["properties"]


async def test_demo_tools_answer(demo):
    status, failed = await run(demo, "order_status", {"order_id": "a-1001"})
    assert not failed and json.loads(status)["carrier"] == "DHL"
    assert await run(demo, "order_status", {"order_id": "Z-9"}) == (
        "Error: no order Z-9; order numbers look like A-1001",
        True,
    )
    quote, _ = await run(
        demo, "shipping_quote", {"parcel": {"weight_kg": 2, "country": "DE"}, "speed": "express"}
    )
    assert json.loads(quote) == {"price_eur": 26.82, "days": "1-2", "speed": "express"}
    label, _ = await run(demo, "start_return", {"order_id": "A-1003", "reason": "too small"})
    assert json.loads(label)["return_id"] == "R-123456"
    _, refused = await run(demo, "shipping_quote", {"parcel": {"weight_kg": 50, "country": "DE"}})
    assert refused
