"""One error root; each subclass carries its HTTP status and public type.

`common.http.responses.error_response` is the only place these become HTTP
responses, so every error in the product has the same JSON shape
(`{"error": {"type", "message", "request_id"}}`, SPEC §6).
"""

from __future__ import annotations


class AppError(Exception):
    """Root of every error the service answers on purpose."""

    status: int = 500
    type: str = "internal_error"
    code: str | None = None  # a finer machine-readable reason (OpenAI's `code`), when there is one

    def __init__(self, message: str = "", *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message or self.type)
        self.message = message or self.type
        self.field = field
        if code is not None:
            self.code = code

    @property
    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(AppError):
    status, type = 400, "invalid_request"


class ContextLengthExceeded(BadRequest):
    """The prompt does not fit the model's context window (OpenAI's 400 code)."""

    code = "context_length_exceeded"


class Unauthorized(AppError):
    status, type = 401, "unauthorized"


class Forbidden(AppError):
    status, type = 403, "forbidden"


class NotFound(AppError):
    status, type = 404, "not_found"


class MethodNotAllowed(AppError):
    status, type = 405, "method_not_allowed"

    def __init__(self, message: str = "", *, allow: list[str] | None = None) -> None:
        super().__init__(message)
        self.allow = allow or []

    @property
    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allow)} if self.allow else {}


class Conflict(AppError):
    status, type = 409, "conflict"


class PayloadTooLarge(AppError):
    status, type = 413, "payload_too_large"


class ValidationFailed(AppError):
    status, type = 422, "validation_error"


class _RetryAfter(AppError):
    def __init__(self, message: str = "", *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, round(self.retry_after)))}


class RateLimited(_RetryAfter):
    status, type = 429, "rate_limited"


class _AlreadyRetried(AppError):
    """The service already retried and fell back: tell SDKs not to repeat it (OpenAI's
    clients honour `x-should-retry`)."""

    @property
    def headers(self) -> dict[str, str]:
        return {"x-should-retry": "false"}


class UpstreamError(_AlreadyRetried):
    status, type = 502, "upstream_error"


class DependencyUnavailable(_RetryAfter):
    status, type = 503, "dependency_unavailable"


class UpstreamTimeout(_AlreadyRetried):
    status, type = 504, "upstream_timeout"
