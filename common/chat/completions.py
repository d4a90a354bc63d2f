"""OpenAI-compatible `/v1/chat/completions`: the official `openai` SDK (and frameworks on
it) works with `base_url=<chat URL>/v1` (locally `/chat/v1`) and a client key.

`model` names an assistant (slug or id) of the key's app; the assistant's
system prompt, provider, key, fallbacks and limits apply. Like OpenAI's API
it is stateless: the caller sends the whole conversation, nothing is stored
but usage (threads with server-side history are `POST /chat`). Client system
messages are appended to the assistant's prompt, never replace it.

Tools: the assistant's own (server-side) tools run here as in `POST /chat`;
the caller's `tools` are offered alongside them and are the caller's to run. A
round in which the model calls a client tool ends the request with those calls
(`finish_reason: "tool_calls"`); server-tool calls of that same round are not
run (the caller's follow-up request, with the tool results, lets the model ask
again). A client tool may not share a server tool's name.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field, replace
from typing import Any

from common.chat.access import Caller
from common.chat.budget import TurnBudget
from common.chat.candidates import Route, resolve, to_candidates
from common.chat.compat_request import CompletionRequest, NamedChoice, check_params
from common.chat.deadline import bounded, new_deadline
from common.chat.history import estimate_tokens
from common.config.models import Assistant
from common.errors import BadRequest, ContextLengthExceeded, NotFound
from common.providers.base import ChatMessage, ProviderCallError, ProviderRequest, ToolCall, ToolSpec
from common.settings import get_settings
from common.store.usage_buffer import get_buffer
from common.tools import loop
from common.tools.base import ToolContext
from common.tools.toolset import toolset_for

_STARTED = int(time.time())  # `created` of records that carry no timestamp


@dataclass
class Outcome:
    text: str = ""
    finish_reason: str = "stop"
    tool_calls: list[ToolCall] = field(default_factory=list)
    logprobs: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0})


def find_assistant(c: Caller, ref: str) -> Assistant:
    found = c.cfg.assistant(c.app.id, ref)
    if found is None:
        raise NotFound(
            f"The model `{ref}` does not exist or you do not have access to it.",
            field="model",
            code="model_not_found",
        )
    return found


def _conversation(
    body: CompletionRequest, assistant: Assistant
) -> tuple[str | None, tuple[ChatMessage, ...]]:
    limit = get_settings().max_message_bytes
    system = [assistant.system_prompt] if assistant.system_prompt else []
    messages: list[ChatMessage] = []
    for i, m in enumerate(body.messages):
        where = f"messages.{i}"
        text = m.text()
        if len(text.encode()) > limit:
            raise ContextLengthExceeded(f"{where}.content exceeds {limit} bytes", field=f"{where}.content")
        images = m.images(where)
        if m.role == "user":
            messages.append(ChatMessage(role="user", content=text, images=images))
        elif m.role == "assistant":
            calls = tuple(ToolCall(c.id, c.function.name, c.function.arguments) for c in m.tool_calls or ())
            messages.append(ChatMessage(role="assistant", content=text, tool_calls=calls))
        elif m.role == "tool":
            if not m.tool_call_id:
                raise BadRequest("a tool message needs tool_call_id", field=f"{where}.tool_call_id")
            messages.append(ChatMessage(role="tool", content=text, tool_call_id=m.tool_call_id))
        else:  # system and developer messages extend the assistant's prompt
            system.append(text)
    if not messages or messages[-1].role not in ("user", "tool"):
        raise BadRequest("messages: the last message must come from the user or a tool", field="messages")
    _check_tool_results(messages)
    return ("\n\n".join(system) or None), tuple(messages)


def _check_tool_results(messages: list[ChatMessage]) -> None:
    """Each tool result answers a call of an earlier assistant message (as OpenAI requires)."""
    called: dict[str, str] = {}
    for m in messages:
        called.update((c.id, c.name) for c in m.tool_calls)
        if m.role == "tool" and m.tool_call_id not in called:
            raise BadRequest(
                f"tool_call_id {m.tool_call_id!r} answers no tool call of an earlier assistant message",
                field="messages",
            )


def _client_tools(body: CompletionRequest) -> tuple[ToolSpec, ...]:
    return tuple(
        ToolSpec(t.function.name, t.function.description, t.function.parameters, t.function.strict)
        for t in body.tools or ()
    )


class Completion:
    """One stateless completion: resolve before the first byte, then stream."""

    def __init__(self, c: Caller, body: CompletionRequest) -> None:
        self.c = c
        self.body = body
        self.assistant = find_assistant(c, body.model)
        self.id = "chatcmpl-" + secrets.token_urlsafe(18)
        self.created = int(time.time())
        self.route: Route | None = None
        self.client_tools = _client_tools(body)
        self.client_names = frozenset(t.name for t in self.client_tools)

    async def start(self) -> None:
        settings = get_settings()
        system, messages = _conversation(self.body, self.assistant)
        resolved = await resolve(self.c.tenant, self.c.cfg, self.assistant)
        self._check_routes([route for route, _ in resolved], system, messages)
        self.toolset = toolset_for(
            self.c.tenant, self.c.cfg, self.assistant, default_timeout_s=settings.tool_timeout_s
        )
        clash = self.client_names & {t.name for t in self.toolset.specs}
        if clash:
            raise BadRequest(f"tools: {sorted(clash)[0]!r} is the name of a server-side tool", field="tools")
        tools = (*self.toolset.specs, *self.client_tools)
        fmt = self.body.response_format.wire() if self.body.response_format else None
        self.candidates = [
            (route, replace(cand, request=self._overrides(cand.request)))
            for route, cand in to_candidates(
                resolved,
                self.assistant,
                system,
                messages,
                tools,
                response_format=fmt or self.assistant.response_format,
            )
        ]

    def _check_routes(
        self, routes: list[Route], system: str | None, messages: tuple[ChatMessage, ...]
    ) -> None:
        """Every model the request may reach (the assistant's and its fallbacks) must honour it."""
        check_params(self.body, {r.provider.kind for r in routes})
        for r in routes:
            if self.client_tools and not r.model.supports_tools:
                raise BadRequest(
                    f"the assistant's model {r.model.id!r} does not support tools", field="tools"
                )
            if any(m.images for m in messages) and not r.model.supports_images:
                raise BadRequest(
                    f"the assistant's model {r.model.id!r} does not accept images", field="messages"
                )
        primary = routes[0].model
        prompt = estimate_tokens(system or "") + sum(estimate_tokens(m.content) + 4 for m in messages)
        if prompt > primary.max_tokens:
            raise ContextLengthExceeded(
                f"This model's maximum context length is {primary.max_tokens} tokens; "
                f"the messages are about {prompt} tokens.",
                field="messages",
            )

    def _overrides(self, req: ProviderRequest) -> ProviderRequest:
        """The caller's sampling controls; it may lower the output cap, never raise it."""
        b = self.body
        cap = b.max_completion_tokens or b.max_tokens
        if cap and req.max_output_tokens:
            cap = min(cap, req.max_output_tokens)
        choice = b.tool_choice
        wanted: dict[str, Any] = dict(
            max_output_tokens=cap or req.max_output_tokens,
            temperature=b.temperature if b.temperature is not None else req.temperature,
            tool_choice=None if isinstance(choice, NamedChoice) else choice,
            tool_choice_function=choice.name if isinstance(choice, NamedChoice) else None,
            parallel_tool_calls=b.parallel_tool_calls,
            stop=b.stop_sequences(),
            seed=b.seed,
            top_p=b.top_p,
            presence_penalty=b.presence_penalty,
            frequency_penalty=b.frequency_penalty,
            user=b.user,
            logprobs=bool(b.logprobs),
            top_logprobs=b.top_logprobs,
        )
        # Only what differs: most requests set none of these, and `replace` rebuilds the request.
        changes = {k: v for k, v in wanted.items() if getattr(req, k) != v}
        return replace(req, **changes) if changes else req

    def _keep(self, out: Outcome, call: ToolCall) -> bool:
        """`parallel_tool_calls: false` is honoured here for every provider: one call per reply."""
        if call.name not in self.client_names:
            return False
        return self.body.parallel_tool_calls is not False or not out.tool_calls

    async def events(self, out: Outcome) -> AsyncGenerator[loop.Delta | ToolCall, None]:
        """Yield text deltas and client tool calls; fill `out`; raise AppError on upstream failure."""
        limits = loop.limits_for(self.assistant)
        ctx = ToolContext(self.c.tenant, self.c.app.id, self.assistant.id, thread_id="", request_id=self.id)
        tokens = [0, 0]
        try:
            meter = TurnBudget.for_turn(self.c.tenant, self.c.cfg.tenant, [r for r, _ in self.candidates])
            cands = [cand for _, cand in self.candidates]
            run = loop.run(cands, self.toolset, ctx, limits, client_tools=self.client_names, meter=meter)
            events = bounded(run, new_deadline())  # TURN_DEADLINE_S
            async with contextlib.aclosing(events):
                async for ev in events:
                    if isinstance(ev, loop.Delta):
                        self.route = self.candidates[ev.index][0]
                        out.text += ev.text
                        out.logprobs += ev.logprobs
                        yield ev
                    elif isinstance(ev, loop.CallRequested):
                        if self._keep(out, ev.call):
                            out.tool_calls.append(ev.call)
                            yield ev.call
                    elif isinstance(ev, loop.Step):
                        self.route = self.candidates[ev.index][0]
                        tokens[0] += ev.input_tokens
                        tokens[1] += ev.output_tokens
                        if ev.final:
                            out.finish_reason = ev.finish_reason
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

    def chunk(
        self, delta: dict[str, Any], finish_reason: str | None = None, logprobs: Any = None
    ) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.assistant.slug,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": logprobs}],
        }

    def text_chunk(self, delta: loop.Delta) -> dict[str, Any]:
        return self.chunk({"content": delta.text}, logprobs=self._logprobs(list(delta.logprobs)))

    def _logprobs(self, content: list[dict[str, Any]]) -> dict[str, Any] | None:
        return {"content": content, "refusal": None} if self.body.logprobs else None

    def tool_call_chunk(self, index: int, call: ToolCall) -> dict[str, Any]:
        return self.chunk({"tool_calls": [{"index": index, **_tool_call(call)}]})

    def usage_chunk(self, out: Outcome) -> dict[str, Any]:
        return {**self.chunk({}), "choices": [], "usage": _usage(out)}

    def response(self, out: Outcome) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": out.text, "refusal": None}
        if out.tool_calls:
            message["content"] = out.text or None
            message["tool_calls"] = [_tool_call(c) for c in out.tool_calls]
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.assistant.slug,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": out.finish_reason,
                    "logprobs": self._logprobs(out.logprobs),
                }
            ],
            "usage": _usage(out),
        }


def _tool_call(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def _usage(out: Outcome) -> dict[str, int]:
    return {**out.usage, "total_tokens": out.usage["prompt_tokens"] + out.usage["completion_tokens"]}


def _model(c: Caller, a: Assistant) -> dict[str, Any]:
    stamp = a.created_at or a.updated_at
    created = int(stamp.timestamp()) if stamp else _STARTED
    return {"id": a.slug, "object": "model", "created": created, "owned_by": c.app.slug}


def models_list(c: Caller) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [_model(c, a) for a in sorted(c.cfg.app_assistants(c.app.id), key=lambda a: a.slug)],
    }


def model_info(c: Caller, ref: str) -> dict[str, Any]:
    return _model(c, find_assistant(c, ref))
