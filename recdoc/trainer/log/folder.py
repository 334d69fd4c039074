"""The run folder: `<runs_dir>/<exp_name>/`, its paths, and a new folder that never replaces an existing one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from recdoc.config import RunConfig
from recdoc.errors import UsageError
from recdoc.trainer.log.records import RunRecord


@dataclasses.dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def exp_name(self) -> str:
        return self.root.name

    @property
    def train_log(self) -> Path:
        return self.root / "train.log"

    @property
    def metrics_jsonl(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def best_dir(self) -> Path:
        return self.root / "ckpt" / "best"

    @property
    def last_dir(self) -> Path:
        return self.root / "ckpt" / "last"

    @property
    def loop_state(self) -> Path:
        return self.last_dir / "loop_state.json"


def open_run_folder(config: RunConfig, resume: bool = False) -> tuple[RunConfig, RunPaths]:
    """Create `<runs_dir>/<exp_name>/` (or find it when resuming) and return the config with its final `exp`.

    Without `config.exp`, the free part of the name is `run<n>` with the smallest n not yet used; an existing
    folder is never overwritten: it is refused unless `resume` is set.
    """
    runs_dir = Path(config.runs_dir)
    if resume:
        if config.exp is None:
            raise UsageError("--resume needs --exp: the experiment to continue")
        root = runs_dir / config.exp_name
        if not root.is_dir():
            raise UsageError(f"cannot resume: no run folder {root}")
        return config, RunPaths(root)
    runs_dir.mkdir(parents=True, exist_ok=True)
    if config.exp is not None:
        root = runs_dir / config.exp_name
        try:
            root.mkdir()
        except FileExistsError:
            raise UsageError(f"run folder {root} already exists; choose another --exp, "
                             "or pass --resume to continue it") from None
        return config, RunPaths(root)
    number = 1
    while True:
        candidate = _with_exp(config, f"run{number}")
        try:
            (runs_dir / candidate.exp_name).mkdir()  # mkdir is atomic: two runs never share a folder
            return candidate, RunPaths(runs_dir / candidate.exp_name)
        except FileExistsError:
            number += 1


def stated_path_candidates(run_dir: Path, path: str | Path) -> list[Path]:
    """Where a path a run folder states (run.json's data_dir or split files) may be on this machine, most likely
    first: an absolute path as it is; a relative one from the working folder, then from the run folder and each
    folder above it (runs are usually trained from the folder that holds both `data/` and `runs/`)."""
    given = Path(path)
    if given.is_absolute():
        return [given]
    return [given, *(folder / given for folder in [run_dir, *run_dir.resolve().parents])]


def resumed_config(root: Path, **changes: object) -> RunConfig:
    """The configuration a resumed run trains with: its run.json's, in the runs folder where the run folder now is,
    with `changes` (only what `RESUME_MAY_CHANGE` names; UsageError for any other)."""
    stored = RunRecord.load(RunPaths(root).run_json).config()
    try:
        config = dataclasses.replace(stored.resumed(**changes), runs_dir=str(root.parent))
    except ValueError as exc:
        raise UsageError(f"--resume {root}: {exc}") from None
    if config.exp_name != root.name:
        raise UsageError(f"--resume {root}: the folder is named {root.name!r} but run.json describes "
                         f"{config.exp_name!r}; rename the folder back to resume it")
    return config


def refuse_existing_run_folder(config: RunConfig) -> None:
    """Fail fast, before data and model load, when a named new run would collide with an existing folder."""
    if config.exp is not None and (Path(config.runs_dir) / config.exp_name).exists():
        raise UsageError(f"run folder {Path(config.runs_dir) / config.exp_name} already exists; choose another "
                         "--exp, or pass --resume to continue it")


def _with_exp(config: RunConfig, exp: str) -> RunConfig:
    return dataclasses.replace(config, exp=exp)
