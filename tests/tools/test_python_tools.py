"""Python tools: per-tenant lazy loading from files, validation, sync/async execution, errors."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.providers.base import ToolCall
from common.settings import get_settings
from common.tools import ToolContext, ToolError, tool
from common.tools.python import PythonTool, reset_registries, tenant_tools

CTX = ToolContext("acme", "shop", "support", "th_1", "req-1")


@pytest.fixture()
def tenants(tmp_path, monkeypatch) -> Iterator[Path]:
    monkeypatch.setenv("TENANTS_DIR", str(tmp_path))
    monkeypatch.delenv("TENANT_ID", raising=False)
    get_settings.cache_clear()
    reset_registries()
    yield tmp_path
    reset_registries()
    monkeypatch.undo()
    get_settings.cache_clear()


def write(root: Path, tenant: str, source: str) -> None:
    (root / tenant).mkdir(parents=True, exist_ok=True)
    (root / tenant / "tools.py").write_text(textwrap.dedent(source))


LOADS = 0


async def test_tenant_module_is_loaded_once_and_only_its_own_tools_register(tenants):
    shared = types.ModuleType("shared_tools_for_test")
    exec(  # noqa: S102 - a module another tenant's file could import
        "from common.tools import tool\n@tool\ndef borrowed() -> str:\n    return 'x'\n", shared.__dict__
    )
    sys.modules["shared_tools_for_test"] = shared
    write(
        tenants,
        "acme",
        """
        from __future__ import annotations
        from pydantic import BaseModel
        from common.tools import tool
        from shared_tools_for_test import borrowed  # imported, so not acme's
        import tests.tools.test_python_tools as counter

        counter.LOADS += 1

        class Query(BaseModel):
            text: str

        @tool
        def search(query: Query) -> list[str]:
            '''Search the catalogue.'''
            return [query.text]

        def helper() -> None: ...
        """,
    )
    write(tenants, "beta", "from common.tools import tool\n@tool\ndef beta_only() -> str:\n    return 'b'\n")
    try:
        acme = tenant_tools("acme")
        again = tenant_tools("acme")
        beta = tenant_tools("beta")
    finally:
        del sys.modules["shared_tools_for_test"]

    assert set(acme) == {"search"} and again is acme and LOADS == 1
    assert set(beta) == {"beta_only"}
    outcome = await acme["search"](ToolCall("c", "search", '{"query": {"text": "boots"}}'), CTX)
    assert outcome.result == '["boots"]'


@pytest.mark.parametrize("tenant", ["../acme", "Acme", "acme/..", "", "a" * 80])
def test_tenant_ids_that_are_not_slugs_load_nothing(tenants, tenant):
    write(tenants, "acme", "from common.tools import tool\n@tool\ndef t() -> str:\n    return ''\n")
    assert tenant_tools(tenant) == {}


def test_a_per_tenant_deploy_loads_only_its_own_tenant(tenants, monkeypatch):
    write(tenants, "acme", "from common.tools import tool\n@tool\ndef t() -> str:\n    return ''\n")
    write(tenants, "beta", "from common.tools import tool\n@tool\ndef t() -> str:\n    return ''\n")
    monkeypatch.setenv("TENANT_ID", "acme")
    get_settings.cache_clear()

    assert set(tenant_tools("acme")) == {"t"}
    assert tenant_tools("beta") == {}


def test_a_broken_module_is_logged_and_loads_nothing(tenants):
    write(tenants, "acme", "raise RuntimeError('broken at import')\n")
    write(tenants, "beta", "from common.tools import tool\n@tool\ndef bad(x) -> str:\n    return ''\n")

    assert tenant_tools("acme") == {}
    assert tenant_tools("beta") == {}
    assert tenant_tools("nobody") == {}


@tool
def blocking(seconds: float) -> str:
    """Sleeps in a thread."""
    time.sleep(seconds)
    return threading.current_thread().name


@tool
async def whoami(note: str, ctx: ToolContext) -> dict[str, str]:
    """The server-bound ids."""
    return {"tenant": ctx.tenant, "thread": ctx.thread_id, "note": note}


@tool
def explode(reason: str) -> str:
    """Always fails."""
    if reason == "tool-error":
        raise ToolError("the order service is down, try later")
    raise ValueError(f"bad {reason}")


def _t(fn) -> PythonTool:
    return fn.__tool__


async def test_sync_tools_run_in_a_thread_without_blocking_the_loop():
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.ensure_future(ticker())
    try:
        outcome = await _t(blocking)(ToolCall("c", "blocking", '{"seconds": 0.2}'), CTX)
    finally:
        task.cancel()

    assert outcome.result != threading.current_thread().name
    assert ticks >= 5


async def test_context_comes_from_the_server_not_the_model():
    arguments = '{"note": "hi", "ctx": {"tenant": "evil", "thread_id": "other"}}'

    outcome = await _t(whoami)(ToolCall("c", "whoami", arguments), CTX)

    assert outcome.result == '{"tenant":"acme","thread":"th_1","note":"hi"}'


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"reason": "tool-error"}', "Error: the order service is down, try later"),
        ('{"reason": "x"}', "Error: explode failed: ValueError: bad x"),
        ("{not json", "Error: the arguments are not valid JSON"),
        ("[1, 2]", "Error: the arguments must be a JSON object, not list."),
        ("{}", "Error: invalid arguments for explode: reason: Field required"),
        (
            '{"reason": "x", "extra": 1}',
            "Error: invalid arguments for explode: extra: Extra inputs are not permitted",
        ),
        ('{"reason": 5}', "Error: invalid arguments for explode: reason: Input should be a valid string"),
    ],
)
async def test_failures_become_error_results(arguments, expected):
    outcome = await _t(explode)(ToolCall("c", "explode", arguments), CTX)

    assert outcome.is_error
    assert outcome.result.startswith(expected)
