"""Reading request bodies safely: size limits first, then JSON, then the pydantic model.

Every body that is JSON goes through `loads` here, so the limits hold on every
endpoint, unauthenticated ones included:

- the text must be UTF-8 (RFC 8259), so no raw surrogate bytes get in;
- nesting deeper than `MAX_JSON_DEPTH` is refused *before* parsing (the C
  parser would otherwise recurse until `RecursionError`, a 500), by a scan
  that only runs when the body has more brackets than the limit, so ordinary
  bodies pay two `str.count` calls;
- a lone surrogate escape (`"\\ud800"`) parses to a `str` that cannot be
  encoded, stored or sent, so it is refused here (422 naming the field)
  instead of failing later as a 500.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from itertools import accumulate
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.requests import Request

from common.errors import BadRequest, PayloadTooLarge, Unauthorized, ValidationFailed
from common.validation import validated

M = TypeVar("M", bound=BaseModel)

MAX_JSON_DEPTH = 64
# A JSON string, to its closing quote or to the end of an unterminated one, so a match
# never fails and the scan stays linear.
_STRING = re.compile(r'"[^"\\]*+(?:\\.?[^"\\]*+)*+(?:"|\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@lru_cache(maxsize=4)
def _deep_run(limit: int) -> re.Pattern[str]:
    return re.compile(r"(?:[\[{]\s*){" + str(limit + 1) + "}")


def json_depth_exceeds(text: str, limit: int) -> bool:
    """True when brackets outside strings nest deeper than `limit`.

    Free when there are fewer brackets than the limit; otherwise strings and
    everything but brackets are dropped by regex and the running depth is summed
    in C (`accumulate`), at worst about the cost of `json.loads` itself.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    outside = _STRING.sub("", text)
    if _deep_run(limit).search(outside):  # the usual attack, `[[[[...`, found at once
        return True
    brackets = _NOT_BRACKET.sub("", outside).encode()
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit


def loads(raw: bytes | str, *, what: str = "request body", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse untrusted JSON; BadRequest (400) naming the problem, never a RecursionError."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise BadRequest(f"{what} is not valid UTF-8") from None
    if json_depth_exceeds(text, max_depth):
        raise BadRequest(f"{what} is nested deeper than {max_depth} levels")
    try:
        data = json.loads(text)
    except RecursionError:  # a backstop: the scan above should make this unreachable
        raise BadRequest(f"{what} is nested too deeply") from None
    except ValueError:
        raise BadRequest(f"{what} is not valid JSON") from None
    if _SURROGATE_ESCAPE.search(text):
        try:  # paired escapes became one code point; any surrogate left is a lone one
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            field = _lone_surrogate_at(data) or "body"
            raise ValidationFailed(
                f"{field}: contains a lone surrogate (\\ud800-\\udfff), not valid Unicode", field=field
            ) from None
    return data


def _lone_surrogate_at(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (or key) holding a lone surrogate."""
    if isinstance(value, str):
        return path if _LONE_SURROGATE.search(value) else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        if isinstance(key, str) and _LONE_SURROGATE.search(key):
            return path or "body"
        found = _lone_surrogate_at(item, where)
        if found is not None:
            return found
    return None


async def read_body(request: Request, limit: int) -> bytes:
    """Read at most `limit` bytes; stop early (413) instead of buffering a huge body."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int, *, allow_empty: bool = False) -> Any:
    body = await read_body(request, limit)
    if not body.strip():
        if allow_empty:
            return {}
        raise BadRequest("request body must be a JSON object")
    return loads(body)


def validate(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    return validated(model, data)


async def parse(request: Request, model: type[M], limit: int, *, allow_empty: bool = False) -> M:
    return validate(model, await read_json(request, limit, allow_empty=allow_empty))


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token")
    return token.strip()
