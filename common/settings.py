"""Environment, read once per process (SPEC §4).

Every limit in SPEC §8 is configurable here; defaults are the SPEC's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def _list(name: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in os.environ.get(name, "").split(",") if p.strip())


@dataclass(frozen=True)
class Settings:
    project: str = field(default_factory=lambda: os.environ.get("GOOGLE_CLOUD_PROJECT", "local-project"))
    config_bucket: str = field(default_factory=lambda: os.environ.get("CONFIG_BUCKET", "assistants-config"))
    tenant_id: str | None = field(default_factory=lambda: os.environ.get("TENANT_ID") or None)
    secrets_backend: str = field(default_factory=lambda: os.environ.get("SECRETS_BACKEND", "gcp"))
    local_secrets_file: Path = field(
        default_factory=lambda: Path(
            os.environ.get("LOCAL_SECRETS_FILE")
            or Path.home() / ".config" / "gcp-assistants" / "secrets.json"
        )
    )
    version: str = field(default_factory=lambda: os.environ.get("SERVICE_VERSION", "0.1.0"))
    debug_logging: bool = field(default_factory=lambda: os.environ.get("DEBUG_LOGGING") == "1")

    # Caching (SPEC §4: an admin write is visible everywhere within 10 s).
    config_ttl_s: float = field(default_factory=lambda: _float("CONFIG_TTL_S", 5.0))
    config_max_staleness_s: float = field(default_factory=lambda: _float("CONFIG_MAX_STALENESS_S", 10.0))
    secret_ttl_s: float = field(default_factory=lambda: _float("SECRET_TTL_S", 300.0))
    client_key_ttl_s: float = field(default_factory=lambda: _float("CLIENT_KEY_TTL_S", 10.0))

    # Limits (SPEC §8).
    max_body_bytes: int = field(default_factory=lambda: _int("MAX_BODY_BYTES", 1024 * 1024))
    max_message_bytes: int = field(default_factory=lambda: _int("MAX_MESSAGE_BYTES", 32 * 1024))
    max_tool_rounds: int = field(default_factory=lambda: _int("MAX_TOOL_ROUNDS", 8))
    tool_timeout_s: float = field(default_factory=lambda: _float("TOOL_TIMEOUT_S", 10.0))
    upstream_timeout_s: float = field(default_factory=lambda: _float("UPSTREAM_TIMEOUT_S", 60.0))
    upstream_attempts: int = field(default_factory=lambda: _int("UPSTREAM_ATTEMPTS", 3))
    retry_base_delay_s: float = field(default_factory=lambda: _float("RETRY_BASE_DELAY_S", 0.25))
    retry_max_delay_s: float = field(default_factory=lambda: _float("RETRY_MAX_DELAY_S", 8.0))
    history_max_messages: int = field(default_factory=lambda: _int("HISTORY_MAX_MESSAGES", 100))
    # On a thread an instance has not seen: query the history while reading the thread
    # (`always`), only once the thread says it has messages (`never`), or as the instance
    # learns pays off (`auto`; see `common.chat.access.SpeculationGauge`).
    history_prefetch: str = field(default_factory=lambda: os.environ.get("HISTORY_PREFETCH", "auto"))

    # Rate limits and budgets (common/chat/limits.py), and the cap on a Firestore
    # operation on the request path (common/store/errors.py).
    rate_limit_per_minute: int = field(default_factory=lambda: _int("RATE_LIMIT_PER_MINUTE", 600))
    budget_cache_s: float = field(default_factory=lambda: _float("BUDGET_CACHE_S", 5.0))
    firestore_deadline_s: float = field(default_factory=lambda: _float("FIRESTORE_DEADLINE_S", 8.0))
    # Bound on a whole chat turn (tool rounds and retries included); the deploy sets it a
    # little below the function timeout so a turn ends with `error` and its partial reply
    # stored instead of being cut by the platform (common/chat/deadline.py).
    turn_deadline_s: float = field(default_factory=lambda: _float("TURN_DEADLINE_S", 540.0))
    admin_token_ttl_s: int = field(default_factory=lambda: _int("ADMIN_TOKEN_TTL_S", 30 * 60))
    # Where platform admins log in (named in the error a per-tenant admin gives them).
    platform_admin_url: str = field(default_factory=lambda: os.environ.get("PLATFORM_ADMIN_URL", ""))
    # Proxies in front of us that append the client address to X-Forwarded-For (login
    # throttling counts per client address). Cloud Run / Functions (K_SERVICE set): 1.
    trusted_proxy_hops: int = field(
        default_factory=lambda: _int("TRUSTED_PROXY_HOPS", 1 if os.environ.get("K_SERVICE") else 0)
    )

    # Tenant YAML bundles (import and GCS reload, common/config/bundle.py): size, shape, time.
    bundle_max_bytes: int = field(default_factory=lambda: _int("BUNDLE_MAX_BYTES", 1024 * 1024))
    bundle_max_depth: int = field(default_factory=lambda: _int("BUNDLE_MAX_DEPTH", 32))
    bundle_max_nodes: int = field(default_factory=lambda: _int("BUNDLE_MAX_NODES", 20_000))
    bundle_parse_timeout_s: float = field(default_factory=lambda: _float("BUNDLE_PARSE_TIMEOUT_S", 5.0))
    # Validating input against a tenant's JSON Schema (actions, webhook tools), off the loop.
    schema_timeout_s: float = field(default_factory=lambda: _float("SCHEMA_TIMEOUT_S", 2.0))
    # Thread metadata at /start and in app-slug chat.
    max_metadata_bytes: int = field(default_factory=lambda: _int("MAX_METADATA_BYTES", 16 * 1024))

    # Origins allowed to call from a browser (CORS); "*" allows any.
    cors_allow_origins: tuple[str, ...] = field(default_factory=lambda: _list("CORS_ALLOW_ORIGINS") or ("*",))

    # Outbound HTTP allow-list for hosts a webhook may reach over http / private ranges.
    allowed_private_hosts: tuple[str, ...] = field(default_factory=lambda: _list("ALLOWED_PRIVATE_HOSTS"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
