"""A dataclass as the plain dict that JSON stores."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any


def as_json_dict(instance: Any) -> dict[str, Any]:
    """`dataclasses.asdict` with each tuple field as a list: the dict equals what the JSON file gives back."""
    return {name: list(value) if isinstance(value, tuple) else value for name, value in asdict(instance).items()}
