"""Cohere Chat v2 (`POST /v2/chat`, streamed), with tools."""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

FINISH = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length", "TOOL_CALL": "tool_calls"}


def messages(request: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": request.system}] if request.system else []
    for m in request.messages:
        if m["role"] == "tool":
            out.append({"role": "tool", "tool_call_id": m["tool_call_id"], "content": m["content"]})
        elif m["role"] == "assistant" and m["tool_calls"]:
            calls = [{"id": c["id"], "type": "function",
                      "function": {"name": c["name"], "arguments": c["arguments"]}} for c in m["tool_calls"]]  # fmt: skip
            out.append(
                {"role": "assistant", "tool_calls": calls, "tool_plan": m["content"] or "Using tools."}
            )
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


async def stream(request: Any) -> AsyncIterator[Any]:
    base = (request.config.get("base_url") or "https://api.cohere.com").rstrip("/")
    body: dict[str, Any] = {"model": request.model, "messages": messages(request), "stream": True}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_output_tokens:
        body["max_tokens"] = request.max_output_tokens
    if request.tools:
        body["tools"] = [{"type": "function", "function": t} for t in request.tools]
    calls: list[dict[str, Any]] = []
    usage = {"input_tokens": 0, "output_tokens": 0}
    reason = "stop"
    headers = {"Authorization": f"Bearer {request.api_key}"}
    async with httpx.AsyncClient(timeout=60) as client:
        async with client.stream("POST", f"{base}/v2/chat", json=body, headers=headers) as resp:
            if resp.status_code >= 400:
                await resp.aread()
                resp.raise_for_status()
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                kind = event.get("type")
                message = (event.get("delta") or {}).get("message") or {}
                if kind == "content-delta":
                    yield message["content"]["text"]
                elif kind == "tool-call-start":
                    call = message["tool_calls"]
                    calls.append({"id": call["id"], "name": call["function"]["name"],
                                  "args": call["function"].get("arguments") or ""})  # fmt: skip
                elif kind == "tool-call-delta":
                    calls[-1]["args"] += message["tool_calls"]["function"].get("arguments") or ""
                elif kind == "message-end":
                    delta = event.get("delta") or {}
                    reason = FINISH.get(delta.get("finish_reason") or "", "other")
                    tokens = (delta.get("usage") or {}).get("tokens") or {}
                    usage = {"input_tokens": int(tokens.get("input_tokens") or 0),
                             "output_tokens": int(tokens.get("output_tokens") or 0)}  # fmt: skip
    for call in calls:
        yield {"type": "tool_call", "id": call["id"], "name": call["name"], "arguments": call["args"] or "{}"}
    yield {"type": "usage", **usage}
    yield {"type": "finish", "reason": reason}
