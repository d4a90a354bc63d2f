"""Anthropic Messages API (`POST /v1/messages`, streamed), with tools."""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

STOP = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


def messages(request: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in request.messages:
        if m["role"] == "tool":
            block = {"type": "tool_result", "tool_use_id": m["tool_call_id"], "content": m["content"]}
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)  # results of one round go in one user turn
            else:
                out.append({"role": "user", "content": [block]})
        elif m["role"] == "assistant" and m["tool_calls"]:
            blocks: list[dict[str, Any]] = [{"type": "text", "text": m["content"]}] if m["content"] else []
            for c in m["tool_calls"]:
                blocks.append({"type": "tool_use", "id": c["id"], "name": c["name"],
                               "input": json.loads(c["arguments"] or "{}")})  # fmt: skip
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": m["role"], "content": m["content"]})
    return out


async def stream(request: Any) -> AsyncIterator[Any]:
    base = (request.config.get("base_url") or "https://api.anthropic.com").rstrip("/")
    body: dict[str, Any] = {
        "model": request.model,
        "messages": messages(request),
        "max_tokens": request.max_output_tokens or request.config.get("max_tokens", 1024),
        "stream": True,
    }
    if request.system:
        body["system"] = request.system
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.tools:
        body["tools"] = [
            {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
            for t in request.tools
        ]
    headers = {"x-api-key": request.api_key, "anthropic-version": request.config.get("version", "2023-06-01")}
    calls: dict[int, dict[str, Any]] = {}
    usage = {"input_tokens": 0, "output_tokens": 0}
    reason = "stop"
    async with httpx.AsyncClient(timeout=60) as client:
        async with client.stream("POST", f"{base}/v1/messages", json=body, headers=headers) as resp:
            if resp.status_code >= 400:
                await resp.aread()
                resp.raise_for_status()
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                kind = event.get("type")
                if kind == "message_start":
                    usage["input_tokens"] = event["message"].get("usage", {}).get("input_tokens", 0)
                elif kind == "content_block_start" and event["content_block"]["type"] == "tool_use":
                    block = event["content_block"]
                    calls[event["index"]] = {"id": block["id"], "name": block["name"], "args": ""}
                elif kind == "content_block_delta":
                    delta = event["delta"]
                    if delta["type"] == "text_delta":
                        yield delta["text"]
                    elif delta["type"] == "input_json_delta":
                        calls[event["index"]]["args"] += delta["partial_json"]
                elif kind == "message_delta":
                    reason = STOP.get(event["delta"].get("stop_reason") or "", "other")
                    usage["output_tokens"] = event.get("usage", {}).get("output_tokens", 0)
                elif kind == "error":
                    raise RuntimeError(f"anthropic: {event.get('error', {}).get('message', 'stream error')}")
    for call in calls.values():
        yield {"type": "tool_call", "id": call["id"], "name": call["name"], "arguments": call["args"] or "{}"}
    yield {"type": "usage", **usage}
    yield {"type": "finish", "reason": reason}
