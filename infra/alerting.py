"""`make scheduler TENANT=... ALERT_EMAIL=...`: the health probe, and who gets paged.

The Cloud Scheduler job calls `{tenant}-health` every 5 minutes with an OIDC
token. Two alert policies page the `ALERT_EMAIL` channel (docs/deploy.md
section 8): the health job failing (a log-based metric on the job's failed
attempts and on health's own 5xx answers), and `{tenant}-chat` answering 5xx
to more than 5% of requests. Policies are files under build/ (reviewable),
created or updated by display name, so a re-run changes nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from infra import iam
from infra.context import display_path, email_from_env, function_url, resolve_project
from infra.gcloud import Runner
from infra.settings import function_name, validate_tenant

CHAT_5XX_RATIO = 0.05
WINDOW = "300s"


def health_failure_filter(tenant: str) -> str:
    """Failed Scheduler attempts (function down, token refused, 5xx) and health's own 5xx."""
    job = function_name(tenant, "health")
    return (
        f'(resource.type="cloud_scheduler_job" AND resource.labels.job_id="{job}" AND severity>=ERROR) '
        f'OR (resource.type="cloud_run_revision" AND resource.labels.service_name="{job}" '
        "AND httpRequest.status>=500)"
    )


def _metric_condition(name: str, metric: str, resource: str) -> dict[str, Any]:
    return {
        "displayName": name,
        "conditionThreshold": {
            "filter": f'metric.type="logging.googleapis.com/user/{metric}" AND resource.type="{resource}"',
            "comparison": "COMPARISON_GT",
            "thresholdValue": 0,
            "duration": "0s",
            "aggregations": [
                {
                    "alignmentPeriod": WINDOW,
                    "perSeriesAligner": "ALIGN_SUM",
                    "crossSeriesReducer": "REDUCE_SUM",
                }
            ],
        },
    }


def health_policy(tenant: str, metric: str, channel: str) -> dict[str, Any]:
    return {
        "displayName": f"{tenant}: health check failing",
        "combiner": "OR",
        "conditions": [
            _metric_condition(f"{tenant}-health job attempt failed", metric, "cloud_scheduler_job"),
            _metric_condition(f"{tenant}-health answered 5xx", metric, "cloud_run_revision"),
        ],
        "notificationChannels": [channel],
        "alertStrategy": {"autoClose": "1800s"},
        "documentation": {
            "content": f"GET the {tenant}-health URL with an identity token: the failing check is named "
            "(docs/deploy.md section 8).",
            "mimeType": "text/markdown",
        },
    }


def chat_5xx_policy(tenant: str, channel: str) -> dict[str, Any]:
    service = function_name(tenant, "chat")
    base = (
        'metric.type="run.googleapis.com/request_count" AND resource.type="cloud_run_revision" '
        f'AND resource.labels.service_name="{service}"'
    )
    rate = [{"alignmentPeriod": WINDOW, "perSeriesAligner": "ALIGN_RATE", "crossSeriesReducer": "REDUCE_SUM"}]
    return {
        "displayName": f"{tenant}: chat 5xx rate",
        "combiner": "OR",
        "conditions": [
            {
                "displayName": f"{service} answers 5xx to over {CHAT_5XX_RATIO:.0%} of requests",
                "conditionThreshold": {
                    "filter": f'{base} AND metric.labels.response_code_class="5xx"',
                    "denominatorFilter": base,
                    "aggregations": rate,
                    "denominatorAggregations": rate,
                    "comparison": "COMPARISON_GT",
                    "thresholdValue": CHAT_5XX_RATIO,
                    "duration": WINDOW,
                },
            }
        ],
        "notificationChannels": [channel],
        "alertStrategy": {"autoClose": "1800s"},
        "documentation": {
            "content": f"{service} fails requests: see its logs (severity>=ERROR) and provider status.",
            "mimeType": "text/markdown",
        },
    }


def _channel(runner: Runner, project: iam.Project, email: str) -> str:
    base = ["gcloud", "beta", "monitoring", "channels"]
    placeholder = f"projects/{project.id}/notificationChannels/CHANNEL_ID"
    found = runner.query(
        [
            *base,
            "list",
            f'--filter=type="email" AND labels.email_address="{email}"',
            "--format=value(name)",
            "--limit=1",
            project.flag,
        ],
        placeholder=placeholder,
        allow_empty=True,
    )
    if found and not runner.dry_run:
        return found.splitlines()[0]
    return runner.query(
        [
            *base,
            "create",
            "--type=email",
            f"--display-name=Assistants alerts {email}",
            f"--channel-labels=email_address={email}",
            "--format=value(name)",
            project.flag,
        ],
        placeholder=placeholder,
    )


def _policy(runner: Runner, project: iam.Project, path: Path, policy: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(policy, indent=2) + "\n", encoding="utf-8")
    base = ["gcloud", "alpha", "monitoring", "policies"]
    source = f"--policy-from-file={display_path(path)}"
    found = runner.query(
        [
            *base,
            "list",
            f'--filter=displayName="{policy["displayName"]}"',
            "--format=value(name)",
            project.flag,
        ],
        placeholder=f"projects/{project.id}/alertPolicies/POLICY_ID",
        allow_empty=True,
    )
    if found:
        runner.run([*base, "update", found.splitlines()[0], source, project.flag])
    if runner.dry_run or not found:
        runner.run([*base, "create", source, project.flag])


def alerting(runner: Runner, root: Path, project: iam.Project, tenant: str) -> None:
    email = email_from_env("ALERT_EMAIL")
    if not email:
        runner.note("ALERT_EMAIL is not set: no alert policy created, so nobody is paged (docs/deploy.md)")
        return
    metric = f"{tenant}-health-failures"
    flags = [f"--description={tenant} health probe failed", f"--log-filter={health_failure_filter(tenant)}"]
    runner.ensure(
        ["gcloud", "logging", "metrics", "describe", metric, project.flag],
        ["gcloud", "logging", "metrics", "create", metric, *flags, project.flag],
        update=["gcloud", "logging", "metrics", "update", metric, *flags, project.flag],
    )
    channel = _channel(runner, project, email)
    build = root / "build"
    _policy(
        runner, project, build / f"{tenant}-health-alert-policy.json", health_policy(tenant, metric, channel)
    )
    _policy(runner, project, build / f"{tenant}-chat-5xx-alert-policy.json", chat_5xx_policy(tenant, channel))


def scheduler(args: argparse.Namespace, runner: Runner) -> None:
    tenant = validate_tenant(args.tenant)
    project = resolve_project(args, runner, tenant)
    caller = iam.ensure_service_account(
        runner, project, iam.SCHEDULER_ACCOUNT, "Cloud Scheduler health probes"
    )
    health = function_name(tenant, "health")
    iam.grant_invoker(runner, project, health, caller)
    url = function_url(project, health)
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
    runner.ensure(
        ["gcloud", "scheduler", "jobs", "describe", health, f"--location={project.region}", project.flag],
        ["gcloud", "scheduler", "jobs", "create", "http", health, *flags],
        update=["gcloud", "scheduler", "jobs", "update", "http", health, *flags],
    )
    alerting(runner, args.root, project, tenant)
