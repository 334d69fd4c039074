"""The one reading of numbers from outside: NaN and infinity are no numbers."""

from __future__ import annotations

import pytest

from recdoc.numbers import finite_number, whole_number


@pytest.mark.parametrize("value, expected", [(1, 1.0), ("0.25", 0.25), (float("nan"), None), (float("inf"), None),
                                             ("-inf", None), ("x", None), (None, None)])
def test_finite_number(value: object, expected: float | None) -> None:
    assert finite_number(value) == expected


def test_whole_number() -> None:
    assert [whole_number(v) for v in (3, "4", 5.9, float("inf"), float("nan"), "x")] == [3, 4, 5, None, None, None]
