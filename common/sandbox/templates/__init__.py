"""Starting points for code providers, one per popular API (`GET /admin/providers/code/template`).

Each template is a complete provider module (stdlib + httpx, which the sandbox
runtime has) talking to the vendor's HTTP API directly, plus the JSON Schema
of its config values, an example config and a `validation_code` the test
endpoint runs first. They are ordinary modules here so ruff and mypy check
them; the API hands out their source text.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

KINDS = ("anthropic", "openai", "openai_compatible", "cohere", "gemini", "ollama")
_DIR = Path(__file__).parent
_FILE = {"openai_compatible": "openai"}

VALIDATION_CODE = '''\
def validate(config):
    """Runs in the sandbox before the test call: raise to report a bad config."""
    base_url = config.get("base_url")
    if base_url is not None and not str(base_url).startswith(("http://", "https://")):
        raise ValueError("base_url must be an http(s) URL")
'''


def _schema(extra: dict[str, Any] | None = None, required: list[str] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {
        "base_url": {"type": "string", "description": "the API root; the provider's base_url overrides it"}
    }
    props.update(extra or {})
    return {"type": "object", "properties": props, "required": required or [], "additionalProperties": False}


_SCHEMAS: dict[str, dict[str, Any]] = {
    "anthropic": _schema(
        {
            "max_tokens": {"type": "integer", "minimum": 1, "description": "when the model sets none"},
            "version": {"type": "string", "description": "anthropic-version header"},
        }
    ),
    "openai": _schema({"max_tokens_field": {"enum": ["max_completion_tokens", "max_tokens"]}}),
    "openai_compatible": _schema({"max_tokens_field": {"enum": ["max_completion_tokens", "max_tokens"]}}),
    "cohere": _schema(),
    "gemini": _schema(),
    "ollama": _schema(),
}
_CONFIG: dict[str, dict[str, Any]] = {
    "anthropic": {"max_tokens": 1024},
    "openai_compatible": {"max_tokens_field": "max_tokens"},
}


@cache
def template(kind: str) -> dict[str, Any]:
    """The template of `kind` (KeyError for an unknown kind)."""
    if kind not in KINDS:
        raise KeyError(kind)
    code = (_DIR / f"{_FILE.get(kind, kind)}.py").read_text()
    return {
        "kind": kind,
        "python_code": code,
        "config_schema": _SCHEMAS[kind],
        "config": _CONFIG.get(kind, {}),
        "required_dependencies": ["httpx"],
        "validation_code": VALIDATION_CODE,
    }
