"""Id patterns, apart from the pydantic models so light modules can check ids cheaply."""

from __future__ import annotations

import re

SLUG = r"^[a-z0-9][a-z0-9-]{0,62}$"
IDENT = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"
_SLUG_RE = re.compile(SLUG)


def is_slug(value: str) -> bool:
    return bool(_SLUG_RE.match(value))
