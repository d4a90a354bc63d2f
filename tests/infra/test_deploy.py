"""Dry runs of deploy, grant and deploy-platform: functions, identities, least privilege."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

import pytest

from infra import deploy
from infra.deploy import main
from infra.settings import validate_tenant
from tests.infra.conftest import write_main
from tests.infra.dryrun import (
    BUCKET,
    CANARY,
    NUMBER,
    PROJECT,
    REGION,
    bindings,
    deploys,
    env_vars,
    flags,
    isolate,
    matching,
    run,
    sa,
)

CONFIG = f'resource.name.startsWith("projects/_/buckets/{BUCKET}/objects/tenants/acme/")'
CREDS = f'resource.name.startsWith("projects/{NUMBER}/secrets/acme__cred__")'
PROJECT_CLAUSE = ' || resource.type == "cloudresourcemanager.googleapis.com/Project"'
BUCKET_RES = f"gs://{BUCKET}"
WRITER = f"projects/{PROJECT}/roles/assistantsSecretWriter"
ACCESSOR = "roles/secretmanager.secretAccessor"
# The matrix of docs/deploy.md, written out independently of infra/iam.py.
MATRIX = {
    "start": {
        (BUCKET_RES, "roles/storage.objectViewer", CONFIG),
        (PROJECT, "roles/datastore.user", ""),
        (PROJECT, ACCESSOR, CREDS),
    },
    "chat": {
        (BUCKET_RES, "roles/storage.objectViewer", CONFIG),
        (PROJECT, "roles/datastore.user", ""),
        (PROJECT, ACCESSOR, CREDS),
    },
    "admin": {
        (BUCKET_RES, "roles/storage.objectUser", CONFIG),
        (PROJECT, "roles/datastore.user", ""),
        (PROJECT, ACCESSOR, CREDS),
        (PROJECT, WRITER, CREDS + PROJECT_CLAUSE),
        ("secret:acme__jwt__signing-key", ACCESSOR, ""),
        ("secret:platform__jwt__public-key", ACCESSOR, ""),
    },
    "health": {
        (BUCKET_RES, "roles/storage.objectViewer", CONFIG),
        (PROJECT, "roles/datastore.viewer", ""),
        (PROJECT, ACCESSOR, CREDS),
        ("secret:platform__jwt__public-key", ACCESSOR, ""),
    },
}
CODE_PROVIDER = "providers:\n  - {id: runner, kind: code, name: runner, python_code: 'x = 1'}\n"


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate(monkeypatch)


def with_sandbox(repo: Path) -> None:
    write_main(repo, ["start", "chat", "admin", "health", "sandbox"])
    (repo / "infra").mkdir(exist_ok=True)
    (repo / "infra" / "tenants.yaml").write_text("tenants:\n  acme: {code_providers: true}\n")


# deploy ----------------------------------------------------------------------


def test_deploy_names_each_exported_function_after_the_tenant(repo: Path) -> None:
    rc, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    assert rc == 0
    assert list(deploys(runner)) == ["acme-start", "acme-chat", "acme-admin", "acme-health"]


def test_each_function_runs_as_its_own_account_and_builds_as_the_build_account(repo: Path) -> None:
    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    accounts = set()
    for name, argv in deploys(runner).items():
        function = name.removeprefix("acme-")
        f = flags(argv)
        assert "gen2" in f and "trigger-http" in f and "quiet" in f
        assert (f["runtime"], f["region"], f["project"]) == ("python311", REGION, PROJECT)
        assert Path(f["source"]) == repo / "build" / "acme"
        assert f["entry-point"] == function
        assert f["service-account"] == sa(f"acme-{function}")
        accounts.add(f["service-account"])
        assert f["build-service-account"] == f"projects/{PROJECT}/serviceAccounts/{sa('assistants-build')}"
        assert "min-instances" not in f
        assert {
            k: v for k, v in env_vars(argv).items() if k not in ("TURN_DEADLINE_S", "HEALTH_BEHIND_IAM")
        } == {
            "TENANT_ID": "acme",
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "CONFIG_BUCKET": BUCKET,
            "SECRETS_BACKEND": "gcp",
            "FUNCTION_USE_ASGI": "true",
        }
    assert len(accounts) == 4


def test_turn_deadline_is_a_little_below_each_timeout(repo: Path) -> None:
    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    for argv in deploys(runner).values():
        timeout = int(flags(argv)["timeout"].removesuffix("s"))
        deadline = int(env_vars(argv)["TURN_DEADLINE_S"])
        assert timeout - 60 <= deadline <= timeout - 10, (timeout, deadline)
    assert env_vars(deploys(runner)["acme-chat"])["TURN_DEADLINE_S"] == "540"


def test_public_functions_and_private_health(repo: Path) -> None:
    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    functions = deploys(runner)
    for name in ("acme-start", "acme-chat", "acme-admin"):
        assert "--allow-unauthenticated" in functions[name]
    assert "--no-allow-unauthenticated" in functions["acme-health"]
    assert "--allow-unauthenticated" not in functions["acme-health"]
    assert env_vars(functions["acme-health"])["HEALTH_BEHIND_IAM"] == "true"
    assert not any("HEALTH_BEHIND_IAM" in env_vars(functions[n]) for n in ("acme-start", "acme-chat"))


def test_least_privilege_matrix(repo: Path) -> None:
    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    for function, expected in MATRIX.items():
        assert bindings(runner, sa(f"acme-{function}")) == expected, function
    every = [c for c in runner.commands if "add-iam-policy-binding" in c]
    assert not [c for c in every if "--role=roles/logging.logWriter" in c]
    # No tenant identity can read a key that mints platform tokens.
    assert not [c for c in every if "platform__jwt__private-key" in c]
    # The public functions hold no write right on config or secrets, and no JWT key.
    for function in ("start", "chat"):
        roles = {role for _, role, _ in bindings(runner, sa(f"acme-{function}"))}
        assert not roles & {"roles/storage.objectUser", WRITER, "roles/storage.objectAdmin"}
        assert not [r for r, _, _ in bindings(runner, sa(f"acme-{function}")) if "jwt" in r]


def test_the_tenant_signing_key_is_generated_on_stdin_only(repo: Path) -> None:
    _, runner, out = run("deploy", "--root", str(repo), "--tenant", "acme")

    create = matching(runner.commands, "gcloud", "secrets", "create", "acme__jwt__signing-key")
    assert len(create) == 1 and "--data-file=-" in create[0]
    assert "| gcloud secrets create acme__jwt__signing-key" in out
    assert CANARY not in out


def test_project_number_is_looked_up_and_a_placeholder_in_dry_run(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROJECT_NUMBER")

    _, runner, out = run("deploy", "--root", str(repo), "--tenant", "acme")

    assert ["gcloud", "projects", "describe", PROJECT, "--format=value(projectNumber)"] in runner.commands
    assert 'startsWith("projects/PROJECT_NUMBER/secrets/acme__cred__")' in out


def test_region_comes_from_tenants_yaml_when_region_is_empty(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGION", "")  # what Cloud Build passes for an empty _REGION
    (repo / "infra").mkdir()
    (repo / "infra" / "tenants.yaml").write_text("tenants:\n  acme: {region: asia-east1}\n")

    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    assert {flags(c)["region"] for c in deploys(runner).values()} == {"asia-east1"}


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


@pytest.mark.parametrize("name", ["TENANT_ID", "TURN_DEADLINE_S", "SANDBOX_URL", "HEALTH_BEHIND_IAM"])
def test_tenants_yaml_cannot_override_deploy_env(repo: Path, name: str) -> None:
    (repo / "infra").mkdir()
    (repo / "infra" / "tenants.yaml").write_text(f"tenants:\n  acme:\n    env: {{{name}: x}}\n")

    rc, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    assert rc == 1 and not deploys(runner)


# sandbox -----------------------------------------------------------------------


def test_sandbox_deployed_private_with_a_roleless_account_callable_by_chat(repo: Path) -> None:
    with_sandbox(repo)

    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    functions = deploys(runner)
    assert next(iter(functions)) == "acme-sandbox"
    sandbox = functions["acme-sandbox"]
    assert flags(sandbox)["service-account"] == sa("acme-sbx")
    assert flags(sandbox)["concurrency"] == "1"
    assert "--no-allow-unauthenticated" in sandbox
    assert bindings(runner, sa("acme-sbx")) == set()
    invokers = matching(runner.commands, "gcloud", "functions", "add-invoker-policy-binding", "acme-sandbox")
    members = {flags(c)["member"] for c in invokers}
    assert members == {f"serviceAccount:{sa('acme-chat')}", f"serviceAccount:{sa('acme-admin')}"}
    url = f"https://{REGION}-{PROJECT}.cloudfunctions.net/acme-sandbox"
    assert env_vars(sandbox) == {
        "FUNCTION_USE_ASGI": "true",
        "SANDBOX_AUTH": "google",
        "SANDBOX_AUDIENCE": url,
        "SANDBOX_ALLOWED_CALLERS": f"{sa('acme-chat')},{sa('acme-admin')}",
    }
    assert env_vars(functions["acme-chat"])["SANDBOX_URL"] == url
    assert "SANDBOX_URL" not in env_vars(functions["acme-start"])


def test_sandbox_follows_a_code_provider_in_the_config(repo: Path) -> None:
    write_main(repo, ["start", "chat", "admin", "health", "sandbox"])
    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")
    assert "acme-sandbox" not in deploys(runner)

    config = repo / "tenants/acme/config.yaml"
    config.write_text(config.read_text() + CODE_PROVIDER)
    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")
    assert "acme-sandbox" in deploys(runner)


def test_sandbox_never_deployed_unless_main_exports_it(repo: Path) -> None:
    (repo / "infra").mkdir()
    (repo / "infra" / "tenants.yaml").write_text("tenants:\n  acme: {code_providers: true}\n")

    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    assert "acme-sandbox" not in deploys(runner)


# CI: code only -------------------------------------------------------------------


def test_ci_deploy_changes_no_iam(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_sandbox(repo)
    monkeypatch.setenv("DEPLOY_IAM", "0")

    rc, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    assert rc == 0
    assert len(deploys(runner)) == 5
    iam_verbs = ("add-iam-policy-binding", "add-invoker-policy-binding", "create")
    assert not [c for c in runner.commands if any(v in c for v in iam_verbs)]
    assert not [c for c in runner.commands if c[:3] == ["gcloud", "projects", "describe"]]
    for argv in deploys(runner).values():
        assert not {"allow-unauthenticated", "no-allow-unauthenticated"} & set(flags(argv))
        assert flags(argv)["service-account"].startswith("acme-")
    assert len(matching(runner.commands, "gcloud", "functions", "describe")) == 5


def test_ci_deploy_refuses_a_function_that_does_not_exist_yet(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from infra.gcloud import Result, Runner

    def nothing_exists(argv: Sequence[str], *, stdin: str | None, capture: bool) -> Result:
        return Result(1 if "describe" in argv else 0, "")

    rc, runner, _ = run(
        "deploy",
        "--root",
        str(repo),
        "--tenant",
        "acme",
        "--no-iam",
        runner=Runner(dry_run=False, executor=nothing_exists),
    )

    assert rc == 1 and not deploys(runner)
    assert "make deploy TENANT=acme" in capsys.readouterr().err


def test_grant_is_the_iam_half_and_gives_ci_only_act_as(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ci = sa("ci-deployer")
    monkeypatch.setenv("CI_SERVICE_ACCOUNT", ci)

    rc, runner, _ = run("grant", "--root", str(repo), "--tenant", "acme")

    assert rc == 0 and not deploys(runner)
    for function, expected in MATRIX.items():
        assert bindings(runner, sa(f"acme-{function}")) == expected
    ci_bindings = bindings(runner, ci)
    act_as = {(f"account:{sa(f'acme-{f}')}", "roles/iam.serviceAccountUser", "") for f in MATRIX}
    assert ci_bindings == act_as | {(BUCKET_RES, "roles/storage.objectUser", CONFIG)}


# platform admin ------------------------------------------------------------------


def test_deploy_platform_runs_admin_in_shared_mode_as_the_platform_account(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOOTSTRAP_ADMIN_USERNAME", "ops")

    rc, runner, out = run("deploy-platform", "--root", str(repo))

    assert rc == 0
    ((name, argv),) = deploys(runner).items()
    email = sa("assistants-platform-admin")
    assert name == "platform-admin"
    assert flags(argv)["entry-point"] == "admin" and flags(argv)["service-account"] == email
    assert "--allow-unauthenticated" in argv
    env = env_vars(argv)
    assert "TENANT_ID" not in env and env["BOOTSTRAP_ADMIN_USERNAME"] == "ops"
    assert flags(argv)["set-secrets"] == "BOOTSTRAP_ADMIN_PASSWORD=platform__bootstrap__admin-password:latest"
    assert ("secret:platform__jwt__private-key", ACCESSOR, "") in bindings(runner, email)
    assert not (repo / "build" / "platform" / "tenants" / "acme").exists()
    assert CANARY not in out


def test_bootstrap_admin_is_not_a_tenant_deploy_concern(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOTSTRAP_ADMIN_USERNAME", "ops")

    _, runner, _ = run("deploy", "--root", str(repo), "--tenant", "acme")

    assert "--clear-secrets" in deploys(runner)["acme-admin"]
    assert not matching(runner.commands, "gcloud", "secrets", "create", "acme__bootstrap__admin-password")


# validation ----------------------------------------------------------------------


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


@pytest.mark.parametrize(
    "tenant", ["", "Acme", "-acme", "ac_me", "acme/../beta", "1acme", "a" * 60, "platform"]
)
def test_invalid_tenant_is_refused(repo: Path, tenant: str, capsys: pytest.CaptureFixture[str]) -> None:
    rc, runner, _ = run("deploy", "--root", str(repo), f"--tenant={tenant}")

    assert rc == 1 and runner.commands == []
    assert "tenant" in capsys.readouterr().err


def test_every_printed_line_is_the_shell_form_of_a_command(repo: Path) -> None:
    with_sandbox(repo)
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
