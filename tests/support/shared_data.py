"""Where the third-party data beside the checkout lives (`../shared`), and a skip for a fresh clone without it.

Third-party logs and runs are read from there, never copied into the project; a test that needs them skips with
the reason when they are absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL_RUNS = SHARED / "real-runs"
LOG_SAMPLES = SHARED / "reference" / "log-samples"
ORIG_RUNS = SHARED / "reference" / "orig-runs"


def needs(path: Path) -> pytest.MarkDecorator:
    """Skip unless `path` exists (it is third-party data in ../shared, absent from a fresh clone)."""
    return pytest.mark.skipif(not path.exists(), reason=f"{path} is not on this machine (../shared is not in the "
                                                        "project; a fresh clone has none)")
