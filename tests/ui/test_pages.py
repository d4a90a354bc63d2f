"""Operator tasks 3-10 in the browser, each against a tenant provisioned with the demo
bundle (one app, an assistant per provider, all pointed at aimock). Every page is
checked with axe-core and for CSP violations; the main ones are screenshotted."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.admin.helpers import marker
from tests.e2e.conftest import TenantHandle, make_tenant
from tests.ui.conftest import Panel, TenantUser, add_user


@dataclass
class Seeded:
    tenant: TenantHandle
    user: TenantUser
    panel: Panel


@pytest.fixture()
async def seeded(stack, http, platform, panel) -> Seeded:
    tenant = await make_tenant(stack)
    user = await add_user(http, platform, tenant.id, "tenant_admin")
    await panel.login(user.username, user.password)
    return Seeded(tenant, user, panel)


async def test_edit_a_prompt_see_the_diff_and_roll_back(seeded):
    panel, page, admin = seeded.panel, seeded.panel.page, seeded.user.admin
    await page.get_by_role("link", name="Support openai").click()
    prompt = page.get_by_label("System prompt")
    assert await prompt.input_value() == "You are a helpful support agent (openai)."
    await prompt.fill("You are a helpful support agent (openai).\nAlways answer in French.")
    await page.get_by_role("button", name="Save", exact=True).click()
    await page.get_by_role("status").filter(has_text="Saved.").wait_for()
    revisions = page.locator(".revisions > li")
    await revisions.nth(1).wait_for()
    newest = await revisions.first.locator("strong").inner_text()
    number = int(newest.split()[-1])
    await page.get_by_role("button", name=f"Show prompt diff of revision {number}").click()
    diff = page.get_by_label("System prompt diff")
    assert [t.strip() for t in await diff.locator(".add").all_inner_texts()] == ["+ Always answer in French."]
    assert [t.strip() for t in await diff.locator(".same").all_inner_texts()] == [
        "You are a helpful support agent (openai)."
    ]
    await panel.check(shot="assistant-revisions", full_page=True)

    await page.get_by_role("button", name=f"Roll back to revision {number - 1}").click()
    await page.get_by_role("status").filter(has_text=f"Rolled back to revision {number - 1}.").wait_for()
    await expect(page.get_by_label("System prompt")).to_have_value(
        "You are a helpful support agent (openai)."
    )
    stored = (await admin.get("/assistants/support-openai")).json()
    assert stored["system_prompt"] == "You are a helpful support agent (openai)."
    assert "rollback" in await revisions.first.inner_text()


async def test_providers_and_models_add_edit_test_and_deactivate(seeded, stack):
    panel, page, admin = seeded.panel, seeded.panel.page, seeded.user.admin
    await panel.goto("Providers")
    # A bad base URL: the API's 422 is shown under that field, and nothing is created.
    form = page.get_by_role("form", name="New provider")
    await form.get_by_label("Name", exact=True).fill("local-llm")
    await form.get_by_label("Base URL").fill("ftp://models.example")
    await form.get_by_role("button", name="Add provider").click()
    error = form.locator("#prov-new-f-base_url-err")
    await error.wait_for()
    assert "base_url" in await error.inner_text()
    assert await form.get_by_label("Base URL").get_attribute("aria-invalid") == "true"
    await panel.check()
    await form.get_by_label("Kind").select_option(label="OpenAI-compatible")
    await form.get_by_label("Base URL").fill(stack.aimock.url + "/v1")
    await form.get_by_role("button", name="Add provider").click()
    await page.get_by_role("status").filter(has_text="Provider local-llm added.").wait_for()

    await page.get_by_role("button", name="Edit local-llm").click()
    edit = page.get_by_role("form", name="Edit provider local-llm")
    await edit.get_by_label("Display name").fill("Local LLM")
    await edit.get_by_role("button", name="Save provider").click()
    await page.get_by_role("heading", name="Local LLM openai_compatible").wait_for()

    # "Test": one real call through the provider, its latency shown; then an upstream error.
    await page.locator("summary", has_text="Test openai").click()
    test = page.get_by_role("form", name="Test openai")
    await test.get_by_label("Key to test with").select_option("c-openai")
    probe = {
        "match": {"userMessage": "ping", "model": "gpt-4o"},
        "response": {"content": "pong"},
        "latency": 400,
    }
    stack.aimock.add(probe)  # the probe sends "ping"
    await test.get_by_role("button", name="Test openai").click()
    await (
        test.get_by_role("status").filter(has_text="Calling the provider…").wait_for()
    )  # a slow call shows progress
    ok = test.get_by_role("status").filter(has_text=re.compile(r"^OK in \d+ ms$"))
    await ok.wait_for()
    stack.aimock.next_error(401, "invalid api key", "authentication_error")
    await test.get_by_role("button", name="Test openai").click()
    failed = test.get_by_role("alert").filter(has_text=re.compile(r"Failed after \d+ ms"))
    await failed.wait_for()
    assert "401" in await failed.inner_text()
    await panel.check(shot="providers")

    await page.get_by_role("button", name="Deactivate gpt-4o").click()
    await page.get_by_role("status").filter(has_text="gpt-4o deactivated.").wait_for()
    await page.get_by_role("button", name="Deactivate local-llm").click()
    await page.get_by_role("status").filter(has_text="local-llm deactivated.").wait_for()
    assert (await admin.get("/models/m-openai")).json()["is_active"] is False
    providers = (await admin.get("/providers")).json()["items"]
    assert [p["is_active"] for p in providers if p["name"] == "local-llm"] == [False]


async def test_credentials_add_write_only_rotate_and_deactivate(seeded):
    panel, page, admin = seeded.panel, seeded.panel.page, seeded.user.admin
    secret = f"sk-new-{secrets.token_hex(12)}"
    await panel.goto("Credentials")
    form = page.get_by_role("form", name="Add a key")
    value = form.get_by_label("API key")
    assert await value.get_attribute("type") == "password"
    await form.get_by_label("Provider").select_option(label="cohere (cohere)")
    await form.get_by_label("Name").fill("cohere backup")
    await value.fill(secret)
    await form.get_by_role("button", name="Add key").click()
    await page.get_by_role("status").filter(has_text=f"Key cohere backup added (…{secret[-4:]}).").wait_for()
    assert await value.input_value() == ""
    row = page.get_by_role("row").filter(has_text="cohere backup")
    await row.get_by_text(f"…{secret[-4:]}").wait_for()
    assert secret not in await page.content()

    rotated = f"sk-rot-{secrets.token_hex(12)}"
    await row.get_by_role("button", name="Rotate cohere backup").click()
    await page.get_by_label("New value for cohere backup").fill(rotated)
    await page.get_by_role("button", name="Rotate", exact=True).click()
    await (
        page.get_by_role("status").filter(has_text=f"cohere backup rotated (now …{rotated[-4:]}).").wait_for()
    )
    await panel.check(shot="credentials-rotated")
    await row.get_by_role("button", name="Deactivate cohere backup").click()
    await page.get_by_role("status").filter(has_text="cohere backup deactivated.").wait_for()
    await row.get_by_role("cell", name="inactive", exact=True).wait_for()
    stored = [c for c in (await admin.get("/credentials")).json()["items"] if c["name"] == "cohere backup"]
    assert stored[0]["last4"] == rotated[-4:] and stored[0]["is_active"] is False
    assert rotated not in await page.content()


async def test_client_keys_shown_once_with_copy_and_warning_then_revoked(seeded, http, browser):
    panel, page = seeded.panel, seeded.panel.page
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await panel.goto("Client keys")
    form = page.get_by_role("form", name="Create a key")
    await form.get_by_role("button", name="Create key").click()  # no app chosen: the 422 names app_id
    await form.locator("#ck-f-app_id-err").wait_for()
    assert "app_id" in await form.locator("#ck-f-app_id-err").inner_text()
    await form.get_by_label("App").select_option(label="E-Commerce")
    await form.get_by_label("Name").fill("kiosk")
    await form.get_by_role("button", name="Create key").click()
    plaintext = await page.get_by_label("The new client key").input_value()
    assert plaintext.startswith("ak_")
    await page.get_by_text("Copy this key now.").wait_for()
    await page.get_by_role("button", name="Copy key").click()
    await page.get_by_role("button", name="Copied").wait_for()
    assert await page.evaluate("navigator.clipboard.readText()") == plaintext
    await panel.check(shot="client-key-created")
    start = await http.post(
        "/start", json={"assistant": "support-openai"}, headers={"Authorization": f"Bearer {plaintext}"}
    )
    assert start.status_code == 201, start.text

    await page.get_by_role("button", name="I have stored it").click()
    await page.get_by_label("The new client key").wait_for(state="detached")
    assert plaintext not in await page.content()  # never shown again
    await page.get_by_role("button", name="Revoke kiosk").click()
    await page.get_by_role("status").filter(has_text="Key kiosk revoked.").wait_for()
    again = await http.post(
        "/start", json={"assistant": "support-openai"}, headers={"Authorization": f"Bearer {plaintext}"}
    )
    assert again.status_code == 401


async def test_tools_and_actions_schemas_checked_as_you_type_and_422_next_to_the_field(seeded):
    panel, page, admin = seeded.panel, seeded.panel.page, seeded.user.admin
    await panel.goto("Tools")
    form = page.get_by_role("form", name="New webhook tool")
    await form.get_by_label("Name").fill("lookup_order")
    await form.get_by_label("Webhook URL").fill("ftp://hooks.example/order")
    params = form.get_by_label("Parameters (JSON Schema)")
    await params.fill('{"type": "object", "properties": {"id": ')
    live = form.locator("#tool-new-f-parameters-err")
    await live.filter(has_text="not valid JSON").wait_for()
    assert await form.get_by_role("button", name="Add tool").is_disabled()
    await params.fill('{"type": "array"}')
    await live.filter(has_text='"type": "object"').wait_for()
    await params.fill('{"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}')
    await live.wait_for(state="detached")
    await form.get_by_role("button", name="Add tool").click()
    url_error = form.locator("#tool-new-f-url-err")
    await url_error.wait_for()
    assert "url" in await url_error.inner_text()
    await panel.check()
    await form.get_by_label("Webhook URL").fill("https://hooks.example/order")
    await form.get_by_role("button", name="Add tool").click()
    await page.get_by_role("status").filter(has_text="Tool lookup_order added.").wait_for()
    tools = (await admin.get("/tools")).json()["items"]
    assert tools[0]["parameters"]["required"] == ["id"]
    await panel.check(shot="tools")

    # Actions on an assistant: the same as-you-type check, then the API's verdict in place.
    await panel.goto("Apps")
    await page.get_by_role("link", name="Support gemini").click()
    actions = page.get_by_label(re.compile("^Actions"))
    await actions.fill('{"greet": {"template": "Say hello to {name}"')
    await page.locator("#f-actions-err").filter(has_text="not valid JSON").wait_for()
    await actions.fill('{"greet": {"template": "Say hello", "colour": "red"}}')
    await page.get_by_role("button", name="Save", exact=True).click()
    server = page.locator("#f-actions-err")
    await server.filter(has_text="colour").wait_for()
    assert await actions.get_attribute("aria-invalid") == "true"
    await actions.fill('{"greet": {"template": "Say hello", "description": "greets"}}')
    await page.get_by_role("button", name="Save", exact=True).click()
    await page.get_by_role("status").filter(has_text="Saved.").wait_for()
    assert (await admin.get("/assistants/support-gemini")).json()["actions"]["greet"][
        "description"
    ] == "greets"


async def test_playground_streams_token_by_token(seeded, stack):
    panel, page = seeded.panel, seeded.panel.page
    text = marker("ui-playground")
    reply = "Streaming one word at a time for the playground test"
    stack.aimock.add({"match": {"userMessage": text}, "response": {"content": reply}, "latency": 120})
    await panel.goto("Playground")
    await page.get_by_label("Start from an assistant").select_option(label="Support gemini (E-Commerce)")
    assert (
        await page.get_by_label("System prompt").input_value() == "You are a helpful support agent (gemini)."
    )
    await page.get_by_label("Message").fill(text)
    await page.get_by_role("button", name="Send").click()
    streaming = page.locator(".turn.streaming")
    await streaming.wait_for()
    partial = await page.wait_for_function(
        "() => { const el = document.querySelector('.turn.streaming');"
        " return el && el.textContent.length > 'Model: '.length + 3 ? el.textContent : null; }"
    )
    seen = (await partial.json_value()).removeprefix("Model: ").rstrip("▍").strip()
    assert seen and reply.startswith(seen) and seen != reply  # part of the reply, before the rest
    await streaming.wait_for(state="detached")
    log = page.get_by_role("log", name="Conversation")
    await log.get_by_text(reply).wait_for()
    status = page.get_by_role("status").filter(has_text="gemini · gemini-2.0-flash")
    await status.wait_for()
    await panel.check(shot="playground")


async def test_usage_chart_and_audit_filters(seeded, http, stack):
    panel, page, admin = seeded.panel, seeded.panel.page, seeded.user.admin
    stack.aimock.add({"match": {"userMessage": "ui-usage-"}, "response": {"content": "counted"}})
    for assistant in ("support-openai", "support-openai", "support-cohere"):
        start = await http.post("/start", json={"assistant": assistant}, headers=seeded.tenant.auth)
        chat = await http.post(
            "/chat",
            json={"thread_id": start.json()["thread_id"], "message": marker("ui-usage")},
            headers=seeded.tenant.auth,
        )
        assert chat.status_code == 200, chat.text
    await admin.patch("/apps/shop", {"description": "audited change"})
    await panel.goto("Usage & audit")
    totals = page.locator(".totals")
    await totals.filter(has_text="Total: 3 requests").wait_for()
    await page.locator(".chart canvas").first.wait_for()
    await page.get_by_label("Assistant").select_option(label="Support cohere")
    await page.get_by_role("button", name="Show usage").click()
    await totals.filter(has_text="Total: 1 requests").wait_for()
    await page.get_by_text("Usage per day as a table").click()
    day_rows = page.get_by_role("table", name="Usage per day").get_by_role("row")
    assert await day_rows.count() == 2  # header + today

    audit = page.get_by_role("table", name="Audit log")
    await audit.get_by_role("row").filter(has_text="apps/shop").wait_for()
    await page.get_by_label("User").fill(seeded.user.username)
    await page.get_by_label("Target").fill("apps/shop")
    rows = audit.get_by_role("row")
    assert await rows.count() == 2
    assert "description" in await rows.nth(1).inner_text()
    await page.get_by_label("Target").fill("no-such-target")
    await page.get_by_text("0 of").wait_for()
    await page.get_by_label("Target").fill("")
    await panel.check(shot="usage")


async def test_config_export_downloads_yaml_and_import_shows_field_errors_in_place(seeded):
    panel, page = seeded.panel, seeded.panel.page
    await panel.goto("Config")
    await page.get_by_role("button", name="Export YAML").click()
    link = page.get_by_role("link", name=f"Download {seeded.tenant.id}-config.yaml")
    async with page.expect_download() as info:
        await link.click()
    download = await info.value
    body = Path(await download.path()).read_text(encoding="utf-8")
    assert f"id: {seeded.tenant.id}" in body and "support-openai" in body
    yaml = page.get_by_label("Bundle (YAML)")
    assert await yaml.input_value() == body

    assert body.count("max_tokens: 8000") == 3
    broken = body.replace("max_tokens: 8000", "max_tokens: -5", 2).replace(
        "max_tokens: -5", "max_tokens: 8000", 1
    )
    await yaml.fill(broken)
    await page.get_by_role("button", name="Import").click()
    error = page.locator("#cfg-yaml-err")
    await error.wait_for()
    message = await error.inner_text()
    assert "models.1.max_tokens" in message
    line = int(re.search(r"line (\d+)", message).group(1))
    assert "max_tokens: -5" in broken.split("\n")[line - 1]
    assert await yaml.get_attribute("aria-invalid") == "true"
    selected = await yaml.evaluate("el => el.value.slice(el.selectionStart, el.selectionEnd)")
    assert selected.strip() == "max_tokens: -5"  # the named field's line is selected, in view
    await panel.check(shot="config-import-error")

    await yaml.fill(body)
    await page.get_by_role("button", name="Import").click()
    await page.get_by_role("status").filter(has_text=f"Imported for {seeded.tenant.id}").wait_for()
