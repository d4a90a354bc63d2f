"""Check command lines with the installed gcloud's own parser (tests/infra/gcloud_parse.py).

Accepted: the command ran until it needed credentials (or succeeded without
them, like `config get-value`). Anything else is the parse error gcloud would
print. Without gcloud installed the tests skip, unless REQUIRE_GCLOUD=1
(Cloud Build's test step sets it: the pinned SDK is on its PATH).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# What gcloud says once the arguments parsed and it needs the environment.
NEEDS_CREDENTIALS = (
    "You do not currently have an active account selected",
    "The required property [project] is not currently set",
    "Your current active account",
    "There was a problem refreshing your current auth tokens",
)


def sdk() -> tuple[Path, str] | None:
    """(SDK root, the Python gcloud itself runs with), or None when gcloud is not installed."""
    gcloud = shutil.which("gcloud")
    if not gcloud:
        return None
    root = Path(gcloud).resolve().parent.parent
    if not (root / "lib" / "googlecloudsdk").is_dir():
        return None
    bundled = root / "platform" / "bundledpythonunix" / "bin" / "python3"
    python = os.environ.get("CLOUDSDK_PYTHON") or (str(bundled) if bundled.exists() else "python3")
    return root, python


def require_sdk() -> tuple[Path, str]:
    found = sdk()
    if found is None:
        if os.environ.get("REQUIRE_GCLOUD") == "1":
            pytest.fail("REQUIRE_GCLOUD=1 but gcloud is not on PATH")
        pytest.skip("gcloud is not installed")
    return found


def parse_errors(commands: Sequence[Sequence[str]], cwd: Path | None = None) -> dict[str, str]:
    """{command line: gcloud's complaint} for every command gcloud's parser refuses."""
    root, python = require_sdk()
    with tempfile.TemporaryDirectory() as config, tempfile.NamedTemporaryFile("w", suffix=".json") as listing:
        json.dump([list(c) for c in commands], listing)
        listing.flush()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("CLOUDSDK_", "GOOGLE_"))},
            "CLOUDSDK_CONFIG": config,
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
            "CLOUDSDK_CORE_VERBOSITY": "error",
        }
        proc = subprocess.run(
            [python, str(HERE / "gcloud_parse.py"), str(root), listing.name],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            timeout=600,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    errors: dict[str, str] = {}
    for result in json.loads(proc.stdout):
        ok = result["code"] == 0 or any(marker in result["output"] for marker in NEEDS_CREDENTIALS)
        if not ok:
            errors[" ".join(result["argv"])] = result["output"].strip()[:600]
    return errors
