"""Rules that span records: references (422), unique slugs (409), refused deletes (409).

Checked against the effective config (bundle + overlay), because that is
what chat will run: an assistant may point at a model that only the bundle
defines, and a bundle app's slug is as taken as a Firestore one.
"""

from __future__ import annotations

import ipaddress
import os
from typing import cast
from urllib.parse import urlsplit

from common.admin.records.snapshot import Snapshot
from common.auth.roles import Principal
from common.config.models import App, Assistant, Credential, Model, Provider, Record, Tool
from common.errors import Conflict, Forbidden, ValidationFailed
from common.providers import endpoint
from common.settings import get_settings
from common.tools import netguard

_LOCAL_SUFFIXES = (".localhost", ".local", ".internal")


def _missing(field: str, what: str, ident: str) -> ValidationFailed:
    return ValidationFailed(f"{field}: no {what} with id {ident!r}", field=field)


def code_providers_enabled() -> bool:
    return os.environ.get("ALLOW_CODE_PROVIDERS") == "1"


def check_code_provider(new: Provider | None, old: Provider | None, actor: Principal) -> None:
    """Code providers: off unless ALLOW_CODE_PROVIDERS=1 (422); then platform_admin only (403)."""
    touches_code = (new is not None and new.kind == "code") or (old is not None and old.kind == "code")
    if not touches_code:
        return
    if new is not None and new.kind == "code" and not code_providers_enabled():
        raise ValidationFailed(
            "kind: code providers are disabled (ALLOW_CODE_PROVIDERS is not 1)", field="kind"
        )
    if not actor.is_platform:
        raise Forbidden("only a platform admin may create or change code providers")


def check_url(field: str, url: str, *, https_only: bool) -> None:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    allowed = host in get_settings().allowed_private_hosts
    schemes = ("https",) if https_only and not allowed else ("http", "https")
    if parts.scheme not in schemes or not host:
        raise ValidationFailed(f"{field}: must be an {' or '.join(schemes)} URL", field=field)
    if not https_only or allowed:
        return
    private = host == "localhost" or host.endswith(_LOCAL_SUFFIXES)
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
        private = not ip.is_global or ip.is_multicast
    except ValueError:
        pass
    if private:
        raise ValidationFailed(
            f"{field}: private, loopback and link-local hosts are refused (see ALLOWED_PRIVATE_HOSTS)",
            field=field,
        )


def _check_app(snap: Snapshot, app: App) -> None:
    for other in snap.cfg.apps.values():
        if other.id != app.id and other.slug == app.slug:
            raise Conflict(f"slug: an app with slug {app.slug!r} exists", field="slug")
    if app.default_assistant_id:
        found = snap.cfg.assistants.get(app.default_assistant_id)
        if found is None or found.app_id != app.id:
            raise _missing("default_assistant_id", "assistant of this app", app.default_assistant_id)


def _check_provider(provider: Provider) -> None:
    if provider.kind == "openai_compatible" and not provider.base_url:
        raise ValidationFailed("base_url: required for openai_compatible providers", field="base_url")
    if provider.base_url:
        # The webhook address guard, query and fragment refused (common.providers.endpoint).
        try:
            endpoint.check_base_url(provider.base_url)
        except netguard.Refused as exc:
            raise ValidationFailed(f"base_url: {exc}", field="base_url") from None


def _check_assistant(snap: Snapshot, assistant: Assistant) -> None:
    cfg = snap.cfg
    if assistant.app_id not in cfg.apps:
        raise _missing("app_id", "app", assistant.app_id)
    for other in cfg.assistants.values():
        if other.id != assistant.id and other.app_id == assistant.app_id and other.slug == assistant.slug:
            raise Conflict(f"slug: this app has an assistant with slug {assistant.slug!r}", field="slug")
    model = cfg.models.get(assistant.model_id)
    if model is None:
        raise _missing("model_id", "model", assistant.model_id)
    if assistant.credential_id:
        cred = cfg.credentials.get(assistant.credential_id)
        if cred is None:
            raise _missing("credential_id", "credential", assistant.credential_id)
        if cred.provider_id != model.provider_id:
            raise ValidationFailed(
                f"credential_id: credential {cred.id!r} is for provider {cred.provider_id!r}, "
                f"but model {model.id!r} is served by {model.provider_id!r}",
                field="credential_id",
            )
    for index, fallback in enumerate(assistant.fallback_model_ids):
        if fallback not in cfg.models:
            raise _missing(f"fallback_model_ids.{index}", "model", fallback)


def check_webhook_url(field: str, url: str) -> None:
    """The call-time guard (`netguard.parse`), at write time: one rule for both, so any
    spelling refused when calling (`2130706433`, `127.1`, `[::127.0.0.1]`, `LOCALHOST.`,
    `metadata`) is refused when saving."""
    try:
        netguard.parse(url, get_settings().allowed_private_hosts)
    except netguard.Refused as exc:
        raise ValidationFailed(f"{field}: {exc} (see ALLOWED_PRIVATE_HOSTS)", field=field) from None


def _check_tool(snap: Snapshot, tool: Tool) -> None:
    for other in snap.cfg.tools.values():
        if other.id != tool.id and other.name == tool.name:
            raise Conflict(f"name: a tool named {tool.name!r} exists", field="name")
    check_webhook_url("url", tool.url)
    if tool.credential_id:
        cred = snap.cfg.credentials.get(tool.credential_id)
        if cred is None:
            raise _missing("credential_id", "credential", tool.credential_id)
        if cred.kind != "webhook":
            raise ValidationFailed(
                f"credential_id: {cred.id!r} is a provider key; a webhook needs a credential of "
                "kind `webhook` (provider keys are never sent to webhooks)",
                field="credential_id",
            )


def _check_credential(snap: Snapshot, cred: Credential) -> None:
    if cred.kind == "provider" and cred.provider_id not in snap.cfg.providers:
        raise _missing("provider_id", "provider", cred.provider_id or "")
    users = [t.id for t in snap.cfg.tools.values() if t.credential_id == cred.id]
    if cred.kind != "webhook" and users:
        raise ValidationFailed(f"kind: webhook tools {', '.join(sorted(users)[:10])} use it", field="kind")
    users = [a.id for a in snap.cfg.assistants.values() if a.credential_id == cred.id]
    if cred.kind != "provider" and users:
        raise ValidationFailed(f"kind: assistants {', '.join(sorted(users)[:10])} use it", field="kind")


def check_record(snap: Snapshot, collection: str, record: Record) -> None:
    """Raise 422/409 when `record`, as it would be stored, breaks a cross-record rule."""
    cfg = snap.cfg
    if collection == "apps":
        _check_app(snap, cast(App, record))
    elif collection == "providers":
        _check_provider(cast(Provider, record))
    elif collection == "models":
        provider_id = cast(Model, record).provider_id
        if provider_id not in cfg.providers:
            raise _missing("provider_id", "provider", provider_id)
    elif collection == "credentials":
        _check_credential(snap, cast(Credential, record))
    elif collection == "assistants":
        _check_assistant(snap, cast(Assistant, record))
    elif collection == "tools":
        _check_tool(snap, cast(Tool, record))


def check_delete(snap: Snapshot, collection: str, ident: str) -> None:
    """409 when other records still point at this one (delete or repoint them first)."""
    cfg = snap.cfg
    users: list[str] = []
    if collection == "apps":
        users = [a.id for a in cfg.assistants.values() if a.app_id == ident]
    elif collection == "providers":
        users = [m.id for m in cfg.models.values() if m.provider_id == ident]
        users += [c.id for c in cfg.credentials.values() if c.provider_id == ident]
    elif collection == "models":
        users = [a.id for a in cfg.assistants.values() if ident in (a.model_id, *a.fallback_model_ids)]
    elif collection == "credentials":
        users = [a.id for a in cfg.assistants.values() if a.credential_id == ident]
        users += [t.id for t in cfg.tools.values() if t.credential_id == ident]
    elif collection == "assistants":
        users = [a.id for a in cfg.apps.values() if a.default_assistant_id == ident]
    elif collection == "tools":
        tool = cfg.tools.get(ident)
        users = [a.id for a in cfg.assistants.values() if tool is not None and tool.name in a.tools]
    if users:
        raise Conflict(f"{collection[:-1]} {ident!r} is still used by {', '.join(sorted(users)[:10])}")
