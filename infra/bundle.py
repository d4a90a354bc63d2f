"""Build the source folder one tenant's functions are deployed from.

Cloud Functions uploads the whole `--source` folder, so the bundle is the
security boundary for tenant code: it holds the shared runtime (`main.py`,
`common/`, `functions/`, the hashed lock as `requirements.txt`) and only
`tenants/{tenant}/`, never another tenant's tools or config. It is built from an
inclusion list (`RUNTIME_SUFFIXES`), so what ships is what was meant to.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

# Entry points main.py may export, in deploy order (sandbox first: chat and
# admin are configured with its URL).
FUNCTIONS = ("sandbox", "start", "chat", "admin", "health")

SHARED_DIRS = ("common", "functions")
# An inclusion list: only these kinds of files ship, so a stray `.env`, key file,
# notebook or dotfile never reaches a deployed function. Python modules, plus
# the admin UI's static assets (HTML, CSS, JS, JSON, images) under common/.
RUNTIME_SUFFIXES = frozenset(
    {".py", ".html", ".css", ".js", ".mjs", ".json", ".svg", ".png", ".ico", ".woff2"}
)
TENANT_FILES = ("config.yaml",)  # plus the tenant's *.py (its Python tools)
# Operator tools that run on a laptop, never in a function.
OPERATOR_TOOLS = frozenset({"common/provision.py", "functions/dev.py"})
SKIPPED_DIRS = frozenset({"__pycache__", "tests", "node_modules"})
# The hashed lock is what the buildpack installs (as requirements.txt).
LOCK_FILE = "requirements.lock"


class BundleError(ValueError):
    pass


def exported_functions(main_py: Path) -> list[str]:
    """The known entry points main.py lists in `__all__`, found without importing it.

    Importing main.py would import every dependency (and run module code) on
    the deploy machine; parsing is enough and keeps a half-built function
    (e.g. `sandbox` before it exists) from ever being deployed.
    """
    tree = ast.parse(main_py.read_text(encoding="utf-8"), filename=str(main_py))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            value: ast.expr | None = node.value
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
            targets, value = [node.target.id], node.value
        else:
            continue
        if "__all__" in targets and isinstance(value, ast.List | ast.Tuple):
            names.update(
                e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
            )
    if not names:
        raise BundleError(f"{main_py}: no __all__ listing the function entry points")
    return [name for name in FUNCTIONS if name in names]


def _shipped(rel: Path, suffixes: frozenset[str]) -> bool:
    parts = rel.parts
    if any(p.startswith(".") or p in SKIPPED_DIRS for p in parts):
        return False
    return rel.suffix in suffixes and rel.as_posix() not in OPERATOR_TOOLS


def _copy_tree(
    src: Path, dst: Path, base: Path, suffixes: frozenset[str], extra: tuple[str, ...] = ()
) -> None:
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(base)
        if path.is_file() and (_shipped(rel, suffixes) or path.relative_to(src).as_posix() in extra):
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def build_bundle(root: Path, tenant: str | None, out_dir: Path | None = None) -> Path:
    """Copy the runtime and `tenants/{tenant}/` into `out_dir` (default `build/{tenant}`).

    `tenant=None` builds the platform bundle (`build/platform`): the runtime and
    no tenant folder. The folder is recreated from scratch, so a file deleted
    from the repo (or a previous tenant's build) can never linger in a deploy.
    The bundle's `requirements.txt` is the hashed `requirements.lock`: the
    buildpack installs exactly the pins the tests ran with.
    """
    root = root.resolve()
    out = (out_dir or root / "build" / (tenant or "platform")).resolve()
    for name in ("main.py", LOCK_FILE):
        if not (root / name).is_file():
            hint = " (run `make lock`)" if name == LOCK_FILE else ""
            raise BundleError(f"{root / name} is missing{hint}")
    for name in SHARED_DIRS:
        if not (root / name).is_dir():
            raise BundleError(f"{root / name}/ is missing")
    tenant_dir = root / "tenants" / tenant if tenant else None
    if tenant_dir is not None and not tenant_dir.is_dir():
        raise BundleError(f"{tenant_dir}/ is missing: create tenants/{tenant}/config.yaml first")
    if out == root or root.is_relative_to(out):
        raise BundleError(f"refusing to build into {out}")
    for link in (p for p in (tenant_dir.rglob("*") if tenant_dir else ()) if p.is_symlink()):
        # A link out of the tenant folder would smuggle another tenant's files in.
        if tenant_dir and not link.resolve().is_relative_to(tenant_dir.resolve()):
            raise BundleError(f"{link} points outside tenants/{tenant}/")

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy2(root / "main.py", out / "main.py")
    shutil.copy2(root / LOCK_FILE, out / "requirements.txt")
    for name in SHARED_DIRS:
        _copy_tree(root / name, out / name, root, RUNTIME_SUFFIXES)
    (out / "tenants").mkdir()
    tenants_pkg = root / "tenants" / "__init__.py"
    if tenants_pkg.is_file():
        shutil.copy2(tenants_pkg, out / "tenants" / "__init__.py")
    if tenant_dir is not None:
        _copy_tree(tenant_dir, out / "tenants" / str(tenant), root, frozenset({".py"}), TENANT_FILES)
    return out


def bundle_files(bundle: Path) -> list[str]:
    """Relative POSIX paths of every file in a built bundle, sorted."""
    return sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
