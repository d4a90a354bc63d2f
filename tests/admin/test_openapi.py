"""The OpenAPI document: complete, in step with the routers, and honoured by the running
service (a bounded schemathesis run finds no 5xx and no response outside the schema)."""

from __future__ import annotations

import re
import time

import pytest

from common.http.routing import Router


def _regex(path: str) -> str:
    router = Router("x")
    router.add("GET", path, None)  # type: ignore[arg-type]
    return router.routes[0].pattern.pattern


@pytest.mark.parametrize("function", ["start", "chat", "health"])
def test_public_rows_match_the_functions_routers(function):
    """A route added to start/chat/health without a row in openapi_public fails here."""
    import importlib

    from common.admin.api.openapi_public import documented_routes

    router = importlib.import_module(f"functions.{function}").router
    served = {(r.method, r.pattern.pattern) for r in router.routes}
    documented = {(m, _regex(p)) for m, p in documented_routes(function)}
    assert served == documented


def test_document_covers_every_admin_route_and_resolves_every_ref():
    import json

    from common.admin.api.routes import OPS, openapi_document

    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    for op in OPS:
        operation = doc["paths"]["/admin" + op.path][op.method.lower()]
        assert str(op.status) in operation["responses"]
    text = json.dumps(doc)
    for ref in set(re.findall(r'"\$ref": "#/components/(\w+)/([\w-]+)"', text)):
        assert ref[1] in doc["components"][ref[0]], ref
    ops = [o for path in doc["paths"].values() for o in path.values()]
    assert len({o["operationId"] for o in ops}) == len(ops)


async def test_openapi_is_served_without_auth(stack, http):
    resp = await http.get("/admin/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    assert {"/start", "/chat", "/chat/v1/chat/completions", "/health", "/admin/apps"} <= set(doc["paths"])


@pytest.fixture()
async def fuzz_headers(stack, http) -> tuple[dict[str, str], dict[str, str]]:
    """A platform admin token for a fresh tenant with config, and a client key of its app."""
    from tests.admin.helpers import Admin, login, provider_set, seed_user

    username, password, _ = await seed_user("platform_admin")
    headers = await login(http, username, password)
    tenant = (await http.post("/admin/tenants", json={"name": "fuzz"}, headers=headers)).json()["id"]
    admin = Admin(http, headers, tenant=tenant)
    app = await admin.create("apps", {"name": "Shop", "slug": "shop"})
    _, model, cred = await provider_set(
        admin, "openai", stack.aimock.url + "/v1", "sk-fuzz-000000000000", "gpt-4o"
    )
    await admin.create(
        "assistants",
        {"app_id": app["id"], "name": "S", "slug": "s", "model_id": model["id"], "credential_id": cred["id"]},
    )
    key = (await admin.create("client-keys", {"app_id": app["id"]}))["key"]
    return {**headers, "X-Tenant-Id": tenant}, {"Authorization": f"Bearer {key}"}


def _fuzz(stack, fuzz_headers, select, max_examples: int) -> None:
    """Fuzz every documented operation that `select(path)` picks; fail listing every finding."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    admin_headers, client_headers = fuzz_headers
    doc = requests.get(stack.url + "/admin/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(doc)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        response_headers_conformance,
    ]
    session = requests.Session()
    failures: list[str] = []
    started = time.monotonic()
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) == sum(len(p) for p in doc["paths"].values())
    operations = [o for o in operations if select(o.path)]
    assert operations

    def fuzz(operation, headers: dict[str, str]) -> None:
        @given(case=operation.as_strategy())
        @settings(
            max_examples=max_examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case) -> None:
            case.call_and_validate(
                base_url=stack.url, session=session, headers=headers, checks=checks, timeout=30
            )

        run()

    for operation in operations:
        if operation.path == "/admin/auth/login":
            headers: dict[str, str] = {}
        elif operation.path.startswith("/admin"):
            headers = admin_headers
        else:
            headers = client_headers
        try:
            fuzz(operation, headers)
        except BaseException as exc:  # schemathesis raises exception groups
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert time.monotonic() - started < 120
    assert not failures, "\n\n".join(failures)


def test_schemathesis_admin_api_has_no_server_errors_or_schema_violations(stack, fuzz_headers):
    """Every admin operation, authenticated as a platform admin in a tenant with config."""
    _fuzz(stack, fuzz_headers, lambda path: path.startswith("/admin"), max_examples=10)


def test_schemathesis_start_chat_and_health_have_no_server_errors_or_schema_violations(stack, fuzz_headers):
    """start, chat (with the app's client key) and health, from the same OpenAPI document."""
    _fuzz(stack, fuzz_headers, lambda path: path.startswith(("/start", "/chat", "/health")), max_examples=10)
