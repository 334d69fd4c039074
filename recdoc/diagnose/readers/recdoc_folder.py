"""recdoc's own run folder: `run.json` (config, stop reason, best iteration, final metrics) and `metrics.jsonl`.

`metrics.jsonl` holds one JSON record per evaluation with keys such as `iter`, `train_loss`, `time_min`,
`recall@50`, `ndcg_paper@50`, `ndcg_master@50`, `ndcg_standard@50`, `hitrate@50`, `diversity@50`. The curve takes
the run's own cut-off (`config.topN`) and NDCG kind (`config.ndcg`); every other cut-off and kind is kept in
`Run.extra_metrics`:
- `extra_metrics["evaluations"]`: a DataFrame, one row per evaluation, every numeric key of metrics.jsonl;
- `extra_metrics["final_valid"]`, `extra_metrics["final_test"]`: dict of every final metric key of run.json;
- `extra_metrics["best_iter"]`: run.json's best iteration;
- `extra_metrics["split_facts"]`: facts read from the split files run.json names (readers/split_facts.py).
The files' `train.log` is the original's format and is read by `original.py`. Every key is optional: a missing key
leaves a gap, never an error. Each jsonl line is parsed on its own, so a run killed mid-write loses only that line.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from recdoc.config import setting_problem
from recdoc.diagnose.observed_run import Event, Fact, FinalMetrics, Run, SourceRef, curve_from_rows
from recdoc.diagnose.readers.lines import iter_lines, read_head_bytes
from recdoc.diagnose.readers.split_facts import read_split_facts, split_files
from recdoc.errors import InputError

FORMAT = "recdoc"
RUN_JSON = "run.json"
METRICS_JSONL = "metrics.jsonl"
STOP_REASONS = {"early_stop", "max_iter", "interrupted", "crashed", "nan", "unfinished", "pruned", "unknown"}
# run.json may be written by older or newer trainers; accept their spellings of the stop reason.
STOP_ALIASES = {"early_stopping": "early_stop", "patience": "early_stop", "max_iter_reached": "max_iter",
                "cap": "max_iter", "keyboard_interrupt": "interrupted", "ctrl_c": "interrupted", "error": "crashed",
                "running": "unfinished"}
# run.json is small; a larger file is not one of ours and is not loaded into memory.
MAX_RUN_JSON_BYTES = 16 * 1024 * 1024
_CUTOFF_KEY_RE = re.compile(r"^(recall|hitrate|hit_rate|diversity|ndcg(?:_(paper|master|standard))?)@(\d+)$")


def sniff(head: str) -> float:
    text = head.lstrip()
    if not text.startswith("{"):
        return 0.0
    if '"config"' in text and ('"stop_reason"' in text or '"final"' in text):
        return 0.95
    if '"iter"' in text and ('"recall@' in text or '"train_loss"' in text):
        return 0.9
    return 0.1


def read(path: str | Path) -> Run:
    """Read a recdoc run folder, its `run.json`, or its `metrics.jsonl`."""
    try:
        return _read(Path(path))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", str(path)) from None


def _read(target: Path) -> Run:
    if target.is_dir():
        run_json, metrics = target / RUN_JSON, target / METRICS_JSONL
    elif target.suffix == ".jsonl":
        run_json, metrics = None, target
    else:
        run_json, metrics = target, None
    run = Run(format=FORMAT)
    config: dict[str, Any] = {}
    if run_json is not None and run_json.is_file():
        config = _read_run_json(run_json, run)
    if metrics is not None and metrics.is_file():
        _read_metrics(metrics, run, config)
    if not run.paths:
        raise InputError(f"no {RUN_JSON} or {METRICS_JSONL}", str(target))
    return run


def _read_run_json(path: Path, run: Run) -> dict[str, Any]:
    run.paths.append(str(path))
    data = _run_json_object(path, run)
    if data is None:
        return {}
    ref = SourceRef(str(path))
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    facts = read_split_facts(split_files(data, path))
    if facts is not None:
        run.extra_metrics["split_facts"] = facts
    _declare_config(path, config, run)
    exp_name = data.get("exp_name") or config.get("exp_name")
    if isinstance(exp_name, str) and exp_name:
        run.exp_name = Fact(value=exp_name, ref=ref, text=f"exp_name = {exp_name!r}")
    _read_deviations(data, ref, run)
    _read_stop_reason(data, path, ref, run)
    if _is_iteration(data.get("best_iter")):
        run.extra_metrics["best_iter"] = int(data["best_iter"])
    _read_finals(data, config, ref, run)
    return config


def _run_json_object(path: Path, run: Run) -> dict[str, Any] | None:
    """run.json's object, or None with the reason in `run.unreadable` (too large, not JSON, not an object)."""
    try:
        if path.stat().st_size > MAX_RUN_JSON_BYTES:
            run.unreadable.append(f"{path}: larger than {MAX_RUN_JSON_BYTES >> 20} MiB, not a recdoc run.json")
            return None
        data = json.loads(read_head_bytes(path, MAX_RUN_JSON_BYTES).decode("utf-8", errors="replace"))
    except (OSError, ValueError, RecursionError) as exc:
        run.unreadable.append(f"{path}: not valid JSON ({_short(exc)})")
        return None
    if not isinstance(data, dict):
        run.unreadable.append(f"{path}: JSON is not an object")
        return None
    return data


def _declare_config(path: Path, config: dict[str, Any], run: Run) -> None:
    ref = SourceRef(str(path))
    for key, value in config.items():
        # config.py's one check of a setting's type and range: a bad value is named here and never used.
        problem = setting_problem(str(key), value) if value is not None else None
        if problem is not None:
            run.unreadable.append(f"{path}: config.{key} {problem}; not used")
        elif value is not None and not isinstance(value, (dict, list)):
            run.declared[str(key)] = Fact(value=value, ref=ref, text=f"config.{key} = {value!r}")


def _read_deviations(data: dict[str, Any], ref: SourceRef, run: Run) -> None:
    """Protocol deviations the trainer recorded (e.g. --eval_users: a subset's validation curve is noisier and may
    move the best iteration); kept as info events with their values, and in extra_metrics for the rules."""
    deviations = [d for d in data.get("deviations") or [] if isinstance(d, dict) and isinstance(d.get("text"), str)]
    if deviations:
        run.extra_metrics["deviations"] = deviations
        run.events.extend(Event(kind="info", ref=ref, text=f"deviation from the original: {d['text']}",
                                values={"deviation": d.get("flag"), "value": d.get("value"), "of": d.get("of")})
                          for d in deviations)


def _read_stop_reason(data: dict[str, Any], path: Path, ref: SourceRef, run: Run) -> None:
    stop = data.get("stop_reason")
    if not isinstance(stop, str):
        return
    reason = STOP_ALIASES.get(stop.lower(), stop.lower())
    if reason not in STOP_REASONS:
        run.unreadable.append(f"{path}: unknown stop_reason {stop!r}")
        return
    run.stop_reason, run.stop_ref = reason, ref  # type: ignore[assignment]
    if reason == "pruned":
        run.events.append(Event(kind="info", ref=ref, text="stopped by recdoc tune's pruner: its validation "
                                "recall was below the other trials' at the same iteration (a search "
                                "decision, not a fault of the run)"))


def _read_finals(data: dict[str, Any], config: dict[str, Any], ref: SourceRef, run: Run) -> None:
    """`final`'s valid and test values, each split's picked at the run's cut-off with its NDCG kind."""
    cutoff = _int_or(config.get("topN"), 50)
    ndcg_kind = config.get("ndcg") if config.get("ndcg") in ("paper", "master", "standard") else "paper"
    final = data.get("final") if isinstance(data.get("final"), dict) else {}
    for split in ("valid", "test"):
        values = _split_values(final, split)
        if not values:
            continue
        run.extra_metrics[f"final_{split}"] = values
        picked = _pick(values, cutoff, ndcg_kind, with_diversity=True)
        run.finals[split] = FinalMetrics(split=split, ref=ref, cutoff=cutoff,  # type: ignore[arg-type]
                                         text=f"final.{split} = {json.dumps(values, sort_keys=True)[:300]}", **picked)


def _split_values(final: dict[str, Any], split: str) -> dict[str, float]:
    """`final: {"test": {"recall@50": ...}}` or the flat `final: {"test_recall@50": ...}`."""
    nested = final.get(split)
    if isinstance(nested, dict):
        return {str(k): float(v) for k, v in nested.items() if _is_number(v)}
    prefix = f"{split}_"
    return {k[len(prefix):]: float(v) for k, v in final.items() if k.startswith(prefix) and _is_number(v)}


def _pick(values: dict[str, Any], cutoff: int, ndcg_kind: str, with_diversity: bool) -> dict[str, float | None]:
    """The run's own cut-off and NDCG kind, falling back to the bare key (`recall`) and then any cut-off."""

    def first(*keys: str) -> float | None:
        for key in keys:
            if _is_number(values.get(key)):
                return float(values[key])
        return None

    def any_cutoff(stem: str) -> float | None:
        for key, value in values.items():
            match = _CUTOFF_KEY_RE.match(str(key))
            if match and match.group(1) == stem and _is_number(value):
                return float(value)
        return None

    def either(value: float | None, fallback: str) -> float | None:
        return value if value is not None else any_cutoff(fallback)

    out = {
        # recdoc's `--ndcg master` run shows the master branch's recall (duplicates count once), as its train.log.
        "recall": either(first(*((f"recall_master@{cutoff}",) if ndcg_kind == "master" else ()),
                               f"recall@{cutoff}", "recall"), "recall"),
        "ndcg": either(first(f"ndcg_{ndcg_kind}@{cutoff}", f"ndcg@{cutoff}", "ndcg"), f"ndcg_{ndcg_kind}"),
        "hitrate": either(first(f"hitrate@{cutoff}", f"hit_rate@{cutoff}", "hitrate"), "hitrate"),
    }
    if with_diversity:
        out["diversity"] = first(f"diversity@{cutoff}", "diversity")
    return out


def _read_metrics(path: Path, run: Run, config: dict[str, Any]) -> None:
    run.paths.append(str(path))
    cutoff = _int_or(config.get("topN"), 50)
    ndcg_kind = config.get("ndcg") if config.get("ndcg") in ("paper", "master", "standard") else "paper"
    rows: list[dict[str, Any]] = []
    records: list[dict[str, float]] = []
    bad_lines: list[int] = []
    for number, text in iter_lines(path):
        if not text.strip():
            continue
        run.coverage.lines_with_numbers += 1  # each record is one line of numbers; a used one becomes a row
        try:
            record = json.loads(text)
        except (ValueError, RecursionError):
            bad_lines.append(number)
            continue
        if not isinstance(record, dict) or not _is_iteration(record.get("iter")):
            bad_lines.append(number)
            continue
        numeric = {str(k): float(v) for k, v in record.items() if _is_number(v)}
        records.append(numeric)
        loss = numeric.get("train_loss")
        if loss is not None and not math.isfinite(loss) and not any(e.kind == "nan" for e in run.events):
            # A printed NaN/Infinity loss is evidence (cited); a record without `train_loss` is a loss not read.
            run.events.append(Event(kind="nan", ref=SourceRef(str(path), number), text=text.strip()[:200],
                                    values={"iter": int(record["iter"])}))
        picked = _pick(numeric, cutoff, ndcg_kind, with_diversity=False)
        run.coverage.lines_used += 1
        rows.append({"iter": int(record["iter"]), "train_loss": numeric.get("train_loss", math.nan),
                     "time_min": numeric.get("time_min", math.nan), "file": str(path), "line": number,
                     **{k: (math.nan if v is None else v) for k, v in picked.items()}})
    if bad_lines:
        shown = ", ".join(str(n) for n in bad_lines[:5]) + (" ..." if len(bad_lines) > 5 else "")
        run.unreadable.append(f"{path}:{bad_lines[0]}: {len(bad_lines)} line(s) not an evaluation record (lines {shown})")
    if rows:
        run.curve = curve_from_rows(rows)
        run.extra_metrics["evaluations"] = (pd.DataFrame.from_records(records)
                                            .drop_duplicates(subset="iter", keep="last")
                                            .sort_values("iter", kind="stable").reset_index(drop=True))
    elif not bad_lines:
        run.unreadable.append(f"{path}: no evaluation records")


def _is_iteration(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value) and 0 <= value < 1e15


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int_or(value: Any, default: int) -> int:
    return int(value) if _is_number(value) and value == value and not math.isinf(value) else default


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
