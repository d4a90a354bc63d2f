"""On Google Cloud the admin function owns its URL: the panel is at `{admin URL}/ui/`
and the API at `{admin URL}/auth/login`, with no `/admin` prefix. The panel derives the
API's base from its own path, so the same files work there and under `make dev`."""

from __future__ import annotations

from tests.e2e.conftest import make_tenant
from tests.support.services import start_functions
from tests.ui.conftest import Panel, add_user, new_panel


async def test_the_panel_on_the_admin_functions_own_url(stack, http, platform, browser):
    tenant = await make_tenant(stack)
    user = await add_user(http, platform, tenant.id, "tenant_admin")
    admin = start_functions(stack.env, target="admin")
    context, panel = await new_panel(browser, stack)
    try:
        own = Panel(panel.page, admin.url, panel.problems)
        await own.page.goto(f"{admin.url}/ui/")
        requests: list[str] = []
        own.page.on("request", lambda r: requests.append(r.url))
        await own.page.get_by_label("Username").fill(user.username)
        await own.page.get_by_label("Password").fill(user.password)
        await own.page.get_by_role("button", name="Log in").click()
        await own.page.get_by_role("heading", name="E-Commerce").wait_for()
        api_calls = [u for u in requests if "/ui/" not in u]
        assert f"{admin.url}/auth/login" in api_calls and f"{admin.url}/apps?limit=200" in api_calls
        assert not any("/admin/" in u for u in api_calls)
        await own.check()
    finally:
        await context.close()
        admin.stop()
