"""The admin panel: static files (no build step) served by the admin function at `/admin/ui/`.

`serve` mounts them on the admin router; `vendor` refreshes the pinned third-party
files in `static/vendor/` from `node_modules` at the versions `package-lock.json` locks.
"""
