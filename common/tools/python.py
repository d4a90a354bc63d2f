"""Python tools: plain typed functions in `tenants/{tenant}/tools.py`, marked with `@tool`.

    from common.tools import tool

    @tool
    def order_status(order_id: str) -> dict:
        '''Where an order is.

        Args:
            order_id: The order number, e.g. "A-1001".
        '''

`@tool` only marks the function (it stays a plain, testable function); the
loader builds the tenant's registry by importing that tenant's file and
collecting the marked functions defined in it. Nothing registers into a
global table at import time, so a module can only ever populate its own
tenant's registry, and importing another tenant's module registers nothing.

Modules are loaded lazily, once per tenant per process, from
`$TENANTS_DIR/{tenant}/tools.py` (default `<repo>/tenants`). In a per-tenant
deploy only that tenant's folder is shipped, and another tenant id is refused
outright.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import logging
import os
import re
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

from pydantic import ValidationError

from common.logging import get_logger, log
from common.providers.base import ToolCall, ToolSpec
from common.tools.base import ToolContext, ToolError, ToolOutcome, error, parse_arguments, result_text
from common.tools.schema import Signature, build, validation_message

_log = get_logger("tools")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_TENANT = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
F = TypeVar("F", bound=Callable[..., Any])
MARK = "__tool__"


@dataclass(frozen=True)
class PythonTool:
    name: str
    fn: Callable[..., Any]
    signature: Signature
    timeout_s: float | None = None  # overrides the assistant's and the global default

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.signature.description, self.signature.parameters)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.fn)

    async def __call__(self, call: ToolCall, ctx: ToolContext) -> ToolOutcome:
        """Validate, then run; every failure comes back as an error outcome."""
        arguments = parse_arguments(call)
        if isinstance(arguments, ToolOutcome):
            return arguments
        try:
            kwargs = self.signature.validate(arguments)
        except ValidationError as exc:
            return error(call, f"invalid arguments for {self.name}: {validation_message(exc)}")
        if self.signature.context_param:
            kwargs[self.signature.context_param] = ctx
        try:
            if self.is_async:
                value = await self.fn(**kwargs)
            else:
                # A thread, so a blocking tool never stalls the other streams of this
                # instance. On timeout the thread is abandoned, not killed.
                value = await asyncio.to_thread(self.fn, **kwargs)
                if inspect.isawaitable(value):
                    value = await value
        except ToolError as exc:
            return error(call, str(exc) or type(exc).__name__)
        except Exception as exc:
            log(_log, logging.WARNING, "tool raised", tool=self.name, error=type(exc).__name__)
            return error(call, f"{self.name} failed: {type(exc).__name__}: {exc}")
        return ToolOutcome(call, result_text(value))


@overload
def tool(fn: F, /) -> F: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None, timeout_s: float | None = None
) -> Callable[[F], F]: ...


def tool(
    fn: Any = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = None,
) -> Any:
    """Mark a function as a tool; its schema is built now, so a bad signature fails at import."""

    def mark(func: F) -> F:
        tool_name = name or func.__name__
        if not _NAME.match(tool_name):
            raise TypeError(f"tool name {tool_name!r} must match {_NAME.pattern}")
        if timeout_s is not None and timeout_s <= 0:
            raise TypeError(f"tool {tool_name}: timeout_s must be positive")
        signature = build(func, tool_name, description)
        setattr(func, MARK, PythonTool(tool_name, func, signature, timeout_s))
        return func

    return mark(fn) if fn is not None else mark


def tools_in(module: Any) -> dict[str, PythonTool]:
    """The tools a module defines itself (not ones it imported from elsewhere)."""
    found: dict[str, PythonTool] = {}
    for value in vars(module).values():
        marked = getattr(value, MARK, None)
        if isinstance(marked, PythonTool) and getattr(value, "__module__", None) == module.__name__:
            if marked.name in found:
                raise TypeError(f"{module.__name__}: two tools are named {marked.name!r}")
            found[marked.name] = marked
    return found


# --- per-tenant registry -------------------------------------------------------------------

_registries: dict[str, dict[str, PythonTool]] = {}
_lock = threading.Lock()


def tenants_dir() -> Path:
    configured = os.environ.get("TENANTS_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / "tenants"


def _load(tenant: str) -> dict[str, PythonTool]:
    path = tenants_dir() / tenant / "tools.py"
    if not path.is_file():
        return {}
    module_name = f"_tenant_tools.{tenant.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        return {}
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # pydantic and dataclasses resolve names through it
    try:
        spec.loader.exec_module(module)
        return tools_in(module)
    except Exception:
        sys.modules.pop(module_name, None)
        _log.exception("tenant tools failed to load", extra={"fields": {"tenant": tenant}})
        return {}


def tenant_tools(tenant: str) -> dict[str, PythonTool]:
    """The tenant's Python tools by name, imported on first use and cached for the process.

    A module that fails to import is logged and treated as empty (its tools
    are then "unknown" to the model) rather than failing every chat turn.
    """
    found = _registries.get(tenant)
    if found is not None:
        return found
    from common.settings import get_settings

    deployed_for = get_settings().tenant_id
    with _lock:  # one import per tenant even when the first requests arrive together
        found = _registries.get(tenant)
        if found is None:
            allowed = _TENANT.match(tenant) and deployed_for in (None, tenant)
            found = _load(tenant) if allowed else {}
            _registries[tenant] = found
    return found


def reset_registries() -> None:
    """Forget every loaded tenant module (tests)."""
    with _lock:
        for tenant in list(_registries):
            sys.modules.pop(f"_tenant_tools.{tenant.replace('-', '_')}", None)
        _registries.clear()
