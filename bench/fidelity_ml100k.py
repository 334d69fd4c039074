"""Fidelity on real data: ComiRec-DR on MovieLens-100K over several seeds, test metrics as mean and spread.

Each seed trains in its own `recdoc train` child process (a fresh TensorFlow, as a user would run it) into a new
run folder `<runs_dir>/ml100k_ComiRec-DR_..._fidelity-s<seed>-<UTC stamp>` (never an existing one); the bench then
reads each run's `run.json` and prints a Markdown table of test Recall@50, NDCG@50 (paper, master and standard),
HitRate@50 (mean and sample standard deviation over seeds), and per seed the best iteration, the stop reason and
the wall time. The data is prepared with `recdoc data prepare --source ml-100k` when `<data_dir>/ml100k_data/`
is missing.

Settings: batch 128, maxlen 20, d 64, K 4, neg_num 10, lr 0.005, test_iter 200, patience 20, max_iter 20 (20,000
iterations). `--quick` is a smoke check: one seed, at most 1,000 iterations, patience 1.

Run: `python bench/fidelity_ml100k.py [--seeds 19,20,21] [--data_dir data] [--runs_dir runs/fidelity] [--quick]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

DATASET = "ml100k"
MODEL = "ComiRec-DR"
CUTOFF = 50
# (label in the table, key in run.json's final.test)
METRICS: tuple[tuple[str, str], ...] = (
    (f"Recall@{CUTOFF}", f"recall@{CUTOFF}"),
    (f"NDCG@{CUTOFF} (paper)", f"ndcg_paper@{CUTOFF}"),
    (f"NDCG@{CUTOFF} (master)", f"ndcg_master@{CUTOFF}"),
    (f"NDCG@{CUTOFF} (standard)", f"ndcg_standard@{CUTOFF}"),
    (f"HitRate@{CUTOFF}", f"hitrate@{CUTOFF}"),
)


@dataclass(frozen=True)
class Settings:
    batch_size: int = 128
    maxlen: int = 20
    embedding_dim: int = 64
    num_interest: int = 4
    neg_num: int = 10
    learning_rate: float = 0.005
    test_iter: int = 200
    patience: int = 20
    max_iter: int = 20  # thousands of iterations, as the original's flag

    def train_flags(self) -> list[str]:
        return ["--batch_size", str(self.batch_size), "--maxlen", str(self.maxlen),
                "--embedding_dim", str(self.embedding_dim), "--hidden_size", str(self.embedding_dim),
                "--num_interest", str(self.num_interest), "--neg_num", str(self.neg_num),
                "--learning_rate", str(self.learning_rate), "--test_iter", str(self.test_iter),
                "--patience", str(self.patience), "--max_iter", str(self.max_iter)]

    def describe(self) -> str:
        return (f"batch {self.batch_size}, maxlen {self.maxlen}, d {self.embedding_dim}, K {self.num_interest}, "
                f"neg_num {self.neg_num}, lr {self.learning_rate}, test_iter {self.test_iter}, "
                f"patience {self.patience}, at most {self.max_iter * 1000:,} iterations")


FULL = Settings()
# max_iter counts thousands, so the smallest cap is 1,000 iterations; patience 1 usually stops it sooner.
QUICK = Settings(patience=1, max_iter=1)


@dataclass(frozen=True)
class SeedResult:
    seed: int
    run_dir: Path
    test: dict[str, float]
    best_iter: int | None
    iterations: int | None
    stop_reason: str
    wall_s: float


def read_seed_result(seed: int, run_dir: Path, wall_s: float) -> SeedResult:
    """The test metrics and stopping facts of one finished run, from its run.json."""
    from recdoc.trainer.log.records import RunRecord

    record: dict[str, Any] = RunRecord.load(run_dir / "run.json").data
    test = record.get("final", {}).get("test")
    if not test:
        raise RuntimeError(f"{run_dir / 'run.json'} has no final test metrics (stop reason "
                           f"{record.get('stop_reason')!r})")
    return SeedResult(seed=seed, run_dir=run_dir, test={k: float(v) for k, v in test.items()},
                      best_iter=record.get("best_iter"), iterations=record.get("iterations"),
                      stop_reason=str(record.get("stop_reason")), wall_s=wall_s)


def mean_and_sd(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (n - 1); no deviation from a single value."""
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else None)


def markdown_table(results: list[SeedResult]) -> str:
    """Metrics as rows: mean ± sd over seeds, then each seed's value; then one row per seed of stopping facts."""
    seeds = [r.seed for r in results]
    header = "| Test metric | mean ± sd | " + " | ".join(f"seed {s}" for s in seeds) + " |"
    lines = [header, "|" + "---|" * (2 + len(seeds))]
    for label, key in METRICS:
        values = [r.test[key] for r in results]
        mean, sd = mean_and_sd(values)
        spread = f"{mean:.4f} ± {sd:.4f}" if sd is not None else f"{mean:.4f}"
        lines.append(f"| {label} | {spread} | " + " | ".join(f"{v:.4f}" for v in values) + " |")
    lines += ["", "| Seed | best iteration | iterations run | stop reason | wall time |", "|---|---|---|---|---|"]
    for r in results:
        best = f"{r.best_iter:,}" if r.best_iter else "none"
        ran = f"{r.iterations:,}" if r.iterations is not None else "?"
        lines.append(f"| {r.seed} | {best} | {ran} | {r.stop_reason} | {r.wall_s / 60:.1f} min |")
    return "\n".join(lines)


def ensure_prepared(data_dir: Path) -> None:
    from recdoc.trainer.data.dataset import split_file

    if split_file(data_dir, DATASET, "train").is_file():
        return
    print(f"preparing MovieLens-100K into {data_dir}/{DATASET}_data/ ...", flush=True)
    subprocess.run([sys.executable, "-m", "recdoc", "data", "prepare", "--source", "ml-100k",
                    "--data_dir", str(data_dir)], check=True)


def train_seed(seed: int, settings: Settings, data_dir: Path, runs_dir: Path, stamp: str) -> SeedResult:
    exp = f"fidelity-s{seed}-{stamp}"
    command = [sys.executable, "-m", "recdoc", "train", "--dataset", DATASET, "--model_type", MODEL,
               "--random_seed", str(seed), *settings.train_flags(), "--exp", exp,
               "--data_dir", str(data_dir), "--runs_dir", str(runs_dir)]
    runs_dir.mkdir(parents=True, exist_ok=True)
    console_log = runs_dir / f"{exp}.console.txt"
    start = time.monotonic()
    with console_log.open("w", encoding="utf-8") as sink:
        code = subprocess.call(command, stdout=sink, stderr=subprocess.STDOUT)
    wall_s = time.monotonic() - start
    if code != 0:
        tail = console_log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        raise RuntimeError(f"seed {seed}: `recdoc train` exited with {code}; last lines of {console_log}:\n"
                           + "\n".join(tail))
    matches = sorted(runs_dir.glob(f"{DATASET}_{MODEL}_*_{exp}"))
    if len(matches) != 1:
        raise RuntimeError(f"seed {seed}: expected one run folder ending in {exp} under {runs_dir}, "
                           f"found {len(matches)}")
    return read_seed_result(seed, matches[0], wall_s)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default=None, help="comma-separated (default 19,20,21; --quick: 19)")
    parser.add_argument("--data_dir", default="data", help="folder holding ml100k_data/ (prepared if missing)")
    parser.add_argument("--runs_dir", default="runs/fidelity", help="new run folders go here")
    parser.add_argument("--quick", action="store_true", help="smoke check: one seed, at most 1,000 iterations")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    seeds_text = args.seeds or ("19" if args.quick else "19,20,21")
    try:
        seeds = [int(s) for s in seeds_text.split(",") if s.strip()]
    except ValueError:
        print(f"--seeds must be comma-separated integers, got {seeds_text!r}", file=sys.stderr)
        return 2
    settings = QUICK if args.quick else FULL
    data_dir, runs_dir = Path(args.data_dir), Path(args.runs_dir)
    ensure_prepared(data_dir)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    print(f"{MODEL} on MovieLens-100K, seeds {', '.join(map(str, seeds))}: {settings.describe()}", flush=True)
    results: list[SeedResult] = []
    bench_start = time.monotonic()
    for seed in seeds:
        try:
            result = train_seed(seed, settings, data_dir, runs_dir, stamp)
        except RuntimeError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print(f"seed {seed}: test recall@{CUTOFF} {result.test[f'recall@{CUTOFF}']:.4f}, best iteration "
              f"{result.best_iter}, {result.stop_reason}, {result.wall_s / 60:.1f} min -> {result.run_dir}",
              flush=True)
        results.append(result)
    print()
    print(markdown_table(results))
    print()
    print(f"wall time {(time.monotonic() - bench_start) / 60:.1f} min for {len(seeds)} seed(s), one after another; "
          f"sd is the sample standard deviation over seeds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
