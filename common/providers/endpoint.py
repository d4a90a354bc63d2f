"""Where a provider key may be sent: the `base_url` guard and the credential's host binding.

A provider's `base_url` is tenant-controlled and the upstream call carries a
key the tenant may never have seen (a platform-provisioned one), so:

- `base_url` passes the webhook address guard (`common.tools.netguard`: https,
  public addresses, `ALLOWED_PRIVATE_HOSTS` for operators and tests), with no
  query string or fragment (which would let the URL steer the path), both when
  it is written and before every call (`vet`, cached briefly per URL);
- a credential is bound to the upstream host it was entered for: when its
  value is stored, the record gets `host` (normalised `host:port`) and
  `host_proof`, an HMAC of that host keyed by the value itself. Only someone
  who knows the value can bind it to another host, so neither a PATCH of the
  provider's `base_url` nor an imported bundle that rewrites `host` can move
  a key to a listener: the key is refused before it is sent (`check_binding`)
  until the value is entered again;
- upstream failures reach callers as a status and a short class, never the
  upstream's body (`public_error`); logs keep a redacted snippet.

This is the class of LiteLLM's `api_base` key-theft advisory.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlsplit

from common.config.models import Credential, Provider
from common.providers.base import ProviderCallError
from common.settings import get_settings
from common.tools import netguard

# Where each SDK goes when a provider names no base_url.
DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "cohere": "https://api.cohere.com",
    "gemini": "https://generativelanguage.googleapis.com",
}
VET_CACHE_S = 30.0
_vetted: dict[tuple[str, tuple[str, ...]], float] = {}

_CLASSES = {
    400: "bad request",
    401: "authentication failed",
    403: "permission denied",
    404: "not found",
    408: "timed out",
    409: "conflict",
    413: "request too large",
    422: "request refused",
    429: "rate limited",
}


class Refused(Exception):
    """The provider may not be called with this credential; `field` names what to fix."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def check_base_url(url: str) -> netguard.Target:
    """Everything checkable without the network; raises `netguard.Refused`."""
    parts = urlsplit(url)
    if parts.query or url.rstrip().endswith("?"):
        raise netguard.Refused("a query string is not allowed")
    if parts.fragment or "#" in url:
        raise netguard.Refused("a fragment is not allowed")
    return netguard.parse(url, get_settings().allowed_private_hosts)


def base_url_of(provider: Provider) -> str | None:
    return provider.base_url or DEFAULT_BASE_URLS.get(provider.kind)


def upstream_host(provider: Provider) -> str:
    """`host:port` the provider's calls go to (its SDK's default without a base_url)."""
    url = base_url_of(provider)
    if not url:
        return ""
    parts = urlsplit(url)
    host = netguard.normalize_host(parts.hostname or "")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        return ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def host_proof(tenant: str, credential_id: str, host: str, value: str) -> str:
    message = f"gcp-assistants/credential-host/v1\0{tenant}\0{credential_id}\0{host}".encode()
    return hmac.new(value.encode(), message, hashlib.sha256).hexdigest()[:32]


def binding(tenant: str, credential_id: str, provider: Provider | None, value: str) -> dict[str, str]:
    """The fields a credential record gets when its value is entered (none for webhook keys)."""
    if provider is None:
        return {"host": "", "host_proof": ""}
    host = upstream_host(provider)
    return {"host": host, "host_proof": host_proof(tenant, credential_id, host, value)}


def check_binding(tenant: str, credential: Credential, provider: Provider, value: str) -> None:
    """Refuse (before anything is sent) a key stored for another host than the provider's."""
    host = upstream_host(provider)
    expected = host_proof(tenant, credential.id, host, value)
    if credential.host_proof and hmac.compare_digest(credential.host_proof, expected):
        return
    stored = credential.host or "no recorded host"
    raise Refused(
        f"credential_id: credential {credential.id!r} was stored for {stored}, but provider "
        f"{provider.id!r} now calls {host or 'no host'}; enter the credential's value again "
        "(PATCH /admin/credentials/{id} with `value`) to use it there",
        field="credential_id",
    )


async def vet(provider: Provider) -> None:
    """The call-time guard: the base_url is still allowed and resolves to allowed addresses."""
    if not provider.base_url:
        return  # the SDK's own public endpoint
    allowed = get_settings().allowed_private_hosts
    key = (provider.base_url, allowed)
    now = time.monotonic()
    if _vetted.get(key, 0.0) > now:
        return
    try:
        await netguard.resolve(check_base_url(provider.base_url))
    except netguard.Refused as exc:
        raise Refused(
            f"base_url: provider {provider.id!r} may not be called: {exc}", field="base_url"
        ) from None
    if len(_vetted) > 1024:
        _vetted.clear()
    _vetted[key] = now + VET_CACHE_S


async def guard(tenant: str, provider: Provider, credential: Credential, value: str) -> None:
    """Both checks, in the order that leaks least: the binding needs no network."""
    check_binding(tenant, credential, provider, value)
    await vet(provider)


def public_error(exc: ProviderCallError) -> str:
    """What a caller may see of an upstream failure: a status and a short class, no body."""
    if exc.timeout:
        return "timed out"
    if exc.status:
        cls = _CLASSES.get(exc.status) or ("server error" if exc.status >= 500 else "client error")
        return f"upstream status {exc.status}: {cls}"
    if exc.connection:
        return "connection failed"
    return "failed"
