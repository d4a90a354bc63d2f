"""`python -m infra.deploy {bootstrap,grant,deploy,deploy-platform,push-config,scheduler,bundle}`.

Every step is a printed gcloud command (DRY_RUN=1 only prints), idempotent,
so a failed deploy is fixed by running it again. docs/deploy.md walks through
the whole flow; `--root` points at another checkout (the tests use it).
`deploy --no-iam` (CI: DEPLOY_IAM=0) deploys code only and changes no IAM.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from infra import iam
from infra.alerting import scheduler
from infra.bootstrap import bootstrap
from infra.bundle import BundleError, build_bundle, bundle_files, exported_functions
from infra.context import (
    DeployError,
    display_path,
    ensure_generated_secret,
    env,
    function_url,
    resolve_project,
)
from infra.gcloud import CommandFailed, Runner
from infra.grant import grant, grant_sandbox_callers, grant_tenant_iam
from infra.settings import (
    PUBLIC_FUNCTIONS,
    SettingsError,
    code_providers_flag,
    extra_env,
    function_name,
    function_spec,
    turn_deadline_s,
    validate_tenant,
)

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = "platform"
PLATFORM_FUNCTION = "platform-admin"


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


def wants_sandbox(root: Path, tenant: str) -> bool:
    """`{tenant}-sandbox` is deployed when main.py exports it and the tenant runs code
    providers: `code_providers` in infra/tenants.yaml, else a `kind: code` provider in
    its config.yaml."""
    flag = code_providers_flag(root, tenant)
    if flag is not None:
        return flag
    path = _config_path(root, tenant)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    providers = data.get("providers") if isinstance(data, dict) else None
    return any(isinstance(p, dict) and p.get("kind") == "code" for p in providers or [])


def tenant_functions(root: Path, tenant: str) -> list[str]:
    functions = exported_functions(root / "main.py")
    if not functions:
        raise DeployError("main.py exports none of the known functions")
    if "sandbox" in functions and not wants_sandbox(root, tenant):
        functions.remove("sandbox")
    return functions


def _upload_config(runner: Runner, project: iam.Project, path: Path, tenant: str) -> None:
    target = f"gs://{project.bucket}/tenants/{tenant}/config.yaml"
    runner.run(["gcloud", "storage", "cp", display_path(path), target, project.flag])


def push_config(args: argparse.Namespace, runner: Runner) -> None:
    tenant = validate_tenant(args.tenant)
    path = _config_path(args.root, tenant)
    if not path.is_file():
        raise DeployError(f"{path} does not exist")
    validate_config(path, tenant)
    _upload_config(runner, resolve_project(args, runner, tenant), path, tenant)


def _env_flag(values: dict[str, str]) -> str:
    """`--set-env-vars`; gcloud's `^|^` delimiter escape when a value holds a comma."""
    if any("|" in k + v for k, v in values.items()):
        raise DeployError("an environment value holds '|'")
    if any("," in v for v in values.values()):
        return "--set-env-vars=^|^" + "|".join(f"{k}={v}" for k, v in values.items())
    return "--set-env-vars=" + ",".join(f"{k}={v}" for k, v in values.items())


def deploy_function(
    runner: Runner,
    project: iam.Project,
    root: Path,
    name: str,
    function: str,
    *,
    spec_tenant: str,
    source: Path,
    service_account: str,
    env_vars: dict[str, str],
    iam_flags: bool,
    extra_flags: Sequence[str] = (),
) -> None:
    spec = function_spec(root, spec_tenant, function)
    if function != "sandbox":
        env_vars = {**env_vars, "TURN_DEADLINE_S": str(turn_deadline_s(spec.timeout))}
    access: list[str] = []
    if iam_flags:  # CI (no IAM rights) leaves an existing function's invoker policy as it is
        access = ["--allow-unauthenticated" if function in PUBLIC_FUNCTIONS else "--no-allow-unauthenticated"]
    build_account = project.email(iam.BUILD_ACCOUNT)
    argv = [
        "gcloud",
        "functions",
        "deploy",
        name,
        "--gen2",
        "--runtime=python311",
        f"--region={project.region}",
        f"--source={display_path(source)}",
        f"--entry-point={function}",
        "--trigger-http",
        f"--memory={spec.memory}",
        f"--cpu={spec.cpu_flag}",
        f"--timeout={spec.timeout}s",
        f"--concurrency={spec.concurrency}",
        f"--max-instances={spec.max_instances}",
        *([f"--min-instances={spec.min_instances}"] if spec.min_instances is not None else []),
        f"--service-account={service_account}",
        f"--build-service-account=projects/{project.id}/serviceAccounts/{build_account}",
        _env_flag(env_vars),
        f"--update-labels=assistants-tenant={spec_tenant}",
        *access,
        *extra_flags,
        project.flag,
        "--quiet",
    ]
    runner.run(argv)


def _base_env(root: Path, project: iam.Project, tenant: str | None) -> dict[str, str]:
    return {
        **({"TENANT_ID": tenant} if tenant else {}),
        "GOOGLE_CLOUD_PROJECT": project.id,
        "CONFIG_BUCKET": project.bucket,
        "SECRETS_BACKEND": "gcp",
        # Serve the functions_framework.aio (ASGI) app under uvicorn; see docs/deploy.md.
        "FUNCTION_USE_ASGI": "true",
        **({"SERVICE_VERSION": v} if (v := env("SERVICE_VERSION")) else {}),
        **extra_env(root, tenant or PLATFORM),
    }


def _deploy_iam(args: argparse.Namespace) -> bool:
    return not args.no_iam and env("DEPLOY_IAM") not in ("0", "false", "no")


def deploy(args: argparse.Namespace, runner: Runner) -> None:
    tenant = validate_tenant(args.tenant)
    functions = tenant_functions(args.root, tenant)
    config = _config_path(args.root, tenant)
    if config.is_file() and not args.skip_config:
        validate_config(config, tenant)
    bundle = build_bundle(args.root, tenant)
    count = len(bundle_files(bundle))
    runner.note(f"Bundle {display_path(bundle)}: {count} files; functions: {', '.join(functions)}")

    with_iam = _deploy_iam(args)
    project = resolve_project(args, runner, tenant, with_number=with_iam)
    if with_iam:
        accounts = grant_tenant_iam(runner, project, tenant, functions)
    else:
        runner.note("DEPLOY_IAM=0: deploying code only; IAM is `make grant` (docs/deploy.md)")
        accounts = {f: project.email(iam.function_account(tenant, f)) for f in functions}
        for function in functions:
            name = function_name(tenant, function)
            describe = ["gcloud", "functions", "describe", name, f"--region={project.region}", project.flag]
            if not runner.exists(describe):
                raise DeployError(
                    f"{name} does not exist yet: its first deploy sets who may invoke it, which "
                    f"needs IAM rights CI does not hold. Run `make deploy TENANT={tenant}` yourself once."
                )
    if config.is_file() and not args.skip_config:
        _upload_config(runner, project, config, tenant)

    base = _base_env(args.root, project, tenant)
    extra: dict[str, dict[str, str]] = {"health": {"HEALTH_BEHIND_IAM": "true"}}
    if "sandbox" in functions:
        url = function_url(project, function_name(tenant, "sandbox"))
        callers = ",".join(accounts[c] for c in iam.SANDBOX_CALLERS if c in accounts)
        # Built from nothing: no project, bucket or secrets settings reach the sandbox.
        sandbox_env = {
            "FUNCTION_USE_ASGI": "true",
            "SANDBOX_AUTH": "google",
            "SANDBOX_AUDIENCE": url,
            "SANDBOX_ALLOWED_CALLERS": callers,
        }
        deploy_function(
            runner,
            project,
            args.root,
            function_name(tenant, "sandbox"),
            "sandbox",
            spec_tenant=tenant,
            source=bundle,
            service_account=accounts["sandbox"],
            env_vars=sandbox_env,
            iam_flags=with_iam,
        )
        if with_iam:
            grant_sandbox_callers(runner, project, tenant, accounts)
        for caller in iam.SANDBOX_CALLERS:
            extra[caller] = {"SANDBOX_URL": url, "SANDBOX_AUTH": "google"}
    for function in (f for f in functions if f != "sandbox"):
        deploy_function(
            runner,
            project,
            args.root,
            function_name(tenant, function),
            function,
            spec_tenant=tenant,
            source=bundle,
            service_account=accounts[function],
            env_vars={**base, **extra.get(function, {})},
            iam_flags=with_iam,
            # A per-tenant admin never bootstraps the platform admin (deploy-platform does).
            extra_flags=["--clear-secrets"] if function == "admin" else [],
        )
    runner.note(
        f"URLs: gcloud functions describe {tenant}-chat --region={project.region} "
        "--format='value(serviceConfig.uri)'\n"
        f"Health probe and alerting (once): make scheduler TENANT={tenant} ALERT_EMAIL=..."
    )


def _bootstrap_admin(runner: Runner, project: iam.Project) -> tuple[dict[str, str], list[str]]:
    """Env and secret flags that let the platform admin create the first user (SPEC §4).

    Only when BOOTSTRAP_ADMIN_USERNAME is set at deploy time. The password is
    generated here into Secret Manager (unless that secret already exists) and
    mounted as BOOTSTRAP_ADMIN_PASSWORD, so it is never on a command line.
    """
    username = env("BOOTSTRAP_ADMIN_USERNAME")
    if not username:
        return {}, ["--clear-secrets"]
    if not re.match(r"^[A-Za-z0-9_.@-]{1,64}$", username):
        raise DeployError("BOOTSTRAP_ADMIN_USERNAME: letters, digits and _.@- only")
    secret = f"{PLATFORM}__bootstrap__admin-password"
    ensure_generated_secret(runner, project, secret)
    runner.note(
        f"Read the first admin's password with: gcloud secrets versions access latest --secret={secret}"
    )
    return {"BOOTSTRAP_ADMIN_USERNAME": username}, [f"--set-secrets=BOOTSTRAP_ADMIN_PASSWORD={secret}:latest"]


def deploy_platform(args: argparse.Namespace, runner: Runner) -> None:
    """The platform admin: `admin` in shared mode (no TENANT_ID) as `assistants-platform-admin`,
    the only identity that reads the platform's private JWT key."""
    if "admin" not in exported_functions(args.root / "main.py"):
        raise DeployError("main.py does not export admin")
    bundle = build_bundle(args.root, None)
    runner.note(f"Bundle {display_path(bundle)}: {len(bundle_files(bundle))} files (no tenant folder)")
    project = resolve_project(args, runner)
    email = iam.ensure_service_account(
        runner, project, iam.PLATFORM_ADMIN_ACCOUNT, "Assistants platform admin"
    )
    iam.apply_grants(runner, project, iam.PLATFORM_GRANTS, email, None, PLATFORM)
    fn_env, flags = _bootstrap_admin(runner, project)
    deploy_function(
        runner,
        project,
        args.root,
        PLATFORM_FUNCTION,
        "admin",
        spec_tenant=PLATFORM,
        source=bundle,
        service_account=email,
        env_vars={**_base_env(args.root, project, None), **fn_env},
        iam_flags=True,
        extra_flags=flags,
    )


def bundle(args: argparse.Namespace, runner: Runner) -> None:
    tenant = validate_tenant(args.tenant)
    out = build_bundle(args.root, tenant, Path(args.out) if args.out else None)
    files = bundle_files(out)
    runner.note(f"Bundle {display_path(out)}: {len(files)} files")
    for name in files:
        runner.note(f"  {name}")


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", type=Path, default=ROOT, help="repository to deploy from")
    common.add_argument("--project", default="", help="project id (else $PROJECT / $GOOGLE_CLOUD_PROJECT)")
    common.add_argument("--region", default="", help="region (else $REGION, infra/tenants.yaml, us-central1)")
    parser = argparse.ArgumentParser(prog="python -m infra.deploy", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("bootstrap", parents=[common], help="one-time project setup")
    sub.add_parser("deploy-platform", parents=[common], help="the platform admin function")
    for name, text in (
        ("grant", "service accounts and roles of one tenant (a human runs it)"),
        ("deploy", "bundle, IAM, config and functions of one tenant"),
        ("push-config", "validate and upload tenants/<tenant>/config.yaml"),
        ("scheduler", "Cloud Scheduler health probe and alert policies of one tenant"),
        ("bundle", "only build build/<tenant>/"),
    ):
        cmd = sub.add_parser(name, parents=[common], help=text)
        cmd.add_argument("--tenant", default="", help="tenant slug (else $TENANT)")
        if name == "deploy":
            cmd.add_argument("--skip-config", action="store_true", help="do not upload config.yaml")
            cmd.add_argument("--no-iam", action="store_true", help="code only, no IAM change (CI)")
        if name == "scheduler":
            cmd.add_argument("--deep", action="store_true", default=env("HEALTH_DEEP") == "1", help="?deep=1")
        if name == "bundle":
            cmd.add_argument("--out", default="", help="output folder (default build/<tenant>)")
    return parser


COMMANDS = {
    "bootstrap": bootstrap,
    "grant": grant,
    "deploy": deploy,
    "deploy-platform": deploy_platform,
    "push-config": push_config,
    "scheduler": scheduler,
    "bundle": bundle,
}


def main(argv: Sequence[str] | None = None, runner: Runner | None = None) -> int:
    args = _parser().parse_args(argv)
    args.root = args.root.resolve()
    if getattr(args, "tenant", None) == "":
        args.tenant = env("TENANT") or ""
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
