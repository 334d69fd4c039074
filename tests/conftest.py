"""Fixtures only. The builders tests import by name live in `tests/support/` (`from support.builders import
tiny_config`); pyproject.toml puts `tests/` on `sys.path`. Markers are declared in pyproject.toml (`slow`: trains
a model; `make test-fast` leaves those out).
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic dataset `syn` (2,000 items, 3,000 users) for tests that train, once per test module."""
    from recdoc.trainer.data.synth import synthesize

    data_dir = tmp_path_factory.mktemp("data")
    synthesize("syn", items=2000, users=3000, interests=4, seed=1, data_dir=str(data_dir))
    return data_dir
