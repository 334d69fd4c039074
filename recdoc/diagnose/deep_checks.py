"""`recdoc analyze RUN --deep [--data_dir DIR]`: look inside the run's checkpoint, whatever wrote it.

Two checks on the best checkpoint, loaded into recdoc's model by `recdoc.instruments.checkpoints` (the original's TF1
files, a TF2 port's, recdoc's, a PyTorch state dict):
- the interest probe (`recdoc probe`): collapsed or dead interests are checkpoint evidence for `wiring-suspect`
  (and `interest-collapse`, `dead-interest`); into `Run.extra_metrics["probe"]`;
- the rescore (`recdoc rescore`): the reference evaluation of the same weights beside the logged numbers; a
  difference is evidence about the run's evaluation (`evaluation-differs`); into `Run.extra_metrics["rescore"]`.
When a check cannot run, `Run.extra_metrics["deep_missing"]` says what is missing and what the check would have
decided (rule `checkpoint-not-examined`), and the run's notes say it too: never silently nothing.
TensorFlow is imported only here, behind --deep, through the instruments (`recdoc/instruments/`). `recdoc rescore`
reads the log here too (`logged_finals`) and passes it to the rescore, which reads no log itself.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from recdoc import reference
from recdoc.config import EVAL_SPLITS
from recdoc.diagnose.observed_run import Run
from recdoc.errors import InputError, RecdocError

PROBE_DECIDES = ("whether the K interests are distinct or collapsed/dead inside the checkpoint: the evidence that "
                 "tells a readout fed item 0 (wiring-suspect) from a healthy model, which no log shows")
RESCORE_DECIDES = ("whether the logged numbers are what the reference evaluation gives for the same weights: if "
                   "not, the run's evaluation differs (a comparability finding, not a model one)")
MISSING_KEY = "deep_missing"
RESCORE_KEY = "rescore"
RESCORE_REF_KEY = "rescore_ref"


def attach_checkpoint_checks(run: Run, paths: list[str], data_dir: str | None) -> None:
    """Probe and rescore the run's checkpoint into `run.extra_metrics`, or record exactly what is missing."""
    missing: list[dict[str, str]] = []
    checkpoint = checkpoint_path(run, paths)
    model_type = run.declared.get("model_type")
    multi = model_type is None or reference.is_multi_interest(model_type.value)
    want_probe = multi and "probe" not in run.extra_metrics

    def note(missing_what: str, checks: list[tuple[str, str]]) -> None:
        for check, decides in checks:
            missing.append({"check": check, "missing": missing_what, "would_decide": decides})

    checks = ([("interest probe", PROBE_DECIDES)] if want_probe else []) + [("rescore", RESCORE_DECIDES)]
    if checkpoint is None:
        note("no readable checkpoint beside the run (looked for best_model/<exp>/ with its `checkpoint` file, "
             "keras_ckpt/ckpt-N, recdoc's ckpt/best, model.pt)", checks)
    else:
        folder = data_dir or _recdoc_data_dir(checkpoint)
        if folder is None:
            note("no data folder: pass --data_dir DIR (the folder holding <dataset>_data/ in ComiRec's format, the "
                 "split the run trained on)", checks)
        else:
            _run_checks(run, checkpoint, folder, want_probe, checks, missing)
    if missing:
        run.extra_metrics[MISSING_KEY] = missing
        for entry in missing:
            run.unreadable.append(f"--deep: {entry['check']} not run: {entry['missing']}; it would decide "
                                  f"{entry['would_decide']}")


def _run_checks(run: Run, checkpoint: str, data_dir: str, want_probe: bool, checks: list[tuple[str, str]],
                missing: list[dict[str, str]]) -> None:
    from recdoc.instruments.checkpoints import open_with_data

    started = time.monotonic()
    try:
        loaded, data = open_with_data(checkpoint, data_dir)
    except RecdocError as error:
        reason = " ".join(str(error).split())[:300]
        for check, decides in checks:
            missing.append({"check": check, "missing": f"the checkpoint could not be loaded: {reason}",
                            "would_decide": decides})
        return
    mapping_lines = loaded.describe()
    run.extra_metrics["checkpoint_mapping"] = mapping_lines
    mapped = ", ".join(f"{a.slot} <- {a.source or 'zeros'}" for a in loaded.mapping.assignments)
    run.unreadable.append(f"--deep loaded {loaded.located.target} ({loaded.source.layout}) as "
                          f"{loaded.mapping.model_type}, K {loaded.mapping.num_interest}, maxlen "
                          f"{loaded.mapping.maxlen}: {mapped}")
    if want_probe:
        if reference.is_multi_interest(loaded.mapping.model_type) and loaded.mapping.num_interest >= 2:
            from recdoc.instruments.probe.measure import probe_loaded
            from recdoc.thresholds import InterestThresholds

            run.extra_metrics["probe"] = probe_loaded(loaded, data, "valid", InterestThresholds.DOCTOR_MAX_USERS)
            run.extra_metrics["probe_ref"] = f"{loaded.located.target} (probed by --deep)"
    from recdoc.instruments.rescore import rescore_loaded

    run.extra_metrics[RESCORE_KEY] = rescore_loaded(loaded, data, data_dir, logged=read_logged(loaded.located))
    run.extra_metrics[RESCORE_REF_KEY] = f"{loaded.located.target} (rescored by --deep on {data.path})"
    run.extra_metrics["deep_seconds"] = round(time.monotonic() - started, 2)


def checkpoint_path(run: Run, paths: list[str]) -> str | None:
    """The checkpoint to load: a recdoc run folder given as such, else the run's best readable checkpoint."""
    for given in paths:
        folder = Path(given)
        if folder.is_dir() and (folder / "run.json").is_file() and (folder / "ckpt" / "best" / "checkpoint").is_file():
            return str(folder)
        if folder.is_file() and folder.name == "run.json" and (folder.parent / "ckpt" / "best").is_dir():
            return str(folder.parent)
    usable = [c for c in run.checkpoints if c.files_ok]
    if not usable:
        return None
    best = [c for c in usable if "best" in Path(c.path).parts[-3:] or Path(c.path).name == "best"] or usable
    chosen = best[0]
    if chosen.kind == "torch" and chosen.latest:
        return str(Path(chosen.path) / chosen.latest)
    return chosen.path


def _recdoc_data_dir(checkpoint: str) -> str | None:
    """A recdoc run states its data folder in run.json; other runs do not."""
    folder = Path(checkpoint)
    if not (folder / "run.json").is_file():
        return None
    from recdoc.instruments.probe.restore import locate

    try:
        return str(locate(folder).data_dir)
    except RecdocError:
        return None


def logged_finals(path: str | Path) -> dict[str, Any] | None:
    """What the log beside the checkpoint at `path` said at the end, for `recdoc rescore` (see `read_logged`)."""
    from recdoc.instruments.checkpoints import locate

    return read_logged(locate(path))


def read_logged(located: Any) -> dict[str, Any] | None:
    """The run's final valid/test lines (`{split: {recall, ndcg, hitrate, diversity, ref}, cutoff}`) for a located
    checkpoint (`recdoc.instruments.checkpoints.Located`), read by the doctor's readers (no TensorFlow); None
    without a log. The rescore compares its numbers with them."""
    root = located.run_root
    if root is None:
        return None
    from recdoc.diagnose.readers.detect import read_paths

    try:
        run = read_paths([str(root)])
    except InputError:
        return None
    out: dict[str, Any] = {}
    cutoff = None
    for split in EVAL_SPLITS:
        final = run.finals.get(split)
        if final is None:
            continue
        out[split] = {k: v for k, v in (("recall", final.recall), ("ndcg", final.ndcg), ("hitrate", final.hitrate),
                                        ("diversity", final.diversity)) if v is not None}
        out[split]["ref"] = str(final.ref)
        cutoff = cutoff or final.cutoff
    if not out:
        return None
    exp = located.exp
    out["cutoff"] = cutoff or (exp.topN if exp is not None and exp.topN else None)
    return out
