"""The README's smallest complete code provider passes validation as printed."""

from __future__ import annotations

import re
from pathlib import Path

from common.sandbox.validate import check

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_example_is_a_valid_code_provider() -> None:
    text = README.read_text()
    block = re.search(r"<!-- readme-example: code-provider -->\n```python\n(.*?)```", text, re.S)
    assert block is not None
    code = block.group(1)

    assert check(code, required_dependencies=["httpx"]) == []
    assert len(code.strip().splitlines()) <= 25
