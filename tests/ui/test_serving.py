"""How the admin function serves the panel: strict security headers, content-hashed
asset paths cached for a year, the vendored files exactly as the lock pins them, and no
inline script or style anywhere (the CSP would block it)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from common.admin.ui import serve, vendor


async def test_index_and_assets_carry_strict_security_headers_and_hashed_cache(http):
    index = await http.get("/admin/ui/")
    assert index.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    csp = index.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert index.headers["x-frame-options"] == "DENY"
    assert index.headers["referrer-policy"] == "no-referrer"
    assert index.headers["cache-control"] == "no-cache"
    assets = re.findall(r'(?:src|href)="(v/[0-9a-f]{16}/[^"]+)"', index.text)
    assert len(assets) == 3 and all(f"v/{serve.VERSION}/" in a for a in assets)
    for path in assets:
        resp = await http.get(f"/admin/ui/{path}")
        assert resp.status_code == 200, path
        assert resp.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert resp.headers["content-security-policy"] == csp and resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["x-content-type-options"] == "nosniff"
    js = await http.get(f"/admin/ui/v/{serve.VERSION}/js/app.js")
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"


async def test_unknown_versions_and_paths_are_404_and_the_bare_path_redirects(http):
    old = "0" * 16 if serve.VERSION != "0" * 16 else "1" * 16
    for path in (
        f"/admin/ui/v/{old}/js/app.js",  # a stale hash is never served new content
        f"/admin/ui/v/{serve.VERSION}/js/missing.js",
        f"/admin/ui/v/{serve.VERSION}/../serve.py",
        f"/admin/ui/v/{serve.VERSION}/%2e%2e/serve.py",
        "/admin/ui/serve.py",
    ):
        resp = await http.get(path)
        assert resp.status_code == 404, path
        assert resp.json()["error"]["type"] == "not_found"
    bare = await http.get("/admin/ui", follow_redirects=False)
    assert bare.status_code == 308 and bare.headers["location"] == "ui/"
    assert (await http.post("/admin/ui/", json={})).status_code == 405


def test_the_version_hashes_every_served_file():
    before = serve.VERSION
    files, version = serve._load()
    assert version == before and set(files) == set(serve.FILES)
    assert "index.html" not in files and "js/app.js" in files


def test_vendored_files_match_the_lock():
    lock = json.loads((vendor.ROOT / "package-lock.json").read_text())
    record = json.loads(vendor.LOCK_FILE.read_text())
    assert set(record) == set(vendor.FILES)
    for name, (package, inner) in vendor.FILES.items():
        entry = record[name]
        pinned = lock["packages"][f"node_modules/{package}"]
        assert (entry["package"], entry["file"]) == (package, inner)
        assert (entry["version"], entry["integrity"]) == (pinned["version"], pinned["integrity"]), (
            f"{name}: package-lock.json moved to {pinned['version']}: run make ui-vendor"
        )
        vendored = hashlib.sha256((vendor.VENDOR / name).read_bytes()).hexdigest()
        assert vendored == entry["sha256"], f"{name} was edited by hand: run make ui-vendor"
    packages = json.loads((vendor.ROOT / "package.json").read_text())
    pins = {**packages.get("dependencies", {}), **packages.get("devDependencies", {})}
    for package in {p for p, _ in vendor.FILES.values()} | {"axe-core"}:
        assert re.fullmatch(r"\d+\.\d+\.\d+", pins[package]), f"{package} is not pinned exactly"


def test_no_inline_script_or_style_in_the_panel():
    index = (serve.STATIC / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", index) == []
    assert "<style" not in index and " style=" not in index and " on" not in index.split("<body>")[1]
    for path in (serve.STATIC / "js").rglob("*.js"):
        text = path.read_text()
        assert not re.search(r"\sstyle=|<style|<script|innerHTML|\beval\(|new Function", text), path


def test_vendored_files_are_the_installed_packages_files():
    """Byte for byte the file npm installed at the locked version (make test runs npm ci first)."""
    lock = json.loads((vendor.ROOT / "package-lock.json").read_text())
    for name, (package, inner) in vendor.FILES.items():
        installed = vendor.ROOT / "node_modules" / package
        pinned = lock["packages"][f"node_modules/{package}"]["version"]
        manifest = installed / "package.json"
        if not manifest.is_file() or json.loads(manifest.read_text())["version"] != pinned:
            pytest.skip(f"node_modules/{package} is not the locked {pinned}: run npm ci")
        vendored = hashlib.sha256((vendor.VENDOR / name).read_bytes()).hexdigest()
        assert hashlib.sha256((installed / inner).read_bytes()).hexdigest() == vendored, name


def test_the_deploy_bundle_ships_every_panel_file(tmp_path):
    from infra.bundle import build_bundle, bundle_files

    shipped = set(bundle_files(build_bundle(vendor.ROOT, "demo", out_dir=tmp_path / "bundle")))
    panel = {p.relative_to(vendor.ROOT).as_posix() for p in serve.STATIC.rglob("*") if p.is_file()} | {
        "common/admin/ui/serve.py",
        "common/admin/ui/__init__.py",
    }
    assert panel - shipped == set()
