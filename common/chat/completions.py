"""OpenAI-compatible `/v1/chat/completions`: the official `openai` SDK works with
`base_url=<chat URL>/v1` (locally `/chat/v1`) and a client key.

`model` names an assistant (slug or id) of the key's app; the assistant's
system prompt, provider, key, fallbacks and limits apply. Like OpenAI's API
it is stateless: the caller sends the whole conversation, nothing is stored
but usage (threads with server-side history are `POST /chat`). The
assistant's tools run server-side as in `POST /chat`. Client system messages
are appended to the assistant's prompt, never replace it.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.chat.access import Caller
from common.chat.budget import TurnBudget
from common.chat.candidates import Route, resolve, to_candidates
from common.chat.deadline import bounded, new_deadline
from common.config.models import Assistant
from common.errors import (
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from common.providers.base import ChatMessage, ProviderCallError, ProviderRequest
from common.settings import get_settings
from common.store.usage_buffer import get_buffer
from common.tools import loop
from common.tools.base import ToolContext
from common.tools.toolset import toolset_for


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None


class InMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[_Part] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class CompletionRequest(BaseModel):
    """The OpenAI request body. Unknown OpenAI parameters are accepted and ignored
    (SDKs send many); the ones we honour are validated."""

    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1, max_length=128)
    messages: list[InMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    max_completion_tokens: int | None = Field(default=None, gt=0)


@dataclass
class Outcome:
    text: str = ""
    finish_reason: str = "stop"
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0})


def find_assistant(c: Caller, ref: str) -> Assistant:
    found = c.cfg.assistant(c.app.id, ref)
    if found is None:
        raise NotFound(f"The model `{ref}` does not exist")
    return found


def _conversation(
    body: CompletionRequest, assistant: Assistant
) -> tuple[str | None, tuple[ChatMessage, ...]]:
    limit = get_settings().max_message_bytes
    system = [assistant.system_prompt] if assistant.system_prompt else []
    messages: list[ChatMessage] = []
    for i, m in enumerate(body.messages):
        text = m.text()
        if len(text.encode()) > limit:
            raise PayloadTooLarge(f"messages.{i}.content exceeds {limit} bytes")
        if m.role == "user" or m.role == "assistant":
            messages.append(ChatMessage(role=m.role, content=text))
        else:  # system and developer messages extend the assistant's prompt
            system.append(text)
    if not messages or messages[-1].role != "user":
        raise ValidationFailed("messages: the last message must come from the user", field="messages")
    return ("\n\n".join(system) or None), tuple(messages)


class Completion:
    """One stateless completion: resolve before the first byte, then stream."""

    def __init__(self, c: Caller, body: CompletionRequest) -> None:
        self.c = c
        self.body = body
        self.assistant = find_assistant(c, body.model)
        self.id = "chatcmpl-" + secrets.token_urlsafe(18)
        self.created = int(time.time())
        self.route: Route | None = None

    async def start(self) -> None:
        settings = get_settings()
        system, messages = _conversation(self.body, self.assistant)
        resolved = await resolve(self.c.tenant, self.c.cfg, self.assistant)
        self.toolset = toolset_for(
            self.c.tenant, self.c.cfg, self.assistant, default_timeout_s=settings.tool_timeout_s
        )
        self.candidates = [
            (route, replace(cand, request=self._overrides(cand.request)))
            for route, cand in to_candidates(resolved, self.assistant, system, messages, self.toolset.specs)
        ]

    def _overrides(self, req: ProviderRequest) -> ProviderRequest:
        """The caller may lower the output cap and set temperature, never raise the cap."""
        cap = self.body.max_completion_tokens or self.body.max_tokens
        if cap and req.max_output_tokens:
            cap = min(cap, req.max_output_tokens)
        return replace(
            req,
            max_output_tokens=cap or req.max_output_tokens,
            temperature=self.body.temperature if self.body.temperature is not None else req.temperature,
        )

    async def events(self, out: Outcome) -> AsyncIterator[str]:
        """Yield text deltas; fill `out`; raise AppError on upstream failure.

        The assistant's tools run server-side, as in `POST /chat`; the caller
        sees only the text (tool calls and results are not part of the
        OpenAI response, and nothing is stored).
        """
        limits = loop.limits_for(self.assistant)
        ctx = ToolContext(self.c.tenant, self.c.app.id, self.assistant.id, thread_id="", request_id=self.id)
        tokens = [0, 0]
        try:
            meter = TurnBudget.for_turn(self.c.tenant, self.c.cfg.tenant, [r for r, _ in self.candidates])
            run = loop.run([cand for _, cand in self.candidates], self.toolset, ctx, limits, meter)
            events = bounded(run, new_deadline())  # TURN_DEADLINE_S
            async with contextlib.aclosing(events):
                async for ev in events:
                    if isinstance(ev, loop.Delta):
                        self.route = self.candidates[ev.index][0]
                        out.text += ev.text
                        yield ev.text
                    elif isinstance(ev, loop.Step):
                        self.route = self.candidates[ev.index][0]
                        tokens[0] += ev.input_tokens
                        tokens[1] += ev.output_tokens
        except ProviderCallError as exc:
            raise loop.upstream_error(exc) from None
        out.usage = {"prompt_tokens": tokens[0], "completion_tokens": tokens[1]}
        self._record(out)

    def _record(self, out: Outcome) -> None:
        # Counted in memory and flushed in the background: no request waits on a usage write.
        route = self.route or self.candidates[0][0]
        get_buffer().add(
            self.c.tenant,
            app_id=self.c.app.id,
            assistant_id=self.assistant.id,
            input_tokens=out.usage["prompt_tokens"],
            output_tokens=out.usage["completion_tokens"],
            cost=(
                out.usage["prompt_tokens"] * route.model.input_cost_per_million
                + out.usage["completion_tokens"] * route.model.output_cost_per_million
            )
            / 1_000_000,
        )

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.assistant.slug,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }

    def usage_chunk(self, out: Outcome) -> dict[str, Any]:
        return {**self.chunk({}), "choices": [], "usage": _usage(out)}

    def response(self, out: Outcome) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.assistant.slug,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": out.text, "refusal": None},
                    "finish_reason": out.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": _usage(out),
        }


def _usage(out: Outcome) -> dict[str, int]:
    return {**out.usage, "total_tokens": out.usage["prompt_tokens"] + out.usage["completion_tokens"]}


def models_list(c: Caller) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": a.slug, "object": "model", "created": 0, "owned_by": c.app.slug}
            for a in sorted(c.cfg.app_assistants(c.app.id), key=lambda a: a.slug)
        ],
    }
