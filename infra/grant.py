"""`make grant TENANT=...`: the IAM half of a tenant's deploy, run by a human.

Service accounts (one per function), their role bindings (the matrix in
infra/iam.py), the tenant's JWT signing key, and, when CI_SERVICE_ACCOUNT is
set, the right of the CI account to deploy functions as those accounts. CI
itself never changes IAM: changing project IAM needs Project IAM Admin,
which can make itself Owner.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from infra import iam
from infra.context import email_from_env, ensure_generated_secret, resolve_project
from infra.gcloud import Runner
from infra.settings import function_name, validate_tenant


def grant_tenant_iam(
    runner: Runner, project: iam.Project, tenant: str, functions: Sequence[str]
) -> dict[str, str]:
    """Create each function's account and bind its grants; returns {function: email}."""
    accounts: dict[str, str] = {}
    for function in functions:
        note = " (no roles)" if function == "sandbox" else ""
        accounts[function] = iam.ensure_service_account(
            runner, project, iam.function_account(tenant, function), f"Assistants {tenant} {function}{note}"
        )
    if "admin" in functions:
        ensure_generated_secret(runner, project, iam.tenant_signing_key(tenant))
    for function, email in accounts.items():
        label = f"{tenant}-{function}"
        iam.apply_grants(runner, project, iam.FUNCTION_GRANTS[function], email, tenant, label)
    ci = email_from_env("CI_SERVICE_ACCOUNT")
    if ci:
        for email in accounts.values():
            iam.allow_act_as(runner, project, email, ci)
        # CI uploads the tenant's config.yaml with each deploy.
        ci_config = iam.Grant("roles/storage.objectUser", "bucket", "config")
        iam.apply_grants(runner, project, (ci_config,), ci, tenant, f"{tenant}-ci")
    return accounts


def grant_sandbox_callers(
    runner: Runner, project: iam.Project, tenant: str, accounts: dict[str, str]
) -> None:
    """Only the tenant's chat (and admin) may invoke its sandbox (Cloud Run IAM, `run.invoker`)."""
    for caller in iam.SANDBOX_CALLERS:
        if caller in accounts:
            iam.grant_invoker(runner, project, function_name(tenant, "sandbox"), accounts[caller])


def grant(args: argparse.Namespace, runner: Runner) -> None:
    from infra.deploy import tenant_functions

    tenant = validate_tenant(args.tenant)
    functions = tenant_functions(args.root, tenant)
    project = resolve_project(args, runner, tenant, with_number=True)
    runner.note(f"IAM of tenant {tenant}: {', '.join(functions)}")
    grant_tenant_iam(runner, project, tenant, functions)
