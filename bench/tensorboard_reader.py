"""TensorBoard event files: recdoc's own record framing against the record readers of the `tensorboard` package.

Writes one large event file (`--steps` training-loss scalars, one every step, and the three evaluation scalars every
1000 steps; tensorboard's own `RecordWriter`, so the CRCs are the library's), then times in this process (median of
`--repeats`):
- `hand`: recdoc's `readers.tensorboard.iter_records` (frames records, checks the length CRC) over the file;
- `library`: tensorboard's `PyRecordReader_New` from `tensorboard.compat.tensorflow_stub` (pure Python: frames
  records and checks both CRCs, the data CRC-32C byte by byte), the only record reader of the package that works
  without TensorFlow;
- the whole reader `readers.tensorboard.read` (framing plus Event decoding), for scale.
It also says, from fresh processes, whether each reader imports TensorFlow: the package's
`event_file_loader.RawEventFileLoader` prefers TensorFlow's reader whenever TensorFlow is installed.
Run: `python bench/tensorboard_reader.py [--steps N] [--repeats N]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recdoc.diagnose.readers import tensorboard as hand  # noqa: E402


def write_events(path: Path, steps: int) -> int:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    with open(path, "wb") as handle:
        writer = RecordWriter(handle)
        writer.write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString())
        records = 1
        for step in range(1, steps + 1):
            values = [summary_pb2.Summary.Value(tag="train/loss", simple_value=8.0 / (1 + step / 1000))]
            if step % 1000 == 0:
                values += [summary_pb2.Summary.Value(tag=tag, simple_value=0.05) for tag in
                           ("eval/recall", "eval/ndcg", "eval/hitrate")]
            writer.write(event_pb2.Event(wall_time=1.0 + step, step=step,
                                         summary=summary_pb2.Summary(value=values)).SerializeToString())
            records += 1
        writer.flush()
    return records


def hand_frames(path: Path) -> int:
    problems: list[str] = []
    return sum(1 for _ in hand.iter_records(path, problems))


def library_frames(path: Path) -> int:
    from tensorboard.compat.tensorflow_stub import errors
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New

    reader = PyRecordReader_New(str(path))
    count = 0
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            return count
        reader.record()
        count += 1


def median_seconds(function: object, path: Path, repeats: int) -> tuple[float, int]:
    times, result = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        result = function(path)  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def imports_tensorflow(code: str) -> bool:
    probe = f"import sys\n{code}\nprint('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    return out.stdout.strip().endswith("True")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.out.tfevents.bench"
        records = write_events(path, args.steps)
        size = path.stat().st_size
        hand_s, hand_n = median_seconds(hand_frames, path, args.repeats)
        library_s, library_n = median_seconds(library_frames, path, args.repeats)
        read_s, _ = median_seconds(hand.read, path, args.repeats)
        assert hand_n == library_n == records, (hand_n, library_n, records)
    print(f"event file: {records:,} records, {size / 1e6:.1f} MB")
    print(f"framing, recdoc's reader (length CRC):               {hand_s:.3f} s")
    print(f"framing, tensorboard's stub reader (both CRCs):      {library_s:.3f} s  ({library_s / hand_s:.1f}x)")
    print(f"recdoc's whole reader (framing + Event decoding):    {read_s:.3f} s")
    # The loader asks `tensorboard.compat.tf.__version__` before it picks a reader: that import is TensorFlow's.
    loader = ("from tensorboard.backend.event_processing import event_file_loader\n"
              "from tensorboard.compat import tf\ntf.__version__")
    print("imports TensorFlow: recdoc's reader "
          f"{imports_tensorflow('from recdoc.diagnose.readers import tensorboard')}, the stub reader "
          f"{imports_tensorflow('from tensorboard.compat.tensorflow_stub import pywrap_tensorflow')}, "
          f"event_file_loader's record iterator (TensorFlow installed) {imports_tensorflow(loader)}")


if __name__ == "__main__":
    main()
