"""Static checks of a code provider, without executing a line of it.

Everything here reads the source as a syntax tree (`ast.parse`, which runs
nothing: no import, no decorator, no default value is evaluated) and returns a
list of problems `{line, column, message}`, empty when the code is fine:

- syntax errors, where Python reports them;
- the entry point: a module-level `async def stream(request)` that yields
  (an async generator); `validation_code`, when given, must define
  `validate(config)` (plain or async);
- import statements of modules outside `ALLOWED_MODULES`. This is guidance, not
  the security boundary: `__import__("os")` passes it, and what contains the
  code is the sandbox process (its uid, rlimits and empty environment);
- `required_dependencies` that are not importable in the sandbox runtime (the
  sandbox is deployed from the same requirements as this process, so
  `importlib.util.find_spec` here answers for it);
- a `config_schema` that is not a valid JSON Schema (draft 2020-12), or has a
  remote `$ref`; and `config` values that do not satisfy it.

Parsing is bounded (`MAX_CODE_BYTES`) and runs off the event loop.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import re
from typing import Any

MAX_CODE_BYTES = 256 * 1024
PARSE_TIMEOUT_S = 5.0
ALLOWED_MODULES = frozenset(
    {
        "__future__", "abc", "aiohttp", "asyncio", "base64", "binascii", "collections", "contextlib",
        "copy", "dataclasses", "datetime", "decimal", "email", "enum", "functools", "hashlib", "hmac",
        "html", "http", "httpx", "itertools", "json", "logging", "math", "operator", "random", "re",
        "secrets", "ssl", "string", "textwrap", "time", "types", "typing", "urllib", "uuid", "warnings",
        "zlib",
    }
)  # fmt: skip
_ALLOWED_TEXT = ", ".join(sorted(ALLOWED_MODULES))
Problem = dict[str, Any]


def _problem(line: int | None, column: int | None, message: str, field: str = "python_code") -> Problem:
    return {"field": field, "line": line, "column": column, "message": message}


def _parse(code: str, field: str) -> tuple[ast.Module | None, list[Problem]]:
    if len(code.encode()) > MAX_CODE_BYTES:
        return None, [_problem(None, None, f"the code is over {MAX_CODE_BYTES} bytes", field)]
    try:
        return ast.parse(code, filename="<provider>"), []
    except SyntaxError as exc:
        return None, [_problem(exc.lineno, exc.offset, f"syntax error: {exc.msg}", field)]
    except (ValueError, RecursionError, MemoryError) as exc:
        return None, [_problem(None, None, f"the code cannot be parsed: {type(exc).__name__}", field)]


def _has_yield(fn: ast.AsyncFunctionDef) -> bool:
    """A yield in the function's own body (not in a nested function or class)."""
    todo: list[ast.AST] = list(fn.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        todo.extend(ast.iter_child_nodes(node))
    return False


def _entry_point(tree: ast.Module) -> list[Problem]:
    found = [
        n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "stream"
    ]
    if not found:
        return [_problem(1, 1, "no entry point: define `async def stream(request)` at module level")]
    fn = found[-1]
    if isinstance(fn, ast.FunctionDef):
        return [_problem(fn.lineno, fn.col_offset + 1, "`stream` must be `async def stream(request)`")]
    args = fn.args
    positional = [*args.posonlyargs, *args.args]
    required = len(positional) - len(args.defaults)
    if required != 1 or (args.kwonlyargs and any(d is None for d in args.kw_defaults)):
        return [_problem(fn.lineno, fn.col_offset + 1, "`stream` must take exactly one argument: `request`")]
    if not _has_yield(fn):
        return [
            _problem(
                fn.lineno, fn.col_offset + 1, "`stream` must be an async generator: `yield` text and events"
            )
        ]
    return []


def _validate_entry(tree: ast.Module) -> list[Problem]:
    found = [
        n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == "validate"
    ]
    if not found:
        return [_problem(1, 1, "validation_code must define `validate(config)`", "validation_code")]
    fn = found[-1]
    if len([*fn.args.posonlyargs, *fn.args.args]) - len(fn.args.defaults) != 1:
        return [
            _problem(fn.lineno, fn.col_offset + 1, "`validate` must take exactly one argument: `config`",
                     "validation_code")
        ]  # fmt: skip
    return []


def _imports(tree: ast.Module, field: str) -> list[Problem]:
    out: list[Problem] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            if node.level:
                out.append(
                    _problem(node.lineno, node.col_offset + 1, "relative imports are not available", field)
                )
                continue
            names = [node.module or ""]
        for name in names:
            top = name.split(".")[0]
            if top not in ALLOWED_MODULES:
                out.append(
                    _problem(
                        node.lineno,
                        node.col_offset + 1,
                        f"import of {top!r} is not allowed in the sandbox (allowed: {_ALLOWED_TEXT})",
                        field,
                    )
                )
    return out


_DIST = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _dependencies(deps: list[str]) -> list[Problem]:
    out: list[Problem] = []
    for index, dep in enumerate(deps):
        m = _DIST.match(dep or "")
        module = m.group(1).replace("-", "_").lower() if m else ""
        try:
            found = bool(module) and importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(
                {
                    "field": f"required_dependencies.{index}",
                    "line": None,
                    "column": None,
                    "message": f"{dep!r} is not installed in the sandbox runtime",
                }
            )
    return out


def _remote_ref(schema: Any) -> bool:
    todo = [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not ref.startswith("#"):
                return True
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return False


def _schema(schema: Any, config: dict[str, Any] | None) -> list[Problem]:
    from jsonschema import Draft202012Validator, SchemaError

    def bad(message: str, field: str = "config_schema") -> list[Problem]:
        return [{"field": field, "line": None, "column": None, "message": message}]

    if not isinstance(schema, dict):
        return bad("config_schema must be a JSON Schema object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        return bad(f"not a valid JSON Schema{f' at {where}' if where else ''}: {exc.message}")
    if _remote_ref(schema):
        return bad("config_schema: only local `$ref`s (#/...) are allowed")
    if config is not None:
        error = next(iter(Draft202012Validator(schema).iter_errors(config)), None)
        if error is not None:
            where = ".".join(str(p) for p in error.path)
            return bad(f"config{'.' + where if where else ''}: {error.message}", "config")
    return []


def check(
    python_code: str,
    config_schema: Any = None,
    required_dependencies: list[str] | None = None,
    validation_code: str | None = None,
    config: dict[str, Any] | None = None,
) -> list[Problem]:
    """Every problem found, in source order per field; [] when the provider may be stored."""
    tree, problems = _parse(python_code, "python_code")
    if tree is not None:
        problems += _imports(tree, "python_code") + _entry_point(tree)
    if validation_code:
        vtree, vproblems = _parse(validation_code, "validation_code")
        problems += vproblems
        if vtree is not None:
            problems += _imports(vtree, "validation_code") + _validate_entry(vtree)
    problems += _dependencies(required_dependencies or [])
    if config_schema is not None:
        problems += _schema(config_schema, config)
    problems.sort(key=lambda p: (p["field"], p["line"] or 0, p["column"] or 0))
    return problems


async def check_async(**kwargs: Any) -> list[Problem]:
    """`check` off the event loop, with a time limit."""
    return await asyncio.wait_for(asyncio.to_thread(check, **kwargs), PARSE_TIMEOUT_S)


async def check_provider(provider: Any) -> list[Problem]:
    """`check_async` of a stored code provider's fields (a `common.config.models.Provider`)."""
    return await check_async(
        python_code=provider.python_code or "",
        config_schema=provider.config_schema,
        required_dependencies=provider.required_dependencies,
        validation_code=provider.validation_code,
        config=provider.config,
    )
