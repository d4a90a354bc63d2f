"""Python tools of the demo tenant (`make dev`): an online store's order, shipping and returns desk.

List a tool's name in an assistant's `tools` (config.yaml or the admin API)
to offer it to the model. The schema the model sees is generated from the
type hints and the docstring below; arguments are validated before a call.
The data is canned: a real tenant would call its order system here.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from common.tools import ToolContext, ToolError, tool

_ORDERS = {
    "A-1001": ("shipped", "DHL", date(2026, 1, 12)),
    "A-1002": ("processing", None, None),
    "A-1003": ("delivered", "UPS", date(2026, 1, 5)),
}


class Speed(StrEnum):
    standard = "standard"
    express = "express"


class OrderStatus(BaseModel):
    order_id: str
    status: Literal["processing", "shipped", "delivered"]
    carrier: str | None = None
    estimated_delivery: date | None = None


class Parcel(BaseModel):
    """A parcel to ship."""

    weight_kg: float = Field(gt=0, le=30, description="Weight in kilograms (at most 30)")
    country: str = Field(min_length=2, max_length=2, description="ISO 3166 country code, e.g. FR")


@tool
def order_status(order_id: str) -> OrderStatus:
    """Look up where an order is.

    Args:
        order_id: The order number, e.g. "A-1001".
    """
    found = _ORDERS.get(order_id.strip().upper())
    if found is None:
        raise ToolError(f"no order {order_id}; order numbers look like A-1001")
    status, carrier, eta = found
    return OrderStatus.model_validate(
        {"order_id": order_id.upper(), "status": status, "carrier": carrier, "estimated_delivery": eta}
    )


@tool
def shipping_quote(parcel: Parcel, speed: Speed = Speed.standard) -> dict[str, object]:
    """Price and delivery time to ship a parcel.

    Args:
        parcel: What is shipped, and where to.
        speed: Standard (3-5 days) or express (1-2 days).
    """
    domestic = parcel.country.upper() == "FR"
    price = (4.9 if domestic else 12.5) + 1.2 * parcel.weight_kg
    days = (1, 2) if speed is Speed.express else (3, 5)
    if speed is Speed.express:
        price *= 1.8
    return {"price_eur": round(price, 2), "days": f"{days[0]}-{days[1]}", "speed": speed.value}


@tool
def return_policy() -> str:
    """The store's return policy."""
    return "Returns are free within 30 days of delivery; items must be unused and in their original box."


@tool
def start_return(order_id: str, reason: str, ctx: ToolContext) -> dict[str, str]:
    """Open a return for a delivered order and get a return label.

    Args:
        order_id: The order number, e.g. "A-1003".
        reason: Why the customer returns it, in their words.
    """
    found = _ORDERS.get(order_id.strip().upper())
    if found is None or found[0] != "delivered":
        raise ToolError("only delivered orders can be returned")
    deadline = date.today() + timedelta(days=14)
    # The thread id comes from the server, never from the model: the label is tied to this conversation.
    return {
        "return_id": f"R-{ctx.thread_id[-6:]}",
        "label_url": "https://example.com/labels/demo.pdf",
        "ship_by": deadline.isoformat(),
    }
