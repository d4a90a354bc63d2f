"""`common.lazy_init`: the OpenAI adapter imports the SDK without its re-export packages.

Each check runs in a fresh interpreter: the point is what a cold instance imports.
The adapter's behaviour with deferred packages is covered end to end by every chat
test (the functions process imports the SDK only through the adapter).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEFERRED = ("openai.types", "openai.types.responses")


def _fresh(code: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_adapter_imports_openai_without_its_type_re_exports() -> None:
    got = _fresh(
        "import json, sys\n"
        "import common.providers.openai\n"
        "import openai\n"
        "from common.lazy_init import is_deferred\n"
        f"print(json.dumps({{'deferred': [is_deferred(sys.modules[n]) for n in {DEFERRED!r}],\n"
        "  'modules': sum(m.startswith('openai') for m in sys.modules)}))\n"
    )
    assert got["deferred"] == [True] * len(DEFERRED)
    assert got["modules"] < 250  # ~520 with the re-exports


def test_a_deferred_package_runs_its_init_on_first_use_and_then_is_the_real_thing() -> None:
    got = _fresh(
        "import json, sys, threading\n"
        "import common.providers.openai\n"
        "import openai\n"
        "from common.lazy_init import is_deferred\n"
        "seen = []\n"
        "threads = [threading.Thread(target=lambda: seen.append(openai.types.Completion.__name__))\n"
        "           for _ in range(4)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "from openai.types.chat import ChatCompletionChunk\n"
        "from openai.types.responses import Response\n"
        "from openai.lib import _tools\n"
        "print(json.dumps({'seen': seen, 'types': is_deferred(openai.types),\n"
        "  'chunk': ChatCompletionChunk.__name__, 'response': Response.__name__,\n"
        "  'lib': openai.lib is sys.modules['openai.lib'],\n"
        "  'missing': hasattr(openai.types, 'NoSuchName')}))\n"
    )
    assert got == {
        "seen": ["Completion"] * 4,
        "types": False,
        "chunk": "ChatCompletionChunk",
        "response": "Response",
        "lib": True,
        "missing": False,
    }


@pytest.mark.parametrize("package", DEFERRED)
def test_the_deferred_packages_only_re_export(package: str) -> None:
    """Deferring an `__init__` is safe only while it has no side effect: pin that for the
    installed SDK, so an upgrade that adds one fails here rather than in production."""
    spec = importlib.util.find_spec(package.partition(".")[0])
    assert spec is not None and spec.submodule_search_locations
    init = Path(spec.submodule_search_locations[0], *package.split(".")[1:], "__init__.py")
    tree = ast.parse(init.read_text())
    for node in tree.body:
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        dunder_all = isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["__all__"]
        assert isinstance(node, ast.Import | ast.ImportFrom) or docstring or dunder_all, (
            f"{init}:{node.lineno} does more than re-export: {ast.unparse(node)[:120]}"
        )


def test_nothing_is_deferred_when_the_sdk_is_already_imported() -> None:
    got = _fresh(
        "import json, sys\n"
        "import openai\n"
        "import common.providers.openai\n"
        "from common.lazy_init import is_deferred\n"
        f"print(json.dumps([is_deferred(sys.modules[n]) for n in {DEFERRED!r}]))\n"
    )
    assert got == [False, False]
