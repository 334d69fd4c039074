"""The doctor on realistic logs it was never tuned on: the original's stdout, the PyTorch and TF2 ports, recdoc's.

Each log is generated here in the exact line formats of reference section 7 (argv line, the prompt glued to the next
line, TensorFlow warnings interleaved, the Ctrl-C marker, tracebacks, `iter:` lines without metrics), read by the
real readers and diagnosed by the real engine. Each test states which findings must and must not appear.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from recdoc.diagnose.engine import analyze_all, analyze_paths
from recdoc.diagnose.findings import Comparison, Diagnosis
from recdoc.diagnose.readers.detect import read_paths
from recdoc.errors import InputError
from recdoc.reports.jsonreport import render_json
from recdoc.reports.markdown import render_markdown
from support.paths import LOG_SAMPLES
from support.schema_check import validate

TF_NOISE = (
    "WARNING:tensorflow:From /usr/local/lib/python3.6/dist-packages/tensorflow/python/ops/nn_impl.py:1444: "
    "sparse_to_dense (from tensorflow.python.ops.sparse_ops) is deprecated and will be removed in a future version.",
    "Instructions for updating:",
    "Create a `tf.sparse.SparseTensor` and use `tf.sparse.to_dense` instead.",
    "2020-06-01 10:00:00.123456: I tensorflow/core/common_runtime/gpu/gpu_device.cc:1304] Created TensorFlow device "
    "(/job:localhost/replica:0/task:0/device:GPU:0 with 10805 MB memory)",
)
CTRL_C = ["-" * 89, "Exiting from training early"]
DIVERSITY_KEYERROR = [
    "Traceback (most recent call last):",
    '  File "src/train.py", line 317, in <module>',
    "    train(train_file=train_file, valid_file=valid_file, test_file=test_file, cate_file=cate_file, ...)",
    '  File "src/train.py", line 260, in train',
    "    metrics = evaluate_full(sess, valid_data, model, best_model_path, batch_size, item_cate_map, save=False)",
    '  File "src/train.py", line 120, in evaluate_full',
    "    diversity = compute_diversity(item_list_set, item_cate_map)",
    '  File "src/train.py", line 70, in compute_diversity',
    "    if item_cate_map[item_list[i]] != item_cate_map[item_list[j]]:",
    "KeyError: 0",
]


def argv_line(dataset: str, model_type: str, *extra: str) -> str:
    return str(["src/train.py", "--dataset", dataset, "--model_type", model_type, *extra])


def metrics_text(split: str, recall: float, ndcg: float, hitrate: float, diversity: float | None = None) -> str:
    parts = [f"{split} recall: {recall:.6f}", f"{split} ndcg: {ndcg:.6f}", f"{split} hitrate: {hitrate:.6f}"]
    if diversity is not None:
        parts.append(f"{split} diversity: {diversity:.6f}")
    return ", ".join(parts)


def training_lines(exp: str, recalls: Sequence[float | None], losses: Sequence[float], test_iter: int,
                   ndcg_over_hr: float, hr_over_recall: float, noise_every: int = 7) -> list[str]:
    """The original's per-evaluation block: exp name, `iter:` (with metrics unless the recall is None), `time interval`."""
    lines: list[str] = []
    for index, (recall, loss) in enumerate(zip(recalls, losses), start=1):
        if noise_every and index % noise_every == 0:
            lines.append(TF_NOISE[index % len(TF_NOISE)])
        lines.append(exp)
        text = f"iter: {index * test_iter}, train loss: {loss:.4f}"
        if recall is not None:
            hitrate = recall * hr_over_recall
            text += ", " + metrics_text("valid", recall, hitrate * ndcg_over_hr, hitrate)
        lines.append(text)
        lines.append(f"time interval: {index * test_iter / 3000:.4f} min")
    return lines


def original_log(*, dataset: str, model_type: str, exp: str, recalls: Sequence[float | None],
                 losses: Sequence[float] | None = None, test_iter: int = 1000, argv_extra: Sequence[str] = (),
                 ending: str = "early_stop", finals: dict[str, tuple[float, float, float]] | None = None,
                 ndcg_over_hr: float = 0.78, hr_over_recall: float = 2.05, header: Sequence[str] | None = None,
                 after_restore: Sequence[str] = ()) -> str:
    """A stdout log of the original src/train.py (piped, stderr merged), ending as `ending` says:
    early_stop (restore right after an `iter:` line), max_iter (after `time interval`), ctrl_c (the marker, then
    the restore and finals as the original's except-clause does), unfinished (no ending at all)."""
    losses = list(losses) if losses is not None else [8.2 - 2.0 * (1 - math.exp(-i / 80)) for i in range(len(recalls))]
    lines = list(header) if header is not None else [
        argv_line(dataset, model_type, *argv_extra), TF_NOISE[0], TF_NOISE[1], TF_NOISE[2],
        "Please input the experiment name: training begin"]
    lines += training_lines(exp, recalls, losses, test_iter, ndcg_over_hr, hr_over_recall)
    if ending == "unfinished":
        return "\n".join(lines) + "\n"
    if ending == "early_stop":
        lines.pop()  # the original breaks out of the loop before printing `time interval`
    elif ending == "ctrl_c":
        lines += CTRL_C
    lines.append(f"model restored from best_model/{exp}/")
    lines += after_restore
    for split, (recall, ndcg, hitrate) in (finals or {}).items():
        lines.append(metrics_text(split, recall, ndcg, hitrate, 0.2215))
    return "\n".join(lines) + "\n"


def rising_then_plateau(evaluations: int, level: float, rise: int, noise: float = 0.004) -> list[float]:
    """A Book-like curve: exponential approach to `level` over `rise` evaluations, then a noisy plateau below it."""
    values = []
    for i in range(1, evaluations + 1):
        base = level * (1 - math.exp(-4 * min(i, rise) / rise))
        wobble = noise * ((i * 7919) % 11 - 5) / 5  # deterministic noise in [-noise, +noise]
        values.append(base * (1 + wobble) if i > rise else base * (1 + wobble / 4))
    return values


def write(tmp_path: Path, text: str, name: str = "train.log") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def diagnose(path: Path, overrides: dict[str, str] | None = None) -> Diagnosis:
    diagnosis = analyze_paths([str(path)], overrides=overrides)
    render_markdown(diagnosis)  # every diagnosis must also render, and its JSON follow the documented schema
    assert validate(json.loads(render_json(diagnosis))) == []
    return diagnosis


def ids(diagnosis: Diagnosis) -> set[str]:
    return {finding.id for finding in diagnosis.findings}


def not_cause_ids(diagnosis: Diagnosis) -> set[str]:
    return {item.id for item in diagnosis.not_causes}


def comparison(diagnosis: Diagnosis, metric: str, split: str = "test") -> Comparison:
    return next(c for c in diagnosis.comparisons if c.metric == metric and c.split == split)


def plateaued(evaluations: int, level: float, rise: int, patience: int = 50) -> list[float]:
    """The curve cut as the original's early stop cuts it: `patience + 1` evaluations after the best."""
    values = rising_then_plateau(evaluations, level, rise)
    best = max(range(len(values)), key=values.__getitem__)
    return values[:best + patience + 2]


SA_BOOK = "book_ComiRec-SA_b128_lr0.001_d64_len20_sa1"
DR_BOOK_005 = "book_ComiRec-DR_b128_lr0.005_d64_len20_dr5"
DR_BOOK_001 = "book_ComiRec-DR_b128_lr0.001_d64_len20_dr1"


# ------------------------------------------------------------------ healthy runs
def test_healthy_sa_book_run_with_paper_numbers_and_paper_ndcg(tmp_path: Path) -> None:
    log = write(tmp_path, original_log(dataset="book", model_type="ComiRec-SA", exp=SA_BOOK,
                                       recalls=plateaued(450, 0.0855, 300),
                                       finals={"valid": (0.0856, 0.1372, 0.1745), "test": (0.0851, 0.1365, 0.1728)}))
    diagnosis = diagnose(log)
    assert diagnosis.verdict == "healthy" and diagnosis.findings == []
    assert diagnosis.run.format == "original" and diagnosis.run.stop_reason == "early_stop"
    assert diagnosis.config["ndcg"].value == "paper"
    assert all(c.comparable for c in diagnosis.comparisons if c.split == "test")
    assert comparison(diagnosis, "recall").paper_value == pytest.approx(0.08467)
    # Suspects it checked and cleared, so the report says why they are not causes.
    assert {"early-stop-too-soon", "neg-samples"} <= not_cause_ids(diagnosis)


def test_healthy_dr_book_run_at_the_readme_learning_rate(tmp_path: Path) -> None:
    log = write(tmp_path, original_log(dataset="book", model_type="ComiRec-DR", exp=DR_BOOK_005,
                                       argv_extra=("--learning_rate", "0.005"), recalls=plateaued(400, 0.082, 250),
                                       finals={"valid": (0.0822, 0.1362, 0.1771), "test": (0.0815, 0.1355, 0.1762)}))
    diagnosis = diagnose(log)
    assert diagnosis.verdict == "healthy" and ids(diagnosis) == set()
    assert diagnosis.config["learning_rate"].value == 0.005 and not diagnosis.config["learning_rate"].conflicts


def test_taobao_dr_run_at_lr_0001_falls_short_by_hit_rate(tmp_path: Path) -> None:
    exp = "taobao_ComiRec-DR_b256_lr0.001_d64_len50_tb"
    log = write(tmp_path, original_log(dataset="taobao", model_type="ComiRec-DR", exp=exp, test_iter=500,
                                       recalls=plateaued(500, 0.085, 300), hr_over_recall=5.6,
                                       finals={"valid": (0.0852, 0.285, 0.478), "test": (0.0848, 0.284, 0.475)}))
    diagnosis = diagnose(log)
    config = diagnosis.config
    assert (config["batch_size"].value, config["maxlen"].value, config["test_iter"].value) == (256, 50, 500)
    assert diagnosis.run.curve["iter"].iloc[1] == 1000  # evaluations every 500 iterations
    # Taobao recall is not like for like (the paper counts duplicate targets), so the hit rate shows the shortfall.
    assert not comparison(diagnosis, "recall").comparable and comparison(diagnosis, "hitrate").comparable
    lr = diagnosis.finding("lr-model-mismatch")
    assert lr is not None and lr.severity == "high" and diagnosis.findings[0].id == "lr-model-mismatch"
    assert any("hitrate@50" in e.text for e in lr.evidence)
    assert ids(diagnosis).isdisjoint({"batch-size", "dataset-mismatch", "eval-broken", "cutoff-mismatch"})
    assert diagnosis.metrics["last_improvement_estimate"] == diagnosis.metrics["stop"]["iter"] - 51 * 500


def test_last_improvement_estimate_says_when_it_assumes_a_patience_the_run_never_printed(tmp_path: Path) -> None:
    exp = "book_ComiRec-DR_b128_lr0.005_d64_len20_excerpt"
    for folder in ("argv", "excerpt"):
        (tmp_path / folder).mkdir()
    printed = diagnose(write(tmp_path / "argv", original_log(dataset="book", model_type="ComiRec-DR", exp=exp,
                                                             recalls=plateaued(80, 0.06, 20))))
    excerpt = diagnose(write(tmp_path / "excerpt", original_log(dataset="book", model_type="ComiRec-DR", exp=exp,
                                                                recalls=plateaued(80, 0.06, 20), header=[])))
    fact = next(f for f in printed.metrics["facts"] if "last improvement" in f)
    assert "assuming" not in fact  # the argv is complete: the original's patience 50 is known, not assumed
    fact = next(f for f in excerpt.metrics["facts"] if "last improvement" in f)
    assert "assuming the default patience" in fact and "does not print it" in fact


# ------------------------------------------------------------------ broken runs
def test_original_run_whose_faiss_gpu_failed_is_unusable_without_crashing(tmp_path: Path) -> None:
    exp = "book_ComiRec-DR_b128_lr0.005_d64_len20_gpu0"
    text = original_log(dataset="book", model_type="ComiRec-DR", exp=exp, recalls=[None] * 40, ending="unfinished")
    text += "\n".join(["Traceback (most recent call last):", '  File "src/train.py", line 317, in <module>',
                       "    model.restore(sess, best_model_path)",
                       f"ValueError: The passed save_path is not a valid checkpoint: best_model/{exp}/"]) + "\n"
    diagnosis = diagnose(write(tmp_path, text))
    assert diagnosis.verdict == "unusable" and diagnosis.comparisons == [] and diagnosis.rerun == {}
    broken = diagnosis.finding("eval-broken")
    assert broken is not None and not broken.fix.applicable
    assert "40 of 40 evaluations have no valid metrics" in broken.evidence[0].text
    assert diagnosis.run.stop_reason == "crashed" and "interrupted" in ids(diagnosis)
    assert diagnosis.findings[0].id == "eval-broken"  # the root: the failed restore follows from no saved model
    assert ids(diagnosis).isdisjoint({"undertrained", "overfitting", "oscillation", "divergence", "lr-model-mismatch"})


def test_ctrl_c_run_is_interrupted_and_still_rising(tmp_path: Path) -> None:
    recalls = rising_then_plateau(120, 0.07, 300)
    log = write(tmp_path, original_log(dataset="book", model_type="ComiRec-SA", exp=SA_BOOK, recalls=recalls,
                                       ending="ctrl_c", finals={"valid": (recalls[-1], 0.1, 0.13),
                                                                "test": (recalls[-1] * 0.99, 0.1, 0.13)}))
    diagnosis = diagnose(log)
    assert diagnosis.run.stop_reason == "interrupted"
    interrupted = diagnosis.finding("interrupted")
    assert interrupted is not None and interrupted.severity == "medium"  # the finals of the restored best exist
    assert "still rising" in interrupted.title
    assert interrupted.evidence[0].ref.line == text_line(log, "-" * 89)
    assert ids(diagnosis).isdisjoint({"eval-broken", "overfitting", "oscillation", "divergence", "undertrained"})


def test_crash_in_diversity_keyerror_0_is_a_broken_evaluation(tmp_path: Path) -> None:
    log = write(tmp_path, original_log(dataset="book", model_type="ComiRec-SA", exp=SA_BOOK,
                                       recalls=plateaued(300, 0.082, 200), after_restore=DIVERSITY_KEYERROR))
    diagnosis = diagnose(log)
    broken = diagnosis.finding("eval-broken")
    assert broken is not None and broken.severity == "high"
    assert any(e.text.startswith("KeyError: 0 (in: if item_cate_map[item_list[i]]") and e.ref.line == text_line(log, "KeyError: 0")
               for e in broken.evidence)
    assert diagnosis.run.finals == {}
    # Without final lines the comparison falls back to the best validation evaluation, and says so.
    assert {c.split for c in diagnosis.comparisons} == {"best-valid"}
    assert ids(diagnosis).isdisjoint({"divergence", "overfitting", "dataset-mismatch"})


def test_nan_loss_is_divergence_not_overfitting(tmp_path: Path) -> None:
    recalls = rising_then_plateau(60, 0.06, 100) + [0.0] * 20
    losses = [8.2 - 0.02 * i for i in range(60)] + [math.nan] * 20
    log = write(tmp_path, original_log(dataset="book", model_type="ComiRec-DR", exp=DR_BOOK_005, recalls=recalls,
                                       losses=losses, finals={"valid": (max(recalls), 0.1, 0.13),
                                                              "test": (max(recalls), 0.1, 0.13)}))
    diagnosis = diagnose(log)
    divergence = diagnosis.finding("divergence")
    assert divergence is not None and divergence.fix.changes == {"learning_rate": 0.0025}
    assert divergence.evidence[0].ref.line == text_line(log, "iter: 61000")
    assert ids(diagnosis).isdisjoint({"overfitting", "oscillation", "undertrained"})


def test_leave_last_out_split_stuck_at_0000007_is_a_data_fault_not_a_setting(tmp_path: Path) -> None:
    exp = "book_ComiRec-DR_b128_lr0.001_d64_len20_llo"
    log = write(tmp_path, original_log(dataset="book", model_type="ComiRec-DR", exp=exp, recalls=[0.000007] * 52,
                                       finals={"valid": (0.000007, 0.000005, 0.00002),
                                               "test": (0.000007, 0.000005, 0.00002)}))
    diagnosis = diagnose(log)
    assert diagnosis.findings[0].id == "dataset-mismatch" and diagnosis.findings[0].confidence >= 0.8
    assert not diagnosis.findings[0].fix.applicable
    assert diagnosis.findings[0].evidence[0].ref.line == text_line(log, "iter: 1000,")
    # Neither the learning rate nor the NDCG definition explains a model that never hits: no such findings.
    assert ids(diagnosis).isdisjoint({"lr-model-mismatch", "ndcg-definition", "undertrained", "oscillation",
                                      "overfitting"})
    assert "lr-model-mismatch" in not_cause_ids(diagnosis)
    assert "ndcg" not in diagnosis.config  # 0.00002 hit rate: too few hits to infer the definition


# ------------------------------------------------------------------ ports, other data, overrides
def test_pytorch_port_run_at_top20_is_compared_with_the_papers_at_20(tmp_path: Path) -> None:
    exp = "book_ComiRec-SA_b128_lr0.001_d64_len20_in4_top20"
    header = ["pid:12345", "use cuda:0", "hidden_size: 64", "interest_num: 4", "total user: 603668",
              "training begin"]
    text = original_log(dataset="book", model_type="ComiRec-SA", exp=exp, recalls=plateaued(400, 0.055, 250),
                        header=header, finals={"valid": (0.0552, 0.0905, 0.115), "test": (0.0548, 0.0899, 0.1138)})
    log = write(tmp_path, text.replace("model restored from", "early stopping!\nmodel loaded from"))
    diagnosis = diagnose(log)
    assert diagnosis.run.format == "pytorch-port"
    assert diagnosis.config["topN"].value == 20 and diagnosis.config["num_interest"].source == "log"
    recall = comparison(diagnosis, "recall")
    assert recall.cutoff == 20 and recall.paper_value == pytest.approx(0.05489) and recall.comparable
    assert diagnosis.verdict == "healthy"
    cutoff = diagnosis.finding("cutoff-mismatch")
    assert cutoff is not None and cutoff.severity == "info" and "@20" in cutoff.title
    assert ids(diagnosis) == {"cutoff-mismatch"}


@pytest.mark.parametrize("item_count", [None, "1349"])
def test_movielens_like_run_is_not_comparable_and_priors_are_scaled_down(tmp_path: Path,
                                                                       item_count: str | None) -> None:
    exp = "ml100k_ComiRec-DR_b128_lr0.001_d64_len20_ml"
    log = write(tmp_path, original_log(dataset="ml100k", model_type="ComiRec-DR", exp=exp,
                                       recalls=plateaued(120, 0.21, 40),
                                       finals={"valid": (0.2, 0.3, 0.6), "test": (0.19, 0.29, 0.58)}))
    diagnosis = diagnose(log, {"item_count": item_count} if item_count else None)
    assert diagnosis.comparisons and not any(c.comparable or c.paper_value for c in diagnosis.comparisons)
    assert all("ml100k is not in the paper" in c.note for c in diagnosis.comparisons)
    lr = diagnosis.finding("lr-model-mismatch")
    assert lr is not None and lr.severity == "low" and lr.confidence < 0.3
    assert "differs from Book/Taobao" in lr.explanation
    assert ids(diagnosis).isdisjoint({"ndcg-definition", "batch-size", "dataset-mismatch", "undertrained"})
    if item_count:  # a known small item count scales the prior further down than an unknown one
        assert "1,349 items" in lr.explanation and lr.confidence < 0.55 * 0.25 + 0.01


def test_set_overrides_supply_what_the_log_does_not_state(tmp_path: Path) -> None:
    log = write(tmp_path, original_log(dataset="book", model_type="ComiRec-SA", exp="my run 7",
                                       header=["Please input the experiment name: training begin"],
                                       recalls=plateaued(300, 0.083, 200),
                                       finals={"valid": (0.0836, 0.134, 0.171), "test": (0.0831, 0.133, 0.170)}))
    unstated = diagnose(log)  # nothing states the dataset: nothing compares, and the notes say how to set it
    assert "dataset" not in unstated.config and not any(c.comparable for c in unstated.comparisons)
    assert any("--set dataset=NAME" in note for note in unstated.notes)
    diagnosis = diagnose(log, {"dataset": "book", "model_type": "ComiRec-SA"})
    assert diagnosis.config["dataset"].source == "--set" and diagnosis.config["model_type"].value == "ComiRec-SA"
    assert comparison(diagnosis, "recall").comparable and diagnosis.verdict == "healthy"
    # An override that contradicts the exp name wins and the disagreement is kept.
    dr = write(tmp_path, original_log(dataset="book", model_type="ComiRec-DR", exp=DR_BOOK_001,
                                      recalls=plateaued(300, 0.08, 200),
                                      finals={"test": (0.0812, 0.135, 0.176)}), "dr.log")
    corrected = diagnose(dr, {"learning_rate": "0.005"})
    assert corrected.config["learning_rate"].value == 0.005
    assert corrected.config["learning_rate"].conflicts == ((0.001, "exp name"),)
    assert "lr-model-mismatch" not in ids(corrected)


# ------------------------------------------------------------------ curve shapes
def test_overfitting_run_peaks_early_then_decays(tmp_path: Path) -> None:
    recalls = [0.075 * min(i, 40) / 40 * (1 - 0.004 * max(0, i - 40)) for i in range(1, 150)]
    log = write(tmp_path, original_log(dataset="book", model_type="ComiRec-SA", exp=SA_BOOK, recalls=recalls,
                                       ending="max_iter", losses=[8 - 0.01 * i for i in range(149)],
                                       finals={"valid": (0.075, 0.12, 0.15), "test": (0.074, 0.12, 0.15)}))
    diagnosis = diagnose(log)
    assert diagnosis.run.stop_reason == "max_iter"
    overfitting = diagnosis.finding("overfitting")
    assert overfitting is not None and "peaked at iter 40000" in overfitting.title
    assert ids(diagnosis).isdisjoint({"undertrained", "divergence", "oscillation", "early-stop-too-soon"})


def test_oscillating_run(tmp_path: Path) -> None:
    recalls = [0.07 * (1 - math.exp(-i / 20)) * (1.12 if i % 2 else 0.88) for i in range(1, 160)]
    log = write(tmp_path, original_log(dataset="book", model_type="ComiRec-SA", exp=SA_BOOK, recalls=recalls,
                                       ending="max_iter", finals={"valid": (max(recalls), 0.11, 0.15),
                                                                  "test": (max(recalls) * 0.97, 0.11, 0.15)}))
    diagnosis = diagnose(log)
    oscillation = diagnosis.finding("oscillation")
    assert oscillation is not None and oscillation.fix.changes == {"learning_rate": 0.0005}
    assert ids(diagnosis).isdisjoint({"undertrained", "divergence", "dataset-mismatch", "eval-broken"})


# ------------------------------------------------------------------ files that are not runs, and a real log
def test_a_readme_quoting_a_run_folder_is_not_a_run(tmp_path: Path) -> None:
    readme = LOG_SAMPLES / "README.md"
    if not readme.exists():
        readme = write(tmp_path, "# Real log samples\n\n- `runs/book_DNN_b128_lr0.001_d64_len20_test12/train.log` of "
                                 "GitHub x/comirec. Five evaluations.\n", "README.md")
    with pytest.raises(InputError):
        read_paths([str(readme)])
    # Prose around a warning or a traceback is still no run; an exp name alone on its line is.
    prose = write(tmp_path, "Notes\ntraining begin\nTraceback (most recent call last):\n  File \"x.py\"\n"
                            "KeyError: 0\n", "notes.txt")
    with pytest.raises(InputError):
        read_paths([str(prose)])
    named = write(tmp_path, "Please input the experiment name: training begin\n" + SA_BOOK + "\n", "started.log")
    assert read_paths([str(named)]).exp_name.value == SA_BOOK


def test_real_tf2_port_log_stopped_by_hand_after_five_evaluations() -> None:
    log = LOG_SAMPLES / "tf2-port_book_DNN_test12.log"
    if not log.exists():
        pytest.skip("the shared log sample is not on this machine")
    diagnosis = diagnose(log)
    assert diagnosis.run.stop_reason == "unfinished" and diagnosis.metrics["evaluations"] == 5
    interrupted = diagnosis.findings[0]
    assert interrupted.id == "interrupted" and interrupted.severity == "high"
    assert "still rising" in interrupted.title and "undertrained" in interrupted.title
    texts = " | ".join(e.text for e in interrupted.evidence)
    assert "5000 iterations < 350000" in texts and "no final test line" in texts
    assert ids(diagnosis).isdisjoint({"overfitting", "oscillation", "divergence", "eval-broken", "dataset-mismatch"})
    recall = comparison(diagnosis, "recall", "best-valid")
    assert recall.paper_value == pytest.approx(0.07312) and recall.run_value == pytest.approx(0.036275)
    # A fix that is an action, not a setting, is stated as such (not as "no configuration change repairs this").
    assert "- Fix: resume from the last checkpoint (recdoc train --resume) or re-run to completion." in \
        render_markdown(diagnosis)


def text_line(path: Path, prefix: str) -> int:
    """The 1-based number of the first line of `path` that starts with `prefix`."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith(prefix):
            return number
    raise AssertionError(f"{prefix!r} not in {path}")


# ------------------------------------------------------------------ the TF2 port and recdoc's own run folder
def test_tf2_port_dr_log_with_its_own_lines(tmp_path: Path) -> None:
    exp = "book_ComiRec-DR_b128_lr0.001_d64_len20_k2"
    header = ["training begin (Keras)", "⚠️  警告：ComiRec-DR 推荐使用 learning_rate=0.005",
              f"✅ 发现已有 checkpoint，自动恢复: best_model/{exp}/keras_ckpt/ckpt-3"]
    recalls = plateaued(260, 0.066, 180)
    text = original_log(dataset="book", model_type="ComiRec-DR", exp=exp, recalls=recalls, header=header,
                        finals={"valid": (0.0655, 0.0488, 0.141), "test": (0.0651, 0.0480, 0.1398)})
    text = text.replace("model restored from", "Restoring best checkpoint for evaluation:")
    log = write(tmp_path, text)
    diagnosis = diagnose(log)
    assert diagnosis.run.format == "tf2-port" and diagnosis.run.stop_reason == "early_stop"
    assert diagnosis.findings[0].id == "lr-model-mismatch" and "ndcg-definition" in ids(diagnosis)
    lr = diagnosis.findings[0]
    assert lr.severity == "high" and any("推荐使用" in e.text and e.ref.line == 2 for e in lr.evidence)
    assert diagnosis.config["ndcg"].value == "master"  # 0.048 / 0.14 = 0.34: the master code's NDCG
    assert ids(diagnosis).isdisjoint({"interrupted", "eval-broken", "undertrained", "dataset-mismatch"})


def test_recdoc_run_folder_with_both_ndcg_definitions(tmp_path: Path) -> None:
    from recdoc.config import RunConfig

    config = RunConfig.for_dataset("book", model_type="ComiRec-SA", ndcg="master", exp="own")
    folder = tmp_path / config.exp_name
    folder.mkdir()
    recalls = plateaued(420, 0.0852, 300)
    records = [{"iter": 1000 * (i + 1), "train_loss": 8.2 - 2 * (1 - math.exp(-i / 80)), "recall@50": r,
                "ndcg_paper@50": r * 1.6, "ndcg_master@50": r * 0.7, "hitrate@50": r * 2.03, "time_min": 0.3 * i}
               for i, r in enumerate(recalls)]
    (folder / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    final = {"test": {"recall@50": 0.0849, "ndcg_paper@50": 0.1361, "ndcg_master@50": 0.0581,
                      "hitrate@50": 0.1725, "diversity@50": 0.22}}
    (folder / "run.json").write_text(json.dumps({"exp_name": config.exp_name, "config": config.to_dict(),
                                                 "stop_reason": "early_stop", "final": final}))
    diagnosis = diagnose(folder)
    assert diagnosis.run.format.startswith("recdoc")
    assert diagnosis.config["ndcg"].source == "run.json"
    ndcg = comparison(diagnosis, "ndcg")
    assert ndcg.ndcg_definition == "paper" and ndcg.comparable and ndcg.run_value == pytest.approx(0.1361)
    assert diagnosis.verdict == "healthy" and ids(diagnosis) == set()
    assert "original" not in diagnosis.rerun  # a recdoc run is rerun with recdoc


def test_code_edits_are_listed_under_the_original_command_not_inside_it(tmp_path: Path) -> None:
    log = write(tmp_path, original_log(dataset="book", model_type="ComiRec-DR", exp=DR_BOOK_001,
                                       recalls=plateaued(300, 0.062, 200), ndcg_over_hr=0.34,
                                       finals={"test": (0.0618, 0.0455, 0.1332)}))
    diagnosis = diagnose(log, {"neg_num": "20"})
    original = diagnosis.rerun["original"]
    assert "set neg_num = 10 in src/train.py" in original  # diagnosis.json keeps the edits with the command
    report = render_markdown(diagnosis)
    rerun = report.split("## Rerun", 1)[1].split("\n## ", 1)[0]
    blocks = rerun.split("```bash\n")[1:]
    commands = [block.split("\n```", 1)[0] for block in blocks]
    assert commands[-1] == "python src/train.py --dataset book --model_type ComiRec-DR --learning_rate 0.005"
    # No code edit inside a command; the recdoc command may end with the shell comment saying what it needs first
    # (the paper's data, not on this machine).
    assert not any("#" in line for command in commands for line in command.splitlines()
                   if not line.startswith("# needs first: "))
    after = blocks[-1].split("\n```", 1)[1]
    assert "- set neg_num = 10 in src/train.py" in after and "- for the paper NDCG" in after


# ------------------------------------------------------------------ what the curve itself states
def test_evaluation_interval_and_cap_are_read_from_the_curve_when_nothing_states_them(tmp_path: Path) -> None:
    # test_iter edited to 500 in the code, --max_iter 150 passed through a wrapper that prints no argv line.
    rising = [0.02 + 0.0002 * i for i in range(300)]
    log = write(tmp_path, original_log(dataset="book", model_type="ComiRec-SA", exp=SA_BOOK, recalls=rising,
                                       test_iter=500, ending="max_iter", header=["training begin"],
                                       finals={"test": (0.079, 0.125, 0.16)}))
    diagnosis = diagnose(log)
    assert diagnosis.config["test_iter"].value == 500 and diagnosis.config["test_iter"].source.startswith("inferred")
    assert diagnosis.config["max_iter"].value == 150
    assert diagnosis.config["max_iter"].ref.line == text_line(log, "time interval: 50.0000")
    undertrained = diagnosis.finding("undertrained")
    assert undertrained is not None and undertrained.fix.changes == {"max_iter": 300}
    assert "--max_iter 300" in diagnosis.rerun["original"]


def test_coef_type_error_in_evaluation_is_found_from_the_traceback_frames(tmp_path: Path) -> None:
    crash = ["Traceback (most recent call last):", '  File "src/train.py", line 337, in <module>',
             "    test(test_file=test_file, cate_file=cate_file, dataset=dataset, coef=args.coef)",
             '  File "src/train.py", line 98, in get_result',
             "    cate_diff = np.sum(item_cate == cate_list[k]) * coef",
             "TypeError: can't multiply sequence by non-int of type 'numpy.float64'"]
    log = write(tmp_path, original_log(dataset="book", model_type="ComiRec-SA", exp=SA_BOOK,
                                       argv_extra=("--coef", "0.1"), recalls=plateaued(200, 0.08, 150),
                                       after_restore=crash))
    diagnosis = diagnose(log)
    broken = diagnosis.finding("eval-broken")
    assert broken is not None and any("* coef" in e.text and e.text.startswith("TypeError") for e in broken.evidence)
    # A crash in a training step is not a broken evaluation (the interrupted rule reports it).
    oom = ["Traceback (most recent call last):", '  File "src/train.py", line 236, in train',
           "    loss = model.train(sess, list(data_iter) + [lr])",
           "ResourceExhaustedError: OOM when allocating tensor with shape[128,367983]"]
    text = original_log(dataset="book", model_type="ComiRec-SA", exp=SA_BOOK, recalls=plateaued(200, 0.08, 150),
                        ending="unfinished") + "\n".join(oom) + "\n"
    crashed = diagnose(write(tmp_path, text, "oom.log"))
    assert crashed.run.stop_reason == "crashed" and "eval-broken" not in ids(crashed)
    assert any("OOM" in e.text for e in crashed.finding("interrupted").evidence)


def test_a_log_with_two_runs_appended_gives_two_diagnoses(tmp_path: Path) -> None:
    first = original_log(dataset="book", model_type="ComiRec-DR", exp=DR_BOOK_001, recalls=plateaued(50, 0.05, 100),
                         ending="unfinished") + "\n".join(CTRL_C) + "\n"
    second = original_log(dataset="book", model_type="ComiRec-DR", exp=DR_BOOK_005, recalls=plateaued(400, 0.082, 250),
                          argv_extra=("--learning_rate", "0.005"), finals={"test": (0.0815, 0.1355, 0.1762)})
    log = write(tmp_path, first + second)
    earlier, diagnosis = analyze_all([str(log)])
    second_start = len(first.splitlines()) + 1
    assert diagnosis.run.exp_name.value == DR_BOOK_005 and diagnosis.run.argv.ref.line == second_start
    assert diagnosis.config["learning_rate"].value == 0.005 and not diagnosis.config["learning_rate"].conflicts
    assert diagnosis.run.curve["line"].min() > second_start and diagnosis.run.stop_reason == "early_stop"
    assert diagnosis.verdict == "healthy" and ids(diagnosis) == set()  # run 1's Ctrl-C is not run 2's
    # The first run is diagnosed on its own: its interruption, its learning rate, never the second run's lines.
    assert earlier.run.exp_name.value == DR_BOOK_001 and earlier.run.stop_reason == "interrupted"
    assert earlier.config["learning_rate"].value == 0.001 and earlier.run.curve["line"].max() < second_start
    assert "interrupted" in ids(earlier)


def test_one_lucky_evaluation_above_a_plateau_is_not_overfitting(tmp_path: Path) -> None:
    recalls = [0.07 * (1 - math.exp(-i / 15)) for i in range(1, 80)]
    recalls[60] *= 1.15  # one evaluation 15% above the plateau, then the same plateau
    log = write(tmp_path, original_log(dataset="book", model_type="ComiRec-SA", exp=SA_BOOK, recalls=recalls,
                                       ending="max_iter", finals={"test": (0.07, 0.11, 0.14)}))
    diagnosis = diagnose(log)
    assert diagnosis.metrics["best_valid"]["iter"] == 61000
    assert ids(diagnosis).isdisjoint({"overfitting", "divergence", "oscillation"})


def test_recdoc_train_log_alone_stopped_on_a_nan_loss(tmp_path: Path) -> None:
    from recdoc.config import RunConfig
    from recdoc.trainer.log.lines import format_final_line, format_iter_line, format_time_line, log_metrics

    config = RunConfig.for_dataset("book", model_type="ComiRec-DR", learning_rate=0.005, exp="own")
    lines = ["training resumed from runs/x/ckpt/last/ckpt-20 at iteration 20000"]
    recalls = rising_then_plateau(30, 0.05, 60)
    for index, recall in enumerate(recalls, start=21):
        loss = 7.5 - 0.01 * index if index < 50 else math.nan
        shown = log_metrics({"recall@50": recall, "ndcg_paper@50": recall * 1.6, "hitrate@50": recall * 2},
                                   config)
        lines += [config.exp_name, format_iter_line(index * 1000, loss, shown)]
        if index < 50:
            lines.append(format_time_line(index * 0.3))
    lines += ["train loss is nan at iter 50000: training stopped, the best model is kept",
              "model restored from runs/x/ckpt/best/ckpt-49000",
              format_final_line("test", {"recall": 0.05, "ndcg": 0.08, "hitrate": 0.1, "diversity": 0.2})]
    log = write(tmp_path, "\n".join(lines) + "\n")
    diagnosis = diagnose(log)
    assert diagnosis.run.stop_reason == "nan" and diagnosis.run.stop_ref.line == len(lines) - 2
    resumed = diagnosis.run.events_of("resumed")
    assert resumed and resumed[0].values["path"] == "runs/x/ckpt/last/ckpt-20"
    divergence = diagnosis.findings[0]
    assert divergence.id == "divergence" and divergence.fix.changes == {"learning_rate": 0.0025}
    assert ids(diagnosis).isdisjoint({"overfitting", "interrupted", "lr-model-mismatch"})


def test_original_test_mode_log_names_the_run_only_in_the_restore_path(tmp_path: Path) -> None:
    lines = [argv_line("book", "ComiRec-SA", "-p", "test"),
             "The exp name already exists. Do you want to cover? (y/n)Please input the experiment name: "
             f"model restored from best_model/{SA_BOOK}/",
             metrics_text("test", 0.0851, 0.1363, 0.1731, 0.2212)]
    log = write(tmp_path, "\n".join(lines) + "\n")
    diagnosis = diagnose(log)
    assert diagnosis.run.exp_name.value == SA_BOOK and diagnosis.run.exp_name.ref.line == 2
    assert diagnosis.config["model_type"].value == "ComiRec-SA" and diagnosis.config["maxlen"].source == "exp name"
    assert comparison(diagnosis, "recall").comparable and diagnosis.verdict == "healthy"
    assert ids(diagnosis) == set()


def test_patience_is_read_off_an_early_stop_when_nothing_states_it(tmp_path: Path) -> None:
    # A TF2-port run started with --patience 100 (the port prints no argv line), still climbing when it stopped.
    recalls = [0.03 + 0.0001 * i for i in range(200)]
    recalls += [recalls[-1] * (0.95 + 0.0004 * k) for k in range(101)]  # climbing back, no new best yet
    log = write(tmp_path, original_log(dataset="book", model_type="ComiRec-SA", exp=SA_BOOK, recalls=recalls,
                                       header=["training begin (Keras)"], finals={"test": (0.049, 0.078, 0.1)}))
    diagnosis = diagnose(log)
    patience = diagnosis.config["patience"]
    assert patience.value == 100 and patience.source == "inferred (early stop 101 evaluations after the best)"
    finding = diagnosis.finding("early-stop-too-soon")
    assert finding is not None and finding.fix.changes == {"patience": 200}  # doubles what was used, not the default
