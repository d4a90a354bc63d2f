"""Google Gemini API (`models/{model}:streamGenerateContent?alt=sse`), with function calling."""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter"}


def contents(request: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in request.messages:
        if m["role"] == "tool":
            try:
                output = json.loads(m["content"])
            except ValueError:
                output = m["content"]
            part = {"functionResponse": {"name": m["name"] or "", "response": {"output": output}}}
            if out and out[-1]["role"] == "user" and "functionResponse" in out[-1]["parts"][0]:
                out[-1]["parts"].append(part)
            else:
                out.append({"role": "user", "parts": [part]})
        elif m["role"] == "assistant":
            parts: list[dict[str, Any]] = [{"text": m["content"]}] if m["content"] else []
            for c in m["tool_calls"]:
                parts.append(
                    {"functionCall": {"name": c["name"], "args": json.loads(c["arguments"] or "{}")}}
                )
            out.append({"role": "model", "parts": parts or [{"text": ""}]})
        else:
            out.append({"role": "user", "parts": [{"text": m["content"]}]})
    return out


async def stream(request: Any) -> AsyncIterator[Any]:
    base = (request.config.get("base_url") or "https://generativelanguage.googleapis.com").rstrip("/")
    body: dict[str, Any] = {"contents": contents(request)}
    if request.system:
        body["systemInstruction"] = {"parts": [{"text": request.system}]}
    config: dict[str, Any] = {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.max_output_tokens:
        config["maxOutputTokens"] = request.max_output_tokens
    if config:
        body["generationConfig"] = config
    if request.tools:
        body["tools"] = [{"functionDeclarations": list(request.tools)}]
    url = f"{base}/v1beta/models/{request.model}:streamGenerateContent?alt=sse"
    usage = {"input_tokens": 0, "output_tokens": 0}
    reason = "stop"
    calls = 0
    async with httpx.AsyncClient(timeout=60) as client:
        async with client.stream("POST", url, json=body, headers={"x-goog-api-key": request.api_key}) as resp:
            if resp.status_code >= 400:
                await resp.aread()
                resp.raise_for_status()
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                chunk = json.loads(line[5:])
                meta = chunk.get("usageMetadata") or {}
                if meta:
                    usage = {"input_tokens": meta.get("promptTokenCount", 0),
                             "output_tokens": meta.get("candidatesTokenCount", 0)}  # fmt: skip
                for candidate in (chunk.get("candidates") or [])[:1]:
                    for part in (candidate.get("content") or {}).get("parts") or []:
                        if part.get("text"):
                            yield part["text"]
                        if part.get("functionCall"):
                            fc = part["functionCall"]
                            yield {"type": "tool_call", "id": f"call_{calls}", "name": fc["name"],
                                   "arguments": json.dumps(fc.get("args") or {})}  # fmt: skip
                            calls += 1
                    if candidate.get("finishReason"):
                        reason = FINISH.get(candidate["finishReason"], "other")
    yield {"type": "usage", **usage}
    yield {"type": "finish", "reason": "tool_calls" if calls else reason}
