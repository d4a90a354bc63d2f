"""pydantic validation errors as the product's 422, naming the first failing field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from common.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)


def first_error(exc: ValidationError) -> tuple[str, str]:
    """The first failing field as a dotted path, and pydantic's message for it."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "body"
    return field, err["msg"]


def validated(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, msg = first_error(exc)
        raise ValidationFailed(f"{field}: {msg}", field=field) from None
