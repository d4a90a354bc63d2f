"""Operator task 1: log in and see the tenant's apps, their assistants, each one's
provider, model and last change; a viewer sees no write controls; logging out (or a
401) returns to the login page."""

from __future__ import annotations

from tests.e2e.conftest import make_tenant
from tests.ui.conftest import add_user


async def test_login_shows_apps_with_assistants_provider_model_and_last_change(stack, http, platform, panel):
    tenant = await make_tenant(stack)
    user = await add_user(http, platform, tenant.id, "tenant_admin")
    await panel.login(user.username, user.password)
    page = panel.page
    await page.get_by_role("heading", name="E-Commerce").wait_for()
    table = page.get_by_role("table", name="Assistants of E-Commerce")
    for p, model in (("openai", "gpt-4o"), ("cohere", "command-r-plus"), ("gemini", "gemini-2.0-flash")):
        row = table.get_by_role("row").filter(has_text=f"Support {p}")
        await row.get_by_text(f"{p} ({p})").wait_for()
        assert await row.get_by_role("combobox").input_value() == f"m-{p}"
        assert model in await row.get_by_role("combobox").locator("option:checked").inner_text()
    await panel.check(shot="apps")


async def test_switching_to_a_provider_without_a_key_is_refused_next_to_the_list(
    stack, http, platform, panel
):
    tenant = await make_tenant(stack)
    user = await add_user(http, platform, tenant.id, "tenant_admin")
    provider = await user.admin.create(
        "providers", {"kind": "openai", "name": "keyless", "base_url": stack.aimock.url}
    )
    await user.admin.create("models", {"provider_id": provider["id"], "name": "gpt-4o-mini"})
    await panel.login(user.username, user.password)
    page = panel.page
    select = page.get_by_role("combobox", name="Model of Support gemini")
    await select.select_option(label="keyless · gpt-4o-mini")
    error = page.locator("#switch-support-gemini-err")
    await error.filter(has_text="Add a key for keyless first").wait_for()
    assert await select.get_attribute("aria-invalid") == "true"
    assert await select.input_value() == "m-gemini"
    assert (await user.admin.get("/assistants/support-gemini")).json()["model_id"] == "m-gemini"
    await panel.check()
