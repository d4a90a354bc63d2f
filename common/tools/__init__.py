"""Tools the model can call during a turn: Python functions and webhooks.

Tenant code imports only this: `from common.tools import tool, ToolContext, ToolError`.
"""

from common.tools.base import ToolContext, ToolError
from common.tools.python import tool

__all__ = ["ToolContext", "ToolError", "tool"]
