"""Helpers for dry runs of infra.deploy: run a command, pick commands and flags apart."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest

from infra import context
from infra.deploy import main
from infra.gcloud import Runner

PROJECT, REGION, NUMBER = "proj-test", "europe-west1", "123456789012"
BUCKET = f"{PROJECT}-assistants-config"
CANARY = "CANARY-SECRET-d41d8cd98f00"
ENV_CLEARED = (
    "GOOGLE_CLOUD_PROJECT",
    "CONFIG_BUCKET",
    "TENANT",
    "BOOTSTRAP_ADMIN_USERNAME",
    "SERVICE_VERSION",
    "HEALTH_DEEP",
    "FIRESTORE_LOCATION",
    "DRY_RUN",
    "CHAT_MIN_INSTANCES",
    "DEPLOY_IAM",
    "CI_SERVICE_ACCOUNT",
    "ALERT_EMAIL",
)


def sa(account: str) -> str:
    return f"{account}@{PROJECT}.iam.gserviceaccount.com"


def isolate(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROJECT", PROJECT)
    monkeypatch.setenv("REGION", REGION)
    monkeypatch.setenv("PROJECT_NUMBER", NUMBER)
    monkeypatch.setattr(context, "generate_secret", lambda: CANARY)


def run(*argv: str, runner: Runner | None = None) -> tuple[int, Runner, str]:
    out = io.StringIO()
    runner = runner or Runner(dry_run=True)
    runner.out = out
    return main(list(argv), runner=runner), runner, out.getvalue()


def matching(commands: list[list[str]], *prefix: str) -> list[list[str]]:
    return [c for c in commands if c[: len(prefix)] == list(prefix)]


def flags(argv: Sequence[str]) -> dict[str, str]:
    """`--name=value` -> {name: value}; bare `--flag` -> {flag: ""}."""
    pairs = (a[2:].partition("=") for a in argv if a.startswith("--"))
    return {name: value for name, _, value in pairs}


def deploys(runner: Runner) -> dict[str, list[str]]:
    return {c[3]: c for c in matching(runner.commands, "gcloud", "functions", "deploy")}


def env_vars(argv: Sequence[str]) -> dict[str, str]:
    raw = flags(argv)["set-env-vars"]
    sep = ","
    if raw.startswith("^"):
        sep, raw = raw[1], raw[3:]
    return dict(pair.split("=", 1) for pair in raw.split(sep))


def bindings(runner: Runner, email: str) -> set[tuple[str, str, str]]:
    """Every (resource, role, condition expression or '') bound to `email` by the dry run."""
    member = f"--member=serviceAccount:{email}"
    found: set[tuple[str, str, str]] = set()
    for c in runner.commands:
        if member not in c or "add-iam-policy-binding" not in c:
            continue
        f = flags(c)
        resource = c[c.index("add-iam-policy-binding") + 1]
        if c[1] == "secrets":
            resource = f"secret:{resource}"
        elif c[1] == "iam":
            resource = f"account:{resource}"
        condition = f.get("condition", "None")
        expr = "" if condition == "None" else condition.removeprefix("expression=").split(",title=")[0]
        found.add((resource, f["role"], expr))
    return found
