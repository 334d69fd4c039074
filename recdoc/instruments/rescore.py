"""`recdoc rescore PATH --data_dir DIR`: evaluate a checkpoint with recdoc's (the reference) evaluation and set the
numbers beside what the run logged.

The same weights on the same users give the same numbers under the same evaluation (reference section 5). So:
- every logged number equals one of recdoc's definitions (to the six printed digits): the run's evaluation is the
  reference one, and `rescore.json` records which definitions the log used (master or paper NDCG, cut-off);
- a logged number that no definition reproduces: the run's evaluation code differs (master vs paper recall on
  repeated targets, a set-order NDCG, a cut-off), or the data folder is not the split the run evaluated on: a
  finding about comparability, not about the model.
MIND draws its routing logits at random on every pass (as the original's evaluation did), so it is rescored over a
few passes and a logged number counts as reproduced when it lies within their spread.

`compare_with_log` is pure (numbers in, comparison out); `rescore_checkpoint` loads and evaluates.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from recdoc import model_specs, reference
from recdoc.config import EVAL_SPLITS
from recdoc.errors import InputError
from recdoc.files import write_numbered
from recdoc.trainer.evaluate import evaluate

RESCORE_FILE = "rescore.json"
RESCORE_SCHEMA = "recdoc-rescore/1"
# Logs print six decimals: a reproduced number is within half a unit of the last digit (plus float noise).
PRINTED_TOLERANCE = 5e-7 + 1e-9
STOCHASTIC_PASSES = 5
STOCHASTIC_MODELS = model_specs.stochastic_names()  # random on every pass (MIND's routing logits)
CUTOFFS = reference.paper_cutoffs()  # the paper's: a logged number is looked for at each
# For each logged metric, recdoc's definitions that could have produced it.
CANDIDATES = {"recall": ("recall", "recall_master"), "ndcg": ("ndcg_master", "ndcg_paper", "ndcg_standard"),
              "hitrate": ("hitrate",), "diversity": ("diversity",)}


def rescore_checkpoint(path: str | Path, data_dir: str | Path, dataset: str | None = None,
                       passes: int | None = None, logged: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load the checkpoint at `path`, evaluate valid and test (@20 and @50) and compare with `logged`, the run's
    final valid/test lines as the doctor read them (`recdoc.diagnose.deep_checks.logged_finals`; None: no log)."""
    from recdoc.instruments.checkpoints import open_with_data

    loaded, data = open_with_data(path, data_dir, dataset)
    return rescore_loaded(loaded, data, data_dir, passes, logged)


def rescore_loaded(loaded: Any, data: Any, data_dir: str | Path, passes: int | None = None,
                   logged: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rescore a checkpoint already loaded (`recdoc.instruments.checkpoints.Loaded`) on `data`, beside `logged`
    (`{split: {recall, ndcg, hitrate, diversity, ref}, cutoff}`, what the run's log said; None without a log)."""
    model_type = loaded.mapping.model_type
    if passes is None:
        passes = STOCHASTIC_PASSES if model_type in STOCHASTIC_MODELS else 1
    if passes < 1:
        raise InputError(f"passes must be positive, got {passes}")
    ours: dict[str, list[dict[str, float]]] = {}
    for split in EVAL_SPLITS:
        users = data.valid if split == "valid" else data.test
        ours[split] = [evaluate(loaded.model, users, loaded.config, data.item_cate) for _ in range(passes)]
    cutoff = (logged or {}).get("cutoff") or loaded.config.topN
    located = loaded.located
    result: dict[str, Any] = {
        "schema": RESCORE_SCHEMA,
        "checkpoint": str(located.target),
        "run": str(located.run_root) if located.run_root is not None else None,
        "exp_name": located.exp_name,
        "loaded_as": {"layout": loaded.source.layout, **loaded.mapping.to_dict()},
        "dataset": data.name,
        "data_dir": str(data_dir),
        "users": {"valid": len(data.valid.users), "test": len(data.test.users)},
        "passes": passes,
        "stochastic": model_type in STOCHASTIC_MODELS,
        "ours": {split: summarize_passes(runs) for split, runs in ours.items()},
        "logged": logged,
    }
    result.update(compare_with_log(result["ours"], logged, int(cutoff)))
    return result


def summarize_passes(runs: Sequence[dict[str, float]]) -> dict[str, Any]:
    """Per metric: the first pass's value, and min/max over the passes when there are several."""
    keys = [k for k in runs[0] if any(k.startswith(f"{m}@") for m in sum(CANDIDATES.values(), ()))]
    out: dict[str, Any] = {k: runs[0][k] for k in keys}
    if len(runs) > 1:
        out["spread"] = {k: [min(r[k] for r in runs), max(r[k] for r in runs)] for k in keys}
        out["mean"] = {k: sum(r[k] for r in runs) / len(runs) for k in keys}
    return out


def compare_with_log(ours: dict[str, Any], logged: dict[str, Any] | None, cutoff: int) -> dict[str, Any]:
    """Pure: each logged number against recdoc's definitions at `cutoff` (and the other cut-offs, to name a
    cut-off difference). Returns `comparison` rows and a `verdict`: `reference`, `differs` or `no-log`."""
    if not logged:
        return {"comparison": [], "verdict": "no-log",
                "explanation": "no log with final valid/test metrics found beside the checkpoint: nothing to "
                               "compare; the numbers above are the reference evaluation of these weights"}
    rows: list[dict[str, Any]] = []
    for split in EVAL_SPLITS:
        numbers = logged.get(split) or {}
        for metric, candidates in CANDIDATES.items():
            value = numbers.get(metric)
            if value is None:
                continue
            row = _compare_one(ours.get(split) or {}, split, metric, float(value), candidates, cutoff)
            row["ref"] = numbers.get("ref")
            rows.append(row)
    if not rows:
        return {"comparison": [], "verdict": "no-log",
                "explanation": "the log has no final valid/test metrics to compare"}
    missed = [r for r in rows if not r["matches"]]
    kinds = sorted({m for r in rows if r["metric"] == "ndcg" for m in r["matches"]})
    if not missed:
        explanation = (f"every logged number is reproduced by recdoc's evaluation of the same weights at @{cutoff}"
                       f"{' (NDCG: ' + ' or '.join(kinds) + ')' if kinds else ''}: the run's evaluation is the "
                       "reference one")
        return {"comparison": rows, "verdict": "reference", "ndcg_kinds": kinds, "explanation": explanation}
    listed = "; ".join(f"{r['split']} {r['metric']} logged {r['logged']:.6f}, recdoc {r['closest']} "
                       f"{r['ours']:.6f}" + (f" (matches {', '.join(r['other_cutoff'])})" if r["other_cutoff"] else "")
                       for r in missed)
    # Hit rate is the same in every definition (a user with at least one target in the list): when it differs too,
    # the users or their targets differ, not the formula.
    likely = "data" if any(r["metric"] == "hitrate" for r in missed) else "evaluation"
    if likely == "data":
        cause = ("the hit rate differs too, and every definition shares it: most likely the data folder is not the "
                 "split the run evaluated on (or the checkpoint is not the one that produced these lines)")
    else:
        cause = ("the run's evaluation code differs from the reference (master vs paper recall on repeated targets, a "
                 "set-order NDCG, a cut-off, history items masked), or the data folder is not the split the run "
                 "evaluated on")
    explanation = f"same weights, different numbers: {listed}. {cause[0].upper()}{cause[1:]}; a comparability issue, " \
                  "not a model one"
    return {"comparison": rows, "verdict": "differs", "ndcg_kinds": kinds, "likely_cause": likely,
            "explanation": explanation}


def _compare_one(ours: dict[str, Any], split: str, metric: str, logged: float, candidates: Sequence[str],
                 cutoff: int) -> dict[str, Any]:
    spread = ours.get("spread") or {}

    def reproduces(key: str) -> bool:
        if key in spread:
            low, high = spread[key]
            return low - PRINTED_TOLERANCE <= logged <= high + PRINTED_TOLERANCE
        return key in ours and abs(float(ours[key]) - logged) <= PRINTED_TOLERANCE

    at = [f"{c}@{cutoff}" for c in candidates if f"{c}@{cutoff}" in ours]
    matches = [key for key in at if reproduces(key)]
    closest = min(at, key=lambda k: abs(float(ours[k]) - logged)) if at else None
    others = [f"{c}@{n}" for c in candidates for n in CUTOFFS if n != cutoff and reproduces(f"{c}@{n}")]
    row: dict[str, Any] = {"split": split, "metric": metric, "logged": logged, "matches": matches,
                           "closest": closest, "ours": None if closest is None else float(ours[closest]),
                           "diff": None if closest is None else float(ours[closest]) - logged,
                           "other_cutoff": [] if matches else others}
    if closest is not None and closest in spread:
        row["spread"] = spread[closest]
    return row


# ---------------------------------------------------------------- rescore.json and the console
def write_rescore(result: dict[str, Any], out_dir: str | Path) -> Path:
    """`rescore.json` in `out_dir`, or `rescore-2.json`, ...: never replaces a file (recdoc.files)."""
    return write_numbered(Path(out_dir), lambda n: RESCORE_FILE if n == 1 else f"rescore-{n}.json",
                          json.dumps(result, indent=1) + "\n")


def print_rescore(result: dict[str, Any], written: Path | None, stream: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    target = stream if stream is not None else sys.stdout
    console = Console(file=stream, soft_wrap=not target.isatty())  # piped: prose unwrapped; a path always whole
    loaded = result["loaded_as"]
    console.print(f"{result['checkpoint']}: {loaded['layout']} -> {loaded['model_type']} (K {loaded['num_interest']}, "
                  f"d {loaded['embedding_dim']}, maxlen {loaded['maxlen']}, {loaded['item_count']} items)",
                  markup=False, highlight=False, soft_wrap=True)
    for slot, source in loaded["mapped"].items():
        console.print(f"  {slot} <- {source}", markup=False, highlight=False)
    passes = f", {result['passes']} passes (min-max)" if result["passes"] > 1 else ""
    table = Table(title=f"rescored on {result['dataset']} ({result['users']['valid']} valid, "
                        f"{result['users']['test']} test users{passes})")
    for header in ("metric", "split", *(f"@{c}" for c in CUTOFFS), "logged"):
        table.add_column(header, justify="right")
    logged_rows = {(r["split"], r["closest"]): r for r in result["comparison"]}
    for metric in ("recall", "recall_master", "ndcg_paper", "ndcg_master", "ndcg_standard", "hitrate"):
        for split in EVAL_SPLITS:
            ours = result["ours"][split]
            cells = []
            for cutoff in CUTOFFS:
                key = f"{metric}@{cutoff}"
                spread = (ours.get("spread") or {}).get(key)
                cells.append(f"{spread[0]:.6f}-{spread[1]:.6f}" if spread else
                             f"{ours[key]:.6f}" if key in ours else "-")
            row = next((r for (s, closest), r in logged_rows.items() if s == split and
                        (any(m.startswith(f"{metric}@") for m in r["matches"]) or
                         (not r["matches"] and closest is not None and closest.startswith(f"{metric}@")))), None)
            logged = "" if row is None else f"{row['logged']:.6f}" + ("" if row["matches"] else " (!)")
            table.add_row(metric, split, *cells, logged)
    console.print(table)
    for row in result["comparison"]:
        state = ("= " + ", ".join(row["matches"])) if row["matches"] else \
            f"differs (closest {row['closest']} {row['ours']:.6f})"
        console.print(f"logged {row['split']} {row['metric']} {row['logged']:.6f}: {state}",
                      markup=False, highlight=False)
    console.print(f"verdict: {result['verdict']}: {result['explanation']}", markup=False, highlight=False)
    if written is not None:
        console.print(f"Rescore: {written}", markup=False, highlight=False, soft_wrap=True)
