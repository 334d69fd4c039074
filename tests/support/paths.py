"""The repository's folders as the tests see them, computed once (a test file's depth is not part of any path)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
BENCH = REPO / "bench"
DOCS = REPO / "docs"
FIXTURE_RUNS = REPO / "fixtures" / "runs"
TEST79 = FIXTURE_RUNS / "test79"

# Third-party data beside the checkout (`../shared`), read where it is and never copied into the project; absent
# from a fresh clone (see support.shared_data.needs).
SHARED = REPO.parent / "shared"
REAL_RUNS = SHARED / "real-runs"
LOG_SAMPLES = SHARED / "reference" / "log-samples"
ORIG_RUNS = SHARED / "reference" / "orig-runs"
