"""ReChorus's log (`main.py`: `../log/<model>/<model>__<dataset>__...txt`, or its console copy).

What it prints: `Namespace(model_name='BPRMF')`, an argument table between `=====` rules (` lr | 0.001 `,
` dataset | Grocery_and_Gourmet_Food `, ` topk | 5,10,20,50 `, ` test_all | 0 `, ` history_max | 20 `), the corpus
counts (`"# user": 14682, "# item": 8714, "# entry": 151254`), `Test Before Training: (HR@5:..,NDCG@5:..)`, per epoch
`Epoch 3     loss=0.5123 [28.7 s]    dev=(HR@5:0.41,NDCG@5:0.30) [1.4 s] *` (older versions add `test=(...)`),
`Early stop at 43 based on dev result.`, `Best Iter(dev)=   33   dev=(...)`, then `Dev  After Training: (...)` and
`Test After Training: (...)`.

What its code knows and the log does not say: the step is an epoch; the loss is BPR's mean (not the original's
sampled softmax: label 'rechorus'); `test_all 0` ranks each dev/test item among the 99 negatives its data files list
(`eval_candidates` 99), `test_all 1` among every item ("full"); an interrupted run prints `Early stop manually`.
"""

from __future__ import annotations

from pathlib import Path

from recdoc.diagnose.observed_run import Run
from recdoc.diagnose.readers.framework_log import FrameworkState, paren_groups, read_framework_log, split_metrics
from recdoc.diagnose.readers.headers import parse_namespace
from recdoc.diagnose.readers.records import line_split
from recdoc.diagnose.readers.reported import RunParts, safe_record, sniff_markers

FORMAT = "rechorus"
MARKERS = ("Test Before Training", "Test After Training", "Dev  After Training", "Dev After Training",
           "Best Iter(dev)", "dev=(", "Load corpus from", "#params:", "Early stop at", "main_metric", "test_all")


def sniff(head: str) -> float:
    return sniff_markers(head, MARKERS)


def read(path: str | Path) -> Run:
    return read_runs(path)[-1]


def read_runs(path: str | Path) -> list[Run]:
    runs = read_framework_log(path, FORMAT, "ReChorus", _line, _code_defaults)
    return runs


def _code_defaults(part: RunParts) -> None:
    _recall_is_hit_rate(part)
    if "eval_candidates" not in part.declared and part.has_metrics:
        # No `test_all` in the argument table (older versions have no such flag): ReChorus then ranks each dev/test
        # item among the negatives its data files list, 99 as its data preparation writes them.
        part.declare("eval_candidates", 99, None,
                           "ReChorus's default: each dev/test item ranked among the 99 negatives its data files list "
                           "(no `test_all` in the log)")


def _recall_is_hit_rate(part: RunParts) -> None:
    """ReChorus ranks one target item per dev/test instance: its HR@K is recall@K (one relevant item: hit or not).
    It prints HR only; the recall the curve rules read is that same number, labelled so in extra_metrics."""
    part.row_metrics = [{**{(s, "recall", c): v for (s, m, c), v in metrics.items() if m == "hitrate"}, **metrics}
                        for metrics in part.row_metrics]
    for split, values in part.finals.items():
        part.finals[split] = {**{("recall", c): v for (m, c), v in values.items() if m == "hitrate"}, **values}
    part.extra["recall_from"] = "hitrate (ReChorus evaluates one target item per instance: recall@K = HR@K)"


def _line(state: FrameworkState, number: int, text: str) -> None:
    part = state.part
    lowered = text.lower()
    if lowered.startswith("epoch "):
        record = safe_record(text.split("(", 1)[0])
        if record is not None and record.step is not None:
            state.use(number)
            state.row(number, record.step, record.loss)
            for word, inner in paren_groups(text):
                split = line_split(word) or ("valid" if word.lower() == "dev" else None)
                values = split_metrics(inner, split)
                if values and split == "valid":
                    state.row_metrics(number, values)
                elif values and split == "test":
                    state.row_metrics(number, values, split="test")
        return
    if "after training" in lowered:
        split = "test" if lowered.startswith("test") else "valid" if lowered.startswith("dev") else None
        groups = paren_groups(text)
        if split is not None and groups:
            values = split_metrics(groups[-1][1], split)
            if values:
                state.use(number)
                part.add_final(split, values, number, text)
        return
    if lowered.startswith("test before training"):
        state.use(number)  # the untrained model's numbers: understood, not the run's result
        return
    if lowered.startswith("best iter"):
        record = safe_record(text.replace("(dev)", "", 1).split("(", 1)[0].replace("Best Iter", "iter", 1))
        if record is not None and record.step is not None:
            part.extra["best_epoch"] = record.step
        state.use(number)
        return
    if lowered.startswith("early stop at"):
        state.use(number)
        part.stop_reason, part.stop_ref = "early_stop", part.ref(number)
        part.event("early_stop_message", number, text)
        return
    if lowered.startswith("early stop manually"):
        state.use(number)
        part.stop_reason, part.stop_ref = "interrupted", part.ref(number)
        part.event("interrupted", number, text)
        return
    if text.startswith("-") and "BEGIN:" in text:
        state.new_run()  # a new run appended to the same log
        return
    if text.startswith("Namespace("):
        state.new_run()
        argv = parse_namespace(text)
        if argv is not None:
            state.use(number)
            for flag, value in zip(argv[1::2], argv[2::2]):
                part.declare_setting(flag.lstrip("-"), value, number, text)
        return
    if '"#' in text or "# " in text[:4]:
        if state.counts(number, text):
            return
    if text.count("|") == 1:
        name, value = (cell.strip() for cell in text.split("|"))
        if name and name.replace("_", "").isalnum() and " " not in name:
            if name in ("epoch", "early_stop"):
                part.extra.setdefault(name, value)
                state.use(number)
            elif part.declare_setting(name, value, number, text):
                state.use(number)
