"""The base of every model a user writes: config sections, strategy profiles, deal files.

:class:`InputModel` refuses unknown keys and, for every number anywhere in a model
(fields, list items, dict values), anything that cannot be meant:

- not finite: ``nan``, ``inf`` (TOML has both), or a decimal such as ``"1e400"``;
- a magnitude above :data:`MAX_MAGNITUDE` (integers: above :data:`MAX_INT`, what a
  64-bit integer holds) -- no setting of mmbot is meaningful there, and such values
  overflow later (nanosecond clocks, SQLite, numpy);
- a decimal with more than :data:`MAX_DECIMAL_PLACES` places (exact money must fit);
- for a duration -- a field whose name ends in ``_s`` (seconds) or ``_ms`` -- more than
  :data:`MAX_SECONDS` (ten years), which no horizon, timeout or interval needs and
  which would overflow when turned into integer nanoseconds.

Fields still carry their own, tighter ranges (``Field(gt=..., le=...)``); this is the
floor under all of them, so a new field cannot forget it. Failures name the field
(and the list index or dict key) through pydantic's error locations.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

MAX_MAGNITUDE = 1e15
MAX_INT = 2**63 - 1
MAX_DECIMAL_PLACES = 18
MAX_SECONDS = 315_576_000.0
"""Ten years of seconds."""


def check_number(value: Any, name: str = "") -> None:
    """Raise ValueError if ``value`` (a number, or a list/dict of them) is not sane."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            try:
                check_number(item, name)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            try:
                check_number(item, name)
            except ValueError as exc:
                raise ValueError(f"[{index}]: {exc}") from None
        return
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ValueError(f"{value} is out of range (at most {MAX_INT} in magnitude)")
        magnitude = float(abs(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a finite number")
        magnitude = abs(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite number")
        if value and value.adjusted() > 15:
            raise ValueError(f"{value} is out of range (at most {MAX_MAGNITUDE:g} in magnitude)")
        exponent = value.normalize().as_tuple().exponent if value else 0
        if isinstance(exponent, int) and exponent < -MAX_DECIMAL_PLACES:
            raise ValueError(f"{value} has more than {MAX_DECIMAL_PLACES} decimal places")
        magnitude = float(abs(value))
    else:
        return
    if magnitude > MAX_MAGNITUDE:
        raise ValueError(f"{value} is out of range (at most {MAX_MAGNITUDE:g} in magnitude)")
    if name.endswith("_s") and magnitude > MAX_SECONDS:
        raise ValueError(f"{value} seconds is more than ten years ({MAX_SECONDS:g} s)")
    if name.endswith("_ms") and magnitude > MAX_SECONDS * 1000:
        raise ValueError(f"{value} ms is more than ten years")


class InputModel(BaseModel):
    """Strict, frozen model of user input with sane numbers (see the module doc)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _sane_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, BaseModel):
            check_number(value, info.field_name or "")
        return value
