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

from collections.abc import Callable
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
    lowered = text.lower()
    opening = next((read for start, read in _OPENINGS if lowered.startswith(start)), None)
    if lowered.startswith("epoch "):
        _epoch_line(state, number, text)
    elif "after training" in lowered:
        _after_training(state, number, text)
    elif opening is not None:
        opening(state, number, text)
    elif text.startswith("-") and "BEGIN:" in text:
        state.new_run()  # a new run appended to the same log
    elif text.startswith("Namespace("):
        _namespace(state, number, text)
    elif not _corpus_counts(state, number, text):
        _argument_row(state, number, text)


def _epoch_line(state: FrameworkState, number: int, text: str) -> None:
    """`Epoch 3     loss=0.5123 [28.7 s]    dev=(HR@5:0.41,NDCG@5:0.30) [1.4 s] *` (older versions add `test=(...)`):
    a curve row with its dev (and test) evaluation."""
    record = safe_record(text.split("(", 1)[0])
    if record is None or record.step is None:
        return
    state.use(number)
    state.row(number, record.step, record.loss)
    for word, inner in paren_groups(text):
        split = line_split(word) or ("valid" if word.lower() == "dev" else None)
        values = split_metrics(inner, split)
        if values and split in ("valid", "test"):
            state.row_metrics(number, values, split=split)


def _after_training(state: FrameworkState, number: int, text: str) -> None:
    """`Dev  After Training: (...)`, `Test After Training: (...)`: the run's final values."""
    lowered = text.lower()
    split = "test" if lowered.startswith("test") else "valid" if lowered.startswith("dev") else None
    groups = paren_groups(text)
    if split is None or not groups:
        return
    values = split_metrics(groups[-1][1], split)
    if values:
        state.use(number)
        state.part.add_final(split, values, number, text)


def _before_training(state: FrameworkState, number: int, text: str) -> None:
    state.use(number)  # the untrained model's numbers: understood, not the run's result


def _best_iter(state: FrameworkState, number: int, text: str) -> None:
    record = safe_record(text.replace("(dev)", "", 1).split("(", 1)[0].replace("Best Iter", "iter", 1))
    if record is not None and record.step is not None:
        state.part.extra["best_epoch"] = record.step
    state.use(number)


def _early_stop(state: FrameworkState, number: int, text: str) -> None:
    state.use(number)
    state.part.stop("early_stop", number, text, "early_stop_message")


def _stopped_manually(state: FrameworkState, number: int, text: str) -> None:
    state.use(number)
    state.part.stop("interrupted", number, text, "interrupted")


# A line's opening (lower-cased) and how a line so opening is read.
_OPENINGS: tuple[tuple[str, Callable[[FrameworkState, int, str], None]], ...] = (
    ("test before training", _before_training),
    ("best iter", _best_iter),
    ("early stop at", _early_stop),
    ("early stop manually", _stopped_manually),
)


def _namespace(state: FrameworkState, number: int, text: str) -> None:
    """`Namespace(model_name='BPRMF', ...)`: the arguments a run starts with (after a run already read: the
    next run's)."""
    state.new_run()
    part = state.part
    argv = parse_namespace(text)
    if argv is not None:
        state.use(number)
        for flag, value in zip(argv[1::2], argv[2::2]):
            part.declare_setting(flag.lstrip("-"), value, number, text)


def _corpus_counts(state: FrameworkState, number: int, text: str) -> bool:
    """`"# user": 14682, "# item": 8714, "# entry": 151254`: the corpus counts; False when the line states none."""
    return ('"#' in text or "# " in text[:4]) and state.counts(number, text)


def _argument_row(state: FrameworkState, number: int, text: str) -> None:
    """A row of the argument table (` lr | 0.001 `); `epoch` and `early_stop` are ReChorus's loop's own."""
    if text.count("|") != 1:
        return
    name, value = (cell.strip() for cell in text.split("|"))
    if name and name.replace("_", "").isalnum() and " " not in name \
            and state.part.declare_or_keep(name, value, number, text, ("epoch", "early_stop")):
        state.use(number)
