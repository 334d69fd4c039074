"""Wall time of `recdoc tune` on the demo's task, one process against `--jobs N`, back to back in one call (the
machine's load drifts; compare the two figures of one call, never figures of different calls).

The task is what the README promises a minute or two for: `recdoc tune RUN --trials 4 --seeds 2 --max_iter 1` from
`make demo`'s faulty ComiRec-DR run on MovieLens-100K (RUN defaults to the newest `runs/*_demo<N>` folder; run
`make demo` first), the sampler seeded (`--seed`). Each study goes to a fresh temporary folder. Prints, per setting:
wall seconds, CPU seconds of the processes (the command and its workers), the runs and training iterations done
(proposals differ between the settings: with two processes TPE proposes before every result is in, and patience
ends runs at different points), the verdict line; then the ratio of wall times and of iterations per second.

    python bench/tune_jobs.py [--run RUN] [--jobs 2] [--trials 4] [--seeds 2] [--max_iter 1] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def newest_demo_run() -> Path:
    runs = [p for p in (ROOT / "runs").glob("*_demo*") if re.search(r"_demo\d+$", p.name)]
    if not runs:
        sys.exit("bench/tune_jobs.py: no demo run under runs/ (run `make demo` first, or pass --run)")
    return max(runs, key=lambda p: p.stat().st_mtime)


def timed_tune(run: Path, jobs: int, args: argparse.Namespace, out: Path) -> dict[str, object]:
    command = [sys.executable, "-m", "recdoc", "tune", str(run), "--trials", str(args.trials), "--seeds",
               str(args.seeds), "--max_iter", str(args.max_iter), "--out", str(out), "--jobs", str(jobs),
               "--seed", str(args.seed)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"bench/tune_jobs.py: `{' '.join(command)}` exited with {result.returncode}:\n"
                 f"{(result.stdout + result.stderr)[-2000:]}")
    verdict = next((line for line in result.stdout.splitlines() if "seed noise" in line and "95%" in line), "?")
    records = [json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*/runs/*/run.json")]
    iterations = sum(int(r.get("iterations") or 0) for r in records)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"jobs": jobs, "wall": wall, "cpu": cpu, "runs": len(records), "iterations": iterations,
            "verdict": verdict}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=None)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--max_iter", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="the sampler's seed")
    args = parser.parse_args()
    run = args.run or newest_demo_run()
    print(f"task: recdoc tune {run} --trials {args.trials} --seeds {args.seeds} --max_iter {args.max_iter}; "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="recdoc-tune-jobs-") as work:
        for jobs in (1, args.jobs):
            row = timed_tune(run, jobs, args, Path(work) / f"jobs{jobs}")
            rows.append(row)
            print(f"--jobs {jobs}: {row['wall']:.1f} s wall, {row['cpu']:.1f} s CPU, {row['runs']} runs of "
                  f"{row['iterations']:,} iterations in all; {row['verdict']}", flush=True)
    one, many = rows
    speed = (many["iterations"] / many["wall"]) / (one["iterations"] / one["wall"])
    print(f"load average at the end {os.getloadavg()[0]:.2f} (the command's own processes count in it); "
          f"--jobs {args.jobs} against --jobs 1: wall time x{many['wall'] / one['wall']:.2f}, iterations per "
          f"second x{speed:.2f}")


if __name__ == "__main__":
    main()
