"""`probe.json`: the probe's results beside the run (never replacing an earlier one), and read back for the doctor."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from recdoc.errors import InputError
from recdoc.files import write_numbered

PROBE_FILE = "probe.json"
PROBE_SCHEMA = "recdoc-probe/1"


def write_probe(probe: dict[str, Any], out_dir: str | Path) -> Path:
    """Write `probe.json` in `out_dir`, or `probe-2.json`, `probe-3.json`... : an existing file is never replaced."""
    return write_numbered(Path(out_dir), lambda n: PROBE_FILE if n == 1 else f"probe-{n}.json",
                          json.dumps(probe, indent=1) + "\n")


def latest_probe_file(run_dir: Path) -> Path | None:
    """The most recently written `probe*.json` of a run folder, if any."""
    found = [p for p in run_dir.glob("probe*.json") if p.is_file()]
    return max(found, key=lambda p: (p.stat().st_mtime, p.name)) if found else None


def read_probe(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read probe results ({exc})", str(path)) from None
    if not isinstance(data, dict) or data.get("schema") != PROBE_SCHEMA:
        raise InputError(f"not a {PROBE_SCHEMA} file", str(path))
    return data


def default_out_dir(probe: dict[str, Any], given: str | None) -> Path:
    """Where probe/rescore results go: `--out`, else the run folder when it can be written, else here."""
    if given is not None:
        return Path(given)
    run = probe.get("run")
    if run and os.access(run, os.W_OK):
        return Path(run)
    return Path.cwd()
