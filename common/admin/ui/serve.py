"""Serve the panel's static files from memory, under a content-hashed path.

Every file is read once at import into a dict, so a request path is only ever a
dict key (no filesystem path is built from it). Assets live under
`ui/v/{version}/...`, where `version` hashes every file: relative ES-module
imports resolve inside that prefix, so each asset is cached for a year
(`immutable`) without rewriting any import, and a deploy that changes any file
changes every asset URL. Only `index.html` (which names the version) is
revalidated. Every response carries a strict CSP: no inline script or style,
nothing from another origin, no framing.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from pathlib import Path

from starlette.responses import RedirectResponse, Response

from common.errors import NotFound
from common.http.routing import Ctx, Route, Router

STATIC = Path(__file__).parent / "static"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".json": "application/json"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}
IMMUTABLE = "public, max-age=31536000, immutable"
_ASSET_PATH = r"(?P<asset>[A-Za-z0-9_-][A-Za-z0-9_./-]{0,200})"


def _load() -> tuple[dict[str, bytes], str]:
    files = {
        p.relative_to(STATIC).as_posix(): p.read_bytes()
        for p in sorted(STATIC.rglob("*"))
        if p.is_file() and p.name != "index.html"
    }
    digest = hashlib.sha256()
    for name, data in files.items():
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return files, digest.hexdigest()[:16]


FILES, VERSION = _load()
INDEX = (STATIC / "index.html").read_text(encoding="utf-8").replace("{{version}}", VERSION).encode()


def _headers(cache: str) -> dict[str, str]:
    return {**SECURITY_HEADERS, "Cache-Control": cache}


async def index(ctx: Ctx) -> Response:
    if not ctx.request.url.path.endswith("/"):  # relative asset URLs need the trailing slash
        return RedirectResponse("ui/", status_code=308, headers=_headers("no-cache"))
    return Response(INDEX, media_type="text/html; charset=utf-8", headers=_headers("no-cache"))


async def asset(ctx: Ctx) -> Response:
    name = ctx.params["asset"]
    data = FILES.get(name)
    if ctx.params["version"] != VERSION or data is None:
        raise NotFound("no such asset in this version of the panel")
    suffix = Path(name).suffix
    media = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media.startswith("text/") or media == "application/json":
        media += "; charset=utf-8"
    return Response(data, media_type=media, headers=_headers(IMMUTABLE))


def mount(router: Router) -> None:
    """Add the panel's two routes to the admin router (GET, and HEAD through it)."""
    router.routes.append(Route("GET", re.compile(r"^/ui/?$"), index))
    assets = re.compile(rf"^/ui/v/(?P<version>[0-9a-f]{{16}})/{_ASSET_PATH}$")
    router.routes.append(Route("GET", assets, asset))
