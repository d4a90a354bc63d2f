"""Least-privilege identities: one service account per function of a tenant.

`FUNCTION_GRANTS` is the role matrix of docs/deploy.md ("Service accounts and
roles"): the public `start` and `chat` (and tenant tools running inside chat)
only read; `admin` writes; `health` reads; `sandbox` holds nothing. The
tenant's boundary is drawn by IAM conditions on resource names: its config
prefix in the bucket and the `{tenant}__cred__` prefix of secret ids. Firestore
cannot be scoped below a database, so there the app itself confines a
per-tenant deployment to `TENANT_ID`. No function gets `roles/logging.logWriter`:
gen2 collects stdout/stderr without it, and it would let a function write any
log of the project.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from infra.gcloud import Runner
from infra.settings import account_id

# A project-level custom role created by bootstrap: the write side of the
# tenant's credentials (admin stores provider keys and webhook secrets).
SECRET_WRITER_ROLE_ID = "assistantsSecretWriter"  # noqa: S105 - a role id, not a secret
SECRET_WRITER_PERMISSIONS = (
    "secretmanager.secrets.create",
    "secretmanager.secrets.delete",
    "secretmanager.versions.add",
)
PROJECT_TYPE = "cloudresourcemanager.googleapis.com/Project"
# JWT keys (the contract of common/auth): the platform's Ed25519 pair and one HS256 key per tenant.
PLATFORM_PRIVATE_KEY = "platform__jwt__private-key"
PLATFORM_PUBLIC_KEY = "platform__jwt__public-key"
SCHEDULER_ACCOUNT = "assistants-scheduler"
BUILD_ACCOUNT = "assistants-build"
PLATFORM_ADMIN_ACCOUNT = "assistants-platform-admin"
# What a function build needs (Cloud Run "build service account" docs).
BUILD_ROLES = ("roles/logging.logWriter", "roles/artifactregistry.writer", "roles/storage.objectAdmin")
# Which of the tenant's functions may call its sandbox (chat runs code providers,
# admin validates them).
SANDBOX_CALLERS = ("chat", "admin")
# Account id suffix per function: `{tenant}-{suffix}`, shortened by settings.account_id.
ACCOUNT_SUFFIX = {"start": "start", "chat": "chat", "admin": "admin", "health": "health", "sandbox": "sbx"}

On = Literal["project", "bucket", "secret"]
Scope = Literal["", "config", "all-config", "cred"]


def tenant_signing_key(tenant: str) -> str:
    return f"{tenant}__jwt__signing-key"


@dataclass(frozen=True)
class Grant:
    """One row of the matrix: `role` on a resource, optionally narrowed by a name prefix."""

    role: str  # "writer" stands for the project's custom secret-writer role
    on: On
    scope: Scope = ""
    secret: str = ""  # for on == "secret": the secret id ("{tenant}" is replaced)
    why: str = ""


_READ_CONFIG = Grant("roles/storage.objectViewer", "bucket", "config", why="read the tenant's bundle")
_READ_CREDS = Grant(
    "roles/secretmanager.secretAccessor", "project", "cred", why="read the tenant's provider keys"
)
_PUBLIC_KEY = Grant(
    "roles/secretmanager.secretAccessor", "secret", secret=PLATFORM_PUBLIC_KEY, why="verify platform tokens"
)
FUNCTION_GRANTS: dict[str, tuple[Grant, ...]] = {
    "start": (_READ_CONFIG, Grant("roles/datastore.user", "project", why="create threads"), _READ_CREDS),
    "chat": (_READ_CONFIG, Grant("roles/datastore.user", "project", why="threads, usage"), _READ_CREDS),
    "admin": (
        Grant("roles/storage.objectUser", "bucket", "config", why="read and import the tenant's bundle"),
        Grant("roles/datastore.user", "project", why="admin records"),
        _READ_CREDS,
        Grant("writer", "project", "cred", why="store, rotate and delete the tenant's credentials"),
        Grant(
            "roles/secretmanager.secretAccessor",
            "secret",
            secret="{tenant}__jwt__signing-key",  # noqa: S106 - a secret id template
            why="sign and verify the tenant's admin tokens",
        ),
        _PUBLIC_KEY,
    ),
    "health": (
        _READ_CONFIG,
        Grant("roles/datastore.viewer", "project", why="read probes"),
        _READ_CREDS,
        _PUBLIC_KEY,
    ),
    "sandbox": (),
}
# The platform admin (shared mode, every tenant): the root of the platform. It can
# create users of any tenant anyway, so its secret access is project-wide; it is the
# only identity that reads the platform's private key.
PLATFORM_GRANTS: tuple[Grant, ...] = (
    Grant("roles/storage.objectUser", "bucket", "all-config", why="every tenant's bundle"),
    Grant("roles/datastore.user", "project", why="all tenants' records"),
    Grant("roles/secretmanager.secretAccessor", "project", why="credentials of every tenant"),
    Grant("writer", "project", why="credentials of every tenant"),
    Grant(
        "roles/secretmanager.secretAccessor",
        "secret",
        secret=PLATFORM_PRIVATE_KEY,
        why="sign platform tokens",
    ),
)


@dataclass(frozen=True)
class Project:
    id: str
    number: str
    region: str
    bucket: str

    def email(self, account: str) -> str:
        return f"{account}@{self.id}.iam.gserviceaccount.com"

    @property
    def flag(self) -> str:
        return f"--project={self.id}"

    @property
    def writer_role(self) -> str:
        return f"projects/{self.id}/roles/{SECRET_WRITER_ROLE_ID}"


def function_account(tenant: str, function: str) -> str:
    return account_id(tenant, ACCOUNT_SUFFIX[function])


def ensure_service_account(runner: Runner, project: Project, account: str, display_name: str) -> str:
    email = project.email(account)
    runner.ensure(
        ["gcloud", "iam", "service-accounts", "describe", email, project.flag],
        [
            "gcloud",
            "iam",
            "service-accounts",
            "create",
            account,
            f"--display-name={display_name}",
            project.flag,
        ],
    )
    return email


def ensure_secret_writer_role(runner: Runner, project_id: str) -> None:
    permissions = ",".join(SECRET_WRITER_PERMISSIONS)
    base = ["gcloud", "iam", "roles"]
    ident = [SECRET_WRITER_ROLE_ID, f"--project={project_id}"]
    runner.ensure(
        [*base, "describe", *ident],
        [
            *base,
            "create",
            *ident,
            "--title=Assistants tenant secret writer",
            "--description=Create/delete secrets and add versions; granted per tenant on its secret prefix",
            f"--permissions={permissions}",
            "--stage=GA",
        ],
        update=[*base, "update", *ident, f"--permissions={permissions}", "--quiet"],
    )


def _condition(expression: str, title: str, description: str) -> str:
    # gcloud splits KEY=VALUE pairs on commas, so a comma would corrupt the condition.
    if "," in expression + title + description:
        raise ValueError(f"comma in IAM condition: {expression!r}")
    return f"--condition=expression={expression},title={title},description={description}"


def secret_prefix(project_number: str, tenant: str, kind: str = "cred") -> str:
    """Secret Manager evaluates conditions on `projects/NUMBER/...`, never the project id."""
    return f"projects/{project_number}/secrets/{tenant}__{kind}__"


def config_prefix(bucket: str, tenant: str | None) -> str:
    base = f"projects/_/buckets/{bucket}/objects/tenants/"
    return f"{base}{tenant}/" if tenant else base


def _binding_condition(project: Project, grant: Grant, tenant: str | None, label: str) -> str:
    role = "write" if grant.role == "writer" else "read"
    if grant.scope == "config":
        expr = f'resource.name.startsWith("{config_prefix(project.bucket, tenant)}")'
        return _condition(expr, f"{label}-config", f"Only the config prefix of tenant {tenant}")
    if grant.scope == "all-config":
        expr = f'resource.name.startsWith("{config_prefix(project.bucket, None)}")'
        return _condition(expr, f"{label}-config", "Only tenant config bundles")
    if grant.scope == "cred":
        expr = f'resource.name.startsWith("{secret_prefix(project.number, str(tenant))}")'
        if grant.role == "writer":
            # `secrets.create` is checked on the parent project, which the name prefix
            # may not match; this clause admits that check and nothing else (docs/deploy.md).
            expr += f' || resource.type == "{PROJECT_TYPE}"'
        return _condition(expr, f"{label}-creds-{role}", f"Only secrets named {tenant}__cred__*")
    return "--condition=None"


def apply_grants(
    runner: Runner, project: Project, grants: Sequence[Grant], email: str, tenant: str | None, label: str
) -> None:
    """Bind each grant of the matrix to `email` (idempotent: add-iam-policy-binding)."""
    member = f"--member=serviceAccount:{email}"
    for grant in grants:
        role = project.writer_role if grant.role == "writer" else grant.role
        if grant.on == "secret":
            secret = grant.secret.replace("{tenant}", str(tenant))
            argv = ["gcloud", "secrets", "add-iam-policy-binding", secret, member, f"--role={role}"]
            runner.run([*argv, project.flag], attempts=3)
            continue
        condition = _binding_condition(project, grant, tenant, label)
        if grant.on == "bucket":
            argv = ["gcloud", "storage", "buckets", "add-iam-policy-binding", f"gs://{project.bucket}"]
            runner.run([*argv, member, f"--role={role}", condition], attempts=3)
        else:
            argv = ["gcloud", "projects", "add-iam-policy-binding", project.id, member]
            runner.run([*argv, f"--role={role}", condition], attempts=3)


def grant_invoker(runner: Runner, project: Project, function: str, email: str) -> None:
    """Allow exactly one identity to call a private (no-allow-unauthenticated) function."""
    runner.run(
        [
            "gcloud",
            "functions",
            "add-invoker-policy-binding",
            function,
            f"--region={project.region}",
            f"--member=serviceAccount:{email}",
            project.flag,
        ],
        attempts=3,
    )


def allow_act_as(runner: Runner, project: Project, account_email: str, deployer: str) -> None:
    """Let `deployer` (the CI account) deploy functions that run as `account_email`."""
    runner.run(
        [
            "gcloud",
            "iam",
            "service-accounts",
            "add-iam-policy-binding",
            account_email,
            f"--member=serviceAccount:{deployer}",
            "--role=roles/iam.serviceAccountUser",
            project.flag,
        ],
        attempts=3,
    )
