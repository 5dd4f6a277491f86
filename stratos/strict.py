"""``StrictModel``: the base of every user-facing settings model (request, job settings).

Why one base: a stack config is hand-written YAML, where ``true`` for a number or
``1e400`` (which overflows to inf) are typos rather than values. Every model a user
writes into is frozen, refuses unknown keys, non-finite numbers and booleans where
numbers belong, so each of those fails at ``pulumi preview`` naming the key.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


def _numeric(annotation: Any) -> bool:
    """Whether a field's type is a number (int/float, optional or not)."""
    args = typing.get_args(annotation) or (annotation,)
    return any(a in (int, float) for a in args) and bool not in args


class StrictModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """``true`` is not 1: a boolean where a number belongs is a mistake, not a value."""
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, bool) and field is not None and _numeric(field.annotation):
            raise ValueError(f"{str(value).lower()} is a boolean, not a number; write the number itself")
        return value
