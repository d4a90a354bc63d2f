"""Create a tenant from a YAML bundle, store its provider keys, mint a client key.

Used by `make dev`, the tests and operators before the admin API exists for
them. The bundle goes to GCS (config as code) or, with `--to firestore`, is
written as Firestore records (the runtime overlay).

    python -m common.provision tenants/demo/config.yaml --to gcs \
        --secret cred-openai=env:OPENAI_API_KEY --client-key app-shop
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from typing import Any

from common.config.bundle import dump_bundle, parse_bundle
from common.config.models import COLLECTIONS, Bundle, Credential
from common.secrets import get_secrets
from common.secrets.base import secret_id
from common.settings import get_settings


def ensure_bucket() -> None:
    """Create the config bucket when missing (emulators and fresh projects)."""
    from google.api_core.exceptions import Conflict

    from common.config.source import storage_client

    client = storage_client()
    bucket = client.bucket(get_settings().config_bucket)
    if not bucket.exists():
        with contextlib.suppress(Conflict):
            client.create_bucket(bucket)


async def store_credential(tenant: str, credential_id: str, value: str) -> str:
    return await get_secrets().put(secret_id(tenant, "cred", credential_id), value)


async def write_bundle(bundle: Bundle, to: str) -> None:
    from common.config.source import upload_bundle
    from common.store import records

    tenant = bundle.tenant.id
    if to == "gcs":
        await asyncio.to_thread(ensure_bucket)
        await asyncio.to_thread(upload_bundle, tenant, dump_bundle(bundle))
        return
    await records.put_tenant(tenant, bundle.tenant.model_dump(mode="json", exclude={"id"}))
    jobs = []
    for name in COLLECTIONS:
        for rec in getattr(bundle, name):
            jobs.append(
                records.put_record(tenant, name, rec.id, rec.model_dump(mode="json", exclude_none=True))
            )
    await asyncio.gather(*jobs)


async def provision(
    bundle: Bundle, *, to: str, secrets: dict[str, str], client_key_apps: list[str]
) -> dict[str, str]:
    """Write the tenant; return {app_id: client key plaintext}."""
    from common.auth.client_keys import create_client_key
    from common.providers.endpoint import binding

    tenant = bundle.tenant.id
    # Pin the stored version on each credential: caches keyed by version never go stale;
    # and bind each key to the host its provider calls now (common.providers.endpoint).
    versions = {cred_id: await store_credential(tenant, cred_id, value) for cred_id, value in secrets.items()}
    providers = {p.id: p for p in bundle.providers}

    def stored(c: Credential) -> Credential:
        if c.id not in versions:
            return c
        bound = binding(tenant, c.id, providers.get(c.provider_id or ""), secrets[c.id])
        return c.model_copy(update={"secret_version": versions[c.id], **bound})

    bundle = bundle.model_copy(update={"credentials": [stored(c) for c in bundle.credentials]})
    await write_bundle(bundle, to)
    if to == "gcs":
        # The tenant document marks the tenant as known to Firestore-backed lookups.
        from common.store import records

        await records.put_tenant(tenant, {"name": bundle.tenant.name, "is_active": bundle.tenant.is_active})
    keys: dict[str, str] = {}
    for app_id in client_key_apps:
        _, plaintext = await create_client_key(tenant, app_id, name=f"{app_id} key")
        keys[app_id] = plaintext
    return keys


def _secret_value(spec: str) -> str:
    if spec.startswith("env:"):
        value = os.environ.get(spec[4:], "")
        if not value:
            raise SystemExit(f"environment variable {spec[4:]} is empty")
        return value
    if spec.startswith("file:"):
        with open(spec[5:], encoding="utf-8") as fh:
            return fh.read().strip()
    raise SystemExit("secret values must be given as env:NAME or file:PATH, never on the command line")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("bundle")
    parser.add_argument("--to", choices=("gcs", "firestore"), default="gcs")
    parser.add_argument("--secret", action="append", default=[], metavar="CRED_ID=env:NAME|file:PATH")
    parser.add_argument("--client-key", action="append", default=[], metavar="APP_ID")
    args = parser.parse_args(argv)
    with open(args.bundle, encoding="utf-8") as fh:
        bundle = parse_bundle(fh.read())
    secrets: dict[str, Any] = {}
    for item in args.secret:
        cred_id, _, spec = item.partition("=")
        secrets[cred_id] = _secret_value(spec)
    keys = asyncio.run(provision(bundle, to=args.to, secrets=secrets, client_key_apps=args.client_key))
    for app_id, key in keys.items():
        sys.stdout.write(f"{app_id}\t{key}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
