"""Local secrets: a JSON file outside the repo, readable only by its owner.

Lets `make dev` and the tests run without GCP while keeping real provider
keys out of the working tree (and so out of commits). The file mirrors
Secret Manager's model, numbered immutable versions with "latest" = newest,
so code that pins versions behaves the same locally and in the cloud.

Layout: `{"secrets": {name: {"versions": ["v1 value", "v2 value"]}}}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from common.secrets.base import SecretNotFound

Store = dict[str, Any]
T = TypeVar("T")


class LocalSecretsError(Exception):
    """The secrets file is unusable (unsafe permissions, not our format)."""


class InsecureSecretsFile(LocalSecretsError, PermissionError):
    pass


class LocalFileBackend:
    """`SecretsBackend` over one private JSON file.

    Writes are read-modify-write under an asyncio lock (one process) and an
    flock on a sidecar file (several processes, e.g. the dev server and an
    admin script), then land with `os.replace`, so a reader never sees a
    half-written file and a crash mid-write leaves the previous file intact.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            from common.settings import get_settings

            path = get_settings().local_secrets_file
        self.path = Path(path).expanduser()
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"LocalFileBackend(path={str(self.path)!r})"

    # SecretsBackend ----------------------------------------------------------

    async def get(self, secret: str, version: str = "latest") -> str:
        store = await asyncio.to_thread(self._read)
        versions = _versions(store, secret)
        if not versions:
            raise SecretNotFound(f"secret {secret!r} not found")
        if version == "latest":
            return str(versions[-1])
        if version.isdigit() and 1 <= int(version) <= len(versions):
            return str(versions[int(version) - 1])
        raise SecretNotFound(f"secret {secret!r} version {version!r} not found")

    async def put(self, secret: str, value: str) -> str:
        if not isinstance(value, str):
            raise TypeError("secret values are str")

        def add(store: Store) -> str:
            entry = store["secrets"].setdefault(secret, {"versions": []})
            entry["versions"].append(value)
            return str(len(entry["versions"]))

        async with self._lock:
            return await asyncio.to_thread(self._update, add)

    async def delete(self, secret: str) -> None:
        def remove(store: Store) -> None:
            store["secrets"].pop(secret, None)

        async with self._lock:
            await asyncio.to_thread(self._update, remove)

    async def ping(self) -> None:
        await asyncio.to_thread(self._read)

    # File I/O (runs in a worker thread) -----------------------------------------

    def _read(self) -> Store:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return {"secrets": {}}
        with os.fdopen(fd, "rb") as f:
            # Check the file we opened, not the path, so a swap in between cannot fool us.
            mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)
            if mode & 0o077:
                raise InsecureSecretsFile(
                    f"refusing to read {self.path}: its mode {mode:04o} lets other users read it; "
                    f"fix with: chmod 600 {self.path}"
                )
            raw = f.read()
        try:
            store = json.loads(raw) if raw.strip() else {"secrets": {}}
        except ValueError:
            # `from None`: the decode error carries the document, i.e. the secrets.
            raise LocalSecretsError(f"{self.path} is not valid JSON") from None
        if not isinstance(store, dict) or not isinstance(store.setdefault("secrets", {}), dict):
            raise LocalSecretsError(f'{self.path} must hold {{"secrets": {{...}}}}')
        return store

    def _update(self, change: Callable[[Store], T]) -> T:
        parent = self.path.parent
        if not parent.exists():
            # Only a directory we create is forced to 0700: chmod-ing an existing
            # one (say /tmp) is not ours to do.
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_path = parent / f".{self.path.name}.lock"
        lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            store = self._read()
            result = change(store)
            self._write(store)
            return result
        finally:
            os.close(lock_fd)  # closing releases the flock

    def _write(self, store: Store) -> None:
        # mkstemp creates the file 0600, so the secrets are never briefly world-readable.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(store, f, indent=2, sort_keys=True)
                f.write("\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        with contextlib.suppress(OSError):
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def _versions(store: Store, secret: str) -> list[Any]:
    entry = store["secrets"].get(secret)
    if not isinstance(entry, dict):
        return []
    versions = entry.get("versions")
    return versions if isinstance(versions, list) else []
