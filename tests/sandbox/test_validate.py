"""`POST /admin/providers/code/validate`: problems with their line, and nothing executed."""

from __future__ import annotations

import os
import uuid

import pytest

OK_STREAM = "async def stream(request):\n    yield 'hi'\n"

# (program, field, line, words the message must contain)
BROKEN = [
    ("async def stream(request)\n    yield 'x'\n", "python_code", 1, "syntax error"),
    ("import json\n\nasync def stream(request):\n    yield json.dumps({'a': (1, 2}\n", "python_code", 4,
     "syntax error"),
    ("async def stream(request):\n    x = 1\n      yield x\n", "python_code", 3, "indent"),
    ("def chat(request):\n    return 'x'\n", "python_code", 1, "no entry point"),
    ("import json\n\n\ndef stream(request):\n    yield 'x'\n", "python_code", 4, "async def stream"),
    ("async def stream(request):\n    return None\n", "python_code", 1, "async generator"),
    ("x = 1\nasync def stream():\n    yield 'x'\n", "python_code", 2, "one argument"),
    ("import json\nimport os\n" + OK_STREAM, "python_code", 2, "'os' is not allowed"),
    ("import json\n\n\n\nfrom subprocess import run\n" + OK_STREAM, "python_code", 5,
     "'subprocess' is not allowed"),
    ("async def stream(request):\n    yield 'x'\n  # fine\nelse:\n", "python_code", 4, "syntax error"),
]  # fmt: skip


@pytest.mark.parametrize(("code", "field", "line", "words"), BROKEN)
async def test_broken_program_is_reported_at_its_line(cplatform, code, field, line, words):
    resp = await cplatform.post("/providers/code/validate", {"python_code": code})

    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["valid"] is False
    first = body["problems"][0]
    assert (first["field"], first["line"]) == (field, line), body
    assert words.lower() in first["message"].lower(), body


async def test_dependencies_schema_and_validation_code_are_checked(cplatform):
    resp = await cplatform.post(
        "/providers/code/validate",
        {
            "python_code": OK_STREAM,
            "required_dependencies": ["httpx", "surely-not-installed-pkg>=1.0"],
            "config_schema": {"type": "object", "properties": {"n": {"type": "nope"}}},
            "validation_code": "def check(config):\n    pass\n",
        },
    )

    problems = {p["field"]: p for p in resp.json()["problems"]}
    assert set(problems) == {"required_dependencies.1", "config_schema", "validation_code"}
    assert "not installed" in problems["required_dependencies.1"]["message"]
    assert "JSON Schema" in problems["config_schema"]["message"]
    assert "validate(config)" in problems["validation_code"]["message"]


async def test_validate_runs_nothing(cplatform, tmp_path):
    marker = tmp_path / f"ran-{uuid.uuid4().hex}"
    code = f"open({str(marker)!r}, 'w').write('ran')\n\n\nasync def stream(request):\n    yield 'x'\n"
    decorated = f"def deco(f):\n    open({str(marker)!r}, 'w')\n    return f\n\n@deco\n{OK_STREAM}"

    for program in (code, decorated):
        resp = await cplatform.post("/providers/code/validate", {"python_code": program})
        assert resp.status_code == 200 and resp.json()["valid"] is True, resp.text

    assert not os.path.exists(marker)


async def test_create_refuses_invalid_code_naming_the_line(code_stack, cplatform):
    tenant = (await cplatform.post("/tenants", {"name": "Bad code"})).json()["id"]
    resp = await cplatform.post(
        "/providers",
        {"kind": "code", "name": "bad", "python_code": "import socket\n" + OK_STREAM},
        tenant=tenant,
    )

    assert resp.status_code == 422
    assert resp.json()["error"]["field"] == "python_code" and "line 1" in resp.json()["error"]["message"]
