"""`make ui-vendor`: copy the panel's third-party files from node_modules into static/vendor/.

The panel has no build step, so its libraries are committed files. Each one is
copied from the package version `package-lock.json` locks, and `vendor/LOCK.json`
records that version, the lock's integrity hash and the file's sha256, which
tests/ui/test_vendor.py compares against the lock and node_modules.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
VENDOR = Path(__file__).parent / "static" / "vendor"
LOCK_FILE = VENDOR / "LOCK.json"
# vendored name -> (npm package, file inside it)
FILES = {
    "preact-htm.js": ("htm", "preact/standalone.module.js"),  # Preact + hooks + htm, no imports
    "uplot.js": ("uplot", "dist/uPlot.esm.js"),
    "uplot.css": ("uplot", "dist/uPlot.min.css"),
}


def locked(package: str, root: Path = ROOT) -> dict[str, str]:
    lock = json.loads((root / "package-lock.json").read_text(encoding="utf-8"))
    entry = lock["packages"][f"node_modules/{package}"]
    return {"version": entry["version"], "integrity": entry["integrity"]}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refresh(root: Path = ROOT) -> dict[str, dict[str, str]]:
    record: dict[str, dict[str, str]] = {}
    for name, (package, inner) in FILES.items():
        pin = locked(package, root)
        installed = json.loads((root / "node_modules" / package / "package.json").read_text(encoding="utf-8"))
        if installed["version"] != pin["version"]:
            have, want = installed["version"], pin["version"]
            raise SystemExit(f"node_modules/{package} is {have}, the lock says {want}: run npm ci")
        data = (root / "node_modules" / package / inner).read_bytes()
        (VENDOR / name).write_bytes(data)
        record[name] = {"package": package, "file": inner, **pin, "sha256": hashlib.sha256(data).hexdigest()}
    LOCK_FILE.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return record


if __name__ == "__main__":
    for name, entry in refresh().items():
        sys.stdout.write(f"{name}: {entry['package']}@{entry['version']} {entry['sha256'][:12]}\n")
