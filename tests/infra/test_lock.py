"""The hashed locks: current with requirements*.txt, fully pinned, and installable as deployed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra.lock import inputs_digest, recorded_digest

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    return {canonical(m[1]): m[2] for line in path.read_text().splitlines() if (m := PIN.match(line))}


def entries(path: Path) -> list[str]:
    """Each requirement of a lock as one text block (the pin and its hash lines)."""
    text = path.read_text().replace("\\\n", " ")
    return [line for line in text.splitlines() if line and not line.lstrip().startswith("#")]


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_lock_matches_the_requirements_it_was_made_from(lock: str) -> None:
    assert recorded_digest(ROOT / lock) == inputs_digest(ROOT), (
        f"requirements.txt or requirements-dev.txt changed since {lock} was made: run `make lock` "
        "(and commit both locks)"
    )


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock"])
def test_every_package_is_pinned_with_hashes(lock: str) -> None:
    blocks = entries(ROOT / lock)
    assert len(blocks) > 20
    for block in blocks:
        assert PIN.match(block.strip()), block[:80]
        assert "--hash=sha256:" in block, block[:80]


def test_top_level_pins_are_the_locked_versions() -> None:
    runtime, dev = pins(ROOT / "requirements.lock"), pins(ROOT / "requirements-dev.lock")
    for source, lock in (("requirements.txt", runtime), ("requirements-dev.txt", dev)):
        for name, version in pins(ROOT / source).items():
            assert lock.get(name) == version, f"{source} pins {name}=={version}: run `make lock`"


def test_tests_run_with_the_deployed_pins() -> None:
    runtime, dev = pins(ROOT / "requirements.lock"), pins(ROOT / "requirements-dev.lock")

    assert {n: v for n, v in dev.items() if n in runtime} == runtime


@pytest.mark.slow
def test_the_deployed_lock_installs_in_hash_checking_mode(tmp_path: Path) -> None:
    """What the buildpack does with the bundle's requirements.txt, resolved against the index."""
    pip = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--disable-pip-version-check"]
    proc = subprocess.run(
        [*pip, "--require-hashes", "--no-deps", "--ignore-installed", "-r", str(ROOT / "requirements.lock")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0 and "Could not fetch URL" in proc.stderr + proc.stdout:
        pytest.skip("package index unreachable")
    assert proc.returncode == 0, proc.stderr[-3000:]
