"""The OpenAI JS SDK (the npm package, served as ES modules) in headless Chromium, from
another origin: the CORS preflight must allow every header the SDK sends
(`x-stainless-*` and more) and expose `x-request-id`.

Needs Debian's `chromium` (/usr/bin/chromium) and pip `playwright` (only its driver:
the browser is the system one, no download).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.compat.conftest import Compat, marker, text_reply
from tests.support.browser import CHROMIUM, LAUNCH_ARGS
from tests.support.services import free_port

OPENAI_JS = Path(__file__).resolve().parents[2] / "node_modules" / "openai"

pytestmark = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and OPENAI_JS.is_dir()) and not os.environ.get("CI"),
    reason="needs /usr/bin/chromium and node_modules/openai",
)

PAGE = """<!doctype html><meta charset="utf-8"><title>compat</title>
<script type="importmap">{"imports": {"ws": "/empty.mjs", "undici": "/empty.mjs"}}</script>
"""


class _Static(http.server.SimpleHTTPRequestHandler):
    """The page at `/`, and the npm package's files at `/openai/...`."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript"}

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0]
        if path.startswith("/openai/"):
            target = (OPENAI_JS / path[len("/openai/") :]).resolve()
            if OPENAI_JS in target.parents:
                return str(target)
            return "/nonexistent"
        return super().translate_path(path)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def page_origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("page")
    (root / "index.html").write_text(PAGE)
    (root / "empty.mjs").write_text("export default {};\n")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", free_port()), functools.partial(_Static, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(10)


SCRIPT = """async ([baseURL, apiKey, text]) => {
  const { default: OpenAI } = await import('/openai/index.mjs');
  const client = new OpenAI({ baseURL, apiKey, dangerouslyAllowBrowser: true, maxRetries: 0 });
  const { data, request_id } = await client.chat.completions
    .create({ model: 'support-gemini', messages: [{ role: 'user', content: text }] })
    .withResponse();
  const stream = await client.chat.completions.create({
    model: 'support-cohere', messages: [{ role: 'user', content: text }], stream: true,
  });
  let streamed = '';
  for await (const chunk of stream) streamed += chunk.choices[0]?.delta?.content ?? '';
  let error = null;
  try {
    await client.models.retrieve('nope');
  } catch (e) {
    error = { status: e.status, code: e.code, name: e.constructor.name };
  }
  return { content: data.choices[0].message.content, request_id, streamed, error };
}"""


async def test_openai_js_sdk_in_chromium(compat: Compat, page_origin: str) -> None:
    from playwright.async_api import async_playwright

    m = marker("browser")
    compat.add(text_reply(m, "hello from the browser"))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(page_origin + "/index.html")
            result = await page.evaluate(SCRIPT, [compat.base_url, compat.key, m])
        finally:
            await browser.close()
    assert result["content"] == "hello from the browser"
    assert result["streamed"] == "hello from the browser"
    assert result["request_id"]  # x-request-id is exposed to the page
    assert result["error"] == {"status": 404, "code": "model_not_found", "name": "NotFoundError"}


async def test_preflight_echoes_requested_headers_and_exposes_ours(compat: Compat) -> None:
    async with httpx.AsyncClient(base_url=compat.stack.url) as http:
        resp = await http.options(
            "/chat/v1/chat/completions",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-stainless-os, x-stainless-retry-count, bad header",
            },
        )
        assert resp.status_code == 204
        allowed = {h.strip().lower() for h in resp.headers["access-control-allow-headers"].split(",")}
        assert {"x-stainless-os", "x-stainless-retry-count", "authorization"} <= allowed
        assert "bad header" not in allowed
        plain = await http.get("/chat/v1/models", headers={"Origin": "https://app.example"})
    exposed = plain.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed and "retry-after" in exposed


def test_chromium_is_the_system_one() -> None:
    assert shutil.which("chromium") == CHROMIUM
