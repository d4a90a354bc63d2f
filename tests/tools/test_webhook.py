"""Webhook tools in-process against a local HTTP server: arguments, auth, retries, limits, SSRF."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from common.config.effective import TenantConfig
from common.config.models import Credential, Provider, Tool
from common.providers.base import ToolCall
from common.secrets import SecretNotFound, reset_secrets
from common.settings import get_settings
from common.tools.base import ToolContext
from common.tools.toolset import Toolset
from common.tools.webhook import MAX_RESPONSE_BYTES, WebhookTool
from tests.tools.hookserver import HookServer, Reply

TENANT = "acme"
CTX = ToolContext(TENANT, "shop", "support", "th_1", "req-1")


class MemorySecrets:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.reads: list[str] = []

    async def get(self, secret: str, version: str = "latest") -> str:
        self.reads.append(secret)
        if secret not in self.values:
            raise SecretNotFound(secret)
        return self.values[secret]

    async def put(self, secret: str, value: str) -> str:
        self.values[secret] = value
        return "1"

    async def delete(self, secret: str) -> None:
        self.values.pop(secret, None)

    async def ping(self) -> None:
        return None


@pytest.fixture()
def settings_env(monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("ALLOWED_PRIVATE_HOSTS", "localhost")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture()
def secrets(settings_env) -> Iterator[MemorySecrets]:
    store = MemorySecrets(
        {
            f"{TENANT}__cred__hook-key": "s3cret-token",
            f"{TENANT}__cred__header-key": "X-Api-Key: k-123",
            f"{TENANT}__cred__c-openai": "sk-provider",
        }
    )
    reset_secrets(store)
    yield store
    reset_secrets()


@pytest.fixture()
async def server() -> AsyncIterator[HookServer]:
    srv = await HookServer().start()
    yield srv
    await srv.stop()


def cfg() -> TenantConfig:
    return TenantConfig(
        tenant=None,
        providers={"p-openai": Provider(id="p-openai", kind="openai", name="openai")},
        credentials={
            "c-openai": Credential(id="c-openai", provider_id="p-openai"),
            "off": Credential(id="off", kind="webhook", is_active=False),
        },
    )


def hook(url: str, **kw) -> WebhookTool:
    params = {
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
        "additionalProperties": False,
    }
    return WebhookTool(TENANT, cfg(), Tool(id="t1", name="order_status", url=url, parameters=params, **kw))


def call(arguments: str = '{"order_id": "A-1"}') -> ToolCall:
    return ToolCall("call_1", "order_status", arguments)


async def test_posts_arguments_with_its_own_credential_and_bound_ids(server, secrets):
    path = server.route("/hook", Reply(200, {"status": "shipped", "eta": "tomorrow"}))

    toolset = Toolset({"order_status": hook(server.url(path), credential_id="hook-key")})

    outcome = await toolset.run(call(), CTX)

    assert not outcome.is_error
    assert outcome.result == '{"status":"shipped","eta":"tomorrow"}'
    [seen] = server.seen(path)
    assert seen.method == "POST" and seen.json() == {"order_id": "A-1"}
    assert seen.headers["authorization"] == "Bearer s3cret-token"
    assert seen.headers["content-type"] == "application/json"
    assert (seen.headers["x-tenant-id"], seen.headers["x-thread-id"]) == (TENANT, "th_1")
    assert seen.headers["x-tool-call-id"] == "call_1"
    assert seen.headers["idempotency-key"] == "th_1:req-1:call_1"
    assert secrets.reads == [f"{TENANT}__cred__hook-key"]  # nothing else was read


async def test_a_credential_stored_as_a_header_line_names_its_header(server, secrets):
    path = server.route("/hook", Reply(200, "ok"))

    await hook(server.url(path), credential_id="header-key")(call(), CTX)

    [seen] = server.seen(path)
    assert seen.headers["x-api-key"] == "k-123" and "authorization" not in seen.headers


@pytest.mark.parametrize(
    ("credential_id", "reason"),
    [("c-openai", "provider key"), ("off", "disabled"), ("missing", "no stored value")],
)
async def test_foreign_disabled_or_missing_credentials_are_never_sent(server, secrets, credential_id, reason):
    path = server.route("/hook", Reply(200, "ok"))

    outcome = await hook(server.url(path), credential_id=credential_id)(call(), CTX)

    assert outcome.is_error and reason in outcome.result
    assert server.connections == 0
    assert f"{TENANT}__cred__c-openai" not in secrets.reads


async def test_invalid_arguments_are_fed_back_without_calling(server, secrets):
    path = server.route("/hook", Reply(200, "ok"))

    bad_json = await hook(server.url(path))(call('{"order_id": '), CTX)
    bad_shape = await hook(server.url(path))(call('{"order": 1}'), CTX)

    assert bad_json.is_error and "not valid JSON" in bad_json.result
    assert bad_shape.is_error and "'order_id' is a required property" in bad_shape.result
    assert server.connections == 0


async def test_5xx_and_429_are_retried_with_backoff(server, secrets):
    path = server.route(
        "/hook",
        Reply(503, "busy"),
        Reply(429, "slow down", headers={"Retry-After": "0"}),
        Reply(200, {"ok": True}),
    )

    outcome = await hook(server.url(path))(call(), CTX)

    assert outcome.result == '{"ok":true}'
    assert len(server.seen(path)) == 3
    keys = {s.headers["idempotency-key"] for s in server.seen(path)}
    assert len(keys) == 1  # a receiver can drop a retried duplicate


async def test_4xx_is_not_retried_and_persistent_5xx_gives_up(server, secrets):
    bad = server.route("/bad", Reply(404, {"error": "unknown order"}))
    down = server.route("/down", Reply(500, "boom"))

    not_found = await hook(server.url(bad))(call(), CTX)
    broken = await hook(server.url(down))(call(), CTX)

    assert not_found.is_error and "HTTP 404" in not_found.result and "unknown order" in not_found.result
    assert len(server.seen(bad)) == 1
    assert broken.is_error and "HTTP 500" in broken.result
    assert len(server.seen(down)) == 3


async def test_connection_refused_is_retried_then_reported(secrets):
    idle = await HookServer().start()
    url = idle.url("/gone")
    await idle.stop()  # nothing listens on that port any more

    outcome = await hook(url)(call(), CTX)

    assert outcome.is_error and "could not be reached" in outcome.result


async def test_redirects_are_not_followed(server, secrets):
    internal = await HookServer().start()
    try:
        path = server.route(
            "/hook", Reply(302, "", headers={"Location": internal.url("/secret", "127.0.0.1")})
        )

        outcome = await hook(server.url(path))(call(), CTX)

        assert outcome.is_error and "redirects are not followed" in outcome.result
        assert internal.connections == 0
    finally:
        await internal.stop()


async def test_response_is_capped(server, secrets):
    path = server.route("/big", Reply(200, "x" * (MAX_RESPONSE_BYTES * 2)))

    outcome = await hook(server.url(path))(call(), CTX)

    assert not outcome.is_error
    assert len(outcome.result) <= 16_000 and outcome.result.endswith("[truncated]")


async def test_the_tools_timeout_bounds_the_call_and_its_retries(server, secrets):
    path = server.route("/slow", Reply(200, "late", delay=3))
    webhook = hook(server.url(path), timeout_s=0.4)
    toolset = Toolset({"order_status": webhook}, timeout_s=30)

    started = time.monotonic()
    outcome = await toolset.run(call(), CTX)

    assert outcome.is_error and "0.4 s" in outcome.result
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "https://127.0.0.1:{port}/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/computeMetadata/v1/",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://0x7f000001:{port}/hook",
        "https://2130706433:{port}/hook",
        "https://017700000001:{port}/hook",
        "https://127.1:{port}/hook",
        "https://[::1]:{port}/hook",
        "https://[::ffff:127.0.0.1]:{port}/hook",
        "https://api.localhost:{port}/hook",
    ],
)
async def test_ssrf_attempts_never_open_a_socket(server, secrets, monkeypatch, url):
    opened: list[object] = []
    loop = asyncio.get_running_loop()
    real = loop.create_connection

    async def spy(*args, **kwargs):
        opened.append(args or kwargs)
        return await real(*args, **kwargs)

    monkeypatch.setattr(loop, "create_connection", spy)
    path = server.route("/hook", Reply(200, "must not be reached"))

    outcome = await hook(url.format(port=server.port), credential_id="hook-key")(call(), CTX)

    assert outcome.is_error and "cannot be called" in outcome.result
    assert opened == [] and server.connections == 0 and server.seen(path) == []
    assert secrets.reads == []  # refused before the credential was even read
