"""Who may call the sandbox, and how chat/admin prove it is them.

Two modes, picked by `SANDBOX_AUTH` (default `secret`):

- `secret` (make dev, tests): a random bearer secret, `SANDBOX_SECRET`, given
  only to the chat/admin process and the sandbox process through their
  environments. The sandbox's children never see it (empty environment, other
  uid, non-dumpable).
- `google` (GCP): the caller sends a Google-signed ID token for the audience
  `SANDBOX_AUDIENCE` (the sandbox function's URL), fetched from the metadata
  server with `google.oauth2.id_token.fetch_id_token`; the sandbox verifies its
  signature, audience and expiry with `id_token.verify_oauth2_token` and that
  its `email` is one of `SANDBOX_ALLOWED_CALLERS` (the tenant's chat and admin
  service accounts). Cloud Run's IAM invoker check comes first; this is the
  second lock, so a mis-set invoker binding alone does not open the sandbox.

Anything unconfigured fails closed: no secret and no google mode means every
call is refused.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import time
from typing import Any

from common.errors import Forbidden, Unauthorized

_TOKEN_TTL_S = 45 * 60  # Google ID tokens live an hour
_tokens: dict[str, tuple[float, str]] = {}
_google_request: Any = None


def _mode() -> str:
    return os.environ.get("SANDBOX_AUTH", "secret").strip().lower()


def _transport() -> Any:
    global _google_request
    if _google_request is None:
        import google.auth.transport.requests

        _google_request = google.auth.transport.requests.Request()
    return _google_request


async def verify(token: str) -> None:
    """Raise 401/403 unless `token` proves an allowed caller."""
    if _mode() == "google":
        from google.oauth2 import id_token

        audience = os.environ.get("SANDBOX_AUDIENCE", "")
        allowed = {e.strip() for e in os.environ.get("SANDBOX_ALLOWED_CALLERS", "").split(",") if e.strip()}
        if not audience or not allowed:
            raise Forbidden("the sandbox has no SANDBOX_AUDIENCE or SANDBOX_ALLOWED_CALLERS")
        try:
            claims = await asyncio.to_thread(id_token.verify_oauth2_token, token, _transport(), audience)
        except ValueError:
            raise Unauthorized("invalid identity token") from None
        if not claims.get("email_verified") or claims.get("email") not in allowed:
            raise Forbidden("this caller may not use the sandbox")
        return
    secret = os.environ.get("SANDBOX_SECRET", "")
    if not secret:
        raise Forbidden("the sandbox has no SANDBOX_SECRET: every call is refused")
    if not hmac.compare_digest(token.encode(), secret.encode()):
        raise Unauthorized("invalid sandbox secret")


async def caller_token(url: str) -> str:
    """The bearer chat/admin sends to the sandbox at `url` (cached for ID tokens)."""
    if _mode() == "google":
        audience = os.environ.get("SANDBOX_AUDIENCE") or url
        cached = _tokens.get(audience)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        from google.oauth2 import id_token

        token = await asyncio.to_thread(id_token.fetch_id_token, _transport(), audience)
        _tokens[audience] = (time.monotonic() + _TOKEN_TTL_S, token)
        return str(token)
    return os.environ.get("SANDBOX_SECRET", "")
