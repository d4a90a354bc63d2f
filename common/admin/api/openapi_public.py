"""The start, chat and health APIs, described for the OpenAPI document.

Those functions route by hand (`functions/{start,chat,health}.py`); this
table restates each route with the request model the handler parses and the
shape it answers. `tests/admin/test_openapi.py` compares the table with the
functions' routers, so a route added there without a row here fails a test.
The response models below are documentation only: the handlers build plain
dicts, and the schemathesis run checks those against these models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from common.chat.actions import ActionRequest
from common.chat.compat_request import CompletionRequest
from common.chat.schemas import AppChatRequest, ChatRequest, StartRequest


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartResponse(_Out):
    thread_id: str
    assistant: str = Field(description="the assistant's slug")


class ChatUsage(_Out):
    input_tokens: int
    output_tokens: int


class ChatResponse(_Out):
    thread_id: str
    message_id: str
    responses: list[str]
    usage: ChatUsage
    model: str
    provider: str
    finish_reason: Literal["stop", "length", "tool_calls", "content_filter", "other"]


class ThreadMessage(_Out):
    id: str
    role: str
    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    name: str | None = None
    model: str | None = None
    provider: str | None = None
    usage: dict[str, Any] | None = None
    status: str | None = None
    created_at: str | None = None


class MessagesPage(_Out):
    thread_id: str
    messages: list[ThreadMessage]
    next_page_token: str | None


class PublicAction(_Out):
    description: str
    input_schema: dict[str, Any]


class PublicAssistant(_Out):
    id: str
    slug: str
    name: str
    description: str
    is_streaming: bool
    actions: dict[str, PublicAction]


class AssistantList(_Out):
    app: str
    assistants: list[PublicAssistant]


class CompletionUsage(_Out):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionToolCall(_Out):
    id: str
    type: Literal["function"]
    function: dict[str, str] = Field(description="`name` and `arguments` (JSON text)")


class CompletionMessage(_Out):
    role: Literal["assistant"]
    content: str | None
    refusal: str | None
    tool_calls: list[CompletionToolCall] | None = None


class CompletionChoice(_Out):
    index: int
    message: CompletionMessage
    finish_reason: str | None
    logprobs: None


class ChatCompletion(_Out):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    system_fingerprint: str | None
    choices: list[CompletionChoice]
    usage: CompletionUsage


class OpenAIErrorDetail(_Out):
    message: str
    type: str
    param: str | None
    code: str | None
    request_id: str


class OpenAIErrorResponse(_Out):
    """The `/v1` routes' errors, in OpenAI's shape (validation is 400 there, not 422)."""

    error: OpenAIErrorDetail


class ModelCard(_Out):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(_Out):
    object: Literal["list"]
    data: list[ModelCard]


class Health(_Out):
    status: Literal["ok", "error"]
    checks: dict[str, dict[str, Any]]
    version: str
    failing: list[str] | None = None


@dataclass(frozen=True)
class PublicOp:
    function: str
    method: str
    path: str  # under /{function}; "/" is the function's own URL
    summary: str
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    streams: bool = False
    query: tuple[tuple[str, dict[str, Any]], ...] = ()
    auth: bool = True  # a client key
    idempotent: bool = False  # honours Idempotency-Key
    errors: tuple[int, ...] = (400, 401, 404, 413, 422, 429)
    openai_errors: bool = False  # errors in OpenAI's shape (the /v1 routes)


_PAGE = (("limit", {"type": "integer"}), ("page_token", {"type": "string"}))
_TURN = (400, 401, 404, 409, 413, 422, 429, 502, 504)

PUBLIC_OPS: tuple[PublicOp, ...] = (
    PublicOp(
        "start",
        "GET",
        "/",
        "Start a thread with the app's default (or ?assistant=) assistant",
        response=StartResponse,
        status=201,
        query=(("assistant", {"type": "string"}),),
    ),
    PublicOp("start", "POST", "/", "Start a thread", StartRequest, StartResponse, status=201),
    PublicOp(
        "chat",
        "POST",
        "/",
        "Send a message to a thread (JSON or SSE)",
        ChatRequest,
        ChatResponse,
        streams=True,
        idempotent=True,
        errors=_TURN,
    ),
    PublicOp(
        "chat",
        "GET",
        "/threads/{thread_id}/messages",
        "A thread's messages, oldest first",
        response=MessagesPage,
        query=_PAGE,
    ),
    PublicOp(
        "chat",
        "POST",
        "/app/{app}/{assistant}",
        "Chat by app and assistant slug",
        AppChatRequest,
        ChatResponse,
        streams=True,
        errors=_TURN,
    ),
    PublicOp("chat", "GET", "/assistants", "The key's app's assistants", response=AssistantList),
    PublicOp("chat", "GET", "/assistants/{assistant}", "One assistant", response=PublicAssistant),
    PublicOp(
        "chat",
        "POST",
        "/assistants/{assistant}/actions/{action}",
        "Run an assistant action",
        ActionRequest,
        ChatResponse,
        streams=True,
        errors=_TURN,
    ),
    PublicOp(
        "chat",
        "POST",
        "/v1/chat/completions",
        "OpenAI-compatible chat completions",
        CompletionRequest,
        ChatCompletion,
        streams=True,
        idempotent=True,
        errors=(400, 401, 404, 409, 413, 429, 502, 504),
        openai_errors=True,
    ),
    PublicOp(
        "chat",
        "GET",
        "/v1/models",
        "OpenAI-compatible model list (the app's assistants)",
        response=ModelList,
        errors=(401, 429),
        openai_errors=True,
    ),
    PublicOp(
        "chat",
        "GET",
        "/v1/models/{model}",
        "One assistant as an OpenAI model",
        response=ModelCard,
        errors=(401, 404, 429),
        openai_errors=True,
    ),
    PublicOp(
        "health",
        "GET",
        "/",
        "Dependency checks (503 names the failing one)",
        response=Health,
        query=(("deep", {"type": "string", "enum": ["0", "1", "true"]}), ("tenant", {"type": "string"})),
        auth=False,
        errors=(),
    ),
)


def documented_routes(function: str) -> set[tuple[str, str]]:
    return {(op.method, op.path) for op in PUBLIC_OPS if op.function == function}
