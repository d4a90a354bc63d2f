"""Import a package's submodules without running its `__init__` until one of its names is used.

Why: a vendor SDK's package `__init__` often re-exports every type it has
(`openai/types/__init__.py` pulls in ~370 modules of pydantic models, 60% of the
SDK's import time), while the code we call imports the few submodules it
needs by their full path. Inside `deferred_inits(...)` each named package is put in
`sys.modules` as a module with its real `__path__`, so `import pkg.sub` loads only
`sub`; the first use of a name the `__init__` defines (`pkg.Name`, `from pkg import
Name`) runs the real `__init__` into that same module object, once, under a lock.
Nothing of the SDK's behaviour changes, only when its re-exports are built.

Only for packages whose `__init__` just re-exports (no registration or patching at
import time): `tests/providers/test_lazy_init.py` pins the SDK packages it is used on.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _directory(package: str) -> str | None:
    parent, _, leaf = package.rpartition(".")
    if not parent:
        spec = importlib.util.find_spec(package)  # for a top-level name this imports nothing
        locations = spec.submodule_search_locations if spec else None
        return locations[0] if locations else None
    base = _directory(parent) if parent not in sys.modules else sys.modules[parent].__path__[0]
    if base is None:
        return None
    path = os.path.join(base, leaf)
    return path if os.path.isfile(os.path.join(path, "__init__.py")) else None


def _deferred(name: str, directory: str) -> types.ModuleType:
    init = os.path.join(directory, "__init__.py")
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[directory])
    assert spec is not None and spec.loader is not None
    loader = spec.loader
    module = types.ModuleType(name)
    module.__path__ = [directory]
    module.__file__ = init
    module.__package__ = name
    module.__spec__ = spec
    lock = threading.RLock()
    pending = [True]

    def __getattr__(attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        with lock:  # other threads wait here until the `__init__` has run
            if pending[0]:
                pending[0] = False  # a lookup from the `__init__` itself sees a partial module
                try:
                    loader.exec_module(module)
                except BaseException:
                    pending[0] = True
                    raise
                module.__dict__.pop("__getattr__", None)
        try:
            return module.__dict__[attr]
        except KeyError:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}") from None

    __getattr__.pending = pending  # type: ignore[attr-defined]
    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    return module


def is_deferred(module: types.ModuleType) -> bool:
    """True while the package's own `__init__` has not run yet."""
    pending = getattr(module.__dict__.get("__getattr__"), "pending", None)
    return bool(pending and pending[0])


@contextmanager
def deferred_inits(*packages: str) -> Iterator[None]:
    """Within the block, the named packages (parents before children) do not run their
    `__init__` on import. A package whose top-level package is already imported, or that
    cannot be found, is left alone: the block then imports normally."""
    top = {p.partition(".")[0] for p in packages}
    installed: list[str] = []
    if not any(t in sys.modules for t in top):
        for name in packages:
            directory = _directory(name)
            if directory is None or name in sys.modules:
                continue
            sys.modules[name] = _deferred(name, directory)
            installed.append(name)
    try:
        yield
    finally:
        for name in installed:  # bind each to its parent, as a normal import does
            parent, _, leaf = name.rpartition(".")
            owner = sys.modules.get(parent)
            if owner is not None and leaf not in owner.__dict__:  # not hasattr: that would run it
                setattr(owner, leaf, sys.modules[name])
