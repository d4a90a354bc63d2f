"""cloudbuild.yaml: parses, calls only real make targets, deploys only after tests pass,
pins its tools, deploys tenants in parallel, and its documented command parses in gcloud."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.infra.gcloud_support import parse_errors

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


def _data() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _deploy_step() -> dict[str, Any]:
    return next(s for s in _data()["steps"] if "deploy" in _make_targets(s))


def documented_commands() -> list[list[str]]:
    """Every `gcloud builds submit` line in cloudbuild.yaml's header and docs/deploy.md."""
    text = (ROOT / "cloudbuild.yaml").read_text() + (ROOT / "docs" / "deploy.md").read_text()
    lines = [re.sub(r"^[#\s]*", "", line) for line in text.replace("\\\n", " ").splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("gcloud builds submit")]


def test_documented_build_commands_parse_in_gcloud() -> None:
    commands = documented_commands()
    assert len(commands) >= 2
    assert all(any("_TENANTS=" in a for a in c) for c in commands)

    assert parse_errors(commands, cwd=ROOT) == {}


def test_the_old_comma_form_is_refused_by_gcloud() -> None:
    """The check above can fail: gcloud's parser refuses commas between tenants."""
    bad = ["gcloud", "builds", "submit", "--config=cloudbuild.yaml", "--substitutions=_TENANTS=a,b,_REGION=x"]

    assert "Bad syntax for dict arg" in parse_errors([bad], cwd=ROOT)[" ".join(bad)]


def test_region_is_empty_by_default_and_tools_are_pinned() -> None:
    data = _data()
    assert data["substitutions"]["_REGION"] == ""
    text = (ROOT / "cloudbuild.yaml").read_text()
    assert "dl.google.com" not in text and "curl " not in text  # no SDK download at build time
    images = {s["name"] for s in data["steps"]}
    sdk = [i for i in images if "google-cloud-cli" in i]
    assert sdk and all(re.search(r":\d+\.\d+\.\d+", i) for i in sdk)
    assert all(":" in i and not i.endswith(":latest") for i in images)


def test_ci_deploys_code_only() -> None:
    step = _deploy_step()
    assert "DEPLOY_IAM=0" in step["env"]
    assert any(e.startswith("PROJECT=") for e in step["env"])


def _substituted_script(tenants: str, parallel: str) -> str:
    script = "\n".join(_deploy_step()["args"][1:])
    return script.replace("${_TENANTS}", tenants).replace("${_PARALLEL}", parallel).replace("$$", "$")


def _fake_make(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    make = bin_dir / "make"
    make.write_text(
        "#!/bin/bash\n"
        'tenant="${2#TENANT=}"\n'
        'echo "start $tenant $(date +%s.%N)" >> "$LOG"\n'
        "sleep 1\n"
        'echo "end $tenant $(date +%s.%N)" >> "$LOG"\n'
        '[ "$tenant" != "broken" ]\n'
    )
    make.chmod(make.stat().st_mode | stat.S_IEXEC)
    return bin_dir


def _run_deploy_step(tmp_path: Path, tenants: str) -> tuple[int, list[list[str]]]:
    log = tmp_path / "log"
    log.touch()
    env = {**os.environ, "PATH": f"{_fake_make(tmp_path)}:{os.environ['PATH']}", "LOG": str(log)}
    proc = subprocess.run(
        ["bash", "-c", _substituted_script(tenants, "4")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode, [line.split() for line in log.read_text().splitlines()]


def test_tenants_deploy_in_parallel_each_once(tmp_path: Path) -> None:
    rc, events = _run_deploy_step(tmp_path, "acme beta,gamma")

    assert rc == 0
    starts = {e[1]: float(e[2]) for e in events if e[0] == "start"}
    ends = {e[1]: float(e[2]) for e in events if e[0] == "end"}
    assert sorted(starts) == ["acme", "beta", "gamma"]
    assert max(starts.values()) < min(ends.values())  # all three ran at the same time


def test_one_failing_tenant_fails_the_build(tmp_path: Path) -> None:
    rc, events = _run_deploy_step(tmp_path, "acme broken")

    assert rc != 0
    assert {e[1] for e in events if e[0] == "end"} == {"acme", "broken"}
