"""YAML from tenants, loaded with bounded memory and time.

A 1 KB bundle of nested anchors and aliases (a "billion laughs") expands to
gigabytes when loaded, and a safe loader does nothing against it. So bundles
are loaded by `BoundedLoader`: libyaml's C parser for the events, and a
composer that, node by node,

- refuses aliases (`*name`, and so `<<: *name` merges): a bundle is plain data,
  and without aliases the loaded tree is no bigger than the text;
- counts nodes (`max_nodes`) and nesting depth (`max_depth`);
- checks the deadline of the bounded job it runs in (`common.bounded`) and
  lets the event loop thread have the GIL now and then.

The byte cap is checked before any of it. Every refusal says which limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import Node
from yaml.resolver import Resolver

from common.bounded import checkpoint
from common.errors import PayloadTooLarge, ValidationFailed

try:
    from yaml._yaml import CParser as _Parser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser as _Parser  # type: ignore[assignment]


@dataclass(frozen=True)
class YamlLimits:
    max_bytes: int = 1024 * 1024
    max_depth: int = 32
    max_nodes: int = 20_000


class YamlRefused(ValidationFailed):
    """The text breaks a limit (422, field `body`); the message names the limit."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="body")


class _BoundedComposer(Composer):
    limits: YamlLimits
    nodes: int = 0
    depth: int = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):  # type: ignore[attr-defined]
            event = self.get_event()  # type: ignore[attr-defined]
            raise YamlRefused(f"body: YAML aliases (*{event.anchor}) are not allowed in a bundle")
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            raise YamlRefused(f"body: more than {self.limits.max_nodes} YAML nodes")
        if self.depth >= self.limits.max_depth:
            raise YamlRefused(f"body: YAML nested deeper than {self.limits.max_depth} levels")
        checkpoint()
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class BoundedLoader(_BoundedComposer, _Parser, SafeConstructor, Resolver):
    """libyaml's parser, the bounded composer above, the safe constructor."""

    def __init__(self, stream: str, limits: YamlLimits) -> None:
        _Parser.__init__(self, stream)
        _BoundedComposer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self.limits = limits


def load(text: str | bytes, limits: YamlLimits) -> Any:
    """The one YAML document in `text`, or YamlRefused / PayloadTooLarge naming the reason."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > limits.max_bytes:
        raise PayloadTooLarge(f"body: the bundle is {size} bytes, over the {limits.max_bytes}-byte limit")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise YamlRefused("body: not UTF-8 text") from None
    loader = BoundedLoader(text, limits)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise YamlRefused(f"body: not valid YAML: {_short(exc)}") from None
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. an int of 5000 digits
        raise YamlRefused(f"body: a value cannot be loaded ({type(exc).__name__})") from None
    finally:
        loader.dispose()


def _short(exc: yaml.YAMLError) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:297] + "..."
