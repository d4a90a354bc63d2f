"""Entry points for Cloud Functions: `--entry-point` names one of `__all__`.

Each function is imported only when asked for (PEP 562 module `__getattr__`),
so a `health` instance never loads the chat path or any provider SDK.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["admin", "chat", "health", "sandbox", "start"]  # noqa: F822 - resolved lazily by __getattr__
_DEV_ONLY = ("dev",)


def __getattr__(name: str) -> Any:
    if name in __all__ or name in _DEV_ONLY:
        return getattr(importlib.import_module(f"functions.{name}"), name)
    raise AttributeError(name)
