"""Least-privilege identities: one runtime service account per tenant.

What each grant is for is explained in docs/deploy.md ("Service accounts and
roles"). The tenant's boundary is drawn by IAM conditions on resource names:
its config prefix in the bucket and the `{tenant}__` prefix of secret ids.
Firestore cannot be scoped below a database, so there the app itself confines
a per-tenant deployment to `TENANT_ID`.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.gcloud import Runner

# A project-level custom role created by bootstrap: the write side of the
# tenant's secrets (admin stores provider keys and webhook secrets).
SECRET_WRITER_ROLE_ID = "assistantsSecretWriter"  # noqa: S105 - a role id, not a secret
SECRET_WRITER_PERMISSIONS = (
    "secretmanager.secrets.create",
    "secretmanager.secrets.delete",
    "secretmanager.versions.add",
)
PROJECT_TYPE = "cloudresourcemanager.googleapis.com/Project"
JWT_SECRET = "platform__jwt__signing-key"  # noqa: S105 - a secret id, not its value
SCHEDULER_ACCOUNT = "assistants-scheduler"


@dataclass(frozen=True)
class Project:
    id: str
    number: str
    region: str
    bucket: str

    def email(self, account_id: str) -> str:
        return f"{account_id}@{self.id}.iam.gserviceaccount.com"

    @property
    def flag(self) -> str:
        return f"--project={self.id}"


def ensure_service_account(runner: Runner, project: Project, account_id: str, display_name: str) -> str:
    email = project.email(account_id)
    runner.ensure(
        ["gcloud", "iam", "service-accounts", "describe", email, project.flag],
        [
            "gcloud",
            "iam",
            "service-accounts",
            "create",
            account_id,
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


def secret_prefix(project_number: str, tenant: str) -> str:
    """Secret Manager evaluates conditions on `projects/NUMBER/...`, never the project id."""
    return f"projects/{project_number}/secrets/{tenant}__"


def config_prefix(bucket: str, tenant: str) -> str:
    return f"projects/_/buckets/{bucket}/objects/tenants/{tenant}/"


def grant_tenant_roles(runner: Runner, project: Project, tenant: str, email: str) -> None:
    member = f"--member=serviceAccount:{email}"
    project_binding = ["gcloud", "projects", "add-iam-policy-binding", project.id, member]

    # Config bundle: read it, and let admin's config import overwrite it, only under tenants/{tenant}/.
    runner.run(
        [
            "gcloud",
            "storage",
            "buckets",
            "add-iam-policy-binding",
            f"gs://{project.bucket}",
            member,
            "--role=roles/storage.objectUser",
            _condition(
                f'resource.name.startsWith("{config_prefix(project.bucket, tenant)}")',
                f"{tenant}-config",
                f"Only the config prefix of tenant {tenant}",
            ),
        ],
        attempts=3,
    )
    # Firestore: IAM stops at the database; the app scopes every path by TENANT_ID.
    runner.run([*project_binding, "--role=roles/datastore.user", "--condition=None"], attempts=3)
    runner.run([*project_binding, "--role=roles/logging.logWriter", "--condition=None"], attempts=3)

    prefix = f'resource.name.startsWith("{secret_prefix(project.number, tenant)}")'
    runner.run(
        [
            *project_binding,
            "--role=roles/secretmanager.secretAccessor",
            _condition(prefix, f"{tenant}-secrets-read", f"Only secrets named {tenant}__*"),
        ],
        attempts=3,
    )
    # `secrets.create` is checked on the parent project, which the name prefix may not
    # match; the second clause admits that check and nothing else (docs/deploy.md).
    runner.run(
        [
            *project_binding,
            f"--role=projects/{project.id}/roles/{SECRET_WRITER_ROLE_ID}",
            _condition(
                f'{prefix} || resource.type == "{PROJECT_TYPE}"',
                f"{tenant}-secrets-write",
                f"Only secrets named {tenant}__*",
            ),
        ],
        attempts=3,
    )
    # The platform JWT signing key: admin signs tokens with it, every function verifies them.
    runner.run(
        [
            "gcloud",
            "secrets",
            "add-iam-policy-binding",
            JWT_SECRET,
            member,
            "--role=roles/secretmanager.secretAccessor",
            project.flag,
        ],
        attempts=3,
    )


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
