"""The local stack for the benchmark: emulators, aimock and the functions, started on free
loopback ports with tests/support/services.py, plus the seeded tenant, threads and requests."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from bench.load import Request
from tests.e2e.conftest import Stack, TenantHandle, make_tenant, stack_env, use_env_in_process
from tests.support.services import (
    Aimock,
    Service,
    start_aimock,
    start_firestore,
    start_functions,
    start_storage,
)

APP, ASSISTANT = "shop", "support-openai"

# Non-streamed replies: aimock sends them as SSE chunks anyway (the service always asks for
# `stream: true`), with no delay between chunks.
PLAIN_REPLY = "Your order ships within two business days; you will get a tracking link by email."
# Streamed replies: `latency` ms before every chunk (the role chunk, each `chunkSize`-character
# text chunk and the finish chunk), so the first text delta arrives long before the last.
STREAM_REPLY = "Streaming reply, word by word, so the user sees text early on."
STREAM_LATENCY_MS = 15
STREAM_CHUNK_CHARS = 8


# The per-key rate limit (600/min by default) would turn most of the load into 429s.
SERVICE_ENV = {"RATE_LIMIT_PER_MINUTE": "100000000"}


def marker(label: str) -> str:
    return f"bench-{label}-{uuid.uuid4().hex[:10]}"


@dataclass
class Infra:
    """Services that live for the whole run; `stop()` stops each one by PID."""

    firestore: Service
    storage: Service
    aimock_svc: Service
    base_env: dict[str, str]
    project: str = "bench-setup"
    started: list[Service] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {**self.base_env, "GOOGLE_CLOUD_PROJECT": self.project}

    def new_project(self, label: str) -> None:
        """Point this process (and functions started from now on) at an unused emulator project:
        the emulator scans every document of a project on a query and stays slow after a
        reset, so each phase starts on an empty project (real Firestore has no such drift)."""
        self.project = f"bench-{label}-{uuid.uuid4().hex[:6]}"
        use_env_in_process(self.env)

    @property
    def aimock(self) -> Aimock:
        return Aimock(f"http://localhost:{self.aimock_svc.port}")  # the stack allow-lists localhost

    def functions(self, target: str = "dev", **extra_env: str) -> Service:
        svc = start_functions({**self.env, **SERVICE_ENV, **extra_env}, target=target)
        self.started.append(svc)
        return svc

    def stop(self) -> None:
        for svc in [*reversed(self.started), self.aimock_svc, self.storage, self.firestore]:
            with contextlib.suppress(Exception):
                svc.stop()


def start_infra(secrets_file: Path, register: list[Service]) -> Infra:
    """Start the three backing services; each is appended to `register` as soon as it runs,
    so the caller can stop it even if a later one fails to start."""
    firestore = start_firestore()
    register.append(firestore)
    storage = start_storage()
    register.append(storage)
    aimock = start_aimock()
    register.append(aimock)
    infra = Infra(firestore, storage, aimock, stack_env(firestore, storage, str(secrets_file)))
    infra.new_project("setup")
    return infra


@dataclass
class Scenario:
    """aimock fixtures with unique markers, the current tenant and the exact upstream request."""

    plain: str
    stream: str
    tenant: TenantHandle | None = None
    upstream_path: str = ""
    upstream_body: dict[str, Any] = field(default_factory=dict)
    upstream_headers: dict[str, str] = field(default_factory=dict)

    @property
    def auth(self) -> dict[str, str]:
        if self.tenant is None:
            raise RuntimeError("no tenant seeded yet")
        return self.tenant.auth

    @property
    def tenant_id(self) -> str:
        if self.tenant is None:
            raise RuntimeError("no tenant seeded yet")
        return self.tenant.id


def add_fixtures(infra: Infra) -> Scenario:
    scenario = Scenario(marker("plain"), marker("stream"))
    infra.aimock.add(
        {"match": {"userMessage": scenario.plain}, "response": {"content": PLAIN_REPLY}},
        {
            "match": {"userMessage": scenario.stream},
            "response": {"content": STREAM_REPLY},
            "latency": STREAM_LATENCY_MS,
            "chunkSize": STREAM_CHUNK_CHARS,
        },
    )
    return scenario


async def fresh_tenant(
    infra: Infra, scenario: Scenario, threads: int, functions: Service | None = None
) -> list[str]:
    """Seed a new tenant (config, credentials, client key) in the current project; create `threads`."""
    from common.provision import ensure_bucket

    await asyncio.to_thread(ensure_bucket)  # `health` checks that the config bucket exists
    stack = Stack(cast(Service, functions), infra.aimock, infra.env)  # make_tenant reads only aimock
    scenario.tenant = await make_tenant(stack)
    return await new_threads(scenario.tenant.id, threads)


async def phase(
    infra: Infra, scenario: Scenario, label: str, threads: int, client: str = "wire"
) -> tuple[Service, list[str]]:
    """A new emulator project, a functions process on it, a seeded tenant and `threads` threads."""
    infra.new_project(label)
    functions = infra.functions("dev", PROVIDER_HTTP_CLIENT=client)
    return functions, await fresh_tenant(infra, scenario, threads, functions)


async def new_threads(tenant: str, count: int, concurrency: int = 16) -> list[str]:
    """Fresh threads (written from this process), so every turn has the same, empty history."""
    from common.store import threads

    sem = asyncio.Semaphore(concurrency)

    async def one() -> str:
        async with sem:
            return (await threads.create_thread(tenant, APP, ASSISTANT, {})).id

    return list(await asyncio.gather(*(one() for _ in range(count))))


def service_requests(
    functions: Service, scenario: Scenario, thread_ids: list[str], text: str, stream: bool, tag: str
) -> list[Request]:
    """`POST /chat` bodies; X-Request-Id `bench-{tag}-{i}` ties each to the access log."""
    out = []
    for i, thread_id in enumerate(thread_ids):
        body = {"thread_id": thread_id, "message": f"{text} q{i}", "stream": stream}
        headers = {
            **scenario.auth,
            "Content-Type": "application/json",
            "X-Request-Id": f"bench-{tag}-{i}",
        }
        out.append(Request(functions.url + "/chat", json.dumps(body).encode(), headers))
    return out


def capture_upstream(infra: Infra, scenario: Scenario, text: str) -> None:
    """Copy the request the service sent aimock for `text` (from aimock's journal)."""
    entries = [e for e in infra.aimock.journal() if text in json.dumps(e.get("body"))]
    if not entries:
        raise RuntimeError(f"aimock journal has no request for {text}")
    entry = entries[-1]
    scenario.upstream_path = str(entry.get("path") or "/v1/chat/completions")
    # aimock annotates journaled bodies (`_endpointType`); send only what the service sent.
    scenario.upstream_body = {k: v for k, v in entry["body"].items() if not k.startswith("_")}
    # The key the service used: the provisioned secret (see tests.e2e.conftest.make_tenant).
    scenario.upstream_headers = {
        "Authorization": f"Bearer sk-openai-{scenario.tenant_id}-secretvalue",
        "Content-Type": "application/json",
    }


def direct_requests(infra: Infra, scenario: Scenario, text: str, count: int) -> list[Request]:
    """The same upstream request the service makes, with the same per-request message text."""
    out = []
    for i in range(count):
        body = copy.deepcopy(scenario.upstream_body)
        body["messages"][-1]["content"] = f"{text} q{i}"
        out.append(
            Request(
                infra.aimock_svc.url + scenario.upstream_path,
                json.dumps(body).encode(),
                scenario.upstream_headers,
            )
        )
    return out
