"""Local key creation: racing processes end up with one key pair (and one key per tenant)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import ROOT

RACER = """
import asyncio
from common.auth import keys

async def main():
    await asyncio.gather(
        keys.platform_public_key(), keys.platform_private_key(), keys.platform_public_key(),
        keys.tenant_signing_key("t-race", create=True), keys.tenant_signing_key("t-race", create=True),
    )

asyncio.run(main())
"""


def test_racing_processes_create_one_pair_and_one_tenant_key(tmp_path: Path) -> None:
    from common.auth.keys import load_private_key, load_public_key

    path = tmp_path / "secrets.json"
    env = {**os.environ, "SECRETS_BACKEND": "local", "LOCAL_SECRETS_FILE": str(path)}
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER], env=env, cwd=ROOT, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for racer in racers:
        _, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err.decode()

    stored = json.loads(path.read_text())["secrets"]
    names = {"platform__jwt__private-key", "platform__jwt__public-key", "t-race__jwt__signing-key"}
    assert set(stored) == names
    assert all(len(entry["versions"]) == 1 for entry in stored.values()), stored.keys()
    private = load_private_key(stored["platform__jwt__private-key"]["versions"][0])
    public = load_public_key(stored["platform__jwt__public-key"]["versions"][0])
    public.verify(private.sign(b"same pair"), b"same pair")
    assert oct(path.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("tenant", ["platform", "Bad_Slug", ""])
def test_reserved_or_malformed_tenants_have_no_key_name(tenant: str) -> None:
    from common.auth.keys import tenant_signing_key_secret

    with pytest.raises(ValueError):
        tenant_signing_key_secret(tenant)
    assert tenant_signing_key_secret("t-ok") == "t-ok__jwt__signing-key"
