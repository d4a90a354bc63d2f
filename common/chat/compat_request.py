"""The OpenAI chat-completions request body, and which parameter each provider honours.

Every parameter either works or is refused with 400 naming it, never accepted and
dropped: a body field we do not know is refused like OpenAI refuses an unrecognized
argument, and a known one that the assistant's provider (or one of its fallbacks)
cannot honour is refused naming the parameter. README "OpenAI-compatible parameters"
is the table of this module.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.errors import BadRequest
from common.providers.response_format import ResponseFormat

OPENAI_KINDS = frozenset({"openai", "openai_compatible"})
# `data:` images: base64 of the image types every provider takes.
_DATA_URL_HEAD = re.compile(r"^data:image/(png|jpeg|gif|webp|heic|heif);base64$")


def _valid_image_url(url: str) -> bool:
    """https, or a base64 `data:` image (decoded at C speed; the body limit bounds its size)."""
    if url.startswith("https://"):
        return len(url) <= 8192
    head, _, payload = url.partition(",")
    if not _DATA_URL_HEAD.match(head):
        return False
    try:
        base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


class _Loose(BaseModel):
    # Clients echo back fields of OpenAI's response objects (refusal, annotations, audio
    # as null...); messages tolerate unknown keys, the request body does not.
    model_config = ConfigDict(extra="ignore")


class ImageUrl(_Loose):
    url: str = Field(min_length=1)
    detail: Literal["auto", "low", "high"] | None = None


class Part(_Loose):
    type: str
    text: str | None = None
    image_url: ImageUrl | None = None


class FunctionCall(_Loose):
    name: str = Field(min_length=1, max_length=64)
    arguments: str = ""


class InToolCall(_Loose):
    id: str = Field(min_length=1, max_length=256)
    type: Literal["function"] = "function"
    function: FunctionCall


class InMessage(_Loose):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[Part] | None = None
    tool_calls: list[InToolCall] | None = None
    tool_call_id: str | None = Field(default=None, max_length=256)

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""

    def images(self, where: str) -> tuple[str, ...]:
        """Image URLs of the content parts; any other non-text part is refused."""
        if not isinstance(self.content, list):
            return ()
        urls: list[str] = []
        for j, part in enumerate(self.content):
            if part.type == "text":
                continue
            param = f"{where}.content.{j}"
            if part.type != "image_url" or part.image_url is None or self.role != "user":
                raise BadRequest(f"content part type {part.type!r} is not supported here", field=param)
            url = part.image_url.url
            if not _valid_image_url(url):
                raise BadRequest(
                    "image_url must be an https URL or a base64 data: URL of an image", field=param
                )
            urls.append(url)
        return tuple(urls)


class StreamOptions(_Loose):
    include_usage: bool = False


class FunctionDef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = Field(default="", max_length=4096)
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None


class ToolDef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    function: FunctionDef


class NamedChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    function: dict[str, str]

    @property
    def name(self) -> str:
        return self.function.get("name", "")


class CompletionRequest(BaseModel):
    """OpenAI's body. Fields we do not honour are extras, refused in `check_params`."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=128)
    messages: list[InMessage] = Field(min_length=1, max_length=2000)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1, le=128)
    stop: str | list[str] | None = None
    max_tokens: int | None = Field(default=None, gt=0)
    max_completion_tokens: int | None = Field(default=None, gt=0)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    seed: int | None = None
    user: str | None = Field(default=None, max_length=256)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    tools: list[ToolDef] | None = Field(default=None, max_length=128)
    tool_choice: Literal["auto", "none", "required"] | NamedChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    modalities: list[Literal["text"]] | None = None  # text is what every reply is

    @field_validator("stop")
    @classmethod
    def _stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    def stop_sequences(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


def check_params(body: CompletionRequest, kinds: set[str]) -> None:
    """Refuse (400 naming it) every parameter the service or a provider in `kinds` would drop."""
    for name, value in (body.model_extra or {}).items():
        if value is not None:
            raise BadRequest(f"Unrecognized request argument supplied: {name}", field=name)
    if body.n not in (None, 1):
        raise BadRequest("n > 1 is not supported: ask for one choice per request", field="n")
    if body.top_logprobs is not None and not body.logprobs:
        raise BadRequest("top_logprobs needs logprobs: true", field="top_logprobs")
    if body.store:
        raise BadRequest("store is not supported: this endpoint stores no completions", field="store")
    if body.metadata:
        raise BadRequest("metadata is not supported: this endpoint stores no completions", field="metadata")
    others = ", ".join(sorted(kinds - OPENAI_KINDS))
    if body.user is not None and others:
        raise BadRequest(f"user is not supported by the assistant's provider ({others})", field="user")
    if body.logprobs and others:
        raise BadRequest(
            f"logprobs are not supported by the assistant's provider ({others})", field="logprobs"
        )
    if body.tool_choice is not None and not body.tools:
        raise BadRequest("tool_choice needs tools", field="tool_choice")
    if isinstance(body.tool_choice, NamedChoice):
        names = {t.function.name for t in body.tools or ()}
        if body.tool_choice.name not in names:
            raise BadRequest("tool_choice names a function that is not in tools", field="tool_choice")
