"""`metrics.jsonl` (one record per evaluation) and `run.json` (the run's configuration, provenance and outcome)."""

from __future__ import annotations

import hashlib
import json
import math
import platform
import subprocess
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import recdoc
from recdoc.config import RunConfig
from recdoc.errors import InputError
from recdoc.files import rewrite_file


def _json_number(value: Any) -> Any:
    """JSON has no NaN/Infinity: write them as null so every line stays parseable."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class MetricsLog:
    """`metrics.jsonl`: one record per evaluation, appended and flushed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: Mapping[str, Any]) -> None:
        clean = {key: _json_number(value) for key, value in record.items()}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(clean, sort_keys=False) + "\n")

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a kill
        return out

    def keep_until(self, iteration: int) -> None:
        """Drop records after `iteration` (evaluations a resumed run will redo)."""
        kept = [r for r in self.records() if isinstance(r.get("iter"), int) and r["iter"] <= iteration]
        rewrite_file(self.path, "".join(json.dumps(r) + "\n" for r in kept))


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def data_fingerprint(paths: list[Path]) -> str:
    """sha256 over the split files (name and bytes), to tell later whether two runs used the same data."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()


def git_commit() -> str | None:
    """The commit of the recdoc source tree, when it is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(recdoc.__file__).parent, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def deviations(config: RunConfig, valid_users: int) -> list[dict[str, Any]]:
    """run.json's `deviations`: where this run departs from the original's protocol, for the doctor and readers."""
    out: list[dict[str, Any]] = []
    if config.eval_users is not None and config.eval_users < valid_users:
        out.append({
            "flag": "eval_users", "value": config.eval_users, "of": valid_users,
            "text": (f"periodic validation on a fixed, seeded subset of {config.eval_users} of {valid_users} "
                     "validation users (the original evaluates everyone): the curve is noisier and early "
                     "stopping may pick another best iteration; the final valid and test evaluations use "
                     "every user"),
        })
    return out


class RunRecord:
    """`run.json`, rewritten atomically whenever it changes."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @classmethod
    def start(cls, path: Path, config: RunConfig, exp_name: str, data_files: list[Path],
              versions: Mapping[str, str]) -> "RunRecord":
        record = cls(path, {
            "exp_name": exp_name,
            "config": config.to_dict(),
            "versions": {"recdoc": recdoc.__version__, "python": platform.python_version(), **versions},
            "data": {"files": [str(p) for p in data_files], "fingerprint": data_fingerprint(data_files)},
            "git_commit": git_commit(),
            "started": utc_now(),
            "ended": None,
            "stop_reason": "running",
            "best_iter": None,
            "final": {},
        })
        record.write()
        return record

    @classmethod
    def load(cls, path: Path) -> "RunRecord":
        """The one reader of a run folder's `run.json` (InputError when it cannot be read or is not an object)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read run.json ({exc})", str(path)) from None
        if not isinstance(data, dict):
            raise InputError("not a run.json object", str(path))
        return cls(path, data)

    def config(self) -> RunConfig:
        """The configuration the run was trained with (InputError when run.json holds none)."""
        stored = self.data.get("config")
        if not isinstance(stored, dict):
            raise InputError("run.json has no config object", str(self.path))
        try:
            return RunConfig.from_dict(stored)
        except TypeError as exc:
            raise InputError(f"run.json config is not a recdoc configuration ({exc})", str(self.path)) from None

    def update(self, **values: Any) -> None:
        self.data.update(values)
        self.write()

    def write(self) -> None:
        rewrite_file(self.path, json.dumps(self.data, indent=2, default=_json_number) + "\n")
