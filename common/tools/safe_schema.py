"""JSON Schemas written by tenants (action `input_schema`, webhook `parameters`),
checked when written and run without reaching out or backtracking.

A schema is tenant input like any other, and `jsonschema` out of the box
trusts it: a remote `$ref` is fetched (SSRF, no timeout), `pattern` runs on
Python's backtracking `re` (`(a+)+$` takes seconds on 27 characters), and an
invalid schema is found only when used. Here:

- `check` (at write time, 422 naming the field): the schema must be an object
  under `MAX_SCHEMA_BYTES` and `MAX_SCHEMA_DEPTH`, valid for Draft 2020-12,
  every `pattern` / `patternProperties` key must compile with RE2 (linear
  time, no backreferences or lookaround), and every `$ref` must point inside
  the document (`#...`);
- `problems` (at use time): validation with RE2 for patterns, a registry
  that refuses every retrieval (only the bundled metaschemas resolve), a
  deadline checked at every keyword (`common.bounded`), and RecursionError
  (a `{"$ref": "#"}` loop) reported as a schema problem. `format` is an
  annotation, as Draft 2020-12 says by default; the only format ever checked is
  `regex` in `check`, and with RE2.

`validate_async` runs `problems` on the bounded pool with a time limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import re2
import referencing
import referencing.exceptions
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators
from jsonschema.exceptions import SchemaError

from common import bounded
from common.errors import ValidationFailed
from common.http.request import json_depth_exceeds

MAX_SCHEMA_BYTES = 64 * 1024
MAX_SCHEMA_DEPTH = 32
VALIDATE_TIMEOUT_S = 2.0
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})
_REF_KEYWORDS = ("$ref", "$dynamicRef")

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


class SchemaUnusable(Exception):
    """The stored schema cannot be used (a loop, an unresolvable `$ref`, too slow)."""


@lru_cache(maxsize=4096)
def _re2(pattern: str) -> Any:
    return re2.compile(pattern, _RE2_OPTIONS)


_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("regex", raises=re2.error)
def _is_re2(instance: object) -> bool:
    if isinstance(instance, str):
        _re2(instance)
    return True


def _pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _re2(patrn).search(instance):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def _pattern_properties(validator: Any, value: dict[str, Any], instance: Any, schema: Any) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for patrn, subschema in value.items():
        regex = _re2(patrn)
        for key, item in instance.items():
            if regex.search(key):
                yield from validator.descend(item, subschema, path=key, schema_path=patrn)


def _timed(keyword: Any) -> Any:
    def run(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
        bounded.checkpoint()
        yield from keyword(validator, value, instance, schema) or ()

    return run


_KEYWORDS = {**Draft202012Validator.VALIDATORS, "pattern": _pattern, "patternProperties": _pattern_properties}
SafeValidator = validators.extend(Draft202012Validator, {name: _timed(fn) for name, fn in _KEYWORDS.items()})


def _refuse(uri: str) -> referencing.Resource[Any]:
    raise referencing.exceptions.NoSuchResource(ref=uri)  # type: ignore[call-arg]


_REGISTRY: referencing.Registry[Any] = referencing.Registry(retrieve=_refuse)  # type: ignore[call-arg]


def _where(field: str, path: Any) -> str:
    return ".".join([field, *(str(p) for p in path)])


def _short(text: str) -> str:
    return text if len(text) <= 200 else text[:197] + "..."


def _refs(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _refs(item, (*path, str(i)))
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in _REF_KEYWORDS and isinstance(value, str):
                yield (*path, key), value
            elif key not in _DATA_KEYWORDS:
                yield from _refs(value, (*path, str(key)))


def check(schema: Any, field: str) -> None:
    """422 naming `field` (and the place inside it) unless `schema` is safe to store and run."""
    if not isinstance(schema, dict):
        raise ValidationFailed(f"{field}: must be a JSON Schema object", field=field)
    text = json.dumps(schema, default=str)  # a YAML date in a `default` is still data
    if len(text) > MAX_SCHEMA_BYTES:
        raise ValidationFailed(f"{field}: schema over {MAX_SCHEMA_BYTES} bytes", field=field)
    if json_depth_exceeds(text, MAX_SCHEMA_DEPTH):
        raise ValidationFailed(f"{field}: schema nested deeper than {MAX_SCHEMA_DEPTH} levels", field=field)
    try:
        SafeValidator.check_schema(schema, format_checker=_FORMATS)
    except SchemaError as exc:
        where = _where(field, exc.path)
        if exc.validator == "format":
            message = f"{where}: {exc.instance!r} is not a regular expression RE2 accepts"
        else:
            message = f"{where}: invalid JSON Schema: {_short(exc.message)}"
        raise ValidationFailed(message, field=where) from None
    for path, ref in _refs(schema):
        if not ref.startswith("#"):
            where = _where(field, path)
            raise ValidationFailed(
                f"{where}: only references inside the schema (#...) are allowed, not {_short(ref)!r}",
                field=where,
            )


def record_schemas(record: object) -> list[tuple[Any, str]]:
    """(schema, field) of a config record: an assistant's actions, a tool's parameters."""
    from common.config.models import Assistant, Tool

    if isinstance(record, Assistant):
        return [(a.input_schema, f"actions.{name}.input_schema") for name, a in record.actions.items()]
    if isinstance(record, Tool):
        return [(record.parameters, "parameters")]
    return []


async def check_async(schemas: list[tuple[Any, str]], timeout_s: float = VALIDATE_TIMEOUT_S) -> None:
    """`check` each (schema, field) off the event loop; 422 when it takes longer than `timeout_s`."""

    def run() -> None:
        for schema, field in schemas:
            check(schema, field)

    try:
        await bounded.run(run, timeout_s)
    except bounded.TimeUp:
        field = schemas[0][1]
        message = f"{field}: the schema took longer than {timeout_s:g} s to check"
        raise ValidationFailed(message, field=field) from None


def problems(schema: dict[str, Any], instance: Any, limit: int = 20) -> list[ValidationError]:
    """Up to `limit` problems of `instance`, ordered by path (within the calling bounded job's time)."""
    validator = SafeValidator(schema, registry=_REGISTRY)
    found: list[ValidationError] = []
    try:
        for err in validator.iter_errors(instance):
            found.append(err)
            if len(found) >= limit:
                break
    except RecursionError:
        raise SchemaUnusable("the schema refers to itself without end") from None
    except referencing.exceptions.Unresolvable as exc:
        raise SchemaUnusable(f"the schema has an unresolvable reference ({_short(str(exc))})") from None
    except bounded.TimeUp:
        raise
    except Exception as exc:  # e.g. an unknown type name in a schema stored around the API
        raise SchemaUnusable(f"the schema is invalid ({type(exc).__name__})") from None
    return sorted(found, key=lambda e: [str(p) for p in e.path])


async def validate_async(
    schema: dict[str, Any], instance: Any, *, limit: int = 20, timeout_s: float = VALIDATE_TIMEOUT_S
) -> list[ValidationError]:
    """`problems` off the event loop; SchemaUnusable when it takes longer than `timeout_s`."""
    try:
        return await bounded.run(lambda: problems(schema, instance, limit), timeout_s)
    except bounded.TimeUp:
        raise SchemaUnusable(f"validation took longer than {timeout_s:g} s") from None
