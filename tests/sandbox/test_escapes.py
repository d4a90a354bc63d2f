"""Hostile provider code is contained: each attempt ends as a provider error (or finds
nothing), and the chat instance keeps serving.

The programs dodge the static import check on purpose (`__import__("os")`): the
allow-list is guidance; the sandbox process (its uid, rlimits, empty
environment) is the boundary, and these tests exercise that boundary.
"""

from __future__ import annotations

import json
import os
import secrets

import pytest

from tests.e2e.conftest import Stack, parse_sse

PROGRAMS = {
    "environ": (
        "async def stream(request):\n"
        "    import json\n"
        "    os = __import__('os')\n"
        "    yield json.dumps({'env': dict(os.environ), 'uid': os.getuid()})\n"
    ),
    "secrets": (
        "async def stream(request):\n    yield 'reading '\n    yield open(request.config['path']).read()\n"
    ),
    "cpu": "async def stream(request):\n    yield 'spinning '\n    while True:\n        pass\n",
    "memory": "async def stream(request):\n    hog = bytearray(4 * 1024 ** 3)\n    yield str(len(hog))\n",
    "fork": (
        "async def stream(request):\n"
        "    os = __import__('os')\n"
        "    while True:\n"
        "        os.fork()\n"
        "    yield 'x'\n"
    ),
    "flood": "async def stream(request):\n    print('x' * 100_000_000)\n    yield 'printed'\n",
    "setter": (
        "LEAK = []\n"
        "async def stream(request):\n"
        "    b = __import__('builtins')\n"
        "    b.LEAKED_KEY = request.api_key\n"
        "    LEAK.append(request.api_key)\n"
        "    yield f'calls in this process: {len(LEAK)}'\n"
    ),
    "getter": (
        "async def stream(request):\n"
        "    b = __import__('builtins')\n"
        "    yield f'leaked: {getattr(b, \"LEAKED_KEY\", None)}'\n"
    ),
    "big": "async def stream(request):\n    yield 'a' * 300_000\n    yield 'b' * 70_000\n",
    "sleeper": (
        "import asyncio\n"
        "async def stream(request):\n"
        "    yield 'partial answer'\n"
        "    await asyncio.sleep(120)\n"
        "    yield 'never'\n"
    ),
}


def _bundle(tenant: str, secrets_file: str) -> dict:
    providers, models, creds, assistants = [], [], [], []
    for name, code in PROGRAMS.items():
        providers.append(
            {"id": f"p-{name}", "kind": "code", "name": name, "python_code": code,
             "config": {"path": secrets_file}}
        )  # fmt: skip
        models.append({"id": f"m-{name}", "provider_id": f"p-{name}", "name": "m", "max_tokens": 8000})
        creds.append({"id": f"c-{name}", "provider_id": f"p-{name}", "name": "k"})
        assistants.append(
            {"id": f"a-{name}", "app_id": "shop", "name": name, "slug": name, "model_id": f"m-{name}",
             "credential_id": f"c-{name}"}
        )  # fmt: skip
    return {
        "tenant": {"id": tenant, "name": tenant},
        "apps": [{"id": "shop", "name": "Shop", "slug": "shop"}],
        "providers": providers,
        "models": models,
        "credentials": creds,
        "assistants": assistants,
    }


async def _tenant(stack: Stack) -> tuple[str, dict[str, str]]:
    from common.config.models import Bundle
    from common.provision import provision

    tenant = "esc-" + secrets.token_hex(4)
    keys = await provision(
        Bundle.model_validate(_bundle(tenant, stack.env["LOCAL_SECRETS_FILE"])),
        to="firestore",
        secrets={f"c-{name}": f"sk-{name}-{tenant}-secretvalue" for name in PROGRAMS},
        client_key_apps=["shop"],
    )
    return tenant, {"Authorization": f"Bearer {keys['shop']}"}


@pytest.fixture(scope="module")
async def hostile(code_stack):
    return await _tenant(code_stack)


async def _chat(chttp, auth, assistant: str, thread_id: str | None = None):
    body = {"message": "go", "stream": True, **({"thread_id": thread_id} if thread_id else {})}
    resp = await chttp.post(f"/chat/app/shop/{assistant}", json=body, headers=auth)
    assert resp.status_code == 200, resp.text
    return parse_sse(resp.text)


def _error(events) -> dict:
    assert events[-1][0] == "error", events
    return events[-1][1]


async def test_environment_is_empty_and_uid_unprivileged(chttp, hostile):
    _, auth = hostile
    events = await _chat(chttp, auth, "environ")
    seen = json.loads(next(d for n, d in events if n == "message")["text"])
    assert seen["env"] == {}
    if os.geteuid() == 0:
        assert seen["uid"] != 0


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox isolates by uid only when it runs as root")
async def test_local_secrets_file_is_unreadable(chttp, hostile, code_stack):
    _, auth = hostile
    events = await _chat(chttp, auth, "secrets")
    err = _error(events)
    assert "an error in the code at line 3" in err["message"]
    with open(code_stack.env["LOCAL_SECRETS_FILE"]) as f:
        stored = f.read()
    assert "secretvalue" in stored and "secretvalue" not in json.dumps(events)


@pytest.mark.parametrize(
    ("assistant", "words"),
    [
        ("cpu", "CPU limit"),
        ("memory", "memory limit"),
        ("fork", "process limit"),
        ("flood", "output limit"),
    ],
)
async def test_limits_end_the_call_as_a_provider_error(chttp, hostile, assistant, words):
    _, auth = hostile
    err = _error(await _chat(chttp, auth, assistant))
    assert err["type"] == "upstream_error" and words in err["message"], err


async def test_no_state_survives_a_call(chttp, hostile, code_stack):
    _, auth = hostile
    for _ in range(2):
        events = await _chat(chttp, auth, "setter")
        assert next(d for n, d in events if n == "message")["text"] == "calls in this process: 1"
    # Another provider, and another tenant, never see what `setter` left in its process.
    events = await _chat(chttp, auth, "getter")
    assert next(d for n, d in events if n == "message")["text"] == "leaked: None"
    _, other = await _tenant(code_stack)
    events = await _chat(chttp, other, "getter")
    assert next(d for n, d in events if n == "message")["text"] == "leaked: None"


async def test_wall_clock_limit_is_a_timeout_and_the_reply_is_stored_incomplete(chttp, hostile):
    _, auth = hostile
    events = await _chat(chttp, auth, "sleeper")
    thread = events[0][1]["thread_id"]
    err = _error(events)
    assert err["type"] == "upstream_timeout" and "wall-clock limit" in err["message"]
    resp = await chttp.get(f"/chat/threads/{thread}/messages", headers=auth)
    last = resp.json()["messages"][-1]
    assert (last["role"], last["content"], last["status"]) == ("assistant", "partial answer", "incomplete")


async def test_chat_instance_is_unharmed(chttp, hostile, code_stack, sandbox):
    from tests.sandbox.helpers import code_tenant  # noqa: F401 - same stack, a normal provider next

    _, auth = hostile
    await _chat(chttp, auth, "cpu")
    health = await chttp.get("/health")
    assert health.status_code == 200
    events = await _chat(chttp, auth, "getter")
    assert events[-1][0] == "done"
    assert code_stack.functions.proc.poll() is None and sandbox.proc.poll() is None


async def test_a_delta_larger_than_any_line_buffer_arrives_whole(chttp, hostile):
    """Both hops carry an event as one line (the child's pipe, the sandbox's HTTP body): a
    delta far over a pipe's or a socket's buffer must still arrive as it was yielded."""
    _, auth = hostile
    events = await _chat(chttp, auth, "big")
    assert next(d for n, d in events if n == "message")["text"] == "a" * 300_000 + "b" * 70_000
