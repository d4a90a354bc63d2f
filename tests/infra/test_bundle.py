"""The per-tenant bundle: the shared runtime plus exactly one tenant's folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from infra.bundle import BundleError, build_bundle, bundle_files, exported_functions
from infra.settings import ACCOUNT_ID_RE, SettingsError, account_id, validate_tenant
from tests.infra.conftest import BETA_MARKER, write_main


def test_bundle_holds_the_runtime_and_only_its_tenant(repo: Path) -> None:
    out = build_bundle(repo, "acme")

    files = bundle_files(out)
    assert out == repo / "build" / "acme"
    assert {
        "main.py",
        "requirements.txt",
        "common/__init__.py",
        "common/settings.py",
        "functions/__init__.py",
        "functions/health.py",
        "tenants/__init__.py",
        "tenants/acme/config.yaml",
        "tenants/acme/tools.py",
    } == set(files)


def test_bundle_for_a_contains_no_file_of_b(repo: Path) -> None:
    out = build_bundle(repo, "acme")

    assert not (out / "tenants" / "beta").exists()
    for path in out.rglob("*"):
        if path.is_file():
            assert BETA_MARKER not in path.read_text(errors="replace"), path


def test_bundle_excludes_caches_tests_and_tooling(repo: Path) -> None:
    files = bundle_files(build_bundle(repo, "acme"))

    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    assert not [f for f in files if f.split("/")[0] in {"tests", "bench", "node_modules", ".venv", "build"}]
    assert not [f for f in files if "/tests/" in f]
    assert "devserver.py" not in files


def test_bundle_is_an_inclusion_list(repo: Path) -> None:
    for name in (
        "common/.env",
        "common/key.pem",
        "common/notes.yaml",
        "functions/.secret.py",
        "tenants/acme/.env",
        "tenants/acme/.hidden/tools.py",
        "tenants/acme/service-account.json",
        "tenants/acme/notes.txt",
        "common/provision.py",
        "functions/dev.py",
    ):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("x = 1\n")
    (repo / "common/admin/ui/static").mkdir(parents=True)
    for asset in ("index.html", "app.js", "app.css", "catalog.json"):
        (repo / "common/admin/ui/static" / asset).write_text("/* ui */\n")

    files = set(bundle_files(build_bundle(repo, "acme")))

    assert not [f for f in files if any(p.startswith(".") for p in f.split("/"))]
    assert not {"common/key.pem", "common/notes.yaml", "tenants/acme/service-account.json"} & files
    assert not {"tenants/acme/notes.txt", "common/provision.py", "functions/dev.py"} & files
    assert {
        f"common/admin/ui/static/{a}" for a in ("index.html", "app.js", "app.css", "catalog.json")
    } <= files


def test_bundle_requirements_are_the_hashed_lock(repo: Path) -> None:
    out = build_bundle(repo, "acme")

    assert (out / "requirements.txt").read_text() == (repo / "requirements.lock").read_text()


def test_platform_bundle_has_no_tenant_folder(repo: Path) -> None:
    out = build_bundle(repo, None)

    assert out == repo / "build" / "platform"
    assert not [f for f in bundle_files(out) if f.startswith("tenants/") and f != "tenants/__init__.py"]


def test_rebuild_drops_stale_files(repo: Path) -> None:
    out = build_bundle(repo, "acme")
    (out / "stale.py").write_text("old")

    build_bundle(repo, "acme")

    assert not (out / "stale.py").exists()


def test_symlink_out_of_the_tenant_folder_is_refused(repo: Path) -> None:
    os.symlink(repo / "tenants/beta/tools.py", repo / "tenants/acme/borrowed.py")

    with pytest.raises(BundleError, match="outside"):
        build_bundle(repo, "acme")


def test_unknown_tenant_is_refused(repo: Path) -> None:
    with pytest.raises(BundleError, match="tenants/gamma"):
        build_bundle(repo, "gamma")


def test_exported_functions_read_from_all_without_importing(tmp_path: Path) -> None:
    write_main(tmp_path, ["health", "chat", "dev", "start"])
    (tmp_path / "main.py").write_text((tmp_path / "main.py").read_text() + "raise SystemExit('imported')\n")

    assert exported_functions(tmp_path / "main.py") == ["start", "chat", "health"]


def test_exported_functions_accepts_a_tuple_and_requires_all(tmp_path: Path) -> None:
    main = tmp_path / "main.py"
    main.write_text("__all__ = ('sandbox', 'admin')\n")
    assert exported_functions(main) == ["sandbox", "admin"]

    main.write_text("from functions.chat import chat\n")
    with pytest.raises(BundleError, match="__all__"):
        exported_functions(main)


def test_the_real_main_py_exports_deployable_functions() -> None:
    root = Path(__file__).resolve().parents[2]

    functions = exported_functions(root / "main.py")

    assert {"start", "chat", "health"} <= set(functions)


@pytest.mark.parametrize("tenant", ["acme", "a", "ab", "x" * 55, "acme-eu-west-production-42", "z9"])
def test_service_account_ids_are_valid_and_stable(tenant: str) -> None:
    for suffix in ("start", "chat", "admin", "health", "sbx"):
        ident = account_id(tenant, suffix)
        assert ACCOUNT_ID_RE.match(ident), ident
        assert ident == account_id(tenant, suffix)
    assert account_id("acme", "fn") == "acme-fn"
    assert account_id("x" * 55, "fn") != account_id("x" * 54, "fn")


def test_tenant_must_be_able_to_name_its_functions() -> None:
    assert validate_tenant("acme") == "acme"
    for bad in ("1acme", "a" * 56, "ACME", "acme_eu", "", "platform"):
        with pytest.raises(SettingsError):
            validate_tenant(bad)
