"""The measurement layer under every text reader (issue 16): the lexer and grammar, absence kept apart from
faults, read coverage, facts from anywhere, and time linear in the input.

Lines are made up for these tests in the shapes forks print; none is copied from a third-party log.
"""

from __future__ import annotations

import time
from pathlib import Path

from recdoc.diagnose.readers.detect import read_runs
from recdoc.diagnose.readers.grammar import read_counts, read_eval_protocol, read_line
from recdoc.diagnose.readers.records import parse_record
from recdoc.diagnose.readers.text_log import sniff


def write(tmp_path: Path, lines: list[str], name: str = "train.log") -> str:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_cutoff_notations_and_synonyms_read_as_one_fact() -> None:
    shapes = {
        "valid recall[@10]: 0.074": {("valid", "recall", 10): 0.074},
        "recall_50: 0.1NDCG_50: 0.05": {(None, "recall", 50): 0.1, (None, "ndcg", 50): 0.05},
        "hit50: 0.2 NDCG20: 0.1": {(None, "hitrate", 50): 0.2, (None, "ndcg", 20): 0.1},
        "HR@20: 0.3, Hit@100 = 0.4, hit rate@10: 0.5": {(None, "hitrate", 20): 0.3, (None, "hitrate", 100): 0.4,
                                                       (None, "hitrate", 10): 0.5},
        "Recall(20): 0.1 precision top-10: 0.02 mrr: 0.05": {(None, "recall", 20): 0.1, (None, "precision", 10): 0.02,
                                                             (None, "mrr", None): 0.05},
        "recall[@10, @20]: [0.13, 0.19]": {(None, "recall", 10): 0.13, (None, "recall", 20): 0.19},
        "test/ndcg@50=0.2 val_recall_at_20=0.1": {("test", "ndcg", 50): 0.2, ("valid", "recall", 20): 0.1},
    }
    for line, metrics in shapes.items():
        assert read_line(line).metrics == metrics, line
    header = read_line("TEST[@10,@20]")
    assert (header.header_cutoffs, header.header_split) == ((10, 20), "test")
    assert read_line("recall:\t[0.12, 0.18]").pending_lists == {(None, "recall"): [0.12, 0.18]}
    # Not metrics: a training recall, a one-letter word without a cut-off, settings named like steps.
    assert read_line("train_recall: 0.5 r: 0.3").metrics == {}
    assert read_line("max_iter: 1000 test_iter: 50").step is None


def test_percent_by_sign_and_by_scale() -> None:
    assert parse_record("HIT@10: 3.569, NDCG@10: 0.9").metrics == {(None, "hitrate", 10): 0.03569,
                                                                    (None, "ndcg", 10): 0.009}
    assert parse_record("test: Recall@50: 6.50%").metrics == {(None, "recall", 50): 0.065}
    # A damaged value keeps the line as printed (for the impossible-metrics check).
    assert parse_record("test recall: 2.5, test hitrate: inf").metrics[("test", "recall", None)] == 2.5


def test_the_original_shape_with_unread_names_is_read_by_the_generic_grammar(tmp_path: Path) -> None:
    lines = [f"iter: {n * 5000}, train loss: {6 - n / 10:.2f}, valid recall[@10]: 0.0{n}4, valid ndcg[@10]: 0.05"
             for n in range(1, 6)]
    (run,) = read_runs([write(tmp_path, lines)])
    assert run.curve["recall"].tolist() == [0.014, 0.024, 0.034, 0.044, 0.054]
    assert run.extra_metrics["curve_cutoff"] == 10 and not run.events_of("eval_missing")
    assert run.declared["topN"].value == 10 and run.declared["topN"].ref.line == 1
    assert any("read more values" in note for note in run.unreadable)


def test_a_missing_loss_is_missing_and_a_printed_nan_is_an_event(tmp_path: Path) -> None:
    lines = []
    for n in range(1, 5):
        lines += [f"epoch: {n}, batch: 6506:", f"valid recall@20: 0.0{n}", f"valid ndcg@20: 0.0{n}"]
    (run,) = read_runs([write(tmp_path, lines)])
    assert run.curve["train_loss"].isna().all() and not run.events_of("nan") and run.stop_reason != "nan"
    lines = [f"iter: {n * 1000}, train loss: {loss}, valid recall: 0.01" for n, loss in ((1, "7.0"), (2, "nan"))]
    (run,) = read_runs([write(tmp_path, lines, "nan.log")])
    (event,) = run.events_of("nan")
    assert event.ref.line == 2 and run.stop_reason == "nan"


def test_a_loss_on_the_line_after_a_bare_step(tmp_path: Path) -> None:
    lines = []
    for n in range(1, 4):
        lines += [f"iter: {n * 1000}", f"train loss: {7 - n}.5",
                  f"valid metrics: {{'users': 61000, 'recall': 0.0{n}, 'ndcg': 0.0{n}}}"]
    (run,) = read_runs([write(tmp_path, lines)])
    assert run.curve["iter"].tolist() == [1000, 2000, 3000]
    assert run.curve["train_loss"].tolist() == [6.5, 5.5, 4.5] and run.curve["recall"].tolist() == [0.01, 0.02, 0.03]
    assert "user_count" not in run.declared  # an evaluation's own user count is not the dataset's
    assert not any("without `train loss`" in note for note in run.unreadable)


def test_iterations_going_backwards_stay_one_run(tmp_path: Path) -> None:
    lines = [f"iter: {n * 1000}, train loss: 7.0, valid recall: 0.0{n}" for n in range(9, 0, -1)]
    (run,) = read_runs([write(tmp_path, lines)])
    assert run.curve["iter"].tolist() == [n * 1000 for n in range(1, 10)]
    (note,) = [e for e in run.events_of("info") if e.values.get("iterations_backwards")]
    assert note.ref.line == 2 and any("iterations go backwards at line 2" in n for n in run.unreadable)
    # Another run appended after a finished one still starts a run of its own.
    appended = [f"iter: {n * 1000}, train loss: 7.0, valid recall: 0.0{n}" for n in (1, 2, 3, 1, 2)]
    assert len(read_runs([write(tmp_path, appended, "two.log")])) == 2


def test_counts_and_the_evaluation_protocol_are_declared_facts(tmp_path: Path) -> None:
    assert [(f.key, f.value, f.split) for f in read_counts("Train items: 367964")] == [("item_count", 367964, "train")]
    for line, key, value in (("item_count = 367983", "item_count", 367983), ("n_items 1708531", "item_count", 1708531),
                             ("#users: 603668", "user_count", 603668), ("The number of items: 1683", "item_count", 1683),
                             ("The number of inters: 100000", "interaction_count", 100000)):
        assert [(f.key, f.value) for f in read_counts(line)] == [(key, value)], line
    assert read_counts("Average actions of users: 106.04") == [] and read_counts("item_cate: 5") == []
    assert read_eval_protocol("evaluate on 99 negatives per test item") == 99
    assert read_eval_protocol("test_all 0") == "sampled"
    assert read_eval_protocol("eval_args: {'mode': 'uni100'}") == 100
    assert read_eval_protocol("neg_num: 10") is None  # training negatives
    assert read_eval_protocol("batch 128, neg_num 10, test_iter 200") is None
    assert read_eval_protocol("sampled softmax with 10 neg samples, test every 1000") is None
    assert read_eval_protocol("eval_neg_num: 99") == 99
    lines = ["Train users: 480000", "Train items: 367950", "Valid users: 61000", "Test users: 61000",
             "evaluate on 99 negatives per test item",
             "iters: 500", "valid metrics: {'recall': 0.03}", "iters: 1500", "valid metrics: {'recall': 0.04}"]
    (run,) = read_runs([write(tmp_path, lines)])
    assert run.declared["item_count"].value == 367950 and run.declared["item_count"].ref.line == 2
    users = run.declared["user_count"]
    assert users.value == 480000 + 2 * 61000 and "Valid users" in users.text  # disjoint user splits: their sum
    assert run.declared["eval_candidates"].value == 99 and run.declared["eval_candidates"].ref.line == 5


def test_read_coverage(tmp_path: Path) -> None:
    lines = ["WARNING:tensorflow:From x.py:12: deprecated", "iters: 500", "valid recall@20: 0.01",
             "valid weird_recall_metric@20 = 0.5 (unparsed)", "time spent: 1.5m", "valid recall@20: oops 3"]
    lines[3] = "valid recall-ish score 20 0.5"
    (run,) = read_runs([write(tmp_path, lines)])
    coverage = run.coverage
    assert coverage.lines_with_numbers == 5 and coverage.lines_used == 2  # the TF warning is noise, not a line
    assert coverage.unread_metric_count == 2
    assert [ref.line for ref, _ in coverage.unread_metric_lines] == [4, 6]


def test_time_is_linear_in_the_input(tmp_path: Path) -> None:
    long_token = "x" * 100_000
    lines = ["loss=" + long_token, "iter: 1000, train loss: 9.0 " + long_token, "valid recall: 0.1 " + long_token,
             "recall@" + "1" * 100_000, "recall_" * 15_000 + ": 0.1", "iter: 1000, train loss: 9.0 " + "a:1," * 25_000]
    for line in lines:
        started = time.perf_counter()
        parse_record(line)
        sniff(line)
        assert time.perf_counter() - started < 1.0, line[:40]
    started = time.perf_counter()
    read_runs([write(tmp_path, lines)])
    assert time.perf_counter() - started < 2.0


def test_a_framework_log_with_time_stamps_counts_and_a_sampled_protocol(tmp_path: Path) -> None:
    stamp = "Tue 07 Dec 2026 10:00:{:02d} INFO  "
    lines = [stamp.format(0), "learning_rate = 0.001", "eval_args = {'group_by': 'user', 'mode': 'uni100'}",
             "topk = [10]", "The number of users: 944", "Average actions of users: 106.04", "The number of items: 1683"]
    for epoch in range(3):
        lines += [stamp.format(epoch) + f"epoch {epoch} training [time: 1.2s, train loss: {100 - epoch}.5]",
                  stamp.format(epoch) + "valid result: ",
                  f"recall@10 : 0.{epoch + 1}    mrr@10 : 0.3    ndcg@10 : 0.{epoch + 2}    hit@10 : 0.6"]
    lines += [stamp.format(9) + "best valid : OrderedDict([('recall@10', 0.3), ('ndcg@10', 0.4)])",
              stamp.format(9) + "test result: OrderedDict([('recall@10', 0.25), ('ndcg@10', 0.35)])"]
    (run,) = read_runs([write(tmp_path, lines)])
    assert run.curve["recall"].tolist() == [0.1, 0.2, 0.3] and run.curve["train_loss"].tolist() == [100.5, 99.5, 98.5]
    assert (run.finals["test"].recall, run.finals["test"].cutoff) == (0.25, 10)  # split named after the time stamp
    facts = {key: fact.value for key, fact in run.declared.items()}
    assert facts["user_count"] == 944 and facts["item_count"] == 1683 and facts["eval_candidates"] == 100
    assert str(facts["topN"]) == "10"
    assert read_line("Epoch 4  loss=0.51  dev=(HR@5:0.3123,NDCG@5:0.2134)").metrics == {
        ("valid", "hitrate", 5): 0.3123, ("valid", "ndcg", 5): 0.2134}


def test_a_step_word_in_a_sentence_is_not_a_step(tmp_path: Path) -> None:
    assert read_line("lr decay at epoch 10").step is None
    assert read_line("saving checkpoint at step 100").step is None
    assert read_line("Evaluation at step 1000: recall@50=0.07").step == 1000  # the line states a value
    lines = [f"iter: {n * 1000}, train loss: 7.0, valid recall: 0.0{n}" for n in range(1, 6)]
    lines.insert(3, "saving checkpoint at step 100")
    (run,) = read_runs([write(tmp_path, lines)])
    assert run.curve["iter"].tolist() == [1000, 2000, 3000, 4000, 5000]


def test_facts_in_prose_alone_are_not_a_run(tmp_path: Path) -> None:
    import pytest

    from recdoc.errors import InputError

    with pytest.raises(InputError):
        read_runs([write(tmp_path, ["# Notes", "The number of items: 1683", "We evaluate on 99 negatives per test user."],
                         "notes.log")])
