"""How fast `recdoc analyze` reads a long original-format log, cold, and whether it pays for TensorFlow.

Writes a 1,000,000-iteration log (1000 evaluation blocks of exp name / iter / time interval, 50,000 interleaved
TensorFlow warning lines, the final restore/valid/test lines) to a temporary folder, then times from fresh processes
(median of 3 wall times, the modes interleaved):
- `recdoc analyze <log> --out <tmp>` (the whole doctor: readers, rules, reports), target <= 1.5 s; the same with
  the charts drawn in process instead of the forked chart helper (`reports/chart_process.py`), as a same-run
  baseline, and with `--no-plots`;
- `read_paths([log])` alone (imports + readers);
and, in this process, the reader's own parse time (target well under 0.3 s). Each child reports whether
`tensorflow` was in `sys.modules` at exit. Run: `python bench/analyze_speed.py [--keep DIR]`.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXP = "book_ComiRec-DR_b128_lr0.001_d64_len20_bench"
EVALUATIONS = 1000
NOISE_LINES = 50_000
RUNS = 3
TARGET_ANALYZE_S = 1.5
TARGET_READER_S = 0.3
NOISE = [
    "WARNING:tensorflow:From /usr/lib/python3/site-packages/tensorflow/python/ops/nn_impl.py:1444: "
    "sparse_to_dense (from tensorflow.python.ops.sparse_ops) is deprecated and will be removed in a future version.",
    "2019-05-01 10:00:00.123456: W tensorflow/core/common_runtime/bfc_allocator.cc:211] Allocator (GPU_0_bfc) ran "
    "out of memory trying to allocate 2.26GiB. The caller indicates that this is not a failure.",
    "Instructions for updating:",
    "Use tf.cast instead.",
]

# The child prints one JSON line at exit: its wall time inside the process and whether TensorFlow was imported.
CHILD = """
import atexit, json, sys, time
started = time.perf_counter()
def report():
    print("BENCH " + json.dumps({"tensorflow": "tensorflow" in sys.modules, "inner_s": time.perf_counter() - started}),
          file=sys.stderr)
atexit.register(report)
mode, target, out = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "analyze":
    sys.argv = ["recdoc", "analyze", target, "--out", out]
    from recdoc.cli import main
    main()
elif mode == "analyze-plots-in-process":  # the same-run baseline: no chart helper, matplotlib imported here
    from recdoc.reports import chart_process
    chart_process.start = lambda: False
    sys.argv = ["recdoc", "analyze", target, "--out", out]
    from recdoc.cli import main
    main()
elif mode == "analyze-no-plots":
    sys.argv = ["recdoc", "analyze", target, "--out", out, "--no-plots"]
    from recdoc.cli import main
    main()
else:
    from recdoc.diagnose.readers.detect import read_paths
    imported = time.perf_counter()
    run = read_paths([target])
    assert run.curve.shape[0] == 1000, run.curve.shape
    print("BENCH-SPLIT " + json.dumps({"import_s": imported - started, "read_s": time.perf_counter() - imported}),
          file=sys.stderr)
"""


def write_log(path: Path, seed: int = 0) -> int:
    rng = random.Random(seed)
    blocks = ["['src/train.py', '--dataset', 'book', '--model_type', 'ComiRec-DR']",
              "Please input the experiment name: training begin"]
    noise_per_block, extra = divmod(NOISE_LINES, EVALUATIONS)
    recall = 0.01
    for index in range(1, EVALUATIONS + 1):
        for _ in range(noise_per_block + (1 if index <= extra else 0)):
            blocks.append(rng.choice(NOISE))
        recall = min(recall + rng.uniform(-0.0005, 0.001), 0.09)
        loss = 8.0 - 2.0 * index / EVALUATIONS + rng.uniform(-0.05, 0.05)
        blocks.append(EXP)
        blocks.append(f"iter: {index * 1000}, train loss: {loss:.4f}, valid recall: {recall:.6f}, "
                      f"valid ndcg: {recall * 0.75:.6f}, valid hitrate: {recall * 2.1:.6f}")
        blocks.append(f"time interval: {index * 0.336:.4f} min")
    blocks += [f"model restored from best_model/{EXP}/",
               "valid recall: 0.081000, valid ndcg: 0.060000, valid hitrate: 0.170000, valid diversity: 0.220000",
               "test recall: 0.080000, test ndcg: 0.059000, test hitrate: 0.168000, test diversity: 0.221000"]
    path.write_text("\n".join(blocks) + "\n", encoding="utf-8")
    return len(blocks)


def time_children(modes: dict[str, Path], log: Path) -> dict[str, dict]:
    """Each mode RUNS times from a fresh process, interleaved (a noisy spell hits every mode alike)."""
    records: dict[str, dict] = {mode: {"walls": [], "inner": [], "tensorflow": False, "codes": [], "splits": []}
                                for mode in modes}
    failed: dict[str, str] = {}
    for _ in range(RUNS):
        for mode, out in modes.items():
            if mode in failed:
                continue
            record = records[mode]
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", CHILD, mode, str(log), str(out)], capture_output=True,
                                  text=True, timeout=600, check=False)
            record["walls"].append(time.perf_counter() - started)
            record["codes"].append(done.returncode)
            record["splits"].extend(json.loads(line[len("BENCH-SPLIT "):]) for line in done.stderr.splitlines()
                                    if line.startswith("BENCH-SPLIT "))
            report = [line for line in done.stderr.splitlines() if line.startswith("BENCH ")]
            if report:
                data = json.loads(report[-1][len("BENCH "):])
                record["inner"].append(data["inner_s"])
                record["tensorflow"] = record["tensorflow"] or data["tensorflow"]
            if done.returncode not in (0, 1):  # analyze exits 1 when it has findings
                tail = done.stderr.strip().splitlines()[-3:]
                failed[mode] = f"exit {done.returncode}: {' | '.join(tail)}"
    results: dict[str, dict] = {}
    for mode, record in records.items():
        if mode in failed:
            results[mode] = {"error": failed[mode], "codes": record["codes"]}
            continue
        result = {"median_s": round(statistics.median(record["walls"]), 3),
                  "walls_s": [round(w, 3) for w in record["walls"]],
                  "inner_median_s": round(statistics.median(record["inner"]), 3) if record["inner"] else None,
                  "tensorflow_imported": record["tensorflow"], "codes": record["codes"]}
        if record["splits"]:
            result["import_median_s"] = round(statistics.median(s["import_s"] for s in record["splits"]), 3)
            result["read_median_s"] = round(statistics.median(s["read_s"] for s in record["splits"]), 3)
        results[mode] = result
    return results


def time_reader_in_process(log: Path) -> float:
    from recdoc.diagnose.readers import original

    original.read(log)  # warm the imports and the page cache
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run = original.read(log)
        times.append(time.perf_counter() - started)
        assert run.curve.shape[0] == EVALUATIONS and run.stop_reason == "max_iter"
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="write the log and reports here instead of a temporary folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        root = Path(args.keep) if args.keep else Path(temp)
        root.mkdir(parents=True, exist_ok=True)
        log = root / "train.log"
        lines = write_log(log)
        print(f"log: {log} ({lines} lines, {log.stat().st_size / 1e6:.1f} MB)")
        reader_s = time_reader_in_process(log)
        print(f"reader (in process, warm): {reader_s:.3f} s  [target < {TARGET_READER_S} s: "
              f"{'ok' if reader_s < TARGET_READER_S else 'SLOW'}]")
        timed = time_children({"read": root / "out", "analyze": root / "report",
                               "analyze-plots-in-process": root / "report-in-process",
                               "analyze-no-plots": root / "report-no-plots"}, log)
        print(f"read_paths (fresh process): {json.dumps(timed['read'])}")
        analyze = timed["analyze"]
        if "error" in analyze:
            print(f"recdoc analyze: not measured ({analyze['error']})")
        else:
            verdict = "ok" if analyze["median_s"] <= TARGET_ANALYZE_S else "SLOW"
            print(f"recdoc analyze (fresh process): median {analyze['median_s']:.3f} s [target <= {TARGET_ANALYZE_S} s: "
                  f"{verdict}], tensorflow imported: {analyze['tensorflow_imported']}")
        for mode in ("analyze-plots-in-process", "analyze-no-plots"):
            print(f"recdoc {mode} (fresh process): {json.dumps(timed[mode])}")
        baseline = timed["analyze-plots-in-process"].get("median_s")
        if baseline and "median_s" in analyze:
            print(f"ratio with plots, chart helper / drawn in process (same run): {analyze['median_s'] / baseline:.2f}")
        if any(r.get("tensorflow_imported") for r in timed.values()):
            print("FAIL: TensorFlow was imported on the log-only path")
            sys.exit(1)


if __name__ == "__main__":
    main()
