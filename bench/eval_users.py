"""`--eval_users`: what it saves at Taobao scale, and whether early stopping still picks the same model.

Part 1, timing at Taobao scale (ComiRec-DR, 1,708,531-row table, batch 256, maxlen 50, one process): `--steps`
training steps (after a 10-step compile call) and one exact evaluation of `--eval_users` validation users (after
an untimed one that compiles the interest function), both timed in one child process. The synthetic set must hold at least that many validation users (`--users` before the
filter; 10% of the users are validation users). A full Taobao validation pass (97,700 users) is not run here: its
time is the measured users/s of the subset pass applied to 97,700 users (labelled an estimate; the per-user cost of
an exact search is flat once blocks are full). Printed: the wall time per `test_iter` 500 steps plus one
validation pass, before (all 97,700 users) and after (`--eval_users`), and the ratio.

Part 2, early stopping (`--study`): the real loop (`recdoc train`) twice on a smaller synthetic set, once
validating on everyone and once with `--eval_users`, same seed; printed: best iteration, stop iteration, final
(all-user) valid and test Recall@50 of each, and the relative test gap (target: within 2%). The subset's share
of the validation users is the issue's (10,000 of ~97,700, about 10%), so the subset holds fewer users than
10,000 and its curve is noisier than a 10,000-user subset's: a conservative check.

Run: `python bench/eval_users.py [--steps 500] [--eval_users 10000] [--users 100000] [--study] [--skip-timing]`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TAOBAO = {"item_count": 1_708_531, "batch_size": 256, "maxlen": 50}
TAOBAO_VALID_USERS = 97_700  # 976,779 users, 10% of them validation users (the original's 8:1:1 split)


def run_child(spec: dict[str, Any]) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from recdoc.config import RunConfig
    from recdoc.trainer.data.dataset import load_dataset
    from recdoc.trainer.data.sampling import TrainSampler
    from recdoc.trainer.evaluate import evaluate, subset_split
    from recdoc.trainer.loop import STEPS_PER_CALL
    from recdoc.trainer.models import build_model
    from recdoc.trainer.train import Trainer

    config = RunConfig.for_dataset(spec["dataset"], model_type="ComiRec-DR", batch_size=TAOBAO["batch_size"],
                                   maxlen=TAOBAO["maxlen"], item_count=TAOBAO["item_count"], learning_rate=0.001,
                                   data_dir=spec["data_dir"])
    dataset = load_dataset(spec["data_dir"], spec["dataset"], TAOBAO["item_count"])
    model = build_model(config, dataset.item_count)
    trainer = Trainer(model, config)
    sampler = TrainSampler(dataset.train, config.batch_size, config.maxlen, config.random_seed)
    trainer.train_steps([sampler.next_batch() for _ in range(STEPS_PER_CALL)])  # compile
    start = time.monotonic()
    done = 0
    while done < spec["steps"]:
        count = min(STEPS_PER_CALL, spec["steps"] - done)
        trainer.train_steps([sampler.next_batch() for _ in range(count)])
        done += count
    train_s = time.monotonic() - start
    subset = subset_split(dataset.valid, spec["eval_users"], config.random_seed)
    evaluate(model, subset, config)  # untimed: compiles the interest function for this pass's batch shapes
    start = time.monotonic()
    evaluate(model, subset, config)
    eval_s = time.monotonic() - start
    Path(spec["report"]).write_text(json.dumps({
        "steps": spec["steps"], "train_s": train_s, "eval_users": len(subset), "valid_users": len(dataset.valid),
        "eval_s": eval_s, "sparse_adam": trainer.optimizer.sparse_update_path}), encoding="utf-8")


def timing(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir)
    name = args.dataset
    from recdoc.trainer.data.dataset import split_file

    if not split_file(data_dir, name, "train").is_file():
        print(f"synthesising {TAOBAO['item_count']:,} items x {args.users:,} users ...", flush=True)
        subprocess.run([sys.executable, "-m", "recdoc", "data", "synth", "--name", name, "--items",
                        str(TAOBAO["item_count"]), "--users", str(args.users), "--data_dir", str(data_dir)],
                       check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory(prefix="recdoc_eval_users_") as scratch:
        spec = {"dataset": name, "data_dir": str(data_dir), "steps": args.steps, "eval_users": args.eval_users,
                "report": f"{scratch}/report.json"}
        load = os.getloadavg()[0]
        subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], check=True)
        report = json.loads(Path(spec["report"]).read_text())
    per_user = report["eval_s"] / report["eval_users"]
    full_s = per_user * TAOBAO_VALID_USERS
    train_500 = report["train_s"] * 500 / report["steps"]
    before, after = train_500 + full_s, train_500 + report["eval_s"] * args.eval_users / report["eval_users"]
    print(f"Taobao scale, one process, load average {load:.1f} at the start; item table's Adam: "
          f"{report['sparse_adam']}")
    print(f"  {report['steps']} steps: {report['train_s']:.1f} s ({report['steps'] / report['train_s']:.1f} "
          f"steps/s); 500 steps: {train_500:.1f} s" + (" (measured)" if report["steps"] == 500 else
                                                    f" (estimate: x 500/{report['steps']})"))
    print(f"  evaluation of {report['eval_users']:,} users (of {report['valid_users']:,}): "
          f"{report['eval_s']:.1f} s, {1 / per_user:.0f} users/s (measured)")
    if report["eval_users"] < args.eval_users:
        print(f"  the set holds fewer than {args.eval_users:,} validation users: a {args.eval_users:,}-user pass "
              f"is estimated at {per_user * args.eval_users:.1f} s ({args.eval_users:,} / {1 / per_user:.0f} users/s)")
    print(f"  a full Taobao validation pass, {TAOBAO_VALID_USERS:,} users: {full_s / 60:.1f} min (estimate: "
          f"{TAOBAO_VALID_USERS:,} / {1 / per_user:.0f} users/s; bench/README.md measured 14 min at 116 users/s)")
    print(f"  per 500 steps + one validation pass: {before / 60:.1f} min with every user, {after / 60:.1f} min with "
          f"--eval_users {args.eval_users:,}: {before / after:.1f}x lower (target >= 5x)")


def study(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir)
    name = f"evalusers_study{args.study_items}x{args.study_users}"
    from recdoc.trainer.data.dataset import dataset_folder, split_file
    from recdoc.trainer.log.records import RunRecord

    if not split_file(data_dir, name, "train").is_file():
        subprocess.run([sys.executable, "-m", "recdoc", "data", "synth", "--name", name, "--items",
                        str(args.study_items), "--users", str(args.study_users), "--data_dir", str(data_dir)],
                       check=True, stdout=subprocess.DEVNULL)
    stats = json.loads((dataset_folder(data_dir, name) / "stats.json").read_text())
    valid_users = int(stats["splits"]["valid"]["users"])
    subset = args.study_subset
    runs_dir = Path(tempfile.mkdtemp(prefix="recdoc_eval_users_runs_"))
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    common = ["--dataset", name, "--data_dir", str(data_dir), "--runs_dir", str(runs_dir), "--model_type",
              "ComiRec-DR", "--learning_rate", str(args.study_lr), "--batch_size", "128", "--maxlen", "20", "--test_iter",
              str(args.study_test_iter), "--patience", str(args.study_patience), "--max_iter",
              str(args.study_max_iter)]
    processes = {
        "every user": subprocess.Popen([sys.executable, "-m", "recdoc", "train", *common, "--exp", f"full-{stamp}"],
                                       stdout=subprocess.DEVNULL),
        f"--eval_users {subset}": subprocess.Popen([sys.executable, "-m", "recdoc", "train", *common, "--exp",
                                                    f"subset-{stamp}", "--eval_users", str(subset)],
                                                   stdout=subprocess.DEVNULL),
    }
    results = {}
    for label, process in processes.items():
        if process.wait() != 0:
            print(f"the run '{label}' failed", file=sys.stderr)
            return 1
    for label, exp in (("every user", f"full-{stamp}"), (f"--eval_users {subset}", f"subset-{stamp}")):
        folder = next(runs_dir.glob(f"*_{exp}"))
        record = RunRecord.load(folder / "run.json").data
        evals = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        results[label] = (record, evals)
    print(f"early-stopping study: synthetic {args.study_items:,} items x {args.study_users:,} users "
          f"({valid_users:,} validation users), ComiRec-DR lr {args.study_lr}, batch 128, test_iter "
          f"{args.study_test_iter}, patience {args.study_patience}; run folders in {runs_dir}")
    print("| validation during training | best iteration | stop | mean eval s | final valid R@50 | final test R@50 |")
    print("|---|---|---|---|---|---|")
    for label, (record, evals) in results.items():
        mean_eval = sum(e["eval_s"] for e in evals) / len(evals)
        print(f"| {label} | {record['best_iter']} | {record['iterations']} ({record['stop_reason']}) | "
              f"{mean_eval:.2f} | {record['final']['valid']['recall@50']:.4f} | "
              f"{record['final']['test']['recall@50']:.4f} |")
    (full, _), (sub, _) = results.values()
    gap = abs(sub["final"]["test"]["recall@50"] - full["final"]["test"]["recall@50"]) / full["final"]["test"][
        "recall@50"]
    same = sub["best_iter"] == full["best_iter"]
    print(f"same best iteration: {same}; test Recall@50 differs by {gap:.2%} (target within 2%)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--eval_users", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100_000, help="users before the filter (timing set)")
    parser.add_argument("--dataset", default="evalusers_taobao",
                        help="timing set name under --data_dir (made with --users when missing)")
    parser.add_argument("--data_dir", default=os.path.join(tempfile.gettempdir(), "recdoc_eval_users"))
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--study", action="store_true", help="also run the early-stopping study")
    parser.add_argument("--study_items", type=int, default=5_000)
    parser.add_argument("--study_users", type=int, default=60_000)
    parser.add_argument("--study_subset", type=int, default=600)
    parser.add_argument("--study_lr", type=float, default=0.01)
    parser.add_argument("--study_test_iter", type=int, default=100)
    parser.add_argument("--study_patience", type=int, default=3)
    parser.add_argument("--study_max_iter", type=int, default=6)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(json.loads(args.child))
        return 0
    if min(args.steps, args.eval_users, args.users) < 1:
        print("--steps, --eval_users and --users must be positive", file=sys.stderr)
        return 2
    if not args.skip_timing:
        timing(args)
    return study(args) if args.study else 0


if __name__ == "__main__":
    sys.exit(main())
