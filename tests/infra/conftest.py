"""Fixtures for infra tests: a small repo-like tree with two tenants, so deploy
and bundle run against files we control instead of the evolving real tree."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

BETA_MARKER = "BETA-ONLY-7f3a"  # appears only in tenant beta's files


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes a minute or more (deselect with -m 'not slow')")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def write_main(root: Path, names: list[str]) -> None:
    _write(root / "main.py", f'"""Entry points."""\n\n__all__ = {names!r}\n')


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write_main(root, ["start", "chat", "admin", "health"])
    _write(root / "requirements.txt", "functions-framework==3.10.2\n")
    _write(root / "requirements.lock", f"functions-framework==3.10.2 \\\n    --hash=sha256:{'0' * 64}\n")
    _write(root / "common/__init__.py", "")
    _write(root / "common/settings.py", "LIMIT = 1\n")
    _write(root / "common/tests/test_settings.py", "def test(): ...\n")
    _write(root / "common/__pycache__/settings.cpython-311.pyc", "bytecode")
    _write(root / "functions/__init__.py", "")
    _write(root / "functions/health.py", "async def health(request): ...\n")
    _write(root / "tenants/__init__.py", "")
    _write(root / "tenants/acme/config.yaml", "tenant:\n  id: acme\n  name: Acme\n")
    _write(root / "tenants/acme/tools.py", "ACME = 1\n")
    _write(root / "tenants/beta/config.yaml", f"# {BETA_MARKER}\ntenant:\n  id: beta\n  name: Beta\n")
    _write(root / "tenants/beta/tools.py", f"SECRET_SAUCE = {BETA_MARKER!r}\n")
    _write(root / "bench/run.py", "")
    _write(root / "node_modules/x/index.js", "")
    _write(root / ".venv/bin/python", "")
    _write(root / "tests/test_x.py", "")
    _write(root / "devserver.py", "")
    return root
