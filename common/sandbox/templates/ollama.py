"""Ollama (`POST /api/chat`, newline-delimited JSON stream), with tools."""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx


def messages(request: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": request.system}] if request.system else []
    for m in request.messages:
        if m["role"] == "tool":
            out.append({"role": "tool", "content": m["content"], "tool_name": m["name"] or ""})
        elif m["role"] == "assistant" and m["tool_calls"]:
            calls = [{"function": {"name": c["name"], "arguments": json.loads(c["arguments"] or "{}")}}
                     for c in m["tool_calls"]]  # fmt: skip
            out.append({"role": "assistant", "content": m["content"], "tool_calls": calls})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


async def stream(request: Any) -> AsyncIterator[Any]:
    base = (request.config.get("base_url") or "http://localhost:11434").rstrip("/")
    body: dict[str, Any] = {"model": request.model, "messages": messages(request), "stream": True}
    options: dict[str, Any] = {}
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.max_output_tokens:
        options["num_predict"] = request.max_output_tokens
    if options:
        body["options"] = options
    if request.tools:
        body["tools"] = [{"type": "function", "function": t} for t in request.tools]
    headers = {"Authorization": f"Bearer {request.api_key}"} if request.api_key else {}
    calls = 0
    async with httpx.AsyncClient(timeout=60) as client:
        async with client.stream("POST", f"{base}/api/chat", json=body, headers=headers) as resp:
            if resp.status_code >= 400:
                await resp.aread()
                resp.raise_for_status()
            async for line in resp.aiter_lines():
                if not line.strip():
                    continue
                chunk = json.loads(line)
                message = chunk.get("message") or {}
                if message.get("content"):
                    yield message["content"]
                for call in message.get("tool_calls") or []:
                    fn = call["function"]
                    args = fn.get("arguments") or {}
                    yield {"type": "tool_call", "id": call.get("id") or f"call_{calls}", "name": fn["name"],
                           "arguments": args if isinstance(args, str) else json.dumps(args)}  # fmt: skip
                    calls += 1
                if chunk.get("done"):
                    yield {"type": "usage", "input_tokens": chunk.get("prompt_eval_count", 0),
                           "output_tokens": chunk.get("eval_count", 0)}  # fmt: skip
                    reason = "length" if chunk.get("done_reason") == "length" else "stop"
                    yield {"type": "finish", "reason": "tool_calls" if calls else reason}
