"""Pure pieces of the compatibility layer: the OpenAI error rendering of the one error map,
the preflight's header echo, and the parameter checks."""

from __future__ import annotations

import json

import pytest

from common.chat.compat_request import CompletionRequest, check_params
from common.errors import BadRequest, NotFound, RateLimited, UpstreamError, ValidationFailed
from common.http.responses import error_response
from common.http.routing import allowed_request_headers, error_style


def _body(resp) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(bytes(resp.body))["error"]


def test_validation_is_400_in_openai_shape_and_422_natively() -> None:
    exc = ValidationFailed("temperature: too high", field="temperature")
    assert error_response(exc, "r").status_code == 422
    resp = error_response(exc, "r", "openai")
    assert resp.status_code == 400
    assert _body(resp) == {
        "message": "temperature: too high",
        "type": "invalid_request_error",
        "param": "temperature",
        "code": "validation_error",
        "request_id": "r",
    }


def test_codes_and_headers_survive_the_rendering() -> None:
    assert (
        _body(error_response(NotFound("x", code="model_not_found"), "r", "openai"))["code"]
        == "model_not_found"
    )
    limited = error_response(RateLimited("slow", retry_after=3), "r", "openai")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    assert _body(limited)["code"] == "rate_limit_exceeded"
    failed = error_response(UpstreamError("gave up"), "r", "openai")
    assert failed.status_code == 502 and failed.headers["x-should-retry"] == "false"
    assert _body(failed)["type"] == "server_error"


def test_error_style_follows_the_route() -> None:
    assert error_style("/v1/chat/completions") == "openai" and error_style("/v1/models/x") == "openai"
    assert error_style("/") == "native" and error_style("/v10") == "native"


def test_preflight_echo_keeps_only_header_names() -> None:
    allowed = allowed_request_headers("x-stainless-arch, X-Stainless-Lang,bad header,\r\nx: y")
    names = [n.strip() for n in allowed.split(",")]
    assert "x-stainless-arch" in names and "X-Stainless-Lang" in names and "Authorization" in names
    assert not any(" " in n or ":" in n for n in names)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"logit_bias": {"1": 2}}, "logit_bias"),
        ({"n": 3}, "n"),
        ({"user": "u"}, "user"),
        ({"store": True}, "store"),
    ],
)
def test_check_params_names_the_parameter(extra: dict, param: str) -> None:  # type: ignore[type-arg]
    body = CompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "x"}], **extra}
    )
    with pytest.raises(BadRequest) as exc:
        check_params(body, {"openai", "gemini"})
    assert exc.value.field == param


def test_openai_only_parameters_pass_on_openai() -> None:
    body = CompletionRequest.model_validate(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "x"}],
            "user": "u",
            "n": 1,
            "logit_bias": None,
        }
    )
    check_params(body, {"openai"})
