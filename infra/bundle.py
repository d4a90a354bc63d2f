"""Build the source folder one tenant's functions are deployed from.

Cloud Functions uploads the whole `--source` folder, so the bundle is the
security boundary for tenant code: it holds the shared runtime (`main.py`,
`common/`, `functions/`, the pinned `requirements.txt`) and only
`tenants/{tenant}/`, never another tenant's tools or config.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

# Entry points main.py may export, in deploy order (sandbox first: chat and
# admin are configured with its URL).
FUNCTIONS = ("sandbox", "start", "chat", "admin", "health")

SHARED_FILES = ("main.py", "requirements.txt")
SHARED_DIRS = ("common", "functions")
EXCLUDED_DIRS = frozenset(
    {
        "__pycache__",
        "tests",
        "bench",
        "node_modules",
        ".venv",
        "venv",
        ".git",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
    }
)
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


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


def _ignore(directory: str, entries: list[str]) -> set[str]:
    base = Path(directory)
    return {
        e
        for e in entries
        if (e in EXCLUDED_DIRS and (base / e).is_dir()) or e.endswith(EXCLUDED_SUFFIXES) or e == ".DS_Store"
    }


def build_bundle(root: Path, tenant: str, out_dir: Path | None = None) -> Path:
    """Copy the runtime and `tenants/{tenant}/` into `out_dir` (default `build/{tenant}`).

    The folder is recreated from scratch, so a file deleted from the repo (or
    a previous tenant's build) can never linger in a deploy.
    """
    root = root.resolve()
    out = (out_dir or root / "build" / tenant).resolve()
    for name in SHARED_FILES:
        if not (root / name).is_file():
            raise BundleError(f"{root / name} is missing")
    for name in SHARED_DIRS:
        if not (root / name).is_dir():
            raise BundleError(f"{root / name}/ is missing")
    tenant_dir = root / "tenants" / tenant
    if not tenant_dir.is_dir():
        raise BundleError(f"{tenant_dir}/ is missing: create tenants/{tenant}/config.yaml first")
    if out == root or root.is_relative_to(out):
        raise BundleError(f"refusing to build into {out}")
    for link in (p for p in tenant_dir.rglob("*") if p.is_symlink()):
        # A link out of the tenant folder would smuggle another tenant's files in.
        if not link.resolve().is_relative_to(tenant_dir.resolve()):
            raise BundleError(f"{link} points outside tenants/{tenant}/")

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in SHARED_FILES:
        shutil.copy2(root / name, out / name)
    for name in SHARED_DIRS:
        shutil.copytree(root / name, out / name, ignore=_ignore)
    tenants_pkg = root / "tenants" / "__init__.py"
    (out / "tenants").mkdir()
    if tenants_pkg.is_file():
        shutil.copy2(tenants_pkg, out / "tenants" / "__init__.py")
    shutil.copytree(tenant_dir, out / "tenants" / tenant, ignore=_ignore)
    return out


def bundle_files(bundle: Path) -> list[str]:
    """Relative POSIX paths of every file in a built bundle, sorted."""
    return sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file())
