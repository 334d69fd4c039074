"""What the tests share: builders of configs, batches, logs, run folders, checkpoints, event files and `Run`s,
the repository's paths, the skip for data in `../shared`, and the diagnosis.json schema check.

Import with `from support.<module> import ...` (pyproject.toml puts `tests/` on `sys.path`). Test modules import
from here, never from each other; `conftest.py` holds only fixtures.
"""
