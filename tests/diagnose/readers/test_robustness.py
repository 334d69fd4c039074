"""Every reader on arbitrary input: a Run or an InputError, never anything else; flat memory on huge lines."""

from __future__ import annotations

import struct
import tempfile
import tracemalloc
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from recdoc.diagnose.observed_run import Run
from recdoc.diagnose.readers import checkpoint, original, pytorch_port, recdoc_folder, tensorboard, tf2_port
from recdoc.diagnose.readers.detect import read_paths, sniff_scores
from recdoc.diagnose.readers.lines import decode_line, iter_lines
from recdoc.errors import InputError
from support.logs import PYTORCH_LINES, TF2_LINES, header
from support.tensorboard import record

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
VOCABULARY = header() + TF2_LINES + PYTORCH_LINES + [
    "-" * 89, "Exiting from training early", "Traceback (most recent call last):", '  File "x.py", line 1',
    "KeyError: 0", "time interval: 0.5 min", "Invalid model_type : %s X", "iter: 5, train loss: nan",
    "valid recall: 0.1", "test hitrate: 0.2, test recall@20: 0.3", "no best model was saved", "model_checkpoint_path: \"ckpt-1\"",
    '{"iter": 1000, "recall@50": 0.1}', '{"config": {"topN": "x"}, "final": {"test": {"recall@50": "a"}}}',
]


def attempt(reader, data: bytes, name: str) -> Run | None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            run = reader(path)
        except InputError as error:
            assert "\n" not in str(error)
            return None
        assert isinstance(run, Run)
        return run


READERS = [(original.read, "train.log"), (tf2_port.read, "train.log"), (pytorch_port.read, "out.log"),
           (recdoc_folder.read, "run.json"), (recdoc_folder.read, "metrics.jsonl"),
           (tensorboard.read, "events.out.tfevents.1"), (checkpoint.read, "checkpoint"),
           (lambda p: read_paths([str(p)]), "train.log"), (lambda p: read_paths([str(p.parent)]), "stdout")]


@FUZZ
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes(data: bytes) -> None:
    for reader, name in READERS:
        attempt(reader, data, name)


line_strategy = st.one_of(
    st.sampled_from(VOCABULARY),
    st.tuples(st.sampled_from(VOCABULARY), st.integers(0, 120)).map(lambda t: t[0][:t[1]]),  # cut lines
    st.text(max_size=80),
)


@FUZZ
@example(lines=["test recall: 0.061821, test ndcg: 0.045488, test hitrate: 0.133200, test diversity: 0.221127",
                "iter: 1000, train loss: 8.1234, valid recall: 0.012345, valid ndcg: 0.010000, valid hitrate: 0.030000"],
         newline="\r", encoding="utf-8")  # found by this test: one record holding a step and test metrics
@given(lines=st.lists(line_strategy, max_size=40), newline=st.sampled_from(["\n", "\r\n", "\r"]),
       encoding=st.sampled_from(["utf-8", "gbk", "latin-1"]))
def test_mixed_real_lines(lines: list[str], newline: str, encoding: str) -> None:
    data = newline.join(lines).encode(encoding, errors="replace")
    for reader, name in READERS:
        run = attempt(reader, data, name)
        if run is None or not run.has_curve:
            continue
        iters = run.curve["iter"].tolist()
        assert iters == sorted(set(iters))
        line_count = data.count(b"\n") + 1
        if reader in (original.read, tf2_port.read, pytorch_port.read):
            assert all(1 <= int(n) <= line_count for n in run.curve["line"])


@FUZZ
@given(payloads=st.lists(st.binary(max_size=200), max_size=8), tail=st.binary(max_size=20))
def test_event_records_with_garbage_payloads(payloads: list[bytes], tail: bytes) -> None:
    # Framing right, protobuf wrong: every record must be decoded or skipped with a note.
    data = b"".join(record(p) for p in payloads) + tail
    attempt(tensorboard.read, data, "events.out.tfevents.9")


@FUZZ
@given(text=st.text(max_size=500))
def test_sniff_scores_are_probabilities(text: str) -> None:
    assert all(0.0 <= score <= 1.0 for score in sniff_scores(text).values())


def test_decode_line_fallbacks() -> None:
    assert decode_line("✅ 发现".encode()) == "✅ 发现"
    assert decode_line("警告".encode("gbk")) == "警告"
    assert decode_line(b"\xff\xfe\xfd") == "ÿþý"


def test_huge_line_without_newline_has_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "garbage.log"
    path.write_bytes(b"x" * (24 << 20) + b"\niter: 1000, train loss: 1.0\n")
    tracemalloc.start()
    run = original.read(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 << 20
    assert run.curve["iter"].tolist() == [1000] and run.curve["line"].tolist() == [2]


def test_line_numbers_count_every_line_kind(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_bytes(b"a\r\nb\n\nc")
    assert list(iter_lines(path)) == [(1, "a"), (2, "b"), (3, ""), (4, "c")]


def test_truncated_event_header_variants(tmp_path: Path) -> None:
    for cut in range(1, 16):
        blob = record(b"\x08\x01") + struct.pack("<Q", 5)[:cut]
        path = tmp_path / f"events.out.tfevents.{cut}"
        path.write_bytes(blob)
        run = tensorboard.read(path)
        assert any("truncated" in note or "checksum" in note for note in run.unreadable)


def test_long_log_streams_with_flat_memory(tmp_path: Path) -> None:
    # 120,000 lines (~14 MB) of TF warnings around 200 evaluations: memory must not grow with the file.
    warning = ("WARNING:tensorflow:From /site-packages/tensorflow/python/ops/nn_impl.py:1444: sparse_to_dense is "
               "deprecated and will be removed in a future version. Instructions for updating: use tf.cast instead.")
    block = "\n".join([warning] * 599) + "\n"
    with (tmp_path / "big.log").open("w") as out:
        for index in range(1, 201):
            out.write(block + f"iter: {index * 1000}, train loss: 7.0, valid recall: 0.05\n")
    tracemalloc.start()
    run = original.read(tmp_path / "big.log")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert run.curve.shape[0] == 200 and run.curve["line"].iloc[-1] == 120_000
    assert peak < 8 << 20


def test_numbers_with_thousands_of_digits(tmp_path: Path) -> None:
    # Python refuses int() of more than 4300 digits; no reader may pass such a string to int().
    digits = "9" * 5000
    lines = [f"iter: {digits}, train loss: {digits}", f"test recall@{digits}: 0.1", f"interest_num: {digits}",
             f"model_checkpoint_path: \"ckpt-{digits}\"", f'{{"iter": {digits}}}']
    for reader, name in READERS:
        attempt(reader, "\n".join(lines).encode(), name)
    folder = tmp_path / "copied"
    folder.mkdir()
    short = "9" * 200  # a file name has at most 255 bytes
    (folder / f"ckpt-{short}.index").write_bytes(b"i")
    (folder / f"ckpt-{short}.data-00000-of-00001").write_bytes(b"d")
    assert checkpoint.read(folder).checkpoints[0].save_counter is None
