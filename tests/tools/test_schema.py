"""Python signatures -> the exact JSON Schema each provider receives (no I/O)."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Annotated, Any, Literal, Optional

import pytest
from pydantic import BaseModel, Field

from common.tools import ToolContext, tool
from common.tools.python import PythonTool
from common.tools.schema import parse_docstring


class Unit(str, Enum):  # noqa: UP042 - the common pre-3.11 spelling tenants write
    celsius = "celsius"
    fahrenheit = "fahrenheit"


class Priority(int, Enum):
    low = 1
    high = 2


class Address(BaseModel):
    """A postal address."""

    street: str
    city: str
    zip: str | None = None


class Item(BaseModel):
    sku: str = Field(description="Stock keeping unit")
    quantity: int = Field(default=1, ge=1)


class Order(BaseModel):
    items: list[Item]
    ship_to: Address


class Category(BaseModel):
    name: str
    children: list[Category] = []


def no_params() -> str:
    """Opening hours of the store."""
    return "9-17"


def simple(city: str, days: int, precise: bool, ratio: float) -> str:
    """Weather forecast."""
    return city


def with_defaults(city: str, unit: Unit = Unit.celsius, days: Optional[int] = None, note: str = "") -> str:  # noqa: UP045
    """Forecast.

    Args:
        city: The city name,
            for example Paris.
        unit (Unit): Temperature unit.
        days: How many days ahead.

    Returns:
        The forecast.
    """
    return city


def literals(
    mode: Literal["air", "sea"], level: Literal[1, 2, 3] = 1, priority: Priority = Priority.low
) -> str:
    """Ship."""
    return mode


def containers(tags: list[str], counts: dict[str, int], matrix: list[list[float]] | None = None) -> str:
    return ""


def nested(order: Order, express: bool = False) -> str:
    """Place an order.

    Args:
        order: What to ship where.
    """
    return ""


def annotated(
    n: Annotated[int, Field(ge=1, le=10, description="How many")],
    query: Annotated[str, Field(min_length=2)],
) -> str:
    """Search.

    Args:
        n: Ignored: the Field description wins.
        query: Words to look for.
    """
    return ""


def with_context(query: str, ctx: ToolContext) -> str:
    """Search this thread."""
    return query


def recursive(root: Category) -> str:
    return ""


def odd_names(json: str, schema: int = 0, model_id: str | None = None) -> str:
    return json


def dates(when: dt.date, at: dt.datetime | None = None) -> str:
    return ""


NULLABLE_INT = {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}

CASES: list[tuple[Any, str, dict[str, Any]]] = [
    (
        no_params,
        "Opening hours of the store.",
        {"type": "object", "properties": {}, "additionalProperties": False},
    ),
    (
        simple,
        "Weather forecast.",
        {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "precise": {"type": "boolean"},
                "ratio": {"type": "number"},
            },
            "required": ["city", "days", "precise", "ratio"],
            "additionalProperties": False,
        },
    ),
    (
        with_defaults,
        "Forecast.",
        {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city name, for example Paris."},
                "unit": {
                    "type": "string",
                    "enum": ["celsius", "fahrenheit"],
                    "default": "celsius",
                    "description": "Temperature unit.",
                },
                "days": {**NULLABLE_INT, "description": "How many days ahead."},
                "note": {"type": "string", "default": ""},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    ),
    (
        literals,
        "Ship.",
        {
            "type": "object",
            "properties": {
                "mode": {"type": "string", "enum": ["air", "sea"]},
                "level": {"type": "integer", "enum": [1, 2, 3], "default": 1},
                "priority": {"type": "integer", "enum": [1, 2], "default": 1},
            },
            "required": ["mode"],
            "additionalProperties": False,
        },
    ),
    (
        containers,
        "",
        {
            "type": "object",
            "properties": {
                "tags": {"type": "array", "items": {"type": "string"}},
                "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
                "matrix": {
                    "anyOf": [
                        {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
                        {"type": "null"},
                    ],
                    "default": None,
                },
            },
            "required": ["tags", "counts"],
            "additionalProperties": False,
        },
    ),
    (
        nested,
        "Place an order.",
        {
            "type": "object",
            "properties": {
                "order": {
                    "type": "object",
                    "description": "What to ship where.",
                    "properties": {
                        "items": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "sku": {"type": "string", "description": "Stock keeping unit"},
                                    "quantity": {"type": "integer", "minimum": 1, "default": 1},
                                },
                                "required": ["sku"],
                            },
                        },
                        "ship_to": {
                            "type": "object",
                            "description": "A postal address.",
                            "properties": {
                                "street": {"type": "string"},
                                "city": {"type": "string"},
                                "zip": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
                            },
                            "required": ["street", "city"],
                        },
                    },
                    "required": ["items", "ship_to"],
                },
                "express": {"type": "boolean", "default": False},
            },
            "required": ["order"],
            "additionalProperties": False,
        },
    ),
    (
        annotated,
        "Search.",
        {
            "type": "object",
            "properties": {
                "n": {"type": "integer", "minimum": 1, "maximum": 10, "description": "How many"},
                "query": {"type": "string", "minLength": 2, "description": "Words to look for."},
            },
            "required": ["n", "query"],
            "additionalProperties": False,
        },
    ),
    (
        with_context,
        "Search this thread.",
        {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
            "additionalProperties": False,
        },
    ),
    (
        recursive,
        "",
        {
            "type": "object",
            "properties": {"root": {"$ref": "#/$defs/Category"}},
            "required": ["root"],
            "additionalProperties": False,
            "$defs": {
                "Category": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/Category"}, "default": []},
                    },
                    "required": ["name"],
                }
            },
        },
    ),
    (
        odd_names,
        "",
        {
            "type": "object",
            "properties": {
                "json": {"type": "string"},
                "schema": {"type": "integer", "default": 0},
                "model_id": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            },
            "required": ["json"],
            "additionalProperties": False,
        },
    ),
    (
        dates,
        "",
        {
            "type": "object",
            "properties": {
                "when": {"type": "string", "format": "date"},
                "at": {
                    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
                    "default": None,
                },
            },
            "required": ["when"],
            "additionalProperties": False,
        },
    ),
]


def _tool(fn: Any) -> PythonTool:
    marked: PythonTool = getattr(tool(fn), "__tool__")  # noqa: B009
    return marked


@pytest.mark.parametrize(("fn", "description", "schema"), CASES, ids=[c[0].__name__ for c in CASES])
def test_schema_from_signature(fn, description, schema):
    spec = _tool(fn).spec

    assert spec.name == fn.__name__
    assert spec.description == description
    assert spec.parameters == schema


def test_decorator_options_and_the_function_stays_callable():
    @tool(name="lookup-v2", description="Explicit text.", timeout_s=3)
    def lookup(key: str) -> str:
        """Docstring text."""
        return key.upper()

    marked: PythonTool = lookup.__tool__  # type: ignore[attr-defined]
    assert (marked.name, marked.spec.description, marked.timeout_s) == ("lookup-v2", "Explicit text.", 3)
    assert lookup("a") == "A"


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("def f(*args: int) -> str: ...", "plain named parameter"),
        ("def f(**kw: int) -> str: ...", "plain named parameter"),
        ("def f(a: int, /) -> str: ...", "plain named parameter"),
        ("def f(a) -> str: ...", "needs a type annotation"),
        ("def f(a: 'Missing') -> str: ...", "cannot resolve type hints"),
        ("class X: ...\ndef f(a: X) -> str: ...", "no JSON Schema"),
    ],
)
def test_bad_signatures_fail_at_decoration(source, problem):
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # noqa: S102 - fixed test snippets
    with pytest.raises(TypeError, match=problem):
        tool(namespace["f"])


def test_bad_tool_names_are_refused():
    with pytest.raises(TypeError, match="must match"):
        tool(name="has space")(no_params)


def test_google_docstring_sections():
    doc = """Summary line.

    More detail
    over two lines.

    Args:
        a (int): First,
            continued.
        *rest: Ignored star.
        b: Second: with a colon.

    Raises:
        ValueError: never an argument.
    """
    description, params = parse_docstring(doc)

    assert description == "Summary line.\n\nMore detail\nover two lines."
    assert params == {"a": "First, continued.", "rest": "Ignored star.", "b": "Second: with a colon."}


def test_validation_coerces_and_builds_nested_models():
    sig = _tool(nested).signature

    kwargs = sig.validate({"order": {"items": [{"sku": "A1"}], "ship_to": {"street": "1 Rd", "city": "X"}}})

    assert isinstance(kwargs["order"], Order)
    assert kwargs["order"].items[0].quantity == 1
    assert kwargs["express"] is False


def test_context_parameter_is_never_taken_from_the_model():
    sig = _tool(with_context).signature

    kwargs = sig.validate({"query": "q", "ctx": {"tenant": "someone-else"}})

    assert kwargs == {"query": "q"}
    assert sig.context_param == "ctx"
