"""`make dev`'s request lines: joined by request id, readable on a terminal, JSON otherwise."""

from __future__ import annotations

import io
import json
from pathlib import Path

from devlog import RequestLog


def _access(rid: str, message: str, status: int, **fields: object) -> dict[str, object]:
    return {
        "logger": "assistants.access",
        "severity": "INFO",
        "message": message,
        "status": status,
        "latency_ms": 41.7,
        "request_id": rid,
        **fields,
    }


def _turn(rid: str, input_tokens: int, output_tokens: int) -> dict[str, object]:
    return {
        "logger": "assistants.chat",
        "message": "chat turn",
        "request_id": rid,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
    }


def _append(path: Path, *entries: object, raw: str = "") -> None:
    with path.open("a") as f:
        f.writelines(json.dumps(e) + "\n" for e in entries)
        f.write(raw)


CHAT = {"tenant": "demo", "app": "shop", "assistant": "support"}


def test_json_lines_join_tokens_whichever_line_comes_first(tmp_path: Path) -> None:
    log, out = tmp_path / "functions.log", io.StringIO()
    follower = RequestLog(log, out, terminal=False)
    _append(log, _turn("a", 31, 12), _access("a", "POST /chat 200", 200, **CHAT))
    _append(log, _access("b", "POST /chat/app/shop/sales 200", 200, **CHAT))
    follower.poll(now=0.0)
    _append(log, _turn("b", 5, 7), raw='{"logger": "assistants.access", "message": "GET /hea')  # half a line
    follower.poll(now=0.1)
    _append(log, raw='lth 200", "status": 200, "latency_ms": 1, "request_id": "c"}\n')
    follower.poll(now=0.2)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(x["method"], x["path"], x["status"]) for x in lines] == [
        ("POST", "/chat", 200),
        ("POST", "/chat/app/shop/sales", 200),
        ("GET", "/health", 200),
    ]
    assert (lines[0]["input_tokens"], lines[0]["output_tokens"]) == (31, 12)
    assert (lines[1]["input_tokens"], lines[1]["output_tokens"]) == (5, 7)
    assert lines[0]["tenant"] == "demo" and lines[0]["assistant"] == "support" and lines[0]["ms"] == 41.7
    assert "input_tokens" not in lines[2]


def test_a_chat_line_without_its_turn_is_printed_after_a_short_wait(tmp_path: Path) -> None:
    log, out = tmp_path / "functions.log", io.StringIO()
    follower = RequestLog(log, out, terminal=False)
    _append(log, _access("x", "POST /chat 429", 429, **CHAT))
    follower.poll(now=0.0)
    assert out.getvalue() == ""
    follower.poll(now=5.0)
    assert json.loads(out.getvalue())["status"] == 429


def test_terminal_lines_are_readable_and_errors_carry_their_request_id(tmp_path: Path) -> None:
    log, out = tmp_path / "functions.log", io.StringIO()
    follower = RequestLog(log, out, terminal=True)
    error = {
        "logger": "assistants.http",
        "severity": "ERROR",
        "message": "unhandled error",
        "request_id": "r2",
        "stack_trace": "Traceback (most recent call last):\n  ...\nValueError: boom",
    }
    _append(
        log,
        _turn("r1", 31, 12),
        _access("r1", "POST /chat 200", 200, **CHAT),
        error,
        _access("r2", "POST /chat 500", 500),
        {"logger": "assistants.auth", "severity": "INFO", "message": "admin login"},
        raw="INFO:     Started server process [1]\n",
    )
    follower.flush()
    ok, err, failed = out.getvalue().splitlines()
    assert "POST /chat" in ok and "200" in ok and "42 ms" in ok
    assert "demo/shop/support" in ok and "tokens 31+12" in ok and "request" not in ok
    assert "ERROR unhandled error" in err and "request r2" in err and "ValueError: boom" in err
    assert "500" in failed and "request r2" in failed
