"""Numbers read from outside (logs, records, settings, the user): the one reading of each."""

from __future__ import annotations

import math
from typing import Any


def finite_number(value: Any) -> float | None:
    """`value` as a float; None for what is not a number, and for NaN and infinity."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def whole_number(value: Any) -> int | None:
    """`value` as an int (a float is truncated, as `int()` does); None where `finite_number` is None."""
    number = finite_number(value)
    return None if number is None else int(number)
