"""The whole local stack for end-to-end tests: emulators, aimock and the functions
running under functions-framework, called over HTTP."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from typing import Any

from tests.support.services import Aimock, Service

PROVIDERS = ("openai", "cohere", "gemini")
UPSTREAM_MODEL = {"openai": "gpt-4o", "cohere": "command-r-plus", "gemini": "gemini-2.0-flash"}


@dataclass
class Stack:
    functions: Service
    aimock: Aimock
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.functions.url


def stack_env(firestore: Service, storage: Service, secrets_file: str) -> dict[str, str]:
    return {
        "GOOGLE_CLOUD_PROJECT": "test-project",
        "CONFIG_BUCKET": "test-config",
        "FIRESTORE_EMULATOR_HOST": firestore.host,
        "STORAGE_EMULATOR_HOST": storage.url,
        "SECRETS_BACKEND": "local",
        "LOCAL_SECRETS_FILE": secrets_file,
        "RETRY_BASE_DELAY_S": "0.05",
        "RETRY_MAX_DELAY_S": "1.5",
        "UPSTREAM_TIMEOUT_S": "20",
        # Webhook tests call a local server at http://localhost:<port>; literal loopback
        # spellings (127.0.0.1, 0x7f000001, [::1]...) stay refused.
        "ALLOWED_PRIVATE_HOSTS": "localhost",
        "TENANTS_DIR": os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "tenants"),
    }


def use_env_in_process(env: dict[str, str]) -> None:
    """Seeding runs in the test process: point its clients at the same emulators."""
    from common.config import cache, source
    from common.secrets import reset_secrets
    from common.settings import get_settings
    from common.store.db import reset_db

    os.environ.update(env)
    get_settings.cache_clear()
    reset_db()
    source.reset_storage()
    reset_secrets()
    cache.invalidate()


def demo_bundle(tenant: str, aimock_url: str) -> dict[str, Any]:
    """A tenant with one app and one assistant per provider, all pointed at aimock."""
    base = {"openai": aimock_url + "/v1", "cohere": aimock_url, "gemini": aimock_url}
    return {
        "tenant": {"id": tenant, "name": f"Tenant {tenant}"},
        "apps": [
            {"id": "shop", "name": "E-Commerce", "slug": "shop", "default_assistant_id": "support-openai"}
        ],
        "providers": [{"id": f"p-{p}", "kind": p, "name": p, "base_url": base[p]} for p in PROVIDERS],
        "models": [
            {
                "id": f"m-{p}",
                "provider_id": f"p-{p}",
                "name": UPSTREAM_MODEL[p],
                "max_tokens": 8000,
                "input_cost_per_million": 1.0,
                "output_cost_per_million": 2.0,
            }
            for p in PROVIDERS
        ],
        "credentials": [{"id": f"c-{p}", "provider_id": f"p-{p}", "name": f"{p} key"} for p in PROVIDERS],
        "assistants": [
            {
                "id": f"support-{p}",
                "app_id": "shop",
                "name": f"Support {p}",
                "slug": f"support-{p}",
                "system_prompt": f"You are a helpful support agent ({p}).",
                "model_id": f"m-{p}",
                "credential_id": f"c-{p}",
            }
            for p in PROVIDERS
        ],
    }


@dataclass
class TenantHandle:
    id: str
    key: str
    bundle: dict[str, Any]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


async def make_tenant(
    stack: Stack, *, to: str = "firestore", mutate: Any = None, apps: tuple[str, ...] = ("shop",)
) -> TenantHandle:
    from common.config.models import Bundle
    from common.provision import provision

    tenant = "t-" + secrets.token_hex(4)
    data = demo_bundle(tenant, stack.aimock.url)
    if mutate:
        mutate(data)
    bundle = Bundle.model_validate(data)
    keys = await provision(
        bundle,
        to=to,
        secrets={f"c-{p}": f"sk-{p}-{tenant}-secretvalue" for p in PROVIDERS},
        client_key_apps=list(apps),
    )
    return TenantHandle(tenant, keys[apps[0]], data)


def parse_sse(raw: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in raw.strip().split("\n\n"):
        name, data = "message", ""
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data += line[6:]
        if data:
            events.append((name, json.loads(data)))
    return events


def upstream_requests(stack: Stack, marker: str) -> list[dict[str, Any]]:
    """aimock journal entries whose request body mentions `marker`, oldest first."""
    return [e for e in stack.aimock.journal() if marker in json.dumps(e.get("body"))]
