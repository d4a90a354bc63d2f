"""OpenAI Chat Completions (`POST /v1/chat/completions`, streamed), with tools.

Also the `openai_compatible` template: any server that speaks this API
(vLLM, LM Studio, Together, Groq, ...) with `base_url` set in the config.
"""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "content_filter": "content_filter"}


def messages(request: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": request.system}] if request.system else []
    for m in request.messages:
        if m["role"] == "tool":
            out.append({"role": "tool", "tool_call_id": m["tool_call_id"], "content": m["content"]})
        elif m["role"] == "assistant" and m["tool_calls"]:
            calls = [{"id": c["id"], "type": "function",
                      "function": {"name": c["name"], "arguments": c["arguments"]}} for c in m["tool_calls"]]  # fmt: skip
            out.append({"role": "assistant", "content": m["content"] or None, "tool_calls": calls})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


async def stream(request: Any) -> AsyncIterator[Any]:
    base = (request.config.get("base_url") or "https://api.openai.com/v1").rstrip("/")
    body: dict[str, Any] = {
        "model": request.model,
        "messages": messages(request),
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_output_tokens:
        body[request.config.get("max_tokens_field", "max_completion_tokens")] = request.max_output_tokens
    if request.tools:
        body["tools"] = [{"type": "function", "function": t} for t in request.tools]
    calls: dict[int, dict[str, Any]] = {}
    usage = None
    reason = None
    headers = {"Authorization": f"Bearer {request.api_key}"}
    async with httpx.AsyncClient(timeout=60) as client:
        async with client.stream("POST", f"{base}/chat/completions", json=body, headers=headers) as resp:
            if resp.status_code >= 400:
                await resp.aread()
                resp.raise_for_status()
            async for line in resp.aiter_lines():
                if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                    continue
                chunk = json.loads(line[5:])
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        yield delta["content"]
                    for frag in delta.get("tool_calls") or []:
                        slot = calls.setdefault(frag.get("index", 0), {"id": "", "name": "", "args": ""})
                        slot["id"] = frag.get("id") or slot["id"]
                        fn = frag.get("function") or {}
                        slot["name"] += fn.get("name") or ""
                        slot["args"] += fn.get("arguments") or ""
                    reason = choice.get("finish_reason") or reason
    for index, call in sorted(calls.items()):
        yield {"type": "tool_call", "id": call["id"] or f"call_{index}", "name": call["name"],
               "arguments": call["args"] or "{}"}  # fmt: skip
    if usage:
        yield {"type": "usage", "input_tokens": usage.get("prompt_tokens", 0),
               "output_tokens": usage.get("completion_tokens", 0)}  # fmt: skip
    yield {"type": "finish", "reason": FINISH.get(reason or "stop", "other")}
