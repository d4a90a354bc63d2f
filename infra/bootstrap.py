"""`make bootstrap`: the one-time, project-wide setup (docs/deploy.md section 2).

APIs, the config bucket (versioned, so a bad import can be rolled back), the
Firestore database (native mode only, delete protection and point-in-time
recovery on, TTL policies on every `expires_at`), the build service account,
the shared service accounts and the platform's JWT key pair.
"""

from __future__ import annotations

import argparse

from infra import context, iam
from infra.context import (
    KEYPAIR_HINT,
    PUBLIC_KEY_HINT,
    DeployError,
    email_from_env,
    env,
    resolve_project,
)
from infra.gcloud import Runner

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
    "monitoring.googleapis.com",
    "cloudresourcemanager.googleapis.com",
)
# Collection groups whose documents carry `expires_at` (a Firestore TTL policy deletes
# them, up to a day late; the code treats expired records as absent meanwhile).
# tests/infra/test_ttl.py fails when code writes `expires_at` in a module not listed here.
TTL_FIELD = "expires_at"
TTL_COLLECTION_GROUPS: dict[str, str] = {
    "idempotency": "common/chat/idempotency.py",
}
DATABASE = "--database=(default)"


def _bucket(runner: Runner, project: iam.Project) -> None:
    bucket = f"gs://{project.bucket}"
    p = project.flag
    safety = ["--uniform-bucket-level-access", "--public-access-prevention"]
    runner.ensure(
        ["gcloud", "storage", "buckets", "describe", bucket, p],
        ["gcloud", "storage", "buckets", "create", bucket, p, f"--location={project.region}", *safety],
    )
    # Versioning keeps every overwritten config.yaml (a bad import is rolled back by
    # copying a noncurrent generation back: docs/deploy.md "Recovery").
    runner.run(["gcloud", "storage", "buckets", "update", bucket, p, *safety, "--versioning"])


def _database(runner: Runner, project: iam.Project) -> None:
    p = project.flag
    describe = ["gcloud", "firestore", "databases", "describe", DATABASE, p]
    location = env("FIRESTORE_LOCATION") or project.region
    protection = ["--delete-protection", "--enable-pitr"]
    runner.ensure(
        describe,
        [
            "gcloud",
            "firestore",
            "databases",
            "create",
            DATABASE,
            f"--location={location}",
            "--type=firestore-native",
            *protection,
            p,
        ],
    )
    kind = runner.query([*describe, "--format=value(type)"], placeholder="FIRESTORE_NATIVE")
    if kind.strip().upper() != "FIRESTORE_NATIVE":
        raise DeployError(
            f"the (default) database of {project.id} is in {kind} mode; the functions need Firestore "
            "in native mode. Use another project (a database's mode cannot change once it holds data)."
        )
    runner.run(["gcloud", "firestore", "databases", "update", DATABASE, *protection, p])
    for group in TTL_COLLECTION_GROUPS:
        runner.run(
            [
                "gcloud",
                "firestore",
                "fields",
                "ttls",
                "update",
                TTL_FIELD,
                f"--collection-group={group}",
                "--enable-ttl",
                "--async",
                p,
            ]
        )


def _platform_keys(runner: Runner, project: iam.Project) -> None:
    """The Ed25519 pair: both halves from one generation, never regenerated.

    A missing public half next to an existing private one cannot be derived
    here without reading the private key, so that state stops with a message.
    """
    pair: list[str] = []
    created_private: list[bool] = []

    def keypair() -> tuple[str, str]:
        if not pair:
            pair.extend(context.generate_keypair())
        return pair[0], pair[1]

    def private() -> str:
        created_private.append(True)
        return keypair()[0]

    def public() -> str:
        if not created_private:
            raise DeployError(
                f"{iam.PLATFORM_PUBLIC_KEY} is missing but {iam.PLATFORM_PRIVATE_KEY} exists: delete the "
                "private key (platform tokens become invalid) and run bootstrap again"
            )
        return keypair()[1]

    for secret, value, hint in (
        (iam.PLATFORM_PRIVATE_KEY, private, KEYPAIR_HINT),
        (iam.PLATFORM_PUBLIC_KEY, public, PUBLIC_KEY_HINT),
    ):
        context.ensure_secret(runner, project, secret, value, hint)


def _build_account(runner: Runner, project: iam.Project) -> str:
    """Functions build as this account: new projects no longer give the default one the builder role."""
    email = iam.ensure_service_account(runner, project, iam.BUILD_ACCOUNT, "Assistants function builds")
    for role in iam.BUILD_ROLES:
        runner.run(
            [
                "gcloud",
                "projects",
                "add-iam-policy-binding",
                project.id,
                f"--member=serviceAccount:{email}",
                f"--role={role}",
                "--condition=None",
            ],
            attempts=3,
        )
    return email


def _ci_account(runner: Runner, project: iam.Project, ci: str, build: str) -> None:
    """The CI deployer: deploys code, never changes IAM (`make grant` stays with humans)."""
    runner.run(
        [
            "gcloud",
            "projects",
            "add-iam-policy-binding",
            project.id,
            f"--member=serviceAccount:{ci}",
            "--role=roles/cloudfunctions.developer",
            "--condition=None",
        ],
        attempts=3,
    )
    iam.allow_act_as(runner, project, build, ci)


def bootstrap(args: argparse.Namespace, runner: Runner) -> None:
    project = resolve_project(args, runner)
    runner.note(f"One-time setup of project {project.id} ({project.region})")
    runner.run(["gcloud", "services", "enable", *APIS, project.flag])
    _bucket(runner, project)
    _database(runner, project)
    iam.ensure_secret_writer_role(runner, project.id)
    iam.ensure_service_account(runner, project, iam.SCHEDULER_ACCOUNT, "Cloud Scheduler health probes")
    build = _build_account(runner, project)
    _platform_keys(runner, project)
    ci = email_from_env("CI_SERVICE_ACCOUNT")
    if ci:
        _ci_account(runner, project, ci, build)
    runner.note(
        "Next: `make deploy-platform`, then write tenants/<tenant>/config.yaml and "
        "`make deploy TENANT=<tenant>`."
    )
