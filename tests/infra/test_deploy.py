"""Dry runs of every deploy command: the gcloud commands, their flags, and no secret in sight."""

from __future__ import annotations

import io
import shlex
from collections.abc import Sequence
from pathlib import Path

import pytest

from infra import deploy
from infra.deploy import main
from infra.gcloud import Result, Runner
from infra.settings import validate_tenant
from tests.infra.conftest import write_main

PROJECT, REGION, NUMBER = "proj-test", "europe-west1", "123456789012"
BUCKET = f"{PROJECT}-assistants-config"
FN_SA = f"acme-fn@{PROJECT}.iam.gserviceaccount.com"
SBX_SA = f"acme-sbx@{PROJECT}.iam.gserviceaccount.com"
SCHED_SA = f"assistants-scheduler@{PROJECT}.iam.gserviceaccount.com"
CANARY = "CANARY-SECRET-d41d8cd98f00"


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "GOOGLE_CLOUD_PROJECT",
        "CONFIG_BUCKET",
        "TENANT",
        "BOOTSTRAP_ADMIN_USERNAME",
        "SERVICE_VERSION",
        "HEALTH_DEEP",
        "FIRESTORE_LOCATION",
        "DRY_RUN",
        "CHAT_MIN_INSTANCES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROJECT", PROJECT)
    monkeypatch.setenv("REGION", REGION)
    monkeypatch.setenv("PROJECT_NUMBER", NUMBER)
    monkeypatch.setattr(deploy, "generate_secret", lambda: CANARY)


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
    return dict(pair.split("=", 1) for pair in flags(argv)["set-env-vars"].split(","))


# deploy ----------------------------------------------------------------------


def test_deploy_names_each_exported_function_after_the_tenant(repo: Path) -> None:
    rc, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    assert rc == 0
    assert list(deploys(runner)) == ["acme-start", "acme-chat", "acme-admin", "acme-health"]


def test_deploy_flags_of_every_function(repo: Path) -> None:
    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    for name, argv in deploys(runner).items():
        function = name.removeprefix("acme-")
        f = flags(argv)
        assert "gen2" in f and "trigger-http" in f and "quiet" in f
        assert f["runtime"] == "python311"
        assert f["region"] == REGION
        assert f["project"] == PROJECT
        assert Path(f["source"]) == repo / "build" / "acme"
        assert f["entry-point"] == function
        assert f["service-account"] == FN_SA
        assert f["cpu"] == "1"
        assert f["memory"].endswith(("Mi", "Gi"))
        assert f["timeout"].endswith("s")
        assert int(f["max-instances"]) >= 1
        assert "min-instances" not in f
        assert env_vars(argv) == {
            "TENANT_ID": "acme",
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "CONFIG_BUCKET": BUCKET,
            "SECRETS_BACKEND": "gcp",
            "FUNCTION_USE_ASGI": "true",
        }
    assert all(flags(deploys(runner)[f"acme-{n}"])["concurrency"] == "80" for n in ("start", "chat", "admin"))


def test_public_functions_and_private_health(repo: Path) -> None:
    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    functions = deploys(runner)
    for name in ("acme-start", "acme-chat", "acme-admin"):
        assert "--allow-unauthenticated" in functions[name]
    assert "--no-allow-unauthenticated" in functions["acme-health"]
    assert "--allow-unauthenticated" not in functions["acme-health"]


def test_min_instances_and_sizes_come_from_env(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_MIN_INSTANCES", "2")

    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    assert flags(deploys(runner)["acme-chat"])["min-instances"] == "2"
    assert "min-instances" not in flags(deploys(runner)["acme-start"])


def test_tenants_yaml_sizes_and_env(repo: Path) -> None:
    (repo / "infra").mkdir()
    (repo / "infra" / "tenants.yaml").write_text(
        "defaults:\n  functions:\n    chat: {memory: 2Gi}\n"
        "tenants:\n  acme:\n    functions:\n      start: {max_instances: 3}\n    env: {MAX_TOOL_ROUNDS: 4}\n"
    )

    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    assert flags(deploys(runner)["acme-chat"])["memory"] == "2Gi"
    assert flags(deploys(runner)["acme-start"])["max-instances"] == "3"
    assert env_vars(deploys(runner)["acme-start"])["MAX_TOOL_ROUNDS"] == "4"


def test_tenants_yaml_cannot_override_deploy_env(repo: Path) -> None:
    (repo / "infra").mkdir()
    (repo / "infra" / "tenants.yaml").write_text("tenants:\n  acme:\n    env: {TENANT_ID: beta}\n")

    rc, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    assert rc == 1 and not deploys(runner)


def test_runtime_service_account_roles(repo: Path) -> None:
    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")
    member = f"--member=serviceAccount:{FN_SA}"

    assert matching(runner.commands, "gcloud", "iam", "service-accounts", "create", "acme-fn")
    bucket = matching(
        runner.commands, "gcloud", "storage", "buckets", "add-iam-policy-binding", f"gs://{BUCKET}"
    )
    assert len(bucket) == 1 and member in bucket[0]
    assert flags(bucket[0])["role"] == "roles/storage.objectUser"
    prefix = f'resource.name.startsWith("projects/_/buckets/{BUCKET}/objects/tenants/acme/")'
    assert flags(bucket[0])["condition"].startswith(f"expression={prefix},")

    project = {
        flags(c)["role"]: flags(c)["condition"]
        for c in matching(runner.commands, "gcloud", "projects", "add-iam-policy-binding", PROJECT)
        if member in c
    }
    secrets = f'resource.name.startsWith("projects/{NUMBER}/secrets/acme__")'
    assert project["roles/datastore.user"] == "None"
    assert project["roles/logging.logWriter"] == "None"
    assert project["roles/secretmanager.secretAccessor"].startswith(f"expression={secrets},")
    writer = project[f"projects/{PROJECT}/roles/assistantsSecretWriter"]
    assert writer.startswith(f"expression={secrets} || ")
    assert len(project) == 4
    jwt = matching(
        runner.commands, "gcloud", "secrets", "add-iam-policy-binding", "platform__jwt__signing-key"
    )
    assert len(jwt) == 1 and member in jwt[0]


def test_project_number_is_looked_up_and_a_placeholder_in_dry_run(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROJECT_NUMBER")

    _, runner, out = run("deploy", "--root", str(repo), "--tenant", "acme")

    assert ["gcloud", "projects", "describe", PROJECT, "--format=value(projectNumber)"] in runner.commands
    assert 'startsWith("projects/PROJECT_NUMBER/secrets/acme__")' in out


def test_sandbox_deployed_private_with_its_own_roleless_account(repo: Path) -> None:
    write_main(repo, ["start", "chat", "admin", "health", "sandbox"])

    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    functions = deploys(runner)
    assert next(iter(functions)) == "acme-sandbox"
    assert flags(functions["acme-sandbox"])["service-account"] == SBX_SA
    assert flags(functions["acme-sandbox"])["concurrency"] == "1"
    assert "--no-allow-unauthenticated" in functions["acme-sandbox"]
    invoker = matching(runner.commands, "gcloud", "functions", "add-invoker-policy-binding", "acme-sandbox")
    assert len(invoker) == 1 and f"--member=serviceAccount:{FN_SA}" in invoker[0]
    assert not [c for c in runner.commands if "add-iam-policy-binding" in c and any(SBX_SA in a for a in c)]
    assert "SANDBOX_URL" in env_vars(functions["acme-chat"])


def test_deploy_only_what_main_exports(repo: Path) -> None:
    write_main(repo, ["chat", "health"])

    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    assert list(deploys(runner)) == ["acme-chat", "acme-health"]


def test_deploy_uploads_the_validated_config(repo: Path) -> None:
    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    cp = matching(runner.commands, "gcloud", "storage", "cp")
    assert len(cp) == 1 and cp[0][4] == f"gs://{BUCKET}/tenants/acme/config.yaml"
    assert runner.commands.index(cp[0]) < runner.commands.index(deploys(runner)["acme-start"])


def test_invalid_config_stops_deploy_before_any_command(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "tenants/acme/config.yaml").write_text("tenant: {id: acme}\napps:\n  - {id: shop}\n")

    rc, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    assert rc == 1
    assert runner.commands == []
    assert "apps.0.name" in capsys.readouterr().err


@pytest.mark.parametrize("tenant", ["", "Acme", "-acme", "ac_me", "acme/../beta", "1acme", "a" * 60])
def test_invalid_tenant_is_refused(repo: Path, tenant: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, runner, _ = run("deploy", "--root", str(repo), f"--tenant={tenant}")

    assert rc == 1 and runner.commands == []
    assert "tenant" in capsys.readouterr().err


def test_bootstrap_admin_password_travels_through_secret_manager(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOOTSTRAP_ADMIN_USERNAME", "ops")

    _, runner, out = run("deploy", "--root", str(repo), "--tenant", "acme")

    secret = "acme__bootstrap__admin-password"
    create = matching(runner.commands, "gcloud", "secrets", "create", secret)
    assert len(create) == 1 and "--data-file=-" in create[0]
    admin = deploys(runner)["acme-admin"]
    assert flags(admin)["set-secrets"] == f"BOOTSTRAP_ADMIN_PASSWORD={secret}:latest"
    assert env_vars(admin)["BOOTSTRAP_ADMIN_USERNAME"] == "ops"
    assert "BOOTSTRAP_ADMIN_USERNAME" not in env_vars(deploys(runner)["acme-chat"])
    assert CANARY not in out


def test_every_printed_line_is_the_shell_form_of_a_command(repo: Path) -> None:
    _, runner, out = run("deploy", "--root", str(repo), "--tenant", "acme")

    printed = [line[2:] for line in out.splitlines() if line.startswith("+ ")]
    for argv in deploys(runner).values():
        assert shlex.join(argv) in printed
        assert shlex.split(shlex.join(argv)) == argv


def test_dry_run_env_never_executes(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a dry run executed a command")

    monkeypatch.setenv("DRY_RUN", "1")
    monkeypatch.setattr("subprocess.run", refuse)

    assert main(["deploy", "--root", str(repo), "--tenant", "acme"]) == 0


# push-config -------------------------------------------------------------------


def test_push_config_uploads_to_the_tenant_prefix(repo: Path) -> None:
    rc, runner, _ = run("push-config", "--root", str(repo), "--tenant", "acme")

    assert rc == 0
    assert runner.commands == [
        [
            "gcloud",
            "storage",
            "cp",
            str(repo / "tenants/acme/config.yaml"),
            f"gs://{BUCKET}/tenants/acme/config.yaml",
            f"--project={PROJECT}",
        ]
    ]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("tenant: {id: beta}\n", "tenant.id"),
        ("tenant: {id: acme}\napps:\n  - {id: shop, name: Shop, slug: Not A Slug}\n", "apps.0.slug"),
        ("tenant: {id: acme}\ntypo: 1\n", "typo"),
        ("tenant: [unclosed\n", "body"),
    ],
)
def test_push_config_names_the_invalid_field(
    repo: Path, text: str, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "tenants/acme/config.yaml").write_text(text)

    rc, runner, _ = run("push-config", "--root", str(repo), "--tenant", "acme")

    assert rc == 1 and runner.commands == []
    assert f"invalid field {field!r}" in capsys.readouterr().err


def test_push_config_bucket_from_env(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFIG_BUCKET", "other-bucket")

    _, runner, _ = run("push-config", "--root", str(repo), "--tenant", "acme")

    assert runner.commands[0][4] == "gs://other-bucket/tenants/acme/config.yaml"


# scheduler ---------------------------------------------------------------------


def test_scheduler_job_calls_health_with_oidc_every_5_minutes(repo: Path) -> None:
    rc, runner, out = run("scheduler", "--root", str(repo), "--tenant", "acme")

    assert rc == 0
    invoker = matching(runner.commands, "gcloud", "functions", "add-invoker-policy-binding", "acme-health")
    assert len(invoker) == 1 and f"--member=serviceAccount:{SCHED_SA}" in invoker[0]
    url = f"https://{REGION}-{PROJECT}.cloudfunctions.net/acme-health"  # the dry-run placeholder
    create = matching(runner.commands, "gcloud", "scheduler", "jobs", "create", "http", "acme-health")
    update = matching(runner.commands, "gcloud", "scheduler", "jobs", "update", "http", "acme-health")
    assert len(create) == len(update) == 1
    for job in (create[0], update[0]):
        f = flags(job)
        assert f["schedule"] == "*/5 * * * *"
        assert f["uri"] == url and f["oidc-token-audience"] == url
        assert f["oidc-service-account-email"] == SCHED_SA
        assert f["http-method"] == "GET"
        assert f["location"] == REGION
        assert int(f["max-retry-attempts"]) > 0
        assert {"min-backoff", "max-backoff", "attempt-deadline"} <= set(f)
    assert "'--schedule=*/5 * * * *'" in out
    assert "gcloud logging metrics create acme-health-failures" in out
    assert "monitoring policies create" in out
    assert (repo / "build" / "acme-health-alert-policy.json").is_file()


def test_scheduler_deep(repo: Path) -> None:
    _, runner, _ = run("scheduler", "--root", str(repo), "--tenant", "acme", "--deep")

    create = matching(runner.commands, "gcloud", "scheduler", "jobs", "create", "http")[0]
    assert flags(create)["uri"].endswith("/acme-health?deep=1")
    assert flags(create)["oidc-token-audience"].endswith("/acme-health")


# bootstrap ---------------------------------------------------------------------


def test_bootstrap_enables_apis_and_creates_the_shared_resources(repo: Path) -> None:
    rc, runner, out = run("bootstrap", "--root", str(repo), "--project", "boot-proj", "--region", "us-east1")

    assert rc == 0
    enable = matching(runner.commands, "gcloud", "services", "enable")[0]
    for api in (
        "cloudfunctions",
        "run",
        "cloudbuild",
        "artifactregistry",
        "firestore",
        "secretmanager",
        "cloudscheduler",
        "storage",
        "iam",
        "logging",
    ):
        assert f"{api}.googleapis.com" in enable
    bucket = matching(
        runner.commands, "gcloud", "storage", "buckets", "create", "gs://boot-proj-assistants-config"
    )
    assert len(bucket) == 1
    assert {"uniform-bucket-level-access", "public-access-prevention"} <= set(flags(bucket[0]))
    firestore = matching(runner.commands, "gcloud", "firestore", "databases", "create")
    assert len(firestore) == 1 and flags(firestore[0])["type"] == "firestore-native"
    jwt = matching(runner.commands, "gcloud", "secrets", "create", "platform__jwt__signing-key")
    assert len(jwt) == 1 and "--data-file=-" in jwt[0]
    assert "| gcloud secrets create platform__jwt__signing-key" in out
    assert CANARY not in out


def test_bootstrap_passes_the_generated_key_on_stdin_only(repo: Path) -> None:
    calls: list[tuple[list[str], str | None]] = []

    def fake(argv: Sequence[str], *, stdin: str | None, capture: bool) -> Result:
        calls.append((list(argv), stdin))
        return Result(1 if "describe" in argv else 0, "")  # nothing exists yet

    rc, _, out = run(
        "bootstrap",
        "--root",
        str(repo),
        "--project",
        "boot-proj",
        runner=Runner(dry_run=False, executor=fake),
    )

    assert rc == 0
    with_stdin = [(argv, stdin) for argv, stdin in calls if stdin is not None]
    assert len(with_stdin) == 1
    argv, stdin = with_stdin[0]
    assert argv[:4] == ["gcloud", "secrets", "create", "platform__jwt__signing-key"] and stdin == CANARY
    assert not any(CANARY in arg for argv, _ in calls for arg in argv)
    assert CANARY not in out


def test_existing_secret_is_never_regenerated(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generated: list[str] = []
    monkeypatch.setattr(deploy, "generate_secret", lambda: generated.append(CANARY) or CANARY)

    def everything_exists(argv: Sequence[str], *, stdin: str | None, capture: bool) -> Result:
        return Result(0, "")

    runner = Runner(dry_run=False, executor=everything_exists)
    rc, runner, _ = run("bootstrap", "--root", str(repo), "--project", "boot-proj", runner=runner)

    assert rc == 0 and generated == []
    assert not matching(runner.commands, "gcloud", "secrets", "create")


# bundle ------------------------------------------------------------------------


def test_bundle_command_builds_and_lists(repo: Path) -> None:
    rc, runner, out = run("bundle", "--root", str(repo), "--tenant", "acme")

    assert rc == 0 and runner.commands == []
    assert "tenants/acme/tools.py" in out and "tenants/beta" not in out


# the real repository --------------------------------------------------------------

REAL_TENANTS = sorted(
    p.parent for p in (Path(__file__).resolve().parents[2] / "tenants").glob("*/config.yaml")
)


@pytest.mark.parametrize("tenant_dir", REAL_TENANTS, ids=[p.name for p in REAL_TENANTS])
def test_each_checked_in_tenant_would_pass_deploy_validation(tenant_dir: Path) -> None:
    validate_tenant(tenant_dir.name)
    deploy.validate_config(tenant_dir / "config.yaml", tenant_dir.name)
