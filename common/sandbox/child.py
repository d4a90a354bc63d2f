"""The process that runs an operator's provider code: one call, then it exits.

Started by `common.sandbox.runner` as `python -I child.py <limits-json>`, with an
empty environment, in its own session, as an unprivileged uid when the sandbox
runs as root. It may start before it has work (a warm child): it imports the
HTTP clients and makes one HTTP round trip to itself first, then blocks on
stdin for exactly one call (`common.sandbox.protocol`), so a call never meets
state from another call. A warm child may first get `{"prime": code}`: it
compiles that code (runs none of it) and uses the result only for a call of
that same code.

Before the operator's code runs it makes itself non-dumpable (another process of
the same uid cannot read its memory or stdin through /proc), lowers its own
rlimits (CPU seconds, address space, open files, processes, file size; the hard
limits too, so the code cannot raise them), and moves fd 1 to stderr: whatever
the code prints goes to stderr, and events go on a private duplicate of the
original stdout. Stdlib only (plus the HTTP clients the templates use), so it
imports nothing from this repository.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import inspect
import json
import os
import resource
import sys
import traceback
from typing import Any

FILENAME = "<provider>"
_PR_SET_DUMPABLE = 4


class ProviderError(Exception):
    """Raised by provider code for an upstream failure; `status` is the upstream HTTP status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Request:
    """What `stream(request)` receives: every field of the call's ProviderRequest as an
    attribute (model, messages, system, tools, temperature, max_output_tokens, ...),
    plus `config` (dict), `base_url` and `api_key`."""

    def __init__(self, fields: dict[str, Any], config: dict[str, Any], key: str) -> None:
        self.__dict__.update(fields)
        self.config = config
        self.base_url = config.get("base_url")
        self.api_key = key

    def __repr__(self) -> str:  # never print the key
        return f"Request(model={self.__dict__.get('model')!r})"


def _no_dump() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def _limit(name: str, value: int) -> None:
    what = getattr(resource, name)
    _, hard = resource.getrlimit(what)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(what, (value, value))


def _apply_limits(limits: dict[str, int]) -> None:
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu_used = int(used.ru_utime + used.ru_stime) + 1
    soft_cpu = cpu_used + int(limits["cpu_s"])
    # Soft limit: SIGXCPU; the hard limit one second later: SIGKILL.
    resource.setrlimit(resource.RLIMIT_CPU, (soft_cpu, soft_cpu + 1))
    _limit("RLIMIT_AS", int(limits["memory_mb"]) * 1024 * 1024)
    _limit("RLIMIT_NOFILE", int(limits["max_files"]))
    _limit("RLIMIT_NPROC", int(limits["max_procs"]))
    _limit("RLIMIT_FSIZE", int(limits["max_file_bytes"]))
    _limit("RLIMIT_CORE", 0)


def _line(exc: BaseException) -> int | None:
    if isinstance(exc, SyntaxError) and exc.filename == FILENAME:
        return exc.lineno
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == FILENAME:
            found = frame.lineno
    return found


def _status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None) or getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def _error(exc: BaseException) -> dict[str, Any]:
    line = _line(exc)
    name = type(exc).__name__
    if isinstance(exc, MemoryError):
        return {"error_type": "memory_limit", "message": "the code exceeded the memory limit", "line": line}
    if isinstance(exc, OSError) and exc.errno == errno.EAGAIN:  # fork/thread refused: RLIMIT_NPROC
        return {"error_type": "process_limit", "message": "the code hit the process limit", "line": line}
    if isinstance(exc, ProviderError) or name in ("HTTPStatusError", "ClientResponseError"):
        status = _status_of(exc)
        where = f" (HTTP {status})" if status else ""
        return {
            "error_type": "upstream",
            "message": f"upstream failed{where}: {exc}",
            "line": line,
            "status": status,
        }
    if "Timeout" in name:
        return {"error_type": "upstream_timeout", "message": f"{name}: {exc}", "line": line}
    message = f"{name}: {exc}" if str(exc) else name
    if isinstance(exc, SyntaxError):
        message = f"SyntaxError: {exc.msg}"
    return {"error_type": "code_error", "message": message, "line": line}


def _event(item: Any) -> dict[str, Any]:
    """What the code yielded, as a protocol event: a str is text; dicts name their `type`."""
    if isinstance(item, str):
        return {"type": "text_delta", "text": item}
    if isinstance(item, dict):
        kind = item.get("type")
        if kind in ("text", "text_delta"):
            return {"type": "text_delta", "text": str(item.get("text", ""))}
        if kind == "tool_call":
            args = item.get("arguments", {})
            return {
                "type": "tool_call",
                "id": str(item.get("id") or ""),
                "name": str(item["name"]),
                "arguments": args if isinstance(args, str) else json.dumps(args),
            }
        if kind == "usage":
            return {
                "type": "usage",
                "input_tokens": int(item.get("input_tokens") or 0),
                "output_tokens": int(item.get("output_tokens") or 0),
            }
        if kind == "finish":
            return {"type": "finish", "reason": str(item.get("reason") or "stop")}
    raise TypeError(f"stream() yielded {type(item).__name__}; yield str or a dict with a 'type'")


def _load(code: str, primed: tuple[str, Any] | None = None) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "provider", "ProviderError": ProviderError}
    compiled = primed[1] if primed is not None and primed[0] == code else compile(code, FILENAME, "exec")
    exec(compiled, namespace)  # noqa: S102 - this process is the sandbox
    return namespace


def _prime(code: str) -> tuple[str, Any] | None:
    """Compile without running; a failure is reported when the call compiles it again."""
    try:
        return code, compile(code, FILENAME, "exec")
    except Exception:
        return None


async def _run(call: dict[str, Any], emit: Any, primed: tuple[str, Any] | None = None) -> None:
    namespace = _load(call["code"], primed)
    config = dict(call.get("config") or {})
    if call["action"] == "validate":
        check = namespace.get("validate")
        if not callable(check):
            raise TypeError("validation_code must define validate(config)")
        result = check(config)
        if inspect.isawaitable(result):
            await result
        emit({"type": "ok"})
        return
    stream = namespace.get("stream")
    if not callable(stream):
        raise TypeError("the code must define async def stream(request)")
    request = Request(call.get("request") or {}, config, call.get("key") or "")
    call["key"] = None
    finished = False
    calls = 0
    async for item in stream(request):
        event = _event(item)
        if event["type"] == "finish":
            finished = True
        calls += event["type"] == "tool_call"
        emit(event)
    if not finished:
        emit({"type": "finish", "reason": "tool_calls" if calls else "stop"})


def _warm_up() -> None:
    """Before any call: import the templates' HTTP clients and build httpx's default TLS
    context once (loading the CA bundle costs more than the rest of a call's overhead).

    httpx builds a context per client; here every client with default TLS settings gets
    the one built now. The process serves one call, so nothing is shared between calls.
    """
    with contextlib.suppress(ImportError):
        __import__("aiohttp")
    try:
        import httpx._transports.default as transport
    except ImportError:
        return
    build = transport.create_ssl_context
    default = build()

    def cached(verify: Any = True, cert: Any = None, trust_env: bool = True) -> Any:
        if verify is True and cert is None:
            return default
        return build(verify=verify, cert=cert, trust_env=trust_env)

    transport.create_ssl_context = cached
    import httpx

    httpx.AsyncClient()  # the first client pays httpx's lazy imports and proxy lookup
    for name in ("anyio", "h11", "httpcore._backends.anyio", "anyio._backends._asyncio"):
        with contextlib.suppress(ImportError):
            __import__(name)


async def _round_trip() -> None:
    """One streamed httpx POST to a server of this process on loopback: the first request
    of a process pays ~2 ms of lazy set-up (anyio's backend, httpcore's connection and
    stream machinery) that would otherwise land on the call's first token."""
    import httpx

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for header in head.split(b"\r\n"):
            name, _, value = header.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            b"a\r\ndata: {}\n\n\r\n0\r\n\r\n"
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        url = f"http://127.0.0.1:{port}/"
        async with httpx.AsyncClient(timeout=5) as client, client.stream("POST", url, json={}) as resp:
            async for _ in resp.aiter_lines():
                pass
    finally:
        server.close()
        await server.wait_closed()


def _warm_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    with contextlib.suppress(Exception):  # a warm-up that fails only costs speed
        loop.run_until_complete(asyncio.wait_for(_round_trip(), 5))
    return loop


def main() -> int:
    limits = json.loads(sys.argv[1])
    _no_dump()
    proto = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # the code's print() lands on stderr, never in the event stream
    sys.stdout = sys.stderr
    _warm_up()
    loop = _warm_loop()
    line = sys.stdin.buffer.readline()
    if not line:
        return 0  # the runner retired this warm child unused
    call = json.loads(line)
    os.environ.clear()
    _apply_limits(limits)
    primed = None
    if "prime" in call:
        primed = _prime(str(call["prime"]))
        line = sys.stdin.buffer.readline()
        if not line:
            return 0
        call = json.loads(line)

    def emit(event: dict[str, Any]) -> None:
        proto.write(json.dumps(event, separators=(",", ":")).encode() + b"\n")

    try:
        loop.run_until_complete(_run(call, emit, primed))
    except BaseException as exc:
        if isinstance(exc, SystemExit | KeyboardInterrupt) and not isinstance(exc, KeyboardInterrupt):
            exc = RuntimeError(f"the code called exit({exc.code!r})")
        try:
            emit({"type": "error", **_error(exc)})
        except BaseException:
            return 3
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
