"""Operator task 2, the brief's use case, all in the browser: providers, models and keys,
app "App1" with a Customer Support assistant on Gemini and a Sales assistant on Cohere,
a client key; then Sales switches to OpenAI with one choice in its model list (two
clicks), and the next chat through the public chat API is answered by the OpenAI mock."""

from __future__ import annotations

import json
import secrets

from tests.admin.helpers import marker, poll
from tests.e2e.conftest import upstream_requests
from tests.ui.conftest import PHONE, add_user, new_panel

VENDORS = {
    "gemini": ("Gemini", "gemini-2.0-flash", ""),
    "cohere": ("Cohere", "command-r-plus", ""),
    "openai": ("OpenAI", "gpt-4o", "/v1"),
}


async def _chat(http, key: str, assistant: str, text: str) -> dict:
    auth = {"Authorization": f"Bearer {key}"}
    started = await http.post("/start", json={"assistant": assistant}, headers=auth)
    assert started.status_code == 201, started.text
    resp = await http.post(
        "/chat", json={"thread_id": started.json()["thread_id"], "message": text}, headers=auth
    )
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def add_vendor(panel, kind: str, base_url: str, key: str) -> None:
    """Providers page: add the provider and its model; Credentials page: add its key."""
    label, model, suffix = VENDORS[kind]
    page = panel.page
    await panel.goto("Providers")
    form = page.get_by_role("form", name="New provider")
    await form.get_by_label("Kind").select_option(label=label)
    await form.get_by_label("Name", exact=True).fill(kind)
    await form.get_by_label("Base URL").fill(base_url + suffix)
    await form.get_by_role("button", name="Add provider").click()
    await page.get_by_role("status").filter(has_text=f"Provider {kind} added.").wait_for()
    await page.get_by_text(f"Add a model to {kind}").click()
    models = page.get_by_role("form", name=f"New model of {kind}")
    await models.get_by_label("Model name").fill(model)
    await models.get_by_role("button", name=f"Add model to {kind}").click()
    await page.get_by_role("status").filter(has_text=f"Model {model} added.").wait_for()

    await panel.goto("Credentials")
    form = page.get_by_role("form", name="Add a key")
    await form.get_by_label("Provider").select_option(label=f"{kind} ({kind})")
    await form.get_by_label("Name").fill(f"{kind} key")
    await form.get_by_label("API key").fill(key)
    await form.get_by_role("button", name="Add key").click()
    await page.get_by_role("status").filter(has_text=f"Key {kind} key added (…{key[-4:]}).").wait_for()


async def add_assistant(panel, app: str, name: str, slug: str, prompt: str, model: str) -> None:
    page = panel.page
    await panel.goto("Apps")
    await page.get_by_role("link", name=f"New assistant in {app}").click()
    await page.get_by_role("heading", name="New assistant", level=1).wait_for()
    await page.get_by_label("Name", exact=True).fill(name)
    await page.get_by_label("Slug").fill(slug)
    await page.get_by_label("System prompt").fill(prompt)
    await page.get_by_label("Model").select_option(label=model)
    await page.get_by_role("button", name="Create assistant").click()
    await page.get_by_role("heading", name=name, level=1).wait_for()


async def test_operator_builds_app1_and_switches_sales_to_openai_in_two_clicks(
    stack, http, platform, browser
):
    tenant = (await platform.post("/tenants", {"name": "UI use case"})).json()["id"]
    user = await add_user(http, platform, tenant, "tenant_admin")
    aimock = stack.aimock
    suffix = secrets.token_hex(4)
    keys = {k: f"sk-{k}-{suffix}-{secrets.token_hex(6)}" for k in VENDORS}
    tag = f"app1-{suffix}"
    # One fixture per vendor (matched on the upstream model), so the reply says which mock answered.
    aimock.add(
        *(
            {
                "match": {"userMessage": tag, "model": model},
                "response": {"content": f"{label} mock answered."},
            }
            for label, model, _ in VENDORS.values()
        )
    )

    context, panel = await new_panel(browser, stack)
    try:
        await panel.login(user.username, user.password)
        page = panel.page
        for kind in VENDORS:
            await add_vendor(panel, kind, aimock.url, keys[kind])
        await panel.check()

        await panel.goto("Apps")
        new_app = page.get_by_role("form", name="New app")
        await new_app.get_by_label("Name").fill("App1")
        await new_app.get_by_label("Slug").fill("app1")
        await new_app.get_by_role("button", name="Create app").click()
        await page.get_by_role("heading", name="App1 (app1)").wait_for()

        await add_assistant(
            panel, "App1", "Customer Support", "support", "You are a helpful customer support agent.",
            "gemini · gemini-2.0-flash",
        )  # fmt: skip
        assert await page.get_by_label("API key").locator("option:checked").inner_text() == (
            f"gemini key (…{keys['gemini'][-4:]})"
        )
        await add_assistant(
            panel,
            "App1",
            "Sales",
            "sales",
            "You are a persuasive sales assistant.",
            "cohere · command-r-plus",
        )

        await panel.goto("Client keys")
        form = page.get_by_role("form", name="Create a key")
        await form.get_by_label("App").select_option(label="App1")
        await form.get_by_label("Name").fill("App1 web")
        await form.get_by_role("button", name="Create key").click()
        client_key = await page.get_by_label("The new client key").input_value()
        assert client_key.startswith("ak_")
        await page.get_by_text("It is shown only once").wait_for()

        support_text, sales_text = marker(f"{tag}-support"), marker(f"{tag}-sales")
        body = await _chat(http, client_key, "support", support_text)
        assert (body["provider"], body["responses"]) == ("gemini", ["Gemini mock answered."])
        assert "helpful customer support" in json.dumps(upstream_requests(stack, support_text)[-1]["body"])
        body = await _chat(http, client_key, "sales", sales_text)
        assert (body["provider"], body["responses"]) == ("cohere", ["Cohere mock answered."])
        assert "persuasive sales" in json.dumps(upstream_requests(stack, sales_text)[-1]["body"])

        # The switch: open Sales's model list, choose OpenAI's model. It saves at once.
        await panel.goto("Apps")
        sales = page.get_by_role("row").filter(has_text="Sales")
        select = sales.get_by_role("combobox", name="Model of Sales")
        await select.click()
        await select.select_option(label="openai · gpt-4o")
        await page.get_by_role("status").filter(has_text="Sales now uses openai · gpt-4o.").wait_for()
        await sales.get_by_text("openai (openai)").wait_for()
        await panel.check(shot="use-case-switched")

        seen: dict = {}

        async def openai_answers() -> bool:
            text = marker(f"{tag}-moved")  # not "switch-": another test matches that
            seen["body"] = await _chat(http, client_key, "sales", text)
            seen["journal"] = upstream_requests(stack, text)
            return seen["body"]["provider"] == "openai"

        await poll(openai_answers, timeout=15)
        assert seen["body"]["responses"] == ["OpenAI mock answered."]
        assert seen["body"]["model"] == "gpt-4o"
        entry = seen["journal"][-1]
        assert entry["path"] == "/v1/chat/completions"
        assert "persuasive sales" in json.dumps(entry["body"])
        # Support was not touched.
        body = await _chat(http, client_key, "support", marker(f"{tag}-still"))
        assert body["provider"] == "gemini"
    finally:
        await context.close()

    # The same overview at a phone's width: everything still reachable, nothing fails a11y.
    context, phone = await new_panel(browser, stack, PHONE)
    try:
        await phone.login(user.username, user.password)
        await phone.page.get_by_role("combobox", name="Model of Sales").wait_for()
        assert await phone.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await phone.check(shot="apps-phone")
    finally:
        await context.close()
