"""Operator task 11 in the browser: a platform admin builds a code provider from the
Anthropic template, validates it (a broken line is shown at its line, and the problem
moves the caret there from the keyboard), saves it (the API's 422 next to its field),
tests it through the sandbox against aimock (steps and latencies, with progress) and
sees it listed. Runs on `code_stack` (sandbox + ALLOW_CODE_PROVIDERS=1); axe-checked at
1280 px and 390 px; tenant roles do not see the page."""

from __future__ import annotations

import re
import secrets

import httpx
from playwright.async_api import expect

from tests.admin.helpers import Admin, login, marker, new_password, seed_user
from tests.ui.conftest import PHONE, Panel, add_user, new_panel

BROKEN = "retry = = 3"
CARET_LINE = "el => el.value.slice(0, el.selectionStart).split('\\n').length"


async def pick_tenant(panel: Panel, username: str, password: str, tenant: str) -> None:
    await panel.login(username, password)
    await panel.page.get_by_label("Tenant", exact=True).select_option(tenant)
    await panel.goto("Code providers")


async def test_code_provider_from_template_validate_save_test_and_list(code_stack, browser):
    aimock = code_stack.aimock
    async with httpx.AsyncClient(base_url=code_stack.url, timeout=60) as http:
        username, password, _ = await seed_user("platform_admin", password=new_password())
        platform = Admin(http, await login(http, username, password))
        created = await platform.post("/tenants", {"name": "Code UI " + secrets.token_hex(2)})
        assert created.status_code == 201, created.text
        tenant = created.json()["id"]

        context, panel = await new_panel(browser, code_stack)
        try:
            page = panel.page
            await pick_tenant(panel, username, password, tenant)
            await page.get_by_text("No code providers in this tenant yet.").wait_for()
            form = page.get_by_role("form", name="New code provider")
            await form.get_by_label("Template").select_option("anthropic")
            await form.get_by_role("button", name="Use template").click()
            code = form.get_by_label("Python code")
            await expect(code).to_have_value(re.compile(r"async def stream\(request"))
            template = await code.input_value()
            lines = template.split("\n")
            gutter = form.locator('.gutter[data-for="code-f-python_code"] .ln')
            assert await gutter.count() == len(lines)  # one number per line

            # A deliberately broken line: the problem is listed at its line, the gutter marks it.
            bad = lines.index("import httpx") + 2
            await code.fill("\n".join([*lines[: bad - 1], BROKEN, *lines[bad - 1 :]]))
            await form.get_by_role("button", name="Validate").click()
            problem = form.get_by_role("list", name="Problems").get_by_role("button")
            await expect(problem).to_have_text(f"line {bad}: syntax error: invalid syntax")
            await expect(form.locator(".gutter .ln.bad")).to_have_text(f"● {bad}")
            assert await code.get_attribute("aria-invalid") == "true"
            await panel.check(shot="code-provider-problem")
            # Activated with the keyboard, the problem moves the caret to its line.
            await problem.focus()
            await page.keyboard.press("Enter")
            await expect(code).to_be_focused()
            assert await code.evaluate(CARET_LINE) == bad
            selected = await code.evaluate("el => el.value.slice(el.selectionStart, el.selectionEnd)")
            assert selected == BROKEN

            await code.fill(template)
            await form.get_by_role("button", name="Validate").click()
            await form.get_by_role("status").filter(has_text="Validated: no problems found.").wait_for()
            assert await form.locator(".gutter .ln.bad").count() == 0

            # Save: the API's 422 lands next to the field it names, and nothing is created.
            await form.get_by_label("Name", exact=True).fill("Claude (code)")
            await form.get_by_label("Base URL").fill("ftp://models.example")
            await form.get_by_label("Model").fill("claude-sonnet-4-5")
            await form.get_by_label("API key").fill("sk-ant-ui-secretvalue-1234")
            await form.get_by_role("button", name="Create code provider").click()
            url_error = form.locator("#code-f-base_url-err")
            await url_error.wait_for()
            assert "base_url" in await url_error.inner_text()
            assert (await platform.get("/providers", tenant=tenant)).json()["items"] == []
            await form.get_by_label("Base URL").fill(aimock.url)
            await form.get_by_role("button", name="Create code provider").click()
            await page.get_by_role("status").filter(has_text="Code provider Claude (code) saved.").wait_for()

            # Test through the sandbox: progress while it runs, then each step with its latency.
            text = marker("ui-code")
            aimock.add(
                {"match": {"userMessage": text}, "response": {"content": "Hello from code."}, "latency": 500}
            )
            test = page.get_by_role("form", name="Test Claude (code)")
            await expect(test.get_by_label("Key to test with")).to_have_value(re.compile(".+"))
            await test.get_by_label("Test message").fill(text)
            await test.get_by_role("button", name="Test Claude (code)").click()
            await test.get_by_role("status").filter(has_text="Running the test in the sandbox…").wait_for()
            await test.get_by_role("status").filter(has_text=re.compile(r"^OK in \d+ ms$")).wait_for()
            steps = test.get_by_role("list", name="Test steps of Claude (code)").get_by_role("listitem")
            texts = await steps.all_inner_texts()
            assert [t.split()[0] for t in texts] == ["validate", "validation_code", "call"], texts
            assert all(re.fullmatch(r"\S+ ok in \d+ ms", t.strip()) for t in texts), texts
            await test.get_by_text("Hello from code.").wait_for()

            # Listed on the page and in the API, as a code provider with its model and key.
            await page.get_by_role("heading", name="Claude (code) code").wait_for()
            assert await page.get_by_text("No code providers in this tenant yet.").count() == 0
            listed = (await platform.get("/providers", tenant=tenant)).json()["items"]
            assert [(p["name"], p["kind"]) for p in listed] == [("Claude (code)", "code")]
            assert "sk-ant-ui-secretvalue-1234" not in await page.content()
            await panel.check(shot="code-providers")

            # Edit (PATCH): the stored code is loaded; a broken save is refused next to the code.
            await page.get_by_role("button", name="Edit code of Claude (code)").click()
            edit = page.get_by_role("form", name="Edit code provider Claude (code)")
            edited = edit.get_by_label("Python code")
            await expect(edited).to_have_value(template)
            await edit.get_by_label("Display name").fill("Claude via code")
            await edited.fill(template.replace("import httpx", "import httpx\n" + BROKEN, 1))
            await edit.get_by_role("button", name="Save code provider").click()
            code_error = edit.locator("#code-f-python_code-err")
            await code_error.filter(has_text=f"line {bad}").wait_for()
            await edited.fill(template)
            await edit.get_by_role("button", name="Save code provider").click()
            await page.get_by_role("heading", name="Claude via code code").wait_for()
            stored = (await platform.get("/providers", tenant=tenant)).json()["items"]
            assert [p["display_name"] for p in stored] == ["Claude via code"]
        finally:
            await context.close()

        # 390 px: the editor and the listed provider fit without scrolling sideways.
        context, panel = await new_panel(browser, code_stack, PHONE)
        try:
            await pick_tenant(panel, username, password, tenant)
            await panel.page.get_by_role("heading", name="Claude via code code").wait_for()
            await panel.page.get_by_role("button", name="Use template").click()
            await expect(panel.page.get_by_label("Python code")).to_have_value(re.compile("async def stream"))
            assert await panel.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            await panel.check(shot="code-providers-phone")
        finally:
            await context.close()

        # Tenant roles (the API gives them 403) do not see the page.
        for role in ("tenant_admin", "tenant_viewer"):
            user = await add_user(http, platform, tenant, role)
            context, panel = await new_panel(browser, code_stack)
            try:
                await panel.login(user.username, user.password)
                nav = panel.page.get_by_role("navigation")
                await nav.get_by_role("link", name="Providers", exact=True).wait_for()
                assert await nav.get_by_role("link", name="Code providers").count() == 0, role
                await panel.open("code")
                await panel.page.locator("main h1").first.wait_for()
                assert await panel.page.locator("main h1").first.inner_text() != "Code providers"
            finally:
                await context.close()
