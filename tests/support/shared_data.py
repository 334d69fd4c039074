"""A skip for a fresh clone without the third-party data beside the checkout (`../shared`, see support.paths).

Third-party logs and runs are read from there, never copied into the project; a test that needs them skips with
the reason when they are absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def needs(path: Path) -> pytest.MarkDecorator:
    """Skip unless `path` exists (it is third-party data in ../shared, absent from a fresh clone)."""
    return pytest.mark.skipif(not path.exists(), reason=f"{path} is not on this machine (../shared is not in the "
                                                        "project; a fresh clone has none)")
