"""`recdoc tune`: diagnose, search with Optuna from where the doctor points, repeat best and start over seeds,
report.

1. The doctor analyses RUN (`engine.analyze_paths`) and composes the corrected configuration (`fixes.compose_plan`,
   as `recdoc rerun --apply-fixes`); the space is built from the findings (`space.py`).
2. The corrected configuration is the study's first (enqueued) trial, the starting one its second; then Optuna's
   TPE sampler proposes, its median pruner stops trials that fall behind (`objective.py`, `study.py`).
3. The best configuration and the start are trained again on `--seeds` fresh seeds; the verdict says whether the
   difference is beyond the seed noise (`seeds.py`).
4. `tune.md`, `tune.json` and the PNGs go to the study folder (`report.py`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recdoc.config import RunConfig, sampling_that_fits
from recdoc.errors import RecdocError, UsageError
from recdoc.files import write_file
from recdoc.tune import jobs
from recdoc.tune import study as studies
from recdoc.tune.objective import ATTR_PID, ATTR_ROLE, ATTR_RUN, Objective, read_run, trial_config
from recdoc.tune.space import Space, full_space, parse_space, space_from_diagnosis

Echo = Callable[[str], None]
DEFAULT_OUT = "tunes"
# Which setting a cleared suspect (a `NotACause` id of the doctor) is about.
CLEARED_KEYS = (("neg", "neg_num"), ("batch", "batch_size"), ("patience", "patience"), ("early-stop", "patience"),
                ("learning-rate", "learning_rate"), ("lr-", "learning_rate"), ("interest", "num_interest"),
                ("maxlen", "maxlen"))


@dataclass
class TuneRequest:
    run: list[str]
    data_dir: str | None = None
    dataset: str | None = None
    model_type: str | None = None
    trials: int = 20
    seeds: int = 3
    space: str | None = None
    storage: str | None = None
    study: str | None = None
    out: str = DEFAULT_OUT
    resume: str | None = None
    max_iter: int | None = None
    test_iter: int | None = None
    sampler: str = "tpe"
    tuner_seed: int | None = None
    doctor: bool = True  # False: no enqueued fix, the full space (bench: plain TPE / random search)
    jobs: int = 1  # processes on this machine working the study (this one and jobs - 1 workers)
    report: bool = True


@dataclass
class TuneOutcome:
    folder: Path
    study_name: str
    report: Path | None
    verdict: dict[str, Any] | None
    complete: bool


def tune(request: TuneRequest, echo: Echo | None = None) -> TuneOutcome:
    say: Echo = echo or (lambda line: print(line, flush=True))
    if request.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {request.jobs}")
    enqueue: list[tuple[dict[str, Any], dict[str, Any]]] | None = None
    if request.resume is not None:
        folder, name, url = _resume_target(request)
        spec = studies.read_spec(name, url)
    else:
        spec, url, folder, enqueue = _new_study(request, say)
    if studies.is_local(url):
        with studies.folder_lock(folder) as lock_fd:
            return _work(spec, url, folder, request, say, enqueue, lock_fd)
    return _work(spec, url, folder, request, say, enqueue, None)


def _work(spec: studies.Spec, url: str, folder: Path, request: TuneRequest, say: Echo,
          enqueue: list[tuple[dict[str, Any], dict[str, Any]]] | None, lock_fd: int | None) -> TuneOutcome:
    if enqueue is not None:
        study, spec, created = studies.create_or_join(spec, url, enqueue, say)
        if created:
            _write_study_json(folder, spec, url)
            _announce(spec, folder, url, say)
    else:
        study = studies.load_study(spec.name, url, spec)
        say(f"Resuming study {spec.name} ({redact(url)}): {len(studies.finished(study))} of {spec.trials} trials "
            "finished.")
    local = studies.is_local(url)
    if local:  # under the folder lock, before any worker starts: whatever is marked running was left by a kill
        studies.recover_orphans(study, say)
        recover_seed_orphans(spec, url, say, exited_only=False)
    workers = jobs.spawn(folder, spec.name, url, request.jobs, say, lock_fd)
    try:
        started = time.monotonic()
        best = search_share(study, spec, folder, say, local, request.jobs)
        search_s = time.monotonic() - started
        seeds_study = _seed_repeats(spec, url, folder, best, say)
        if workers:
            jobs.wait(workers, say)
            if local and recover_seed_orphans(spec, url, say, exited_only=True):
                seeds_study = _seed_repeats(spec, url, folder, best, say)
    except BaseException as error:
        jobs.stop(workers, interrupted=isinstance(error, KeyboardInterrupt))
        raise
    seed_trials = _seed_results(seeds_study)
    expected = _seed_plan(spec, best)
    if len(seed_trials) < len(expected):
        say(f"Seed repeats: {len(seed_trials)} of {len(expected)} done here; other processes are running the rest. "
            f"`recdoc tune --resume {spec.name} --storage URL` writes the report once they finish.")
        return TuneOutcome(folder, spec.name, None, None, False)
    if not request.report:
        return TuneOutcome(folder, spec.name, None, None, True)
    from recdoc.tune.report import write_report

    written, verdict = write_report(study, spec, folder, seed_trials, best, redact(url), search_s)
    say(verdict["sentence"])
    say(f"Report: {written[0]}")
    if len(written) > 1:
        say("Plots: " + ", ".join(str(p) for p in written[1:]))
    return TuneOutcome(folder, spec.name, written[0], verdict, True)


def search_share(study: Any, spec: studies.Spec, folder: Path, say: Echo, local: bool, jobs_count: int = 1) -> Any:
    """This process's share of the search (every process sharing the study returns once all trials are finished);
    the best complete trial."""
    objective = Objective(spec.base_config, spec.space_obj, spec.name, folder / "runs")
    studies.run_search(study, objective, spec.trials, say, local, jobs_count)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not complete:
        raise UsageError(f"study {spec.name}: no trial completed (every one was pruned or failed); see "
                         f"{folder / 'runs'}")
    best = max(complete, key=lambda t: t.value)
    say(f"Search done: best validation recall {best.value:.4f} (trial {best.number}, {best.user_attrs.get(ATTR_RUN)})")
    return best


def work_share(spec: studies.Spec, url: str, folder: Path, job: int, say: Echo) -> None:
    """A `--jobs` worker process (`jobs.py`): its share of the search, then of the seed repeats; no report."""
    study = studies.load_study(spec.name, url, spec, job=job)
    best = search_share(study, spec, folder, say, studies.is_local(url))
    _seed_repeats(spec, url, folder, best, say)


# ---------------------------------------------------------------- a new study
def _new_study(request: TuneRequest, say: Echo) -> tuple[studies.Spec, str, Path, list[tuple[dict, dict]]]:
    if request.trials < 1 or request.seeds < 0:
        raise UsageError(f"--trials must be at least 1 and --seeds at least 0, got {request.trials} and "
                         f"{request.seeds}")
    if request.sampler not in ("tpe", "random"):
        raise UsageError(f"--sampler is tpe or random, got {request.sampler!r}")
    parse_space(request.space)  # a typo in --space fails before any work
    out = Path(request.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out must be a folder, got the file {out}")
    name = request.study or _free_name(out)
    folder = out / name
    if studies.is_local(request.storage or "sqlite") and folder.exists():
        raise UsageError(f"{folder} already exists: a new study gets a new name (--study), or continue this one "
                         f"with `recdoc tune --resume {folder}`")
    base, start, space, enqueue, source = starting_point(request, folder, say)
    url = request.storage or studies.sqlite_url(folder)
    if studies.is_local(url):
        folder.mkdir(parents=True)
    else:
        folder.mkdir(parents=True, exist_ok=True)  # each machine keeps its trials' run folders in its own copy
    spec = studies.Spec(name=name, base=base.to_dict(), start=None if start is None else start.to_dict(),
                        space=space.to_dict(), trials=request.trials, seeds=request.seeds, sampler=request.sampler,
                        tuner_seed=request.tuner_seed, source=source)
    return spec, url, folder, enqueue


def starting_point(request: TuneRequest, folder: Path, say: Echo) -> tuple[RunConfig, RunConfig, Space, list, dict]:
    """(base, start, space, trials to enqueue as (params, attrs), source facts) for a new study in `folder`: from the
    diagnosis of `request.run`, else from the dataset's defaults (bench/tune.py builds its studies from it too)."""
    named = parse_space(request.space)
    if request.run:
        return _from_diagnosis(request, named, folder, say)
    return _from_defaults(request, named, folder)


def _from_diagnosis(request: TuneRequest, named: dict, folder: Path, say: Echo) -> tuple:
    from recdoc.apply_fixes import missing_data_message, recdoc_run_folder
    from recdoc.diagnose.engine import analyze_paths
    from recdoc.diagnose.fixes import USER_OVERRIDE, compose_plan

    diagnosis = analyze_paths(list(request.run))
    old_folder = recdoc_run_folder(diagnosis)
    stored = _stored_config(old_folder)
    data_dir = request.data_dir or str(stored.get("data_dir") or RunConfig().data_dir)
    runs_dir = str(folder / "runs")
    budget = {"max_iter": request.max_iter, "test_iter": request.test_iter}
    plan = compose_plan(diagnosis, data_dir=data_dir, runs_dir=runs_dir, overrides=budget)
    start = dataclasses.replace(plan.old_config, data_dir=data_dir, runs_dir=runs_dir, exp=None,
                                **{k: v for k, v in budget.items() if v is not None})
    base = dataclasses.replace(plan.new_config, exp=None) if request.doctor else start
    message = missing_data_message(base)
    if message is not None:
        raise UsageError(message)
    item_count = _item_count(base)
    fitted = sampling_that_fits(item_count, base.batch_size, base.neg_num)
    if fitted != (base.batch_size, base.neg_num):
        say(f"The corrected run's neg_num x batch_size = {base.neg_num} x {base.batch_size} exceeds the {item_count:,} "
            f"items the sampled softmax can draw from: trial 0 uses batch_size {fitted[0]}, neg_num {fitted[1]}.")
        base = dataclasses.replace(base, batch_size=fitted[0], neg_num=fitted[1])
    changes = [(c.key, c.finding_id) for c in plan.changes if c.finding_id != USER_OVERRIDE]
    cleared = {key: nc.id for nc in diagnosis.not_causes for fragment, key in CLEARED_KEYS if fragment in nc.id}
    if request.doctor:
        space = space_from_diagnosis(base, start, changes, cleared, named, item_count)
    else:
        space = full_space(start, named, item_count)
    fix_params = space.enqueueable(base)
    start_params = space.enqueueable(start)
    enqueue: list[tuple[dict, dict]] = []
    if request.doctor:
        if plan.has_fix:
            enqueue.append((fix_params, {ATTR_ROLE: "fix"}))
        if start_params != fix_params or not plan.has_fix:
            enqueue.append((start_params, {ATTR_ROLE: "start"}))
    findings = [{"id": f.id, "level": f.level, "title": f.title,
                 "changes": dict(f.fix.changes) if f.fix else {}} for f in diagnosis.findings]
    say(f"Doctor on {', '.join(request.run)}: {diagnosis.verdict}; "
        + (", ".join(f"{f['id']} ({f['level']})" for f in findings) or "no findings"))
    source = {"run": list(request.run), "verdict": diagnosis.verdict, "findings": findings,
              "changes": [dataclasses.asdict(c) for c in plan.changes],
              "cleared": [{"id": nc.id, "title": nc.title} for nc in diagnosis.not_causes],
              "tool": plan.source_format, "rerun_command": plan.recdoc_command, "doctor": request.doctor,
              "start_params": start_params, "fix_params": fix_params if plan.has_fix else None}
    return base, start, space, enqueue, source


def _from_defaults(request: TuneRequest, named: dict, folder: Path) -> tuple:
    from recdoc.apply_fixes import missing_data_message

    if not request.dataset or not request.model_type:
        raise UsageError("recdoc tune needs a run to start from (RUN) or --dataset and --model_type")
    base = RunConfig.for_dataset(request.dataset, model_type=request.model_type,
                                 data_dir=request.data_dir or RunConfig().data_dir, runs_dir=str(folder / "runs"),
                                 max_iter=request.max_iter, test_iter=request.test_iter)
    message = missing_data_message(base)
    if message is not None:
        raise UsageError(message)
    item_count = _item_count(base)
    batch, negatives = sampling_that_fits(item_count, base.batch_size, base.neg_num)
    base = dataclasses.replace(base, batch_size=batch, neg_num=negatives)
    from recdoc.config import recommended_learning_rate

    advised = recommended_learning_rate(base.model_type)
    if advised is not None:
        base = dataclasses.replace(base, learning_rate=advised)
    space = full_space(base, named, item_count)
    start_params = space.enqueueable(base)
    source = {"run": [], "verdict": None, "findings": [], "changes": [], "cleared": [], "tool": "recdoc",
              "rerun_command": None, "doctor": False, "start_params": start_params, "fix_params": None}
    return base, base, space, [(start_params, {ATTR_ROLE: "start"})], source


def _item_count(config: RunConfig) -> int:
    stats = Path(config.data_dir) / f"{config.dataset}_data" / "stats.json"
    try:
        return int(json.loads(stats.read_text(encoding="utf-8"))["item_count"])
    except (OSError, ValueError, KeyError, TypeError):
        from recdoc.trainer.data.dataset import load_dataset

        return load_dataset(config.data_dir, config.dataset, config.item_count).item_count


def _stored_config(folder: Path | None) -> dict[str, Any]:
    if folder is None:
        return {}
    try:
        data = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        return dict(data.get("config") or {})
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def _free_name(out: Path) -> str:
    number = 1
    while (out / f"tune{number}").exists():
        number += 1
    return f"tune{number}"


def _resume_target(request: TuneRequest) -> tuple[Path, str, str]:
    """`--resume STUDY`: a study folder (its study.json names the study and its storage), or with --storage the
    study's name (its folder is then <out>/<name>)."""
    target = Path(request.resume or "")
    if request.storage and not studies.is_local(request.storage):
        name = target.name
        folder = target if target.is_dir() else Path(request.out) / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder, name, request.storage
    folder = target if target.is_dir() else Path(request.out) / str(request.resume)
    if not (folder / studies.DB_NAME).is_file():
        raise UsageError(f"--resume {request.resume}: no {studies.DB_NAME} in {folder}; pass the study folder "
                         "recdoc tune created (or --storage URL for a shared study)")
    recorded = studies.study_folder_spec(folder)
    return folder, str(recorded.get("name") or folder.name), studies.sqlite_url(folder)


def _write_study_json(folder: Path, spec: studies.Spec, url: str) -> None:
    path = folder / "study.json"
    if not path.exists():
        write_file(path, json.dumps({"name": spec.name, "storage": redact(url)}, indent=1) + "\n")


def _announce(spec: studies.Spec, folder: Path, url: str, say: Echo) -> None:
    space = spec.space_obj
    say(f"Study {spec.name} in {folder} ({redact(url)}): {spec.trials} trials, sampler {spec.sampler}, "
        f"then {spec.seeds} seeds each for the best and the start.")
    for param in space.params:
        say(f"  search {param.describe()}  ({param.why})")
    for name, why in space.fixed.items():
        say(f"  fixed {name} = {spec.base.get(name)}  ({why})")


def redact(url: str) -> str:
    return studies.redact(url)


# ---------------------------------------------------------------- seed repeats
def _seed_plan(spec: studies.Spec, best: Any) -> list[tuple[str, int]]:
    seed0 = int(spec.base.get("random_seed", 19))
    seeds = [seed0 + 1 + i for i in range(spec.seeds)]
    arms = ["best", "start"] if _start_params(spec) is not None else ["best"]
    return [(arm, seed) for arm in arms for seed in seeds]


def _start_params(spec: studies.Spec) -> dict[str, Any] | None:
    return spec.source.get("start_params")


def _seed_repeats(spec: studies.Spec, url: str, folder: Path, best: Any, say: Echo) -> Any:
    """The seeds study: created once (its creator queues the repeats), then every process runs queued ones."""
    seeds_study = _open_seeds_study(spec, url, best, say)
    best_number = int(seeds_study.user_attrs.get("best_trial", best.number))
    best_trial = next((t for t in _all_trials(spec, url) if t.number == best_number), best)
    while _run_one_seed(seeds_study, spec, folder, best_trial, say):
        pass
    return seeds_study


def _open_seeds_study(spec: studies.Spec, url: str, best: Any, say: Echo) -> Any:
    import optuna
    from optuna.exceptions import DuplicatedStudyError

    name = spec.name + studies.SEEDS_SUFFIX
    storage = optuna.storages.RDBStorage(url, engine_kwargs=studies.engine_kwargs(url))
    try:
        seeds_study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    except DuplicatedStudyError:
        seeds_study = optuna.load_study(study_name=name, storage=storage)
        for _ in range(120):  # created a moment ago by another process: its queue follows at once
            if seeds_study.user_attrs.get("queued"):
                break
            time.sleep(0.5)
        return seeds_study
    seeds_study.set_user_attr("best_trial", best.number)
    for arm, seed in _seed_plan(spec, best):
        seeds_study.enqueue_trial({}, user_attrs={"arm": arm, "seed": seed})
    seeds_study.set_user_attr("queued", True)
    if spec.seeds:
        say(f"Seed repeats: the best (trial {best.number}) and the start on seeds "
            f"{', '.join(str(s) for s in sorted({s for _, s in _seed_plan(spec, best)}))}.")
    return seeds_study


def _run_one_seed(seeds_study: Any, spec: studies.Spec, folder: Path, best_trial: Any, say: Echo) -> bool:
    """Take the next queued seed repeat and train it; False when none is queued."""
    from optuna.trial import TrialState

    from recdoc.trainer.loop import train

    if not seeds_study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        return False
    trial = seeds_study.ask()
    arm, seed = trial.user_attrs.get("arm"), trial.user_attrs.get("seed")
    if arm is None:  # another process took the last queued repeat a moment ago
        seeds_study.tell(trial, state=TrialState.FAIL)
        return False
    params = dict(best_trial.params) if arm == "best" else dict(_start_params(spec) or {})
    config = _free_seed_config(spec, params, str(arm), int(seed), folder / "runs")
    run = Path(config.runs_dir) / config.exp_name
    trial.set_user_attr(ATTR_RUN, str(run))
    trial.set_user_attr(ATTR_PID, os.getpid())
    say(f"[seeds] {arm} on seed {seed}: {run}")
    try:
        train(config)
        outcome = read_run(run, _metric_key(spec.base_config))
    except (RecdocError, KeyboardInterrupt):
        seeds_study.tell(trial, state=TrialState.FAIL)
        raise
    for key in ("best_metric", "final_valid", "final_test", "iterations", "stop_reason"):
        trial.set_user_attr(key, outcome[key])
    seeds_study.tell(trial, float(outcome["final_test"] or 0.0))
    return True


def _free_seed_config(spec: studies.Spec, params: dict[str, Any], arm: str, seed: int, runs_dir: Path) -> RunConfig:
    """The repeat's run, `<study>_<arm>_s<seed>`; a repeat run again after a kill gets `_retry<N>` (its killed
    attempt's folder is kept, never overwritten)."""
    attempt = 1
    while True:
        suffix = "" if attempt == 1 else f"_retry{attempt - 1}"
        config = trial_config(spec.base_config, params, f"{spec.name}_{arm}_s{seed}{suffix}", runs_dir, seed=seed)
        if not (Path(config.runs_dir) / config.exp_name).exists():
            return config
        attempt += 1


def recover_seed_orphans(spec: studies.Spec, url: str, say: Echo, exited_only: bool) -> int:
    """Seed repeats marked running whose process was killed (every running one under the folder lock, before workers
    start; with `exited_only`, those whose process has exited): failed and queued again. Returns how many."""
    import optuna
    from optuna.trial import TrialState

    storage = optuna.storages.RDBStorage(url, engine_kwargs=studies.engine_kwargs(url))
    try:
        seeds_study = optuna.load_study(study_name=spec.name + studies.SEEDS_SUFFIX, storage=storage)
    except KeyError:
        return 0
    orphans = [t for t in seeds_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
               if not exited_only or not studies.process_alive(int(t.user_attrs.get(ATTR_PID, 0)))]
    for trial in orphans:
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        seeds_study.enqueue_trial({}, user_attrs={k: trial.user_attrs[k] for k in ("arm", "seed")
                                                  if k in trial.user_attrs})
        say(f"Seed repeat {trial.user_attrs.get('arm')} seed {trial.user_attrs.get('seed')} was left running by "
            "a killed process: queued again.")
    return len(orphans)


def _all_trials(spec: studies.Spec, url: str) -> list[Any]:
    return studies.load_study(spec.name, url).get_trials(deepcopy=False)


def _seed_results(seeds_study: Any) -> list[Any]:
    from optuna.trial import TrialState

    return [t for t in seeds_study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if "arm" in t.user_attrs]


def _metric_key(config: RunConfig) -> str:
    from recdoc.trainer.log.lines import early_stop_key

    return early_stop_key(config)


__all__ = ["TuneRequest", "TuneOutcome", "tune", "Space"]
