"""`make dev`'s terminal output: one line per request, read from the functions' JSON log.

The functions process logs as deployed (JSON lines on stdout, to a file); this
follows that file and joins, by request id, the access line (method, path,
status, latency, tenant/app/assistant) with the chat turn line (tokens), which
may come just before or just after it. Warnings and errors are shown with their
request id. Readable columns on a terminal; one JSON object per line otherwise,
so scripts and tests can read them.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, TextIO

JOIN_WAIT_S = 1.0  # how long a chat request's line waits for its token counts
_KEEP_TURNS = 500
_COLOURS = {"2": "\x1b[32m", "3": "\x1b[36m", "4": "\x1b[33m", "5": "\x1b[31m"}


def request_line(access: dict[str, Any], turn: dict[str, Any] | None) -> dict[str, Any]:
    """The request's fields from its access line (message "METHOD PATH STATUS") and turn line."""
    method, _, rest = str(access.get("message", "")).partition(" ")
    path = rest.rsplit(" ", 1)[0]
    line: dict[str, Any] = {
        "method": method,
        "path": path,
        "status": access.get("status"),
        "ms": access.get("latency_ms"),
        "request_id": access.get("request_id"),
    }
    for key in ("tenant", "app", "assistant"):
        if access.get(key):
            line[key] = access[key]
    if turn is not None:
        line.update(
            input_tokens=turn.get("input_tokens"),
            output_tokens=turn.get("output_tokens"),
            model=turn.get("model"),
        )
    return line


def readable(line: dict[str, Any], colour: bool = False) -> str:
    """`12:00:01  POST /chat  200   412 ms  demo/shop/support  tokens 31+12` (+ request id on errors)."""
    status = str(line.get("status", "-"))
    shown = f"{_COLOURS.get(status[:1], '')}{status}\x1b[0m" if colour and status[:1] in _COLOURS else status
    ms = line.get("ms")
    parts = [
        time.strftime("%H:%M:%S"),
        f"{line.get('method', '-')} {line.get('path', '-')}".ljust(24),
        shown,
        f"{ms:>6.0f} ms" if isinstance(ms, int | float) else "     - ms",
    ]
    who = "/".join(str(line[k]) for k in ("tenant", "app", "assistant") if line.get(k))
    if who:
        parts.append(who)
    if line.get("input_tokens") is not None:
        parts.append(f"tokens {line['input_tokens']}+{line.get('output_tokens', 0)}")
    if not status.isdigit() or int(status) >= 400:
        parts.append(f"request {line.get('request_id', '-')}")
    return "  ".join(parts)


def readable_log(entry: dict[str, Any]) -> str:
    """A warning or error: severity, message, request id, and the exception's last line."""
    text = f"{time.strftime('%H:%M:%S')}  {entry.get('severity', 'ERROR')} {entry.get('message', '')}"
    if entry.get("request_id"):
        text += f"  request {entry['request_id']}"
    trace = str(entry.get("stack_trace") or "").strip().splitlines()
    if trace:
        text += f": {trace[-1]}"
    return text


class RequestLog:
    """Follows the functions' log file; `poll()` prints what arrived since the last call."""

    def __init__(self, path: Path, out: TextIO, terminal: bool) -> None:
        self.path, self.out, self.terminal = path, out, terminal
        self._offset = 0
        self._partial = b""
        self._turns: dict[str, dict[str, Any]] = {}
        self._waiting: list[tuple[float, dict[str, Any]]] = []

    def poll(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for raw in self._new_lines():
            self._take(raw, now)
        while self._waiting and self._waiting[0][0] <= now:
            self._emit(self._waiting.pop(0)[1])

    def flush(self) -> None:
        self.poll(now=float("inf"))

    def _new_lines(self) -> list[bytes]:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except OSError:
            return []
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        return lines

    def _take(self, raw: bytes, now: float) -> None:
        try:
            entry = json.loads(raw)
        except ValueError:
            text = raw.decode(errors="replace").strip()
            if text.startswith(("ERROR", "Traceback")):  # the server's own (non-JSON) errors
                self._write(text if self.terminal else json.dumps({"severity": "ERROR", "message": text}))
            return
        if not isinstance(entry, dict):
            return
        logger = entry.get("logger")
        if logger == "assistants.access":
            rid = entry.get("request_id")
            if entry.get("assistant") and rid not in self._turns:
                self._waiting.append((now + JOIN_WAIT_S, entry))
            else:
                self._emit(entry)
        elif logger == "assistants.chat" and entry.get("message") == "chat turn":
            self._turn(entry)
        elif entry.get("severity") in ("WARNING", "ERROR", "CRITICAL"):
            self._write(readable_log(entry) if self.terminal else json.dumps(entry))

    def _turn(self, entry: dict[str, Any]) -> None:
        rid = str(entry.get("request_id"))
        self._turns[rid] = entry
        if len(self._turns) > _KEEP_TURNS:
            self._turns.pop(next(iter(self._turns)))
        for i, (_, access) in enumerate(self._waiting):
            if access.get("request_id") == rid:
                self._emit(self._waiting.pop(i)[1])
                break

    def _emit(self, access: dict[str, Any]) -> None:
        line = request_line(access, self._turns.pop(str(access.get("request_id")), None))
        colour = self.terminal and "NO_COLOR" not in os.environ
        self._write(readable(line, colour) if self.terminal else json.dumps(line))

    def _write(self, text: str) -> None:
        try:
            self.out.write(text + "\n")
            self.out.flush()
        except (OSError, ValueError):  # the terminal went away: the log file still has it
            pass
