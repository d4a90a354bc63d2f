"""`python -m infra.deploy {bootstrap,deploy,push-config,scheduler,bundle}`.

Every step is a printed gcloud command (DRY_RUN=1 only prints), idempotent,
so a failed deploy is fixed by running it again. docs/deploy.md walks through
the whole flow; `--root` points at another checkout (the tests use it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from infra import iam
from infra.bundle import BundleError, build_bundle, bundle_files, exported_functions
from infra.gcloud import CommandFailed, Runner
from infra.settings import (
    DEFAULT_REGION,
    PUBLIC_FUNCTIONS,
    SettingsError,
    account_id,
    extra_env,
    function_name,
    function_spec,
    tenant_region,
    validate_tenant,
)

ROOT = Path(__file__).resolve().parents[1]
APIS = (
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "firestore.googleapis.com",
    "secretmanager.googleapis.com",
    "cloudscheduler.googleapis.com",
    "storage.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
)
# How a printed command shows the source of a generated secret (the value itself is never printed).
RANDOM_VALUE_HINT = "python3 -c 'import secrets; print(secrets.token_urlsafe(48), end=\"\")'"
PROJECT_RE = re.compile(r"^[a-z][a-z0-9.:-]{4,61}[a-z0-9]$")
REGION_RE = re.compile(r"^[a-z]+(?:-[a-z]+)+[0-9]+$")
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$")


class DeployError(RuntimeError):
    pass


def generate_secret() -> str:
    """A fresh random value, generated here and handed to gcloud on stdin only."""
    return secrets.token_urlsafe(48)


def _env(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None


def resolve_project(
    args: argparse.Namespace, runner: Runner, tenant: str | None = None, *, with_number: bool = False
) -> iam.Project:
    """Project, region and bucket from flags, then the environment, then defaults.

    `with_number` also resolves the project number, which Secret Manager IAM
    conditions need (they never see the project id).
    """
    project_id = args.project or _env("PROJECT") or _env("GOOGLE_CLOUD_PROJECT")
    if not project_id:
        try:
            project_id = runner.query(["gcloud", "config", "get-value", "project"], placeholder="project-id")
        except CommandFailed:
            raise DeployError("no project: set PROJECT=... or run `gcloud config set project ...`") from None
    region = (
        args.region
        or _env("REGION")
        or (tenant_region(args.root, tenant) if tenant else None)
        or DEFAULT_REGION
    )
    bucket = _env("CONFIG_BUCKET") or f"{project_id}-assistants-config"
    for value, pattern, what in (
        (project_id, PROJECT_RE, "project id"),
        (region, REGION_RE, "region"),
        (bucket, BUCKET_RE, "bucket"),
    ):
        if not pattern.match(value):
            raise DeployError(f"invalid {what}: {value!r}")
    number = ""
    if with_number:
        number = _env("PROJECT_NUMBER") or runner.query(
            ["gcloud", "projects", "describe", project_id, "--format=value(projectNumber)"],
            placeholder="PROJECT_NUMBER",
        )
    return iam.Project(id=project_id, number=number, region=region, bucket=bucket)


def bootstrap(args: argparse.Namespace, runner: Runner) -> None:
    project = resolve_project(args, runner)
    p = project.flag
    runner.note(f"One-time setup of project {project.id} ({project.region})")
    runner.run(["gcloud", "services", "enable", *APIS, p])
    bucket = f"gs://{project.bucket}"
    safety = ["--uniform-bucket-level-access", "--public-access-prevention"]
    runner.ensure(
        ["gcloud", "storage", "buckets", "describe", bucket, p],
        ["gcloud", "storage", "buckets", "create", bucket, p, f"--location={project.region}", *safety],
        update=["gcloud", "storage", "buckets", "update", bucket, p, *safety],
    )
    runner.ensure(
        ["gcloud", "firestore", "databases", "describe", "--database=(default)", p],
        [
            "gcloud",
            "firestore",
            "databases",
            "create",
            "--database=(default)",
            f"--location={_env('FIRESTORE_LOCATION') or project.region}",
            "--type=firestore-native",
            p,
        ],
    )
    iam.ensure_secret_writer_role(runner, project.id)
    iam.ensure_service_account(runner, project, iam.SCHEDULER_ACCOUNT, "Cloud Scheduler health probes")
    runner.ensure(
        ["gcloud", "secrets", "describe", iam.JWT_SECRET, p],
        ["gcloud", "secrets", "create", iam.JWT_SECRET, "--data-file=-", "--replication-policy=automatic", p],
        create_stdin=lambda: generate_secret(),
        stdin_hint=RANDOM_VALUE_HINT,
    )
    runner.note("Next: write tenants/<tenant>/config.yaml, then `make deploy TENANT=<tenant>`.")


def _config_path(root: Path, tenant: str) -> Path:
    return root / "tenants" / tenant / "config.yaml"


def validate_config(path: Path, tenant: str) -> None:
    """Fail with the bundle's first invalid field, before anything is uploaded or deployed."""
    from common.config.bundle import parse_bundle
    from common.errors import ValidationFailed

    try:
        parse_bundle(path.read_text(encoding="utf-8"), expected_tenant=tenant)
    except ValidationFailed as exc:
        raise DeployError(f"{path}: invalid field {exc.field!r}: {exc.message}") from None


def _upload_config(runner: Runner, project: iam.Project, path: Path, tenant: str) -> None:
    target = f"gs://{project.bucket}/tenants/{tenant}/config.yaml"
    runner.run(["gcloud", "storage", "cp", _display_path(path), target, project.flag])


def push_config(args: argparse.Namespace, runner: Runner) -> None:
    tenant = validate_tenant(args.tenant)
    path = _config_path(args.root, tenant)
    if not path.is_file():
        raise DeployError(f"{path} does not exist")
    validate_config(path, tenant)
    _upload_config(runner, resolve_project(args, runner, tenant), path, tenant)


def _display_path(path: Path) -> str:
    """Relative to the working directory when inside it (`build/acme`), else absolute."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _bootstrap_admin(runner: Runner, project: iam.Project, tenant: str) -> tuple[dict[str, str], list[str]]:
    """Env and secret flags that let admin create the first platform admin (SPEC §4).

    Only when BOOTSTRAP_ADMIN_USERNAME is set at deploy time. The password is
    generated here into Secret Manager (unless that secret already exists) and
    mounted as BOOTSTRAP_ADMIN_PASSWORD, so it is never on a command line.
    """
    username = _env("BOOTSTRAP_ADMIN_USERNAME")
    if not username:
        return {}, ["--clear-secrets"]
    if not re.match(r"^[A-Za-z0-9_.@-]{1,64}$", username):
        raise DeployError("BOOTSTRAP_ADMIN_USERNAME: letters, digits and _.@- only")
    secret = f"{tenant}__bootstrap__admin-password"
    runner.ensure(
        ["gcloud", "secrets", "describe", secret, project.flag],
        [
            "gcloud",
            "secrets",
            "create",
            secret,
            "--data-file=-",
            "--replication-policy=automatic",
            project.flag,
        ],
        create_stdin=lambda: generate_secret(),
        stdin_hint=RANDOM_VALUE_HINT,
    )
    runner.note(
        f"Read the first admin's password with: gcloud secrets versions access latest --secret={secret}"
    )
    return {"BOOTSTRAP_ADMIN_USERNAME": username}, [f"--set-secrets=BOOTSTRAP_ADMIN_PASSWORD={secret}:latest"]


def _function_url(runner: Runner, project: iam.Project, name: str) -> str:
    return runner.query(
        [
            "gcloud",
            "functions",
            "describe",
            name,
            f"--region={project.region}",
            "--format=value(serviceConfig.uri)",
            project.flag,
        ],
        placeholder=f"https://{project.region}-{project.id}.cloudfunctions.net/{name}",
    )


def deploy_function(
    runner: Runner,
    project: iam.Project,
    args: argparse.Namespace,
    tenant: str,
    function: str,
    *,
    source: Path,
    service_account: str,
    env: dict[str, str],
    extra_flags: Sequence[str] = (),
) -> None:
    spec = function_spec(args.root, tenant, function)
    argv = [
        "gcloud",
        "functions",
        "deploy",
        function_name(tenant, function),
        "--gen2",
        "--runtime=python311",
        f"--region={project.region}",
        f"--source={_display_path(source)}",
        f"--entry-point={function}",
        "--trigger-http",
        f"--memory={spec.memory}",
        f"--cpu={spec.cpu_flag}",
        f"--timeout={spec.timeout}s",
        f"--concurrency={spec.concurrency}",
        f"--max-instances={spec.max_instances}",
        *([f"--min-instances={spec.min_instances}"] if spec.min_instances is not None else []),
        f"--service-account={service_account}",
        "--set-env-vars=" + ",".join(f"{k}={v}" for k, v in env.items()),
        f"--update-labels=assistants-tenant={tenant}",
        "--allow-unauthenticated" if function in PUBLIC_FUNCTIONS else "--no-allow-unauthenticated",
        *extra_flags,
        project.flag,
        "--quiet",
    ]
    runner.run(argv)


def deploy(args: argparse.Namespace, runner: Runner) -> None:
    tenant = validate_tenant(args.tenant)
    functions = exported_functions(args.root / "main.py")
    if not functions:
        raise DeployError("main.py exports none of the known functions")
    config = _config_path(args.root, tenant)
    if config.is_file() and not args.skip_config:
        validate_config(config, tenant)
    bundle = build_bundle(args.root, tenant)
    count = len(bundle_files(bundle))
    runner.note(f"Bundle {_display_path(bundle)}: {count} files; functions: {', '.join(functions)}")

    project = resolve_project(args, runner, tenant, with_number=True)
    runtime_sa = iam.ensure_service_account(runner, project, account_id(tenant, "fn"), f"Assistants {tenant}")
    iam.grant_tenant_roles(runner, project, tenant, runtime_sa)
    if config.is_file() and not args.skip_config:
        _upload_config(runner, project, config, tenant)

    env = {
        "TENANT_ID": tenant,
        "GOOGLE_CLOUD_PROJECT": project.id,
        "CONFIG_BUCKET": project.bucket,
        "SECRETS_BACKEND": "gcp",
        # Serve the functions_framework.aio (ASGI) app under uvicorn; see docs/deploy.md.
        "FUNCTION_USE_ASGI": "true",
        **({"SERVICE_VERSION": v} if (v := _env("SERVICE_VERSION")) else {}),
        **extra_env(args.root, tenant),
    }
    if "sandbox" in functions:
        sandbox_sa = iam.ensure_service_account(
            runner, project, account_id(tenant, "sbx"), f"Assistants {tenant} code sandbox (no roles)"
        )
        deploy_function(
            runner, project, args, tenant, "sandbox", source=bundle, service_account=sandbox_sa, env=env
        )
        sandbox = function_name(tenant, "sandbox")
        iam.grant_invoker(runner, project, sandbox, runtime_sa)
        env = {**env, "SANDBOX_URL": _function_url(runner, project, sandbox)}
    for function in (f for f in functions if f != "sandbox"):
        fn_env, flags = _bootstrap_admin(runner, project, tenant) if function == "admin" else ({}, [])
        deploy_function(
            runner,
            project,
            args,
            tenant,
            function,
            source=bundle,
            service_account=runtime_sa,
            env={**env, **fn_env},
            extra_flags=flags,
        )
    runner.note(
        f"URLs: gcloud functions describe {tenant}-chat --region={project.region} "
        "--format='value(serviceConfig.uri)'\n"
        f"Health probe (once): make scheduler TENANT={tenant}"
    )


def scheduler(args: argparse.Namespace, runner: Runner) -> None:
    tenant = validate_tenant(args.tenant)
    project = resolve_project(args, runner, tenant)
    caller = iam.ensure_service_account(
        runner, project, iam.SCHEDULER_ACCOUNT, "Cloud Scheduler health probes"
    )
    health = function_name(tenant, "health")
    iam.grant_invoker(runner, project, health, caller)
    url = _function_url(runner, project, health)
    flags = [
        f"--location={project.region}",
        "--schedule=*/5 * * * *",
        "--time-zone=Etc/UTC",
        f"--uri={url}?deep=1" if args.deep else f"--uri={url}",
        "--http-method=GET",
        f"--oidc-service-account-email={caller}",
        # Cloud Run accepts an identity token only if its audience is the service URL.
        f"--oidc-token-audience={url}",
        "--attempt-deadline=60s",
        "--max-retry-attempts=2",
        "--min-backoff=15s",
        "--max-backoff=60s",
        "--max-doublings=2",
        f"--description=Health probe of tenant {tenant}",
        project.flag,
    ]
    job = health
    runner.ensure(
        ["gcloud", "scheduler", "jobs", "describe", job, f"--location={project.region}", project.flag],
        ["gcloud", "scheduler", "jobs", "create", "http", job, *flags],
        update=["gcloud", "scheduler", "jobs", "update", "http", job, *flags],
    )
    _alerting_hint(runner, args.root, project, tenant)


def _alerting_hint(runner: Runner, root: Path, project: iam.Project, tenant: str) -> None:
    """Write an alert policy file and print the two commands that wire it up."""
    metric = f"{tenant}-health-failures"
    log_filter = (
        f'resource.type="cloud_run_revision" AND resource.labels.service_name="{tenant}-health" '
        "AND httpRequest.status>=500"
    )
    policy = {
        "displayName": f"{tenant}: health check failing",
        "combiner": "OR",
        "conditions": [
            {
                "displayName": f"{tenant}-health answered 5xx (503 = a dependency is down)",
                "conditionThreshold": {
                    "filter": f'metric.type="logging.googleapis.com/user/{metric}" '
                    'AND resource.type="cloud_run_revision"',
                    "comparison": "COMPARISON_GT",
                    "thresholdValue": 0,
                    "duration": "300s",
                    "aggregations": [{"alignmentPeriod": "300s", "perSeriesAligner": "ALIGN_SUM"}],
                },
            }
        ],
        "alertStrategy": {"autoClose": "1800s"},
        "documentation": {
            "content": f"GET the {tenant}-health URL with an identity token: the failing check is named.",
            "mimeType": "text/markdown",
        },
    }
    path = root / "build" / f"{tenant}-health-alert-policy.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(policy, indent=2) + "\n", encoding="utf-8")
    runner.note(
        "Alerting (once per tenant; see docs/deploy.md):\n"
        f"  gcloud logging metrics create {metric} {project.flag} "
        f"--description='{tenant} health answered 5xx' --log-filter='{log_filter}'\n"
        f"  gcloud alpha monitoring policies create {project.flag} "
        f"--policy-from-file={_display_path(path)} --notification-channels=CHANNEL_ID\n"
        "  (or Console > Monitoring > Alerting > Create policy on the log-based metric "
        f"logging/user/{metric}, above 0 for 5 minutes)"
    )


def bundle(args: argparse.Namespace, runner: Runner) -> None:
    tenant = validate_tenant(args.tenant)
    out = build_bundle(args.root, tenant, Path(args.out) if args.out else None)
    files = bundle_files(out)
    runner.note(f"Bundle {_display_path(out)}: {len(files)} files")
    for name in files:
        runner.note(f"  {name}")


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", type=Path, default=ROOT, help="repository to deploy from")
    common.add_argument("--project", default="", help="project id (else $PROJECT / $GOOGLE_CLOUD_PROJECT)")
    common.add_argument(
        "--region", default="", help=f"region (else $REGION, infra/tenants.yaml, {DEFAULT_REGION})"
    )
    parser = argparse.ArgumentParser(prog="python -m infra.deploy", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("bootstrap", parents=[common], help="one-time project setup")
    for name, text in (
        ("deploy", "bundle, IAM, config and functions of one tenant"),
        ("push-config", "validate and upload tenants/<tenant>/config.yaml"),
        ("scheduler", "Cloud Scheduler health probe of one tenant"),
        ("bundle", "only build build/<tenant>/"),
    ):
        cmd = sub.add_parser(name, parents=[common], help=text)
        cmd.add_argument("--tenant", default="", help="tenant slug (else $TENANT)")
        if name == "deploy":
            cmd.add_argument("--skip-config", action="store_true", help="do not upload config.yaml")
        if name == "scheduler":
            cmd.add_argument(
                "--deep", action="store_true", default=_env("HEALTH_DEEP") == "1", help="?deep=1"
            )
        if name == "bundle":
            cmd.add_argument("--out", default="", help="output folder (default build/<tenant>)")
    return parser


COMMANDS = {
    "bootstrap": bootstrap,
    "deploy": deploy,
    "push-config": push_config,
    "scheduler": scheduler,
    "bundle": bundle,
}


def main(argv: Sequence[str] | None = None, runner: Runner | None = None) -> int:
    args = _parser().parse_args(argv)
    args.root = args.root.resolve()
    if getattr(args, "tenant", None) == "":
        args.tenant = _env("TENANT") or ""
    runner = runner or Runner.from_env()
    if runner.dry_run:
        runner.note("DRY_RUN=1: printing commands only")
    try:
        COMMANDS[args.command](args, runner)
    except (DeployError, SettingsError, BundleError, CommandFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
