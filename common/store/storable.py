"""What Firestore can store: refuse the rest as the caller's mistake (422), not a 500.

Firestore refuses empty or `__reserved__` map keys, integers beyond 64 bits,
arrays of arrays and deep nesting; free-form JSON from callers (thread
metadata, assistant config) is checked before it is written.
"""

from __future__ import annotations

import math
import re
from typing import Any

from common.errors import ValidationFailed

_RESERVED_KEY = re.compile(r"^__.*__$")
_INT64 = (-(2**63), 2**63 - 1)
MAX_DEPTH = 16


def check_storable(value: Any, path: str = "body", depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise ValidationFailed(f"{path}: nested too deeply", field=path)
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key or _RESERVED_KEY.match(key):
                raise ValidationFailed(f"{path}: map keys must be non-empty and not __reserved__", field=path)
            check_storable(key, path, depth + 1)
            check_storable(item, f"{path}.{key}" if path != "body" else key, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, list):
                raise ValidationFailed(f"{path}: arrays of arrays cannot be stored", field=path)
            check_storable(item, f"{path}.{index}", depth + 1)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise ValidationFailed(f"{path}: integer out of range", field=path)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationFailed(f"{path}: must be a finite number", field=path)
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationFailed(f"{path}: not valid UTF-8 text", field=path) from None
