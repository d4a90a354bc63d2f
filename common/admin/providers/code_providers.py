"""The operator's side of code providers: templates, static validation, the code, and the test.

All of it is for platform admins (the routes say `Access.PLATFORM`). Nothing
here runs the operator's code: validation reads the syntax tree
(`common.sandbox.validate`) and the test hands the code to the sandbox
function, like chat does.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.responses import Response

from common.admin.api.context import Call
from common.admin.api.schemas import CodeValidateRequest, ProviderTestRequest
from common.admin.records import snapshot
from common.config.models import Credential, Model, Provider
from common.errors import NotFound, ValidationFailed
from common.http.responses import json_response
from common.providers.base import ChatMessage, ProviderCallError, ProviderRequest, TextDelta
from common.sandbox import templates
from common.sandbox.protocol import SandboxError, to_event
from common.sandbox.validate import check_async, check_provider
from common.settings import get_settings

REPLY_PREVIEW_CHARS = 200
TEST_MAX_OUTPUT_TOKENS = 256


async def template(call: Call) -> Response:
    kind = call.query("kind") or ""
    try:
        return json_response(templates.template(kind))
    except KeyError:
        raise ValidationFailed(f"kind: one of {', '.join(templates.KINDS)}", field="kind") from None


async def validate(call: Call) -> Response:
    body = await call.body(CodeValidateRequest)
    problems = await check_async(
        python_code=body.python_code,
        config_schema=body.config_schema,
        required_dependencies=body.required_dependencies,
        validation_code=body.validation_code,
        config=body.config,
    )
    return json_response({"valid": not problems, "problems": problems})


async def _code_provider(call: Call) -> Provider:
    snap = await snapshot.load(call.tenant_id)
    provider = snap.cfg.providers.get(call.params["id"])
    if provider is None or provider.kind != "code":
        raise NotFound("code provider not found")
    return provider


async def get_code(call: Call) -> Response:
    provider = await _code_provider(call)
    return json_response(
        {
            "id": provider.id,
            "python_code": provider.python_code,
            "validation_code": provider.validation_code,
            "config_schema": provider.config_schema,
            "config": provider.config,
            "required_dependencies": provider.required_dependencies,
        }
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _failed(name: str, started: float, exc: ProviderCallError) -> dict[str, Any]:
    step: dict[str, Any] = {"name": name, "status": "error", "latency_ms": _ms(started), "error": exc.message}
    if isinstance(exc, SandboxError):
        step.update(error_type=exc.error_type, line=exc.line)
    return step


async def test_code(
    call: Call, provider: Provider, model: Model, credential: Credential, body: ProviderTestRequest
) -> Response:
    """validate, then validation_code (in the sandbox, if any), then one streamed call; stop at a failure."""
    from common.chat.candidates import provider_key
    from common.providers.code import CodeAdapter, CodeSpec, sandbox_events

    begun = time.perf_counter()
    steps: list[dict[str, Any]] = []
    reply: str | None = None
    started = time.perf_counter()
    problems = await check_provider(provider)
    if problems:
        first = problems[0]
        steps.append(
            {
                "name": "validate",
                "status": "error",
                "latency_ms": _ms(started),
                "error": f"{first['field']}: {first['message']}",
                "error_type": "invalid_code",
                "line": first["line"],
            }
        )
    else:
        steps.append({"name": "validate", "status": "ok", "latency_ms": _ms(started)})
    timeout = get_settings().upstream_timeout_s
    config = {**provider.config, **({"base_url": provider.base_url} if provider.base_url else {})}
    key = await provider_key(call.tenant_id, credential)
    if steps[-1]["status"] == "ok" and provider.validation_code:
        started = time.perf_counter()
        try:
            async for raw in sandbox_events(
                "validate", provider.validation_code, None, config, key, read_timeout=timeout
            ):
                to_event(raw)  # raises SandboxError for `error`
            steps.append({"name": "validation_code", "status": "ok", "latency_ms": _ms(started)})
        except ProviderCallError as exc:
            steps.append(_failed("validation_code", started, exc))
    if steps[-1]["status"] == "ok":
        started = time.perf_counter()
        adapter = CodeAdapter(
            CodeSpec(provider.python_code or "", dict(provider.config)), key, provider.base_url, timeout
        )
        request = ProviderRequest(
            model=model.name,
            messages=(ChatMessage(role="user", content=body.message or "Say hello."),),
            max_output_tokens=TEST_MAX_OUTPUT_TOKENS,
        )
        parts: list[str] = []
        try:
            async for event in adapter.stream(request):
                if isinstance(event, TextDelta):
                    parts.append(event.text)
            steps.append({"name": "call", "status": "ok", "latency_ms": _ms(started)})
        except ProviderCallError as exc:
            steps.append(_failed("call", started, exc))
        reply = "".join(parts)[:REPLY_PREVIEW_CHARS]
    failed = next((s for s in steps if s["status"] == "error"), None)
    return json_response(
        {
            "status": "error" if failed else "ok",
            "latency_ms": _ms(begun),
            "error": failed["error"] if failed else None,
            "upstream_status": None,
            "steps": steps,
            "reply": reply,
        }
    )
