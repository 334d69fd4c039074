"""`recdoc rerun RUN --apply-fixes`: analyse the run, compose the corrected configuration, train it, compare.

The loop that closes the doctor: re-analyse RUN (`engine.analyze_paths`), compose the fixes (`diagnose.fixes`),
print the diff and the exact commands, then (unless `--dry-run`) train with recdoc's trainer, diagnose the new
run, and write its report and `compare.md` (old run vs new) in the new run folder.

`--resume-best` starts the new run from the old recdoc run's best checkpoint instead of from scratch. The loop
resumes only from a run folder's `ckpt/last/` state, so the new folder is seeded as a resumable run: the best
checkpoint copied in as its last and best checkpoint, and a `loop_state.json` at the old best iteration with the
old best recall (patience counts from there). The optimizer state comes with the checkpoint; the learning rate
is set afterwards from `--finetune_lr` (else the corrected learning rate), as the trainer does for finetune_lr.

TensorFlow is imported only when training starts.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recdoc.checkpoint_state import STATE_FILE, state_prefix
from recdoc.config import SPLITS, RunConfig
from recdoc.diagnose.engine import analyze_all, analyze_paths
from recdoc.diagnose.findings import Diagnosis
from recdoc.diagnose.fixes import FixPlan, compose_plan, source_tool, taken_run_names
from recdoc.errors import InputError, RecdocError, UsageError
from recdoc.files import rewrite_file
from recdoc.reports import write_reports
from recdoc.reports.compare import finding_changes, write_comparison
from recdoc.reports.multi import run_title
from recdoc.trainer.data.dataset import data_needed, dataset_folder, split_file
from recdoc.trainer.log.folder import open_run_folder
from recdoc.trainer.log.records import RunRecord
from recdoc.trainer.loop import LoopState, train, write_loop_state

# Settings that shape the model's variables: a checkpoint restores only into a model with the same ones.
MODEL_SHAPE_KEYS = ("dataset", "model_type", "embedding_dim", "hidden_size", "num_interest", "maxlen", "item_count")

Echo = Callable[[str], None]


@dataclass(frozen=True)
class RerunOutcome:
    exit_code: int
    plan: FixPlan | None
    new_run: Path | None = None
    report: Path | None = None
    comparison: Path | None = None


def recdoc_run_folder(diagnosis: Diagnosis) -> Path | None:
    """The folder holding the run's `run.json` when recdoc trained it, else None."""
    if source_tool(diagnosis) != "recdoc":
        return None
    for raw in diagnosis.run.paths:
        path = Path(raw)
        for folder in (path, path.parent):
            if folder.is_dir() and (folder / "run.json").is_file():
                return folder
    return None


def _stored_config(folder: Path | None) -> dict[str, Any]:
    if folder is None:
        return {}
    try:
        return RunRecord.load(folder / "run.json").config().to_dict()
    except RecdocError:
        return {}


def plan_lines(plan: FixPlan, diagnosis: Diagnosis) -> list[str]:
    """The plan as the terminal shows it: diff, what is set aside and why, the new run, the commands."""
    lines = [f"Fixes to apply, most important first ({len(plan.changes)} change"
             f"{'' if len(plan.changes) == 1 else 's'}):"]
    lines += [f"  {line}" for line in plan.diff_lines()] or ["  none"]
    if plan.overruled:
        lines.append("Overruled (two changes to one key: the command line wins, then the higher-ranked fix):")
        lines += [f"  {item}" for item in plan.overruled]
    if plan.set_aside:
        lines.append("Not applied:")
        lines += [f"  {item}" for item in plan.set_aside]
    lines += [f"  note: {note}" for note in plan.notes]
    lines.append(f"New run: {Path(plan.new_config.runs_dir) / plan.run_name}")
    lines += ["recdoc command:", *(f"  {line}" for line in plan.recdoc_command.splitlines())]
    if plan.tool_command:
        tool = source_tool(diagnosis)
        lines.append(f"Corrected command for the tool that made this run ({tool}):")
        lines += [f"  {line}" for line in plan.tool_command.splitlines()]
    return lines


def missing_data_message(config: RunConfig) -> str | None:
    """One line saying what to prepare when `<data_dir>/<dataset>_data/` lacks a split file; None when complete."""
    needs = data_needed(config.dataset, config.data_dir)
    return None if needs is None else f"the prepared data is missing: {needs}, or pass --data_dir DIR holding " \
        f"{dataset_folder(config.data_dir, config.dataset).name}/"


def select_diagnosis(paths: list[str], run: int | None = None, command: str = "rerun") -> Diagnosis:
    """The diagnosis of the one run at `paths`; when they hold several, the `run`-th (1-based), and without `run`
    a UsageError listing them: a command that acts on one run never picks one silently."""
    return choose_diagnosis(analyze_all(list(paths)), paths, run, command)


def choose_diagnosis(diagnoses: list[Diagnosis], paths: list[str], run: int | None, command: str) -> Diagnosis:
    """`select_diagnosis` on diagnoses already made."""
    where = ", ".join(paths)
    if run is not None and not 1 <= run <= len(diagnoses):
        raise UsageError(f"--run {run}: {where} holds {len(diagnoses)} run{'s' if len(diagnoses) > 1 else ''}"
                         + (f" (1 to {len(diagnoses)})" if len(diagnoses) > 1 else ""))
    if len(diagnoses) > 1 and run is None:
        listed = "; ".join(f"{index}: {run_title(d)}" for index, d in enumerate(diagnoses, 1))
        does = "takes one run from each RUN" if command == "compare" else "acts on one run"
        raise UsageError(f"{where} holds {len(diagnoses)} runs ({listed}); {command} {does}: choose it with --run N")
    return diagnoses[(run or 1) - 1]


def rerun(paths: list[str], *, only: Iterable[str] | None = None, skip: Iterable[str] = (), dry_run: bool = False,
          data_dir: str | None = None, runs_dir: str | None = None, resume_best: bool = False,
          finetune_lr: float | None = None, max_iter: int | None = None,
          echo: Echo | None = None, run: int | None = None) -> RerunOutcome:
    """Analyse, compose, (train, analyse the new run, compare). Raises UsageError for what the user must change."""

    say: Echo = echo or (lambda line: print(line, flush=True))
    if finetune_lr is not None and not resume_best:
        raise UsageError("--finetune_lr needs --resume-best (it sets the learning rate of the continued model)")
    diagnosis = select_diagnosis(list(paths), run, "rerun")
    old_folder = recdoc_run_folder(diagnosis)
    if resume_best and old_folder is None:
        raise UsageError("--resume-best continues a recdoc run from its best checkpoint; this run was made by "
                         f"{source_tool(diagnosis)}: rerun it without --resume-best")
    continued_from = old_folder if resume_best else None
    plan = _fix_plan(diagnosis, old_folder, only=only, skip=skip, data_dir=data_dir, runs_dir=runs_dir,
                     max_iter=max_iter)
    if continued_from is not None:
        plan = _continued_plan(plan, finetune_lr)
    _say_plan(diagnosis, plan, paths, continued_from, say)
    if not plan.has_fix or dry_run:
        say("Dry run: nothing trained." if plan.has_fix else
            "No applicable fix: no finding proposes a setting to change; nothing to train.")
        return RerunOutcome(0, plan)
    message = missing_data_message(plan.new_config)
    if message is not None:
        raise UsageError(message)
    return finish(diagnosis, plan, _train_fixed(plan, continued_from), say)


def _fix_plan(diagnosis: Diagnosis, old_folder: Path | None, *, only: Iterable[str] | None, skip: Iterable[str],
              data_dir: str | None, runs_dir: str | None, max_iter: int | None) -> FixPlan:
    """The diagnosis' fixes composed into a new run: its folder beside the old recdoc run's (else `runs`), on the
    data the old run used unless `data_dir` is given."""
    stored = _stored_config(old_folder)
    chosen_runs_dir = runs_dir or (str(old_folder.parent) if old_folder is not None else RunConfig().runs_dir)
    chosen_data_dir = data_dir or str(stored.get("data_dir") or RunConfig().data_dir)
    return compose_plan(diagnosis, only=only, skip=skip, taken_names=taken_run_names(chosen_runs_dir),
                        data_dir=chosen_data_dir, runs_dir=chosen_runs_dir, overrides={"max_iter": max_iter})


def _continued_plan(plan: FixPlan, finetune_lr: float | None) -> FixPlan:
    """--resume_best: the new run continues the old one's model, at `finetune_lr` (else its learning rate)."""
    continued = dataclasses.replace(plan, new_config=dataclasses.replace(
        plan.new_config, finetune_lr=finetune_lr if finetune_lr is not None else plan.new_config.learning_rate))
    _check_same_model(continued)
    return continued


def _say_plan(diagnosis: Diagnosis, plan: FixPlan, paths: list[str], continued_from: Path | None,
              say: Echo) -> None:
    count = len(diagnosis.findings)
    summary = (f"{count} finding{'' if count == 1 else 's'} (top: {diagnosis.findings[0].id})" if count
               else diagnosis.verdict)
    say(f"Re-analysed {', '.join(paths)}: {summary}")
    if not plan.has_fix:
        for item in plan.set_aside:
            say(f"  not applied: {item}")
        return
    for line in plan_lines(plan, diagnosis):
        say(line)
    if continued_from is not None:
        say(f"  continuing from the best checkpoint of {continued_from} at learning rate "
            f"{plan.new_config.finetune_lr}")


def _train_fixed(plan: FixPlan, continued_from: Path | None) -> Path:
    """Train the corrected run: fresh, or (--resume_best) from the best checkpoint of `continued_from`."""
    if continued_from is None:
        return Path(train(plan.new_config))
    return Path(train(seed_from_best(continued_from, plan.new_config), resume=True))


def finish(old: Diagnosis, plan: FixPlan, new_run: Path, say: Echo) -> RerunOutcome:
    """Diagnose the new run, write its report and the comparison in its folder, print both paths."""
    new = analyze_paths([str(new_run)])
    written = write_reports(new, out_dir=new_run)
    compared = write_comparison([old, new], new_run)
    changes = finding_changes(old, new)
    say(f"New run: {new_run} ({new.verdict})")
    say(f"Findings cleared: {', '.join(changes.cleared) or 'none'}; appeared: {', '.join(changes.appeared) or 'none'}"
        f"; remained: {', '.join(changes.remained) or 'none'}")
    say(f"Report: {written[0]}")
    say(f"Comparison: {compared[0]}")
    return RerunOutcome(0, plan, new_run, written[0], compared[0])


def _check_same_model(plan: FixPlan) -> None:
    changed = [key for key in MODEL_SHAPE_KEYS
               if getattr(plan.old_config, key) != getattr(plan.new_config, key)
               and not (key == "item_count" and getattr(plan.old_config, key) is None)]
    if changed:
        raise UsageError(f"--resume-best cannot continue the old model: the fixes change {', '.join(changed)}, "
                         "which shape its variables; rerun without --resume-best")


def _best_prefix(old_folder: Path) -> Path:
    """The old run's best checkpoint prefix, with its files there."""
    best_dir = old_folder / "ckpt" / "best"
    try:
        return state_prefix(best_dir / STATE_FILE)
    except InputError:
        raise UsageError(f"--resume-best: {best_dir} holds no best checkpoint (the old run never improved)") from None


def seed_from_best(old_folder: Path, config: RunConfig) -> RunConfig:
    """Create the new run folder as a resumable run whose last state is the old run's best checkpoint."""
    prefix = _best_prefix(old_folder)
    name = prefix.name
    files = sorted(prefix.parent.glob(f"{name}.*"))
    record = RunRecord.load(old_folder / "run.json").data
    best_iter = record.get("best_iter")
    best_metric = record.get("best_metric")
    if not isinstance(best_iter, int) or not isinstance(best_metric, (int, float)):
        raise UsageError(f"--resume-best: {old_folder / 'run.json'} does not record the best iteration and recall "
                         "(the old run did not finish)")
    data_files = [split_file(config.data_dir, config.dataset, split) for split in SPLITS]
    config, paths = open_run_folder(config)
    try:
        for target in (paths.best_dir, paths.last_dir):
            target.mkdir(parents=True, exist_ok=True)
            for source in files:
                shutil.copy2(source, target / source.name)
            rewrite_file(target / "checkpoint", f'model_checkpoint_path: "{name}"\n'
                                                f'all_model_checkpoint_paths: "{name}"\n')
        start = RunRecord.start(paths.run_json, config, paths.exp_name, data_files, {})
        start.update(initialized_from=str(prefix), stop_reason="running")
        state = LoopState(iteration=best_iter, best_metric=float(best_metric), best_iter=best_iter)
        write_loop_state(paths, name, state)
    except BaseException:
        shutil.rmtree(paths.root, ignore_errors=True)  # a half-seeded folder would look resumable
        raise
    return config
