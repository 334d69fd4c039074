"""The readers of reported runs on arbitrary input: a Run or an InputError, never anything else; linear time on
long lines; sniff scores that are probabilities and never outbid the original's reader on its own log."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recdoc.diagnose.observed_run import Run
from recdoc.diagnose.readers import dump, mlflow_store, pasted, recbole, rechorus, sheet
from recdoc.diagnose.readers.detect import sniff_scores
from recdoc.errors import InputError
from support.logs import PYTORCH_LINES, TF2_LINES, header

FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Lines of every input kind these readers know, and of the logs they must leave alone.
VOCABULARY = header() + TF2_LINES + PYTORCH_LINES + [
    'ComiRec-SA,book,1,"HR@20:0.13,NDCG@20:0.06"', "model,dataset,seed,metrics", "mean,,,\"HR@20:0.1\"",
    "epoch,train_loss,val_recall@50", "3,6.5,0.05", "The paper reports:", "论文结果: recall@50: 8.4",
    "test recall@50: 0.0790, test ndcg@50: 0.1164", "{'Recall': ['Recall@100: 0.1121']}", "learning_rate: 0.005",
    "dataset: book", "python src/train.py --dataset book --model_type DNN", "epoch 3 training [time: 1.2s, train loss: 12.3]",
    "valid result:", "recall@10 : 0.1    mrr@10 : 0.2", "test result: OrderedDict([('recall@10', 0.2)])",
    "eval_args = {'mode': 'uni100'}", "The number of items: 1683", " test_all | 0 ", "Epoch 3 loss=0.5 dev=(HR@5:0.4)",
    "Test After Training: (HR@5:0.3,NDCG@5:0.2)", "Early stop at 4 based on dev result.", "Traceback (most recent call last):",
    "KeyboardInterrupt", "I trained the model on book and the numbers are lower than the paper, any idea why?",
]
READERS = [(sheet.read_runs, "results.csv"), (pasted.read_runs, "issue.txt"), (dump.read_runs, "dump.yaml"),
           (recbole.read_runs, "recbole.log"), (rechorus.read_runs, "rechorus.txt")]


def attempt(reader, data: bytes, name: str) -> list[Run] | None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            runs = reader(path)
        except InputError as error:
            assert "\n" not in str(error)
            return None
        assert runs and all(isinstance(run, Run) for run in runs)
        for run in runs:
            iters = run.curve["iter"].tolist()
            assert iters == sorted(set(iters))
            assert run.coverage.lines_used <= run.coverage.lines_with_numbers
        return runs


@FUZZ
@given(data=st.binary(max_size=1500))
def test_arbitrary_bytes(data: bytes) -> None:
    for reader, name in READERS:
        attempt(reader, data, name)


line_strategy = st.one_of(
    st.sampled_from(VOCABULARY),
    st.tuples(st.sampled_from(VOCABULARY), st.integers(0, 80)).map(lambda t: t[0][:t[1]]),
    st.text(max_size=60),
)


@FUZZ
@given(lines=st.lists(line_strategy, max_size=30), encoding=st.sampled_from(["utf-8", "gbk"]))
def test_mixed_lines(lines: list[str], encoding: str) -> None:
    data = "\n".join(lines).encode(encoding, errors="replace")
    for reader, name in READERS:
        attempt(reader, data, name)
    scores = sniff_scores("\n".join(lines))
    assert all(0.0 <= score <= 1.0 for score in scores.values())


def test_the_original_log_stays_the_originals() -> None:
    head = "\n".join(header())
    scores = sniff_scores(head)
    assert max(scores, key=lambda k: scores[k]) in ("original", "tf2-port", "pytorch-port")
    assert all(reader.sniff(head) == 0.0 for reader in (sheet, recbole, rechorus, dump, pasted, mlflow_store))


def test_long_lines_read_in_linear_time(tmp_path: Path) -> None:
    cells = ",".join(f"HR@{k}:0.{k:04d}" for k in range(1, 4000))
    long_cell = tmp_path / "wide.csv"
    long_cell.write_text(f'model,metrics\nComiRec-SA,"{cells}"\n' + "x" * 60000 + ",y\n")
    spaces = tmp_path / "spaces.txt"
    spaces.write_text(("than " + " " * 30000 + "paper\n") * 3 + "test recall@50: 0.07 " + "a" * 60000 + "\n"
                      + "The numbers are what I got after training for a long time.\n" * 2)
    started = time.perf_counter()
    run = sheet.read_runs(long_cell)[0]
    assert (run.finals["test"].hitrate, run.finals["test"].cutoff) == (0.005, 50)  # the paper's cut-off, of 3999
    # The lexer reads a line's first grammar.MAX_LINE_CHARS characters (the bound that keeps it linear): the cells
    # past it are not read, the ones before it all are.
    assert 1000 < len(run.extra_metrics["final_test"]) < 3999
    try:
        pasted.read_runs(spaces)
    except InputError:
        pass
    assert time.perf_counter() - started < 5.0
