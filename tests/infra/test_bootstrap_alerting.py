"""Dry runs of bootstrap and scheduler (probes, alerting), and gcloud's own parser over
every command any dry run generates."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from infra import context
from infra.bootstrap import TTL_COLLECTION_GROUPS
from infra.gcloud import Executor, Result, Runner
from tests.infra.conftest import write_main
from tests.infra.dryrun import CANARY, PROJECT, REGION, bindings, flags, isolate, matching, run, sa
from tests.infra.gcloud_support import parse_errors

EMAIL = "oncall@example.com"


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch)


# bootstrap ---------------------------------------------------------------------


def test_bootstrap_enables_apis_and_creates_the_shared_resources(repo: Path) -> None:
    rc, runner, out = run("bootstrap", "--root", str(repo), "--project", "boot-proj", "--region", "us-east1")

    assert rc == 0
    enable = matching(runner.commands, "gcloud", "services", "enable")[0]
    for api in ("cloudfunctions", "run", "cloudbuild", "artifactregistry", "firestore", "secretmanager"):
        assert f"{api}.googleapis.com" in enable
    for api in ("cloudscheduler", "storage", "iam", "logging", "monitoring", "cloudresourcemanager"):
        assert f"{api}.googleapis.com" in enable
    bucket = "gs://boot-proj-assistants-config"
    create = matching(runner.commands, "gcloud", "storage", "buckets", "create", bucket)
    assert len(create) == 1
    assert {"uniform-bucket-level-access", "public-access-prevention"} <= set(flags(create[0]))
    update = matching(runner.commands, "gcloud", "storage", "buckets", "update", bucket)
    assert len(update) == 1 and "--versioning" in update[0]
    firestore = matching(runner.commands, "gcloud", "firestore", "databases", "create")
    assert len(firestore) == 1 and flags(firestore[0])["type"] == "firestore-native"
    protected = matching(runner.commands, "gcloud", "firestore", "databases", "update")
    for argv in (firestore[0], protected[0]):
        assert {"delete-protection", "enable-pitr"} <= set(flags(argv))
    assert CANARY not in out


def test_bootstrap_creates_a_ttl_policy_for_every_collection_with_expires_at(repo: Path) -> None:
    _, runner, _ = run("bootstrap", "--root", str(repo), "--project", "boot-proj")

    ttls = matching(runner.commands, "gcloud", "firestore", "fields", "ttls", "update", "expires_at")
    assert {flags(c)["collection-group"] for c in ttls} == set(TTL_COLLECTION_GROUPS) >= {"idempotency"}
    assert all("--enable-ttl" in c for c in ttls)


def test_bootstrap_build_account_has_the_build_roles_only(repo: Path) -> None:
    _, runner, _ = run("bootstrap", "--root", str(repo), "--project", "boot-proj")

    build = "assistants-build@boot-proj.iam.gserviceaccount.com"
    assert matching(runner.commands, "gcloud", "iam", "service-accounts", "create", "assistants-build")
    roles = {role for _, role, _ in bindings(runner, build)}
    assert roles == {"roles/logging.logWriter", "roles/artifactregistry.writer", "roles/storage.objectAdmin"}


def test_bootstrap_gives_ci_deploy_rights_but_no_iam_admin(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ci = "ci@boot-proj.iam.gserviceaccount.com"
    monkeypatch.setenv("CI_SERVICE_ACCOUNT", ci)

    _, runner, _ = run("bootstrap", "--root", str(repo), "--project", "boot-proj")

    assert {role for _, role, _ in bindings(runner, ci)} == {
        "roles/cloudfunctions.developer",
        "roles/iam.serviceAccountUser",
    }


def _fake(calls: list[tuple[list[str], str | None]], db_type: str = "FIRESTORE_NATIVE") -> Executor:
    def executor(argv: Sequence[str], *, stdin: str | None, capture: bool) -> Result:
        calls.append((list(argv), stdin))
        if "--format=value(type)" in argv:
            return Result(0, db_type)
        if "describe" in argv:
            return Result(1, "")  # nothing exists yet
        return Result(0, "")

    return executor


def test_bootstrap_stores_one_ed25519_pair_on_stdin_only(repo: Path) -> None:
    calls: list[tuple[list[str], str | None]] = []

    rc, _, out = run(
        "bootstrap",
        "--root",
        str(repo),
        "--project",
        "boot-proj",
        runner=Runner(dry_run=False, executor=_fake(calls)),
    )

    assert rc == 0
    stdin = {argv[3]: value for argv, value in calls if value is not None}
    assert set(stdin) == {"platform__jwt__private-key", "platform__jwt__public-key"}
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(stdin["platform__jwt__private-key"].encode(), None)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public.decode() == stdin["platform__jwt__public-key"]
    assert not any(stdin["platform__jwt__private-key"] in " ".join(argv) for argv, _ in calls)
    assert "PRIVATE KEY" not in out


def test_bootstrap_refuses_a_datastore_mode_database(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    calls: list[tuple[list[str], str | None]] = []
    runner = Runner(dry_run=False, executor=_fake(calls, db_type="DATASTORE_MODE"))

    rc, _, _ = run("bootstrap", "--root", str(repo), "--project", "boot-proj", runner=runner)

    assert rc == 1
    assert "DATASTORE_MODE" in capsys.readouterr().err
    assert not [argv for argv, _ in calls if argv[:4] == ["gcloud", "firestore", "databases", "update"]]


def test_existing_secrets_are_never_regenerated(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generated: list[str] = []

    def keypair() -> tuple[str, str]:
        generated.append("x")
        return "a", "b"

    monkeypatch.setattr(context, "generate_keypair", keypair)

    def everything_exists(argv: Sequence[str], *, stdin: str | None, capture: bool) -> Result:
        return Result(0, "FIRESTORE_NATIVE")

    runner = Runner(dry_run=False, executor=everything_exists)
    rc, runner, _ = run("bootstrap", "--root", str(repo), "--project", "boot-proj", runner=runner)

    assert rc == 0 and generated == []
    assert not matching(runner.commands, "gcloud", "secrets", "create")


# scheduler and alerting ----------------------------------------------------------


def test_scheduler_job_calls_health_with_oidc_every_5_minutes(repo: Path) -> None:
    rc, runner, out = run("scheduler", "--root", str(repo), "--tenant", "acme")

    assert rc == 0
    caller = sa("assistants-scheduler")
    invoker = matching(runner.commands, "gcloud", "functions", "add-invoker-policy-binding", "acme-health")
    assert len(invoker) == 1 and f"--member=serviceAccount:{caller}" in invoker[0]
    url = f"https://{REGION}-{PROJECT}.cloudfunctions.net/acme-health"
    create = matching(runner.commands, "gcloud", "scheduler", "jobs", "create", "http", "acme-health")
    update = matching(runner.commands, "gcloud", "scheduler", "jobs", "update", "http", "acme-health")
    assert len(create) == len(update) == 1
    for job in (create[0], update[0]):
        f = flags(job)
        assert f["schedule"] == "*/5 * * * *"
        assert f["uri"] == url and f["oidc-token-audience"] == url
        assert f["oidc-service-account-email"] == caller
        assert int(f["max-retry-attempts"]) > 0
    assert "ALERT_EMAIL is not set" in out


def test_scheduler_deep(repo: Path) -> None:
    _, runner, _ = run("scheduler", "--root", str(repo), "--tenant", "acme", "--deep")

    create = matching(runner.commands, "gcloud", "scheduler", "jobs", "create", "http")[0]
    assert flags(create)["uri"].endswith("/acme-health?deep=1")
    assert flags(create)["oidc-token-audience"].endswith("/acme-health")


def test_alerting_pages_the_alert_email_on_health_failures_and_chat_5xx(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_EMAIL", EMAIL)

    rc, runner, _ = run("scheduler", "--root", str(repo), "--tenant", "acme")

    assert rc == 0
    metric = matching(runner.commands, "gcloud", "logging", "metrics", "create", "acme-health-failures")
    log_filter = flags(metric[0])["log-filter"]
    assert 'resource.labels.job_id="acme-health"' in log_filter and "severity>=ERROR" in log_filter
    assert 'service_name="acme-health"' in log_filter and "httpRequest.status>=500" in log_filter
    channel = matching(runner.commands, "gcloud", "beta", "monitoring", "channels", "create")
    assert flags(channel[0])["channel-labels"] == f"email_address={EMAIL}"
    created = matching(runner.commands, "gcloud", "alpha", "monitoring", "policies", "create")
    policies = [json.loads(Path(flags(c)["policy-from-file"]).read_text()) for c in created]
    by_name = {p["displayName"]: p for p in policies}
    assert set(by_name) == {"acme: health check failing", "acme: chat 5xx rate"}
    for policy in policies:
        assert policy["notificationChannels"] == [f"projects/{PROJECT}/notificationChannels/CHANNEL_ID"]
    health = by_name["acme: health check failing"]["conditions"]
    assert all(
        "logging.googleapis.com/user/acme-health-failures" in c["conditionThreshold"]["filter"]
        for c in health
    )
    chat = by_name["acme: chat 5xx rate"]["conditions"][0]["conditionThreshold"]
    assert 'service_name="acme-chat"' in chat["filter"] and 'response_code_class="5xx"' in chat["filter"]
    assert "response_code_class" not in chat["denominatorFilter"]
    assert 0 < chat["thresholdValue"] < 1


# gcloud's own parser on everything -----------------------------------------------


def test_every_generated_command_parses_in_gcloud(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_main(repo, ["start", "chat", "admin", "health", "sandbox"])
    (repo / "infra").mkdir()
    (repo / "infra" / "tenants.yaml").write_text("tenants:\n  acme: {code_providers: true}\n")
    monkeypatch.setenv("ALERT_EMAIL", EMAIL)
    monkeypatch.setenv("BOOTSTRAP_ADMIN_USERNAME", "ops")
    monkeypatch.setenv("CI_SERVICE_ACCOUNT", sa("ci"))
    monkeypatch.setenv("CHAT_MIN_INSTANCES", "1")
    commands: list[list[str]] = []
    runs = [
        ("bootstrap",),
        ("grant", "--tenant", "acme"),
        ("deploy", "--tenant", "acme"),
        ("deploy", "--tenant", "acme", "--no-iam"),
        ("deploy-platform",),
        ("push-config", "--tenant", "acme"),
        ("scheduler", "--tenant", "acme", "--deep"),
    ]
    for argv in runs:
        rc, runner, _ = run(*argv, "--root", str(repo))
        assert rc == 0, argv
        commands.extend(runner.commands)
    unique = list({tuple(c): c for c in commands}.values())
    assert len(unique) > 60

    assert parse_errors(unique, cwd=repo) == {}


def test_the_parser_check_can_fail(repo: Path) -> None:
    bad = [
        ["gcloud", "functions", "deploy", "acme-chat", "--gen2", "--no-such-flag", f"--project={PROJECT}"],
        [
            "gcloud",
            "storage",
            "buckets",
            "create",
            "gs://some-bucket",
            "--versioning",
            f"--project={PROJECT}",
        ],
    ]

    assert set(parse_errors(bad, cwd=repo)) == {" ".join(c) for c in bad}
