"""RecBole's log (`run_recbole`, its `log/<model>/<model>-<dataset>-<time>.log` or the console copy).

What it prints, in order: the hyper-parameter dump (`General Hyper Parameters:` ... blocks of `key = value`, with
`model`, `dataset`, `learning_rate`, `topk = [10]`, `train_batch_size`, `eval_args = {..., 'mode': 'full'}` or an
older `eval_setting = RO_RS,uni100`), the dataset statistics (`The number of users: 944`, `The number of items:
1683`, `The number of inters: 100000`), per epoch `epoch 3 training [time: 1.2s, train loss: 123.4]` and, at each
evaluation, `epoch 3 evaluating [time: .., valid_score: 0.12]` then `valid result:` with the metrics on the next line
(`recall@10 : 0.1  mrr@10 : 0.2  ndcg@10 : ..  hit@10 : ..`); on early stop `Finished training, best eval result in
epoch 55`; at the end `best valid : OrderedDict([...])` and `test result: OrderedDict([...])` (newer: `{...}`).

What its code knows and the log does not say: `train loss` is a SUM over the epoch's batches (not the original's
sampled-softmax mean; the format label 'recbole' keeps rules off its level), the step is an epoch, and `Finished
training` is printed only when early stopping ended training (a run that reached `epochs` prints no stop line).
"""

from __future__ import annotations

import re
from pathlib import Path

from recdoc.diagnose.observed_run import Run
from recdoc.diagnose.readers.framework_log import FrameworkState, read_framework_log, split_metrics
from recdoc.diagnose.readers.reported import eval_candidates, sniff_markers

FORMAT = "recbole"
MARKERS = ("General Hyper Parameters:", "Training Hyper Parameters:", "Evaluation Hyper Parameters:",
           "The number of users:", "The number of items:", "The number of inters:", "valid result:", "test result:",
           " training [time:", " evaluating [time:", "valid_score", "best valid", "Finished training, best eval")
_SETTING_RE = re.compile(r"^([A-Za-z_][\w.]{0,60})\s*=\s*(.*)$")
_EPOCH_RE = re.compile(r"^epoch\s+(\d{1,9})\s+(training|evaluating)\b", re.IGNORECASE)
_LOSS_RE = re.compile(r"train(?:_| )loss(\d*)\s*:\s*([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf))", re.IGNORECASE)
_BEST_EPOCH_RE = re.compile(r"best eval result in epoch\s+(\d{1,9})")


def sniff(head: str) -> float:
    return sniff_markers(head, MARKERS)


def read(path: str | Path) -> Run:
    return read_runs(path)[-1]


def read_runs(path: str | Path) -> list[Run]:
    pending: dict[str, str | None] = {"metrics_for": None}

    def line_reader(state: FrameworkState, number: int, text: str) -> None:
        _line(state, number, text, pending)

    runs = read_framework_log(path, FORMAT, "RecBole", line_reader)
    for run in runs:
        _stop_at_cap(run)
    return runs


# Settings RecBole's own loop reads (the `epochs` cap, early stopping's patience, the evaluation interval), kept as
# printed rather than declared as the original's settings.
LOOP_SETTINGS = ("epochs", "stopping_step", "eval_step")


def _line(state: FrameworkState, number: int, text: str, pending: dict[str, str | None]) -> None:
    if _pending_result(state, number, text, pending):
        return
    lowered = text.lower()
    epoch = _EPOCH_RE.match(text)
    if text.startswith("General Hyper Parameters"):
        state.new_run()  # the dump that opens every run (`run_hyper` appends one run after another)
        state.use(number)
    elif epoch is not None:
        _epoch_line(state, number, text, epoch)
    elif lowered.startswith(("valid result", "test result")):
        _result_line(state, number, text, pending)
    elif lowered.startswith("best valid"):
        _best_valid(state, number, text)
    elif lowered.startswith("finished training"):
        _finished_training(state, number, text)
    elif lowered.startswith("[evaluation]") and "eval_args" in text:
        _eval_args(state, number, text)
    elif lowered.startswith("the number of") or "#" in text[:8]:
        state.counts(number, text)
    else:
        _setting_line(state, number, text)


def _pending_result(state: FrameworkState, number: int, text: str, pending: dict[str, str | None]) -> bool:
    """The line after `valid result:` (or `test result:` in some versions) holds the values; False when no result
    line came before or the line holds none (it is then read as any other)."""
    split = pending["metrics_for"]
    if split is None:
        return False
    pending["metrics_for"] = None
    values = split_metrics(text, split)
    if not values:
        return False
    state.use(number)
    if split == "valid":
        state.row_metrics(number, values)
    else:
        state.part.add_final(split, values, number, text)
    return True


def _epoch_line(state: FrameworkState, number: int, text: str, epoch: re.Match[str]) -> None:
    """`epoch 3 training [time: 1.2s, train loss: 123.4]` or `epoch 3 evaluating [...]`: a curve row."""
    state.use(number)
    losses = _LOSS_RE.findall(text)
    # Several losses (`train_loss1: .., train_loss2: ..`) are terms of one objective: their sum is its value.
    loss = sum(float(value) for _, value in losses) if losses else None
    state.row(number, int(epoch.group(1)), loss if epoch.group(2).lower() == "training" else None)


def _result_line(state: FrameworkState, number: int, text: str, pending: dict[str, str | None]) -> None:
    """`valid result:` / `test result:`, with its values or with them on the next line. A valid result during
    training is the epoch's evaluation; after it (or once a final was read), a final value."""
    target = "valid" if text.lower().startswith("valid") else "test"
    values = split_metrics(text.split(":", 1)[1] if ":" in text else "", target)
    state.use(number)
    if not values:
        pending["metrics_for"] = target
    elif target == "valid" and state.part.rows and not state.part.finals:
        state.row_metrics(number, values)
    else:
        state.part.add_final(target, values, number, text)


def _best_valid(state: FrameworkState, number: int, text: str) -> None:
    values = split_metrics(text.split(":", 1)[1] if ":" in text else text, "valid")
    if values:
        state.use(number)
        state.part.add_final("valid", values, number, text)


def _finished_training(state: FrameworkState, number: int, text: str) -> None:
    """`Finished training, best eval result in epoch 55`: printed only when early stopping ended training."""
    state.use(number)
    part = state.part
    part.stop("early_stop", number, text, "early_stop_message")
    best = _BEST_EPOCH_RE.search(text)
    if best is not None:
        part.extra["best_epoch"] = int(best.group(1))


def _eval_args(state: FrameworkState, number: int, text: str) -> None:
    candidates = eval_candidates("eval_args", text[text.find("eval_args"):])
    if candidates is not None:
        state.part.declare("eval_candidates", candidates, number, text)
        state.use(number)


def _setting_line(state: FrameworkState, number: int, text: str) -> None:
    setting = _SETTING_RE.match(text)
    if setting is not None:
        state.part.declare_or_keep(setting.group(1), setting.group(2).strip(), number, text, LOOP_SETTINGS)
        state.use(number)  # a line of the hyper-parameter dump: understood, whether recdoc has a key for it or not


def _stop_at_cap(run: Run) -> None:
    """No `Finished training` line, a test result, and the last epoch is the `epochs` setting's last: the cap."""
    epochs = run.extra_metrics.get("epochs")
    if run.stop_reason != "unknown" or not run.has_curve or "test" not in run.finals or epochs is None:
        return
    try:
        cap = int(float(str(epochs)))
    except ValueError:
        return
    last = int(run.curve["iter"].iloc[-1])
    if last >= cap - 1:  # RecBole numbers epochs from 0
        run.stop_reason = "max_iter"
        line = run.curve["line"].iloc[-1]
        from recdoc.diagnose.observed_run import SourceRef

        run.stop_ref = SourceRef(run.paths[0], None if line != line else int(line))
