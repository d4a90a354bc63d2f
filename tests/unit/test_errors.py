import json

from common.errors import DependencyUnavailable, RateLimited, ValidationFailed
from common.http.responses import error_response


def test_app_errors_become_the_spec_json_shape():
    resp = error_response(ValidationFailed("message: required", field="message"), "req-1")
    assert resp.status_code == 422
    assert json.loads(resp.body) == {
        "error": {
            "type": "validation_error",
            "message": "message: required",
            "request_id": "req-1",
            "field": "message",
        }
    }


def test_retry_after_errors_carry_the_header():
    assert error_response(RateLimited("slow", retry_after=2.4), "r").headers["Retry-After"] == "2"
    assert error_response(DependencyUnavailable("down", retry_after=0.1), "r").headers["Retry-After"] == "1"


def test_unexpected_exceptions_are_500_without_internals():
    resp = error_response(KeyError("secret internals"), "r")
    assert resp.status_code == 500
    assert "secret internals" not in resp.body.decode()
    assert json.loads(resp.body)["error"]["type"] == "internal_error"
