"""Browser tests of the admin panel: Playwright drives Debian's chromium against the same
emulator + aimock stack as tests/e2e (Playwright's own browser download is unreachable).

Every page a test opens collects CSP violations and console errors; `Panel.check` runs
axe-core on the page (no serious or critical violation allowed) and, when asked, saves
a screenshot into docs/ui/.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.admin.helpers import Admin, login, new_password, platform_admin
from tests.e2e.conftest import Stack
from tests.support.browser import CHROMIUM, LAUNCH_ARGS

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "docs" / "ui"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 20_000


def _chromium_missing() -> str | None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"chromium is not installed at {CHROMIUM} (`make setup` installs it with apt-get)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    if not AXE.is_file():
        return f"axe-core is missing at {AXE} (run npm ci: package-lock.json pins it)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _chromium_missing()
    if reason:
        for item in items:
            if "tests/ui/" in str(item.fspath).replace(os.sep, "/") and "browser" in item.fixturenames:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield b
        await b.close()


@dataclass
class Panel:
    """One browser page on the panel, with what it saw go wrong."""

    page: Any
    base: str
    problems: list[str] = field(default_factory=list)

    async def open(self, route: str = "") -> None:
        await self.page.goto(f"{self.base}/admin/ui/#/{route}")

    async def login(self, username: str, password: str) -> None:
        await self.open()
        await self.page.get_by_label("Username").fill(username)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name="Log in").click()
        await self.page.get_by_role("button", name="Log out").wait_for()

    async def goto(self, section: str) -> None:
        """Navigate with the nav link (as a user would) and wait for the page's heading."""
        await self.page.get_by_role("navigation").get_by_role("link", name=section, exact=True).click()
        await self.page.locator("main h1").first.wait_for()
        await self.page.locator(".busy").first.wait_for(state="detached")

    async def check(self, shot: str | None = None, *, full_page: bool = False) -> None:
        """axe-core: no serious or critical violation; no CSP violation or console error so far."""
        if not await self.page.evaluate("typeof window.axe === 'object'"):
            await self.page.evaluate(AXE.read_text(encoding="utf-8"))  # CDP evaluation: not inline script
        result = await self.page.evaluate(
            "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations"
            ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})))"
        )
        assert result == [], json.dumps(result, indent=1)
        csp = await self.page.evaluate("window.__csp || []")
        assert csp == [] and self.problems == [], (csp, self.problems)
        if shot:
            SHOTS.mkdir(parents=True, exist_ok=True)
            if not full_page:
                await self.page.evaluate("window.scrollTo(0, 0)")
            await self.page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=full_page)


_RECORD_CSP = """
document.addEventListener('securitypolicyviolation', (e) => {
  (window.__csp = window.__csp || []).push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


async def new_panel(browser: Any, stack: Stack, viewport: dict[str, int] = DESKTOP) -> tuple[Any, Panel]:
    context = await browser.new_context(viewport=viewport)
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    await page.add_init_script(_RECORD_CSP)
    panel = Panel(page, stack.url)
    page.on("console", lambda m: m.type == "error" and _console_problem(panel, m.text))
    page.on("pageerror", lambda e: panel.problems.append(f"page error: {e}"))
    return context, panel


def _console_problem(panel: Panel, text: str) -> None:
    # A failed API call the page shows (4xx) is logged by the browser; it is not a defect.
    if text.startswith("Failed to load resource: the server responded with a status of 4"):
        return
    panel.problems.append(f"console: {text}")


@pytest.fixture()
async def panel(browser: Any, stack: Stack) -> AsyncIterator[Panel]:
    context, p = await new_panel(browser, stack)
    yield p
    await context.close()


@dataclass
class TenantUser:
    tenant: str
    username: str
    password: str
    admin: Admin


async def add_user(http: httpx.AsyncClient, platform: Admin, tenant: str, role: str) -> TenantUser:
    username, password = f"{role.replace('_', '-')}-{secrets.token_hex(4)}", new_password()
    body = {"username": username, "password": password, "role": role}
    resp = await platform.post("/users", body, tenant=tenant)
    assert resp.status_code == 201, resp.text
    return TenantUser(tenant, username, password, Admin(http, await login(http, username, password)))


@pytest.fixture()
async def platform(http: httpx.AsyncClient) -> Admin:
    return await platform_admin(http)
