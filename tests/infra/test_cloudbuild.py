"""cloudbuild.yaml: parses, calls only real make targets, and deploys only after tests pass."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MAKE_CALL = re.compile(r"\bmake\s+([A-Za-z][\w-]*)")


def _steps() -> list[dict[str, Any]]:
    data = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    assert isinstance(data, dict)
    return list(data["steps"])


def _make_targets(step: dict[str, Any]) -> list[str]:
    args = [str(a) for a in step.get("args", [])]
    if step.get("entrypoint") == "make":
        return args[:1]
    return MAKE_CALL.findall("\n".join(args))


def _makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, flags=re.MULTILINE))


def test_every_make_target_exists() -> None:
    targets = _makefile_targets()

    used = [t for step in _steps() for t in _make_targets(step)]

    assert {"lint", "test", "deploy"} <= set(used)
    assert set(used) <= targets, set(used) - targets


def test_steps_run_in_order_and_deploy_follows_lint_and_test() -> None:
    steps = _steps()
    order = {t: i for i, step in enumerate(steps) for t in _make_targets(step)}

    # No waitFor anywhere: each step waits for all previous ones, so a failure stops the build.
    assert all("waitFor" not in step for step in steps)
    assert order["lint"] < order["deploy"] and order["test"] < order["deploy"]


def test_deploy_iterates_over_the_tenants_substitution() -> None:
    data = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    deploy = next(s for s in data["steps"] if "deploy" in _make_targets(s))
    script = "\n".join(deploy["args"])

    assert "_TENANTS" in data["substitutions"]
    assert "${_TENANTS}" in script
    assert 'make deploy TENANT="$$tenant"' in script
    assert any(e.startswith("PROJECT=") for e in deploy["env"])
