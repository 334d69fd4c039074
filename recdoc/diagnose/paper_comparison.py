"""Like-for-like comparison of a run's metrics with the paper's Table 3 (Table 4 for K != 4).

Like for like means: the same dataset (the paper has Book and Taobao only), the same cut-off (the run's topN), the
same NDCG definition (the paper's), the same recall definition (Taobao: duplicate-counting), the same K. Rows that
fail one of these are still returned, marked not comparable, with the reason in `note`.
"""

from __future__ import annotations

from typing import Any

from recdoc import reference
from recdoc.diagnose.config_inference import UNKNOWN_NDCG
from recdoc.diagnose.curve import best_row
from recdoc.diagnose.findings import Comparison, Setting
from recdoc.diagnose.observed_run import Run
from recdoc.metrics import LOGGED_METRICS, is_possible
from recdoc.numbers import finite_number

# Recall definitions that count duplicate targets like the paper's Taobao numbers (reference section 5).
DUPLICATE_COUNTING_RECALL = {"paper", "duplicate-counting"}


MetricRow = tuple[str, int | None, dict[str, float | None], str | None]  # split, cut-off, values, NDCG kind


def run_metric_values(run: Run, cutoff: int | None, ndcg_kind: str | None) -> list[MetricRow]:
    """The run's numbers to compare: every cut-off recdoc's own run.json holds (with the paper's NDCG when it was
    computed), else the final test and valid lines, else the best validation evaluation."""
    rows: list[MetricRow] = []
    for split in ("test", "valid"):
        stored = run.extra_metrics.get(f"final_{split}")
        if isinstance(stored, dict):
            rows.extend(_rows_from_stored(split, stored, ndcg_kind))
    if rows:
        return rows
    for split in ("test", "valid"):
        final = run.finals.get(split)
        if final is not None:
            rows.append((split, final.cutoff or cutoff,
                         {"recall": final.recall, "ndcg": final.ndcg, "hitrate": final.hitrate}, ndcg_kind))
    if not rows and run.has_curve:
        best = best_row(run.curve)
        if best is not None:
            rows.append(("best-valid", cutoff, {m: finite_number(best[m]) for m in LOGGED_METRICS}, ndcg_kind))
    return rows


def _rows_from_stored(split: str, stored: dict[str, Any], ndcg_kind: str | None) -> list[MetricRow]:
    """One row per cut-off of recdoc's stored finals
    (`{"recall@50": .., "ndcg_paper@50": .., "ndcg_master@50": .., "hitrate@50": ..}`)."""
    paper_kind = reference.load()["paper"]["ndcg_definition"]
    cutoffs = sorted({int(key.rsplit("@", 1)[1]) for key in stored
                      if key.startswith("recall@") and key.rsplit("@", 1)[1].isdigit()})
    rows: list[MetricRow] = []
    for cutoff in cutoffs:
        kind = paper_kind if f"ndcg_{paper_kind}@{cutoff}" in stored else ndcg_kind
        ndcg = stored.get(f"ndcg_{kind}@{cutoff}", stored.get(f"ndcg@{cutoff}"))
        values = {"recall": finite_number(stored.get(f"recall@{cutoff}")), "ndcg": finite_number(ndcg),
                  "hitrate": finite_number(stored.get(f"hitrate@{cutoff}"))}
        rows.append((split, cutoff, values, kind))
    return rows


def _value(config: dict[str, Setting], key: str) -> Any:
    setting = config.get(key)
    return None if setting is None else setting.value


def _paper_cell(dataset: str, model_type: str, num_interest: int | None, metric: str,
                cutoff: int) -> tuple[float | None, bool, str]:
    """(fraction, confirmed, note) for the paper cell that matches the run, or (None, False, why not)."""
    multi = reference.is_multi_interest(model_type)
    if multi and num_interest is not None and num_interest != 4:
        percent = reference.paper_k_value(dataset, model_type, num_interest, metric) if cutoff == 50 else None
        if percent is None:
            return None, False, (f"the paper reports K={num_interest} only for ComiRec-SA/DR recall@50 and ndcg@50 "
                                 f"(Table 4); no {metric}@{cutoff} at K={num_interest}")
        return percent / 100.0, True, f"Table 4 (K={num_interest})"
    cell = reference.paper_value(dataset, model_type, metric, cutoff)
    if cell is None:
        return None, False, f"the paper has no {metric}@{cutoff} for {model_type} on {dataset}"
    note = "Table 3" if cell.confirmed else "Table 3; value recalled from the paper and not confirmed: check it"
    return cell.fraction, cell.confirmed, note


def sampled_candidates(run: Run) -> int | None:
    """The number of candidates a sampled-candidate evaluation ranks each target among (the readers' declared
    `eval_candidates`: an int such as 100 for 99 negatives, `full` for a ranking over all items), else None."""
    fact = run.declared.get("eval_candidates")
    if fact is None or isinstance(fact.value, bool):
        return None
    try:
        count = int(fact.value)
    except (TypeError, ValueError):
        return None  # 'full' or unreadable: a ranking over all items, as the paper's
    return count if count > 0 else None


def compare_with_paper(run: Run, config: dict[str, Setting]) -> list[Comparison]:
    """The run's recall, NDCG and hit rate against the paper's, like for like, with reasons where not."""
    dataset = _value(config, "paper_dataset") or _value(config, "dataset")
    model_type = reference.canonical_model_type(_value(config, "model_type")) or _value(config, "model_type")
    num_interest = _value(config, "num_interest")
    ndcg_source = config["ndcg"].source if "ndcg" in config else None
    recall_kind = _value(config, "recall_definition")
    paper_datasets = tuple(reference.load()["paper"]["table3"])
    paper_ndcg = reference.load()["paper"]["ndcg_definition"]
    out: list[Comparison] = []
    for split, cutoff, values, ndcg_kind in run_metric_values(run, _value(config, "topN"), _value(config, "ndcg")):
        for metric in LOGGED_METRICS:
            run_value = values.get(metric)
            if run_value is None or not is_possible(run_value):
                continue  # an impossible value (recall 2.5, inf, NaN) is the impossible-metrics finding, not a row
            kind = ndcg_kind if metric == "ndcg" else None
            if dataset in paper_datasets and model_type is None and cutoff is not None:
                out.extend(_placements(run, dataset, num_interest, split, int(cutoff), metric, run_value, kind,
                                       ndcg_source, recall_kind, paper_ndcg))
                continue
            blocker = _blocker(dataset, model_type, cutoff, paper_datasets)
            if blocker is not None:
                out.append(Comparison(metric, int(cutoff or 0), split, run_value, None, False, False, blocker, kind))
                continue
            paper, confirmed, note = _paper_cell(dataset, model_type, num_interest, metric, int(cutoff))
            comparable = paper is not None
            note, comparable = _caveats(run, dataset, metric, kind, paper, comparable, note, ndcg_source,
                                        recall_kind, paper_ndcg, kind == _value(config, "ndcg"))
            out.append(Comparison(metric, int(cutoff), split, run_value, paper, confirmed, comparable, note, kind,
                                  model=model_type if paper is not None else None))
    return out


def _blocker(dataset: str | None, model_type: str | None, cutoff: int | None,
             paper_datasets: tuple[str, ...]) -> str | None:
    """Why no paper cell can stand beside the run's value (the first that fails of dataset, model, cut-off)."""
    if dataset is None:
        return "the run's dataset could not be inferred (pass --set dataset=NAME)"
    if dataset not in paper_datasets:
        return f"dataset {dataset} is not in the paper (it reports {' and '.join(paper_datasets)} only)"
    if model_type is None:
        return "the run's model type could not be inferred (pass --set model_type=NAME)"
    if model_type not in reference.load()["paper"]["table3"][dataset]:
        return f"model type {model_type} is not in the paper's Table 3"
    if cutoff is None:
        return "the run's cut-off (topN) is unknown"
    return None


def _caveats(run: Run, dataset: str, metric: str, kind: str | None, paper: float | None, comparable: bool,
             note: str, ndcg_source: str | None, recall_kind: str | None, paper_ndcg: str,
             kind_is_configs: bool) -> tuple[str, bool]:
    """The like-for-like conditions besides dataset, model and cut-off: the NDCG definition, the candidate set and
    Taobao's recall definition; each that fails marks the row not comparable and says why."""
    if metric == "ndcg":
        if kind is None:
            comparable, note = False, note + "; the run's NDCG definition is unknown"
        elif kind == UNKNOWN_NDCG:
            comparable = False
            note += f"; the run's NDCG definition is unknown ({ndcg_source})"
        elif kind != paper_ndcg:
            comparable = False
            source = f" ({ndcg_source})" if kind_is_configs and ndcg_source else ""
            note += (f"; the run's NDCG uses the {kind} definition{source} while the paper's uses the paper "
                     f"definition: the gap is a definition difference, not model quality")
    sampled = sampled_candidates(run)
    if sampled is not None and paper is not None:
        comparable = False
        note += (f"; the run ranks each target among {sampled} sampled candidates, the paper among all items: "
                 "a sampled-candidate metric reads far higher and is not comparable")
    if metric == "recall" and dataset == "taobao" and recall_kind not in DUPLICATE_COUNTING_RECALL:
        comparable = False
        note += ("; the paper's Taobao recall counts duplicate targets (issue #26): a set-based recall reads "
                 "lower, so this row is a lower bound; compare hit rate instead")
    return note, comparable


def _placements(run: Run, dataset: str, num_interest: int | None, split: str, cutoff: int, metric: str,
                run_value: float, kind: str | None, ndcg_source: str | None, recall_kind: str | None,
                paper_ndcg: str) -> list[Comparison]:
    """The model is not stated but the data is the paper's: one row per paper model at this metric and cut-off,
    each `model_unknown`, so the run is placed among the paper's models without any row's gap being its gap."""
    rows: list[Comparison] = []
    for model in reference.load()["paper"]["table3"][dataset]:
        paper, confirmed, note = _paper_cell(dataset, model, num_interest, metric, cutoff)
        if paper is None:
            continue
        note = (f"the run's model is not stated: {paper_model_name(model)}'s row, to place the run among the "
                f"paper's models, not this model's gap; {note}")
        note, comparable = _caveats(run, dataset, metric, kind, paper, True, note, ndcg_source, recall_kind,
                                    paper_ndcg, True)
        rows.append(Comparison(metric, cutoff, split, run_value, paper, confirmed, comparable, note, kind,
                               model=model, model_unknown=True))
    return rows


def paper_model_name(model: str) -> str:
    """The paper's name for a Table 3 row (`DNN` -> `YouTube DNN`)."""
    return str(reference.load()["paper_model_names"].get(model, model))
