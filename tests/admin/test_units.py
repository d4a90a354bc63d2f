"""In-process checks of the admin building blocks (no emulators)."""

from __future__ import annotations

import pytest

from common.admin.api.context import decode_token, encode_token, paginate
from common.admin.records.integrity import check_code_provider, check_url
from common.admin.records.writes import check_storable
from common.auth.roles import Access, Principal, allows
from common.config.models import Provider
from common.errors import Forbidden, ValidationFailed

PLATFORM = Principal("u1", "root", "platform_admin", None)
TENANT_ADMIN = Principal("u2", "ta", "tenant_admin", "acme")


def test_roles():
    assert allows("tenant_viewer", Access.READ) and not allows("tenant_viewer", Access.WRITE)
    assert allows("tenant_admin", Access.WRITE) and not allows("tenant_admin", Access.PLATFORM)
    assert all(allows("platform_admin", a) for a in Access)


def test_code_providers_are_off_by_default_and_platform_only(monkeypatch):
    code = Provider(id="c", kind="code", name="c", python_code="def chat(): ...")
    monkeypatch.delenv("ALLOW_CODE_PROVIDERS", raising=False)
    with pytest.raises(ValidationFailed) as exc:
        check_code_provider(code, None, PLATFORM)
    assert exc.value.field == "kind"
    monkeypatch.setenv("ALLOW_CODE_PROVIDERS", "1")
    check_code_provider(code, None, PLATFORM)
    with pytest.raises(Forbidden):
        check_code_provider(code, None, TENANT_ADMIN)
    with pytest.raises(Forbidden):  # nor change or delete one
        check_code_provider(None, code, TENANT_ADMIN)
    check_code_provider(Provider(id="o", kind="openai", name="o"), None, TENANT_ADMIN)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://hooks.example.com/x", True),
        ("http://hooks.example.com/x", False),
        ("https://127.0.0.1/x", False),
        ("https://[::1]/x", False),
        ("https://169.254.169.254/computeMetadata", False),
        ("https://metadata.google.internal/x", False),
        ("https://192.168.1.2/x", False),
        ("ftp://example.com/x", False),
        ("https:///nohost", False),
    ],
)
def test_webhook_urls(url, ok):
    if ok:
        check_url("url", url, https_only=True)
    else:
        with pytest.raises(ValidationFailed):
            check_url("url", url, https_only=True)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"config": {"": 1}}, "config"),
        ({"config": {"__name__": 1}}, "config"),
        ({"n": 2**64}, "n"),
        ({"f": float("nan")}, "f"),
        ({"l": [[1]]}, "l"),
        ({"s": "\ud800"}, "s"),
    ],
)
def test_values_firestore_cannot_store_are_422(value, field):
    with pytest.raises(ValidationFailed) as exc:
        check_storable(value)
    assert exc.value.field == field


def test_page_tokens_round_trip_and_pages_cover_everything():
    assert decode_token(encode_token("app-3")) == "app-3"
    items = [f"i{n}" for n in range(7)]
    seen, after = [], None
    while True:
        page, token = paginate(items, lambda i: i, 3, after)
        seen += page
        if token is None:
            break
        after = decode_token(token)
    assert seen == items
    for bad in ("", "!!", "%%%"):
        with pytest.raises(ValidationFailed):
            decode_token(bad)
