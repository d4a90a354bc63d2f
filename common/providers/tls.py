"""One TLS client context per trust source, built once per process and shared by every adapter.

Building an `ssl.SSLContext` loads a CA bundle: 30-80 ms of CPU on this 2-core
machine. The SDKs build one per client, so each new adapter (a tenant's new key
or base_url) cost 50 ms (openai, cohere) to 130 ms (gemini: three contexts) on
the event loop, stalling every other tenant's stream meanwhile. A context is
safe to share between clients, connections and threads, so each adapter passes
the shared one instead (`verify=`).

Each SDK keeps its own default trust source: `httpx_context` is what httpx (and
so cohere and google-genai) builds by default (certifi, or `SSL_CERT_FILE` /
`SSL_CERT_DIR`); `httpx2_context` is what the openai SDK's httpx2 builds (the
system store, or the same variables). Each adapter module builds its context
(and the HTTP library's lazy imports) at import, as a module constant:
`registry.preload` runs that import in a thread, off the event loop.
"""

from __future__ import annotations

import functools
import ssl


@functools.cache
def httpx_context() -> ssl.SSLContext:
    import httpcore  # noqa: F401 - httpx imports it at its first client: here, with the context
    import httpx

    return httpx.create_ssl_context()


@functools.cache
def httpx2_context() -> ssl.SSLContext:
    import httpx2

    return httpx2.create_ssl_context()


@functools.cache
def system_context() -> ssl.SSLContext:
    """The OS trust store (or `SSL_CERT_FILE` / `SSL_CERT_DIR`): the same source as httpx2's
    default on Linux, without importing it (`openai_wire` talks aiohttp)."""
    return ssl.create_default_context()
