"""The real tree's platform bundle ships every runtime module of `common/` and `functions/`,
subpackages included (the admin plane is split into several), and the panel's static files."""

from __future__ import annotations

from pathlib import Path

from infra.bundle import OPERATOR_TOOLS, build_bundle, bundle_files

ROOT = Path(__file__).resolve().parents[2]


def _modules(folder: str) -> set[str]:
    return {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / folder).rglob("*.py")
        if "__pycache__" not in p.parts and p.relative_to(ROOT).as_posix() not in OPERATOR_TOOLS
    }


def test_every_runtime_module_of_the_real_tree_ships(tmp_path: Path) -> None:
    files = set(bundle_files(build_bundle(ROOT, None, tmp_path / "platform")))

    expected = _modules("common") | _modules("functions")
    assert {m for m in expected if m.startswith("common/admin/") and m.count("/") == 3} >= {
        f"common/admin/{pkg}/__init__.py"
        for pkg in ("api", "records", "accounts", "providers", "observability", "ui")
    }
    assert not expected - files
    assert "common/admin/ui/static/index.html" in files
