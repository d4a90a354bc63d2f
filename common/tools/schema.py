"""A tool's JSON Schema and argument validator, generated from its Python signature.

Type hints give the types (pydantic types, enums, Literal, Optional, defaults,
nested models, list/dict, `Annotated[..., Field(...)]`); the docstring gives
the tool's description and, from a Google-style `Args:` section, each
parameter's. The same pydantic model that produces the schema validates the
model's arguments, so what the model is told and what is enforced never
drift apart.

The schema is made self-contained for the vendors: `title` noise is dropped
and `$ref`s are inlined (only recursive models keep `$defs`), because not
every provider resolves references.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.fields import FieldInfo

from common.tools.base import ToolContext

_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Returns?|Yields?|Raises|"
    r"Examples?|Notes?|Attributes|See Also|Todo|Warnings?|References)\s*:\s*$"
)
_ARG_SECTIONS = {"Args", "Arguments", "Parameters", "Params", "Keyword Args", "Keyword Arguments"}
_DATA_KEYWORDS = frozenset({"default", "enum", "const", "examples", "required"})
_ARG_LINE = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


@dataclass(frozen=True)
class Signature:
    """What `build` learned from one function."""

    description: str
    parameters: dict[str, Any]  # JSON Schema, type object
    model: type[BaseModel]  # validates the model's arguments
    names: tuple[str, ...]  # python parameter names, in model field order (p0, p1, ...)
    context_param: str | None  # the parameter that receives the ToolContext

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments for the function; raises pydantic's ValidationError."""
        args = {k: v for k, v in arguments.items() if k != self.context_param}
        parsed = self.model.model_validate(args)
        return {name: getattr(parsed, f"p{i}") for i, name in enumerate(self.names)}


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """(description, {parameter: description}) from a Google-style docstring."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    description: list[str] = []
    params: dict[str, str] = {}
    section: str | None = None
    entry_indent: int | None = None
    current: str | None = None
    for line in lines:
        header = _SECTION.match(line)
        if header:
            section, entry_indent, current = header.group(1), None, None
            continue
        if section is None:
            description.append(line)
            continue
        if section not in _ARG_SECTIONS or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if entry_indent is None:
            entry_indent = indent
        match = _ARG_LINE.match(line.strip()) if indent <= entry_indent else None
        if match:
            current = match.group(1)
            params[current] = match.group(2).strip()
        elif current is not None:  # a continuation line of the current entry
            params[current] = f"{params[current]} {line.strip()}".strip()
    return "\n".join(description).strip(), params


def _has_description(hint: Any) -> bool:
    if typing.get_origin(hint) is typing.Annotated:
        return any(isinstance(m, FieldInfo) and m.description for m in typing.get_args(hint)[1:])
    return False


def build(fn: Callable[..., Any], name: str, description: str | None = None) -> Signature:
    """Inspect `fn`; raise TypeError naming the problem when it cannot be a tool."""
    doc_description, doc_params = parse_docstring(inspect.getdoc(fn))
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:
        raise TypeError(f"tool {name}: cannot resolve type hints ({exc})") from exc
    fields: dict[str, Any] = {}
    names: list[str] = []
    context_param: str | None = None
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise TypeError(f"tool {name}: parameter {param.name} must be a plain named parameter")
        if param.name not in hints:
            raise TypeError(f"tool {name}: parameter {param.name} needs a type annotation")
        hint = hints[param.name]
        if hint is ToolContext:
            context_param = param.name
            continue
        # Fields are p0, p1... aliased to the real names, so a parameter may be
        # called `json`, `schema` or `model_id` without clashing with BaseModel.
        kwargs: dict[str, Any] = {"alias": param.name}
        if param.name in doc_params and not _has_description(hint):
            kwargs["description"] = doc_params[param.name]
        if param.default is not param.empty:
            kwargs["default"] = param.default
        fields[f"p{len(names)}"] = (hint, Field(**kwargs))
        names.append(param.name)
    config = ConfigDict(extra="forbid", protected_namespaces=(), arbitrary_types_allowed=False)
    try:
        model = create_model(f"{name}_arguments", __config__=config, **fields)
        schema = model.model_json_schema()
    except Exception as exc:
        raise TypeError(f"tool {name}: no JSON Schema for its parameters ({exc})") from exc
    return Signature(
        description=(description if description is not None else doc_description),
        parameters=clean_schema(schema),
        model=model,
        names=tuple(names),
        context_param=context_param,
    )


def validation_message(exc: ValidationError) -> str:
    """One line per problem, located by argument name, for the model to fix its call."""
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        problems.append(f"{where}: {err['msg']}")
    return "; ".join(problems)


def clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop titles, inline non-recursive `$ref`s, keep `$defs` only for recursive models."""
    defs: dict[str, Any] = schema.get("$defs", {})
    recursive = {n for n in defs if _refers_to(defs[n], n, defs, set())}

    def walk(node: Any, keyword_context: bool = True) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        if not keyword_context:  # keys are property names, values are schemas
            return {key: walk(value) for key, value in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = ref.rsplit("/", 1)[1]
            if target not in recursive:
                siblings = {k: v for k, v in node.items() if k != "$ref"}
                return walk({**defs[target], **siblings})
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("title", "$defs"):
                continue
            if key in _DATA_KEYWORDS:  # values, not schemas: a default may hold a "title" key
                out[key] = value
            else:
                out[key] = walk(value, keyword_context=key not in ("properties", "patternProperties"))
        return out

    cleaned: dict[str, Any] = walk(schema)
    if recursive:
        cleaned["$defs"] = {n: walk(defs[n]) for n in sorted(recursive)}
    cleaned.setdefault("properties", {})
    return cleaned


def _refers_to(node: Any, target: str, defs: dict[str, Any], seen: set[str]) -> bool:
    if isinstance(node, list):
        return any(_refers_to(item, target, defs, seen) for item in node)
    if not isinstance(node, dict):
        return False
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref.rsplit("/", 1)[1]
        if name == target:
            return True
        if name not in seen and name in defs:
            seen.add(name)
            if _refers_to(defs[name], target, defs, seen):
                return True
    return any(_refers_to(value, target, defs, seen) for key, value in node.items() if key != "$ref")
