"""diagnosis.json: `Diagnosis.to_dict()` as strict JSON (schema in docs/diagnosis-schema.md)."""

from __future__ import annotations

import json
import math
from typing import Any

from recdoc.diagnose.findings import Diagnosis


def render_json(diagnosis: Diagnosis) -> str:
    # allow_nan=False: a NaN or infinity would make the file unreadable to strict JSON parsers (and to jq).
    return json.dumps(_finite(diagnosis.to_dict()), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _finite(value: Any) -> Any:
    """Non-finite floats become null; derived values (gaps) are computed after `to_dict`'s own cleaning."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
