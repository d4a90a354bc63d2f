"""Every Firestore record with `expires_at` has a TTL policy from bootstrap.

A module that writes the key `"expires_at"` into a document must be listed in
infra/bootstrap.py TTL_COLLECTION_GROUPS (with its collection group), or its
records (idempotency replays hold chat content) would live forever.
"""

from __future__ import annotations

import re
from pathlib import Path

from infra.bootstrap import TTL_COLLECTION_GROUPS, TTL_FIELD

ROOT = Path(__file__).resolve().parents[2]
KEY = re.compile(r"""["']expires_at["']\s*:""")  # a dict key in a record, not a local variable


def modules_writing_expires_at() -> set[str]:
    found = set()
    for folder in ("common", "functions"):
        for path in (ROOT / folder).rglob("*.py"):
            if KEY.search(path.read_text(encoding="utf-8")):
                found.add(path.relative_to(ROOT).as_posix())
    return found


def test_every_module_writing_expires_at_has_a_ttl_policy() -> None:
    writers = modules_writing_expires_at()

    assert writers, "the scan finds nothing: it no longer matches how records are written"
    missing = writers - set(TTL_COLLECTION_GROUPS.values())
    where = "infra/bootstrap.py TTL_COLLECTION_GROUPS"
    assert not missing, f"add the collection group of {sorted(missing)} to {where}"


def test_each_listed_collection_group_is_the_one_its_module_writes() -> None:
    assert TTL_FIELD == "expires_at"
    for group, module in TTL_COLLECTION_GROUPS.items():
        text = (ROOT / module).read_text(encoding="utf-8")
        assert re.search(rf"""["']{group}["']""", text), f"{module} never names the collection {group!r}"
