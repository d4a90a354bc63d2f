"""Who sees what, and how: a viewer gets no write controls, a platform admin picks the
tenant from a list, the token lives in sessionStorage only and a 401 or logging out
returns to the login page; the main flows work with the keyboard alone; every section
passes axe-core at a 390-px phone width without the page scrolling sideways."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import make_tenant
from tests.ui.conftest import PHONE, add_user, new_panel

SECTIONS = (
    "Apps",
    "Providers",
    "Credentials",
    "Client keys",
    "Tools",
    "Playground",
    "Usage & audit",
    "Config",
)


@pytest.fixture()
async def tenant(stack):
    return await make_tenant(stack)


async def test_a_viewer_sees_no_write_controls(tenant, http, platform, panel):
    viewer = await add_user(http, platform, tenant.id, "tenant_viewer")
    await panel.login(viewer.username, viewer.password)
    page = panel.page
    table = page.get_by_role("table", name="Assistants of E-Commerce")
    await table.get_by_text("openai · gpt-4o").wait_for()
    assert await page.get_by_role("combobox").count() == 0
    assert await page.get_by_role("form").count() == 0
    assert await page.get_by_role("link", name="New assistant in E-Commerce").count() == 0
    await page.get_by_role("link", name="Support openai").click()
    await page.get_by_label("System prompt").wait_for()
    assert await page.get_by_label("System prompt").is_disabled()
    assert await page.get_by_role("button", name="Save").count() == 0
    assert await page.get_by_role("button", name="Roll back", exact=False).count() == 0
    for section, write in (
        ("Providers", "Add provider"),
        ("Credentials", "Add key"),
        ("Client keys", "Create key"),
    ):
        await panel.goto(section)
        await page.locator("main table, main .card").first.wait_for()
        assert await page.get_by_role("button", name=write).count() == 0, section
        assert await page.get_by_role("button", name="Deactivate", exact=False).count() == 0, section
    await panel.check(shot="viewer")


async def test_a_platform_admin_picks_the_tenant_from_a_list(tenant, http, platform, stack, browser):
    from tests.admin.helpers import new_password, seed_user

    username, password, _ = await seed_user("platform_admin", password=new_password())
    context, panel = await new_panel(browser, stack)
    try:
        await panel.login(username, password)
        page = panel.page
        await page.get_by_role("heading", name="Choose a tenant").wait_for()
        await page.get_by_label("Tenant", exact=True).select_option(tenant.id)
        await page.get_by_role("heading", name="E-Commerce").wait_for()
        assert await page.evaluate("sessionStorage.getItem('admin.tenant')") == tenant.id
        await panel.check(shot="platform-tenant-picker")
    finally:
        await context.close()


async def test_token_in_session_storage_only_and_401_or_logout_return_to_login(tenant, http, platform, panel):
    user = await add_user(http, platform, tenant.id, "tenant_admin")
    await panel.login(user.username, user.password)
    page = panel.page
    assert await page.evaluate("localStorage.length") == 0
    assert await page.evaluate("document.cookie") == ""
    assert (await page.evaluate("sessionStorage.getItem('admin.token')")).count(".") == 2  # a JWT
    # A token the API no longer accepts: the next call's 401 ends the session.
    await page.evaluate("sessionStorage.setItem('admin.token', 'expired.token.value')")
    await page.get_by_role("navigation").get_by_role("link", name="Providers").click()
    await page.get_by_role("button", name="Log in").wait_for()
    await page.get_by_text("Your session ended; please log in again.").wait_for()
    assert await page.evaluate("sessionStorage.getItem('admin.token')") is None
    await panel.check(shot="login")

    await panel.login(user.username, user.password)
    await page.get_by_role("button", name="Log out").click()
    await page.get_by_text("You are logged out.").wait_for()
    assert await page.evaluate("sessionStorage.length") == 0
    await page.reload()
    await page.get_by_role("button", name="Log in").wait_for()

    await page.get_by_label("Username").fill(user.username)
    await page.get_by_label("Password").fill("wrong-password-123")
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("alert").wait_for()


async def _tab_to(page, selector: str, limit: int = 80, key: str = "Tab") -> None:
    """Press Tab (or `key`) until the element matching `selector` has focus (keyboard only)."""
    for _ in range(limit):
        await page.keyboard.press(key)
        if await page.evaluate(
            "(s) => document.activeElement && document.activeElement.matches(s)", selector
        ):
            return
    raise AssertionError(f"{selector} is not reachable with Tab")


async def test_main_flows_with_the_keyboard_alone(tenant, http, platform, panel):
    user = await add_user(http, platform, tenant.id, "tenant_admin")
    page = panel.page
    await panel.open()
    await _tab_to(page, "#f-username")
    await page.keyboard.type(user.username)
    await page.keyboard.press("Tab")
    await page.keyboard.type(user.password)
    await page.keyboard.press("Enter")
    await page.get_by_role("button", name="Log out").wait_for()
    await page.get_by_role("heading", name="E-Commerce").wait_for()

    # Logging in (like every page change) puts focus on the content; the skip link, the
    # first stop of the page, takes it back there.
    assert await page.evaluate("document.activeElement.id") == "main"
    await _tab_to(page, ".skip", key="Shift+Tab")
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"

    # Create an app.
    await _tab_to(page, "#app-f-name")
    await page.keyboard.type("Keyboard App")
    await page.keyboard.press("Tab")
    await page.keyboard.type("kbd")
    await page.keyboard.press("Enter")
    await page.get_by_role("heading", name="Keyboard App (kbd)").wait_for()

    # Switch an assistant's model with the arrow keys: it saves at once.
    await _tab_to(page, "#switch-support-cohere", key="Shift+Tab")
    before = await page.evaluate("document.activeElement.value")
    await page.keyboard.press("ArrowDown" if before != "m-openai" else "ArrowUp")
    await page.get_by_role("status").filter(has_text="Support cohere now uses").wait_for()
    after = (await tenant_admin_get(user, "/assistants/support-cohere"))["model_id"]
    assert after != before

    # Go to Client keys through the navigation and mint a key.
    await _tab_to(page, "nav a[href='#/keys']", key="Shift+Tab")
    await page.keyboard.press("Enter")
    await page.get_by_role("heading", name="Client keys").wait_for()
    await page.get_by_label("App").wait_for()
    await _tab_to(page, "#ck-f-app_id")
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("Tab")
    await page.keyboard.type("keyboard key")
    await page.keyboard.press("Enter")
    await page.get_by_label("The new client key").wait_for()
    await _tab_to(page, "button:is(.copy-row button)")
    assert await page.evaluate("document.activeElement.textContent") == "Copy key"

    # Edit a prompt and save with the keyboard.
    await _tab_to(page, "nav a[href='#/apps']", key="Shift+Tab")
    await page.keyboard.press("Enter")
    await page.get_by_role("link", name="Support gemini").wait_for()
    await _tab_to(page, "a[href='#/assistants/support-gemini']")
    await page.keyboard.press("Enter")
    await page.get_by_label("System prompt").wait_for()  # loaded (on a busy machine this takes a moment)
    await _tab_to(page, "#f-system_prompt")
    await page.keyboard.press("End")
    await page.keyboard.type(" Be brief.")
    await _tab_to(page, "button[type=submit]")
    await page.keyboard.press("Enter")
    await page.get_by_role("status").filter(has_text="Saved.").wait_for()
    await expect(page.get_by_label("System prompt")).to_have_value(
        "You are a helpful support agent (gemini). Be brief."
    )


async def tenant_admin_get(user, path: str) -> dict:
    resp = await user.admin.get(path)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def test_every_section_at_phone_width(tenant, http, platform, stack, browser):
    user = await add_user(http, platform, tenant.id, "tenant_admin")
    context, panel = await new_panel(browser, stack, PHONE)
    try:
        await panel.login(user.username, user.password)
        page = panel.page
        for section in SECTIONS:
            await panel.goto(section)
            overflow = await page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= PHONE["width"], (section, overflow)
            await panel.check()
        await page.get_by_role("link", name="Apps").click()
        await page.get_by_role("link", name="Support openai").click()
        await page.get_by_label("System prompt").wait_for()
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await panel.check()
    finally:
        await context.close()
