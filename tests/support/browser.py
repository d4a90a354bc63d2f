"""Debian's chromium for the browser tests (Playwright's own browser download cannot be reached).

Without the background-networking flags chromium keeps trying hosts this machine cannot
reach; as root it needs --no-sandbox.
"""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
