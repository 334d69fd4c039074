"""Known curves rendered in randomly drawn print conventions must be read back exactly (issue 16, item 7).

A curve (steps, losses, metric values at one or two cut-offs, a final test block) is drawn, then printed the way
some fork might print it: step words, separators, metric spellings and case, every cut-off notation the grammar
knows, percent with and without a sign, lists over cut-offs, tables, CSV rows, dict prints, JSON lines, a
notebook, with tqdm bars, TensorFlow warnings and other processes' tracebacks interleaved. `read_runs` must recover
every step, loss, value, cut-off and split. Generality is earned here: a failure is fixed in the grammar's class,
never with a branch for one rendering.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from recdoc.diagnose.readers.detect import read_runs
from recdoc.diagnose.readers.grammar import from_percent, pick_cutoff

# Generation only: every failure prints its two draws (the curve and the style), which is what a fix needs; shrinking
# a log-sized example costs minutes on a shared machine.
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=[Phase.generate])

METRIC_SPELLINGS = {
    "recall": ["recall", "Recall", "RECALL", "R", "rec"],
    "ndcg": ["ndcg", "NDCG", "Ndcg", "N"],
    "hitrate": ["hitrate", "HitRate", "hit_rate", "hit", "HR", "Hit", "hits", "hit rate", "HIT"],
}
NEEDS_CUTOFF = {"R", "N", "rec"}
# Each notation renders (name, cut-off) as a key; all name the same fact.
CUTOFF_NOTATIONS = {
    "at": lambda name, k: f"{name}@{k}",
    "bracket_at": lambda name, k: f"{name}[@{k}]",
    "underscore": lambda name, k: f"{name}_{k}",
    "bare": lambda name, k: f"{name}{k}",
    "paren": lambda name, k: f"{name}({k})",
    "top": lambda name, k: f"{name} top-{k}",
    "at_top": lambda name, k: f"{name}@top{k}",
}
VALID_WORDS = ["valid", "val", "Valid", "validation", "eval", "dev", "VALID"]
SEPARATORS = [": ", "=", ":", " : ", " = ", ":\t"]
JOINERS = [", ", " | ", "\t", "  ", " "]
NOISE = [
    "WARNING:tensorflow:From /usr/lib/python3/site-packages/tensorflow/python/ops/nn_impl.py:1444: the name "
    "tf.nn.sampled_softmax_loss is deprecated.",
    "2024-01-01 10:00:00.123456: I tensorflow/core/platform/cpu_feature_guard.cc:142] Your CPU supports AVX2",
    " 45%|####5     | 450/1000 [00:10<00:12, 40.12it/s, loss=7.1234]",
    "100%|##########| 1000/1000 [00:24<00:00, 41.0it/s]",
]
# Layouts whose values may be printed inside a call (`tensor(0.12)`), as PyTorch code prints them.
WRAPPED_LAYOUTS = ("one_line", "step_then_metrics", "dict", "keras")
OTHER_TRACEBACK = ["Traceback (most recent call last):", '  File "worker.py", line 12, in <module>',
                   "    main()", "ConnectionResetError: [Errno 104] Connection reset by peer"]


@dataclass
class Curve:
    steps: list[int]
    losses: list[float | None]  # None: the loss is not printed at that step
    cutoffs: list[int]  # one or two
    metrics: list[str]  # which metrics are printed
    values: list[dict[tuple[str, int], float]]  # per evaluation: (metric, cut-off) -> fraction
    test: dict[tuple[str, int], float] | None


@st.composite
def curves(draw: st.DrawFn) -> Curve:
    count = draw(st.integers(2, 6))
    start = draw(st.integers(0, 5000))
    gaps = draw(st.lists(st.integers(1, 5000), min_size=count - 1, max_size=count - 1))
    steps = [start]
    for gap in gaps:
        steps.append(steps[-1] + gap)
    losses = [draw(st.one_of(st.none(), st.integers(100, 99999).map(lambda n: n / 10000))) for _ in steps]
    cutoffs = sorted(draw(st.sets(st.sampled_from([5, 10, 20, 50, 100]), min_size=1, max_size=2)))
    metrics = ["recall"] + draw(st.lists(st.sampled_from(["ndcg", "hitrate"]), unique=True, max_size=2))
    # Fractions with four decimals, at least 0.0111, so that a percent rendering is above 1 (principled percent).
    value = st.integers(111, 9000).map(lambda n: n / 10000)
    values = [{(m, k): draw(value) for m in metrics for k in cutoffs} for _ in steps]
    test = draw(st.one_of(st.none(), st.just({(m, k): draw(value) for m in metrics for k in cutoffs})))
    return Curve(steps, losses, cutoffs, metrics, values, test)


@dataclass
class Style:
    layout: str
    step_word: str
    step_form: str
    separator: str
    joiner: str
    notation: str
    spellings: dict[str, str]
    split_word: str
    split_form: str
    percent: str  # 'none' | 'sign' | 'bare'
    wrapper: str  # '{}' or a call around each printed value: 'tensor({})', 'np.float64({})'
    noise: list[str]
    noise_every: int
    traceback: bool
    noise_inside: bool = False  # noise also between an evaluation's step line and its metric lines


@st.composite
def styles(draw: st.DrawFn, curve: Curve) -> Style:
    layout = draw(st.sampled_from(["one_line", "step_then_metrics", "dict", "json", "table", "csv", "list",
                                   "list_header", "notebook", "keras", "grouped"]))
    notation = draw(st.sampled_from(sorted(CUTOFF_NOTATIONS)))
    spellings = {m: draw(st.sampled_from(METRIC_SPELLINGS[m])) for m in METRIC_SPELLINGS}
    if notation in ("bare",) or layout == "list_header":
        # One-letter names are metrics only with their cut-off beside them (`R@20`); `R20` and a list under a
        # cut-off header (`R:\t[..]`) need the full name.
        spellings = {m: s if s not in NEEDS_CUTOFF else m for m, s in spellings.items()}
    if notation in ("top", "at_top") or layout in ("dict", "json", "table", "csv"):
        spellings = {m: s.replace(" ", "_") for m, s in spellings.items()}
    percent = draw(st.sampled_from(["none", "sign", "bare"]))
    if layout in ("json",):
        percent = "none"
    wrapper = "{}"
    if layout in WRAPPED_LAYOUTS and percent == "none":
        wrapper = draw(st.sampled_from(["{}", "{}", "tensor({})", "np.float64({})", "tensor({}, device='cuda:0')"]))
    return Style(
        layout=layout,
        step_word=draw(st.sampled_from(["iter", "iters", "step", "epoch", "global_step", "Epoch", "Iter", "STEP"])),
        step_form=draw(st.sampled_from(["colon", "equals", "space", "bracket", "slash"])),
        separator=draw(st.sampled_from(SEPARATORS)),
        joiner=draw(st.sampled_from(JOINERS + ([""] if notation not in ("bare",) else []))),
        notation=notation,
        spellings=spellings,
        split_word=draw(st.sampled_from(VALID_WORDS)),
        split_form=draw(st.sampled_from(["space", "underscore", "slash", "prefix"])),
        percent=percent,
        wrapper=wrapper,
        noise=draw(st.lists(st.sampled_from(NOISE), max_size=3)),
        noise_every=draw(st.integers(1, 3)),
        traceback=draw(st.booleans()),
        noise_inside=draw(st.booleans()),
    )


def fmt(value: float, style: Style) -> str:
    if style.percent == "sign":
        return f"{value * 100:.2f}%"
    if style.percent == "bare":
        return f"{value * 100:.2f}"
    return style.wrapper.format(f"{value:.4f}")


def expected(value: float, style: Style) -> float:
    """What a reader must recover: the fraction, through the same arithmetic the print implies."""
    return from_percent(float(f"{value * 100:.2f}")) if style.percent != "none" else value


def key(metric: str, cutoff: int, style: Style) -> str:
    return CUTOFF_NOTATIONS[style.notation](style.spellings[metric], cutoff)


def step_text(step: int, style: Style) -> str:
    word = style.step_word
    return {"colon": f"{word}: {step}", "equals": f"{word}={step}", "space": f"{word} {step}",
            "bracket": f"[{word} {step}]", "slash": f"{word} {step}/1000000"}[style.step_form]


def split_key(name: str, split: str, style: Style) -> str:
    return {"space": f"{split} {name}", "underscore": f"{split}_{name}", "slash": f"{split}/{name}",
            "prefix": name}[style.split_form]


def pairs(values: dict[tuple[str, int], float], curve: Curve, style: Style, split: str) -> str:
    items = []
    glue = style.joiner if not (style.joiner == "" and style.separator.endswith("\t")) else " "
    for metric in curve.metrics:
        for cutoff in curve.cutoffs:
            name = key(metric, cutoff, style)
            items.append(f"{split_key(name, split, style)}{style.separator}{fmt(values[(metric, cutoff)], style)}")
    body = glue.join(items)
    return f"{split} metrics: {body}" if style.split_form == "prefix" else body


def loss_text(loss: float | None, style: Style) -> str:
    return "" if loss is None else f"train loss{style.separator}{loss}"


def render(curve: Curve, style: Style) -> list[str]:
    lines: list[str] = []
    split = style.split_word
    if style.layout in ("table", "csv"):
        columns = ["iter", "loss"] + [key(m, k, style) for m in curve.metrics for k in curve.cutoffs]
        if style.layout == "table":
            lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        else:
            lines += [",".join(columns)]
        for step, loss, values in zip(curve.steps, curve.losses, curve.values):
            cells = [str(step), "-" if loss is None else str(loss)] + [
                fmt(values[(m, k)], style) for m in curve.metrics for k in curve.cutoffs]
            lines.append("| " + " | ".join(cells) + " |" if style.layout == "table" else ",".join(cells))
    else:
        for index, (step, loss, values) in enumerate(zip(curve.steps, curve.losses, curve.values)):
            if style.noise and index % style.noise_every == 0:
                lines += style.noise
            if style.traceback and index == 1:
                lines += OTHER_TRACEBACK
            evaluation = render_evaluation(step, loss, values, curve, style, split)
            if style.noise_inside and len(evaluation) > 1:
                evaluation = evaluation[:1] + style.noise + evaluation[1:]
            lines += evaluation
    if curve.test is not None:
        lines += render_test(curve, style)
    return lines


def render_evaluation(step: int, loss: float | None, values: dict[tuple[str, int], float], curve: Curve,
                      style: Style, split: str) -> list[str]:
    layout = EVALUATION_LAYOUTS.get(style.layout)
    if layout is None:
        raise AssertionError(style.layout)
    return layout(Evaluation(step, loss, values, curve, style, split))


@dataclass(frozen=True)
class Evaluation:
    """One evaluation to print in `style`: its step, training loss and metric values."""

    step: int
    loss: float | None
    values: dict[tuple[str, int], float]
    curve: Curve
    style: Style
    split: str

    @property
    def head(self) -> str:
        return step_text(self.step, self.style)

    @property
    def lost(self) -> str:
        return loss_text(self.loss, self.style)

    @property
    def head_and_loss(self) -> str:
        return self.head + (", " + self.lost if self.lost else "")

    def cells(self) -> list[tuple[str, str]]:
        """(key, printed value) for every metric and cut-off, metric-major."""
        return [(key(m, k, self.style), fmt(self.values[(m, k)], self.style))
                for m in self.curve.metrics for k in self.curve.cutoffs]

    def pairs(self) -> str:
        return pairs(self.values, self.curve, self.style, self.split)


def one_line(e: Evaluation) -> list[str]:
    between = e.style.joiner if e.style.joiner else ", "  # glue is drawn between metric pairs (see `pairs`)
    return [between.join(part for part in (e.head, e.lost, e.pairs()) if part)]


def step_then_metrics(e: Evaluation) -> list[str]:
    return [e.head_and_loss, e.pairs()]


def dict_print(e: Evaluation) -> list[str]:
    body = ", ".join(f"'{name}': {value}" for name, value in e.cells())
    return [e.head] + ([e.lost] if e.lost else []) + [f"{e.split} metrics: {{{body}}}"]


def keras(e: Evaluation) -> list[str]:
    """`Epoch 3/10` then the epoch's summary line, ` - `-separated."""
    summary = " - ".join([f"{e.step}/{e.step} [==============================] - 12s 12ms/step"]
                         + ([f"loss: {e.loss}"] if e.loss is not None else [])
                         + [f"{e.style.split_word}_{name}: {value}" for name, value in e.cells()])
    return [f"Epoch {e.step}/{10 ** 7}", summary]


def grouped(e: Evaluation) -> list[str]:
    """ReChorus-like: `Epoch 3  loss=0.51 [12.3 s]  dev=(HR@5:0.31,NDCG@5:0.21)`."""
    inside = ",".join(f"{name}:{value}" for name, value in e.cells())
    return ["    ".join(part for part in (e.head, "" if e.loss is None else f"loss={e.loss} [12.3 s]",
                                          f"{e.split}=({inside}) [1.2 s]") if part)]


def json_line(e: Evaluation) -> list[str]:
    record: dict[str, object] = {"step": e.step}
    if e.loss is not None:
        record["train_loss"] = e.loss
    record[e.split] = {key(m, k, e.style): e.values[(m, k)] for m in e.curve.metrics for k in e.curve.cutoffs}
    return [json.dumps(record)]


def listed(e: Evaluation, metric: str) -> str:
    return ", ".join(fmt(e.values[(metric, k)], e.style) for k in e.curve.cutoffs)


def list_print(e: Evaluation) -> list[str]:
    cuts = ", ".join(f"@{k}" for k in e.curve.cutoffs)
    return [e.head_and_loss] + [f"{e.split} {e.style.spellings[metric]}[{cuts}]: [{listed(e, metric)}]"
                                for metric in e.curve.metrics]


def list_header(e: Evaluation) -> list[str]:
    cuts = ",".join(f"@{k}" for k in e.curve.cutoffs)
    return [e.head_and_loss, f"{e.split.upper()}[{cuts}]"] + [
        f"{e.style.spellings[metric]}:\t[{listed(e, metric)}]" for metric in e.curve.metrics]


EVALUATION_LAYOUTS = {"one_line": one_line, "step_then_metrics": step_then_metrics, "notebook": step_then_metrics,
                      "dict": dict_print, "keras": keras, "grouped": grouped, "json": json_line, "list": list_print,
                      "list_header": list_header}


def render_test(curve: Curve, style: Style) -> list[str]:
    assert curve.test is not None
    items = [f"test {key(m, k, style)}: {fmt(curve.test[(m, k)], style)}" for m in curve.metrics for k in curve.cutoffs]
    return ["model restored from best_model/x/", ", ".join(items)]


def write(lines: list[str], style: Style, folder: Path) -> Path:
    if style.layout == "notebook":
        outputs = [{"output_type": "stream", "name": "stdout", "text": [line + "\n" for line in lines]}]
        document = {"cells": [{"cell_type": "code", "outputs": outputs}], "metadata": {}, "nbformat": 4}
        path = folder / "run.ipynb"
        path.write_text(json.dumps(document), encoding="utf-8")
        return path
    path = folder / "train.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def check(curve: Curve, style: Style) -> None:
    lines = render(curve, style)
    with tempfile.TemporaryDirectory() as folder:
        path = write(lines, style, Path(folder))
        runs = read_runs([str(path)])
    text = "\n".join(lines)
    assert len(runs) == 1, text
    (run,) = runs
    assert run.curve["iter"].tolist() == curve.steps, text
    for loss, read in zip(curve.losses, run.curve["train_loss"].tolist()):
        assert (loss is None and math.isnan(read)) or loss == read, text
    assert not run.events_of("nan"), text  # no loss printed as nan: a missing loss is never a nan event
    evaluations = run.extra_metrics["evaluation_metrics"]
    assert [e["iter"] for e in evaluations] == curve.steps, text
    for printed, values in zip(evaluations, curve.values):
        got = {k: v for k, v in printed.items() if k != "iter"}
        want = {f"valid/{m}@{k}": expected(v, style) for (m, k), v in values.items()}
        assert got == want, text
    assert run.extra_metrics["curve_cutoff"] == pick_cutoff(curve.cutoffs, None) or (
        run.declared.get("topN") is not None), text
    if len(curve.cutoffs) == 1:
        assert run.declared["topN"].value == curve.cutoffs[0], text
    if curve.test is not None:
        final = run.finals["test"]
        at = run.extra_metrics["curve_cutoff"]
        assert final.recall == expected(curve.test[("recall", at)], style), text
        if len(curve.cutoffs) > 1:
            assert run.extra_metrics["final_test"] == {
                f"{m}@{k}": expected(v, style) for (m, k), v in curve.test.items()}, text


@SETTINGS
@given(data=st.data())
def test_curves_in_drawn_conventions_are_read_exactly(data: st.DataObject) -> None:
    curve = data.draw(curves())
    style = data.draw(styles(curve))
    check(curve, style)


def test_every_notation_is_rendered() -> None:
    """The renderings cover every cut-off notation, layout and percent form the grammar claims."""
    layouts = {"one_line", "step_then_metrics", "dict", "json", "table", "csv", "list", "list_header", "notebook",
               "keras", "grouped"}
    curve = Curve(steps=[1000, 2000], losses=[7.5, None], cutoffs=[20, 50], metrics=["recall", "ndcg", "hitrate"],
                  values=[{(m, k): 0.0123 + i * 0.01 for m in ("recall", "ndcg", "hitrate") for k in (20, 50)}
                          for i in range(2)],
                  test={(m, k): 0.0456 for m in ("recall", "ndcg", "hitrate") for k in (20, 50)})
    for layout in sorted(layouts):
        for notation in sorted(CUTOFF_NOTATIONS):
            for percent in ("none", "sign", "bare"):
                style = Style(layout=layout, step_word="iter", step_form="colon", separator=": ", joiner=", ",
                              notation=notation, spellings={"recall": "recall", "ndcg": "NDCG", "hitrate": "HR"},
                              split_word="valid", split_form="space", percent="none" if layout == "json" else percent,
                              wrapper="tensor({})" if percent == "none" and layout in WRAPPED_LAYOUTS else "{}", noise=NOISE[:3], noise_every=1, traceback=True)
                check(curve, style)


def test_glued_values_and_a_missing_loss() -> None:
    """`recall_50: 0.1NDCG_50: 0.05`: no separator between a value and the next name; a step line without a loss
    (`epoch: 13, batch: 6506:`) gives a missing loss, not a nan."""
    lines = []
    for n in range(1, 4):
        lines += [f"epoch: {n}, batch: 6506:", f"recall_50: 0.{n}1NDCG_50: 0.0{n}5hit50: 0.{n}9"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.log"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        (run,) = read_runs([str(path)])
    assert run.curve["iter"].tolist() == [1, 2, 3] and run.curve["train_loss"].isna().all()
    assert run.curve["recall"].tolist() == [0.11, 0.21, 0.31] and run.curve["ndcg"].tolist() == [0.015, 0.025, 0.035]
    assert run.curve["hitrate"].tolist() == [0.19, 0.29, 0.39] and not run.events_of("nan")
    assert run.stop_reason != "nan"
