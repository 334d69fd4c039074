"""Benchmark of `recdoc tune`: does starting from the diagnosis find a good configuration in fewer trials, and does
the seed-noise verdict avoid false winners?

Task: synthetic multi-interest data from `recdoc data synth` (and MovieLens-100K with `--datasets syn,ml100k`), a
starting ComiRec-DR run with three faults (the incident's learning rate 0.001, patience 1, neg_num 1), every run at
the same budget (`--max_iter` thousand iterations, an evaluation every `--test_iter`).

1. Sensitivity check: the start and each single repair (learning rate, neg_num, patience) on `--seeds` seeds: does
   each setting move validation recall by more than the seed noise on this task? (printed; the README records it).
2. Methods, at the same trial budget (`--trials`), each over `--tuner_seeds` seeds of the sampler:
   - `doctor`: recdoc tune's study: the space from the diagnosis, the corrected run enqueued first, the start
     second, then TPE;
   - `tpe`: plain Optuna TPE over the full space with generic ranges (`GENERIC_SPACE`: learning rate, patience,
     batch, neg_num, K, maxlen), nothing enqueued;
   - `random`: Optuna's random sampler over the same full space;
   - `rerun`: one `recdoc rerun --apply-fixes` (the corrected configuration; one trial).
   Optuna searches; the bench only records. No pruner here: pruning saves time, not trials, and the bench counts
   trials. Trials are recdoc runs; a configuration already trained at a seed is read back, not trained again
   (training is deterministic for a configuration and a seed), so methods that propose the same setting share it.
3. Per method: trials needed to reach within 2% of the best validation recall any method found; the final test
   recall of its pick, as the mean over `--seeds` fresh seeds (the search's own run is a maximum of noisy draws);
   its spread over tuner seeds; the verdict of `recdoc tune` (Welch 95% interval, pick vs start, fresh seeds);
   naive claims (the pick's single search run beat the start's single run, as a plain search reports) that the
   verdict finds inside the seed noise; and false winners: verdicts declaring the pick better that
   `--check_seeds` further seeds contradict (mean difference <= 0).

`--quick` (what fits a shared 2-core machine in about 15 minutes): 3 tuner seeds instead of 5, 4 trials instead of
12, 2 seeds instead of 3, 2 check seeds instead of 5, synthetic data only. Its figures are labelled quick in the
README. A full run (`python bench/tune.py`): about 5 x 3 x 12 searches plus repeats, several hours on 2 cores.
Everything is written under `--work` (a temporary folder unless given); `--work` with an earlier folder reuses its
runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recdoc.config import RunConfig  # noqa: E402
from recdoc.files import rewrite_file, write_file  # noqa: E402
from recdoc.tune import study as studies  # noqa: E402
from recdoc.tune.objective import read_run, trial_config  # noqa: E402
from recdoc.tune.seeds import Arm, judge, pooled_sd  # noqa: E402
from recdoc.tune.tuner import TuneRequest, starting_point  # noqa: E402

WITHIN = 0.02
TINY = dict(batch_size=32, embedding_dim=16, hidden_size=16, maxlen=10)
FAULTS = dict(learning_rate=0.001, patience=1, neg_num=1)
METHODS = ("doctor", "tpe", "random", "rerun")
# What a user without the doctor searches: generic ranges, the same for plain TPE and random search.
GENERIC_SPACE = ("learning_rate=0.0001:0.05,patience=1:20,batch_size=8:256,neg_num=1:20,num_interest=2:8,"
                 "maxlen=5:40")


class Runs:
    """Trains a configuration at a seed once; reads the result back afterwards (cache.json in the work folder)."""

    def __init__(self, work: Path, base: RunConfig) -> None:
        self.work, self.base = work, base
        self.path = work / "cache.json"
        self.cache: dict[str, Any] = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.trained = 0

    def run(self, params: dict[str, Any], seed: int) -> dict[str, Any]:
        key = json.dumps([sorted(params.items()), seed, self.base.dataset])
        if key not in self.cache:
            from recdoc.trainer.loop import train

            number = len(self.cache)
            while True:  # a folder left by a killed bench is never reused: the next free name
                config = trial_config(self.base, params, f"b{number:04d}", self.work / "runs", seed=seed)
                if not (Path(config.runs_dir) / config.exp_name).exists():
                    break
                number += 1
            started = time.monotonic()
            folder = train(config)
            outcome = read_run(folder, _metric_key(config))
            outcome.pop("curve")
            outcome["seconds"] = time.monotonic() - started
            self.cache[key] = outcome
            self.trained += 1
            rewrite_file(self.path, json.dumps(self.cache))  # the bench's state, rewritten as runs finish
        return self.cache[key]


def _metric_key(config: RunConfig) -> str:
    from recdoc.trainer.log.lines import early_stop_key

    return early_stop_key(config)


def prepare(dataset: str, work: Path, args: argparse.Namespace) -> Path:
    """The data and the faulty starting run; returns the run folder."""
    from recdoc.trainer.loop import train

    data_dir = work / "data"
    if not (data_dir / f"{dataset}_data").is_dir():
        if dataset == "ml100k":
            from recdoc.trainer.data.prepare import prepare_dataset

            prepare_dataset(source="ml-100k", input_path=None, meta_path=None, name="ml100k", data_dir=str(data_dir))
        else:
            from recdoc.trainer.data.synth import synthesize

            synthesize(dataset, items=args.items, users=args.users, interests=4, seed=0, data_dir=str(data_dir))
    shape = TINY if dataset != "ml100k" else {}
    config = RunConfig.for_dataset(dataset, model_type="ComiRec-DR", data_dir=str(data_dir),
                                   runs_dir=str(work / "start"), max_iter=args.max_iter, test_iter=args.test_iter,
                                   exp="faulty", **shape, **FAULTS)
    folder = Path(config.runs_dir) / config.exp_name
    if not (folder / "run.json").is_file():
        train(config)
    return folder


def make_study(method: str, tuner_seed: int, trials: int, enqueue: list) -> Any:
    import optuna

    sampler = studies.make_sampler(SimpleNamespace(sampler="random" if method == "random" else "tpe",
                                                   tuner_seed=tuner_seed, trials=trials))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    if method == "doctor":
        for params, attrs in enqueue:
            study.enqueue_trial(params, user_attrs=attrs)
    return study


def search(method: str, tuner_seed: int, args: argparse.Namespace, plans: dict, runs: Runs, seed0: int
           ) -> list[dict[str, Any]]:
    """One study; returns its trials in order: params, validation value, the run's final test recall."""
    import optuna

    _, _, space, enqueue, _ = plans[method]
    study = make_study(method, tuner_seed, args.trials, enqueue)

    def objective(trial: Any) -> float:
        params = space.suggest(trial)
        outcome = runs.run(params, seed0)
        trial.set_user_attr("final_test", outcome["final_test"])
        return float(outcome["best_metric"] or 0.0)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=args.trials)
    return [{"params": dict(t.params), "value": t.value, "final_test": t.user_attrs.get("final_test")}
            for t in study.trials if t.value is not None]


def arm(runs: Runs, params: dict[str, Any], seeds: list[int], key: str = "final_test") -> Arm:
    return Arm("x", tuple(float(runs.run(params, s)[key] or 0.0) for s in seeds), tuple(seeds))


def bench_dataset(dataset: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    start_run = prepare(dataset, work, args)
    def say(line: str) -> None:
        print(f"[bench] {line}", flush=True)

    plans = {}
    for method in ("doctor", "tpe"):
        request = TuneRequest(run=[str(start_run)], max_iter=args.max_iter, test_iter=args.test_iter,
                              doctor=method == "doctor", space=None if method == "doctor" else GENERIC_SPACE)
        plans[method] = starting_point(request, work, say)
    plans["random"] = plans["tpe"]
    base, start, doctor_space, enqueue, source = plans["doctor"]
    runs = Runs(work, replace(base, runs_dir=str(work / "runs")))
    seed0 = start.random_seed
    seeds = [seed0 + 1 + i for i in range(args.seeds)]
    check = [seed0 + 1 + args.seeds + i for i in range(args.check_seeds)]
    start_params = {**source["start_params"], **{k: getattr(start, k) for k in FAULTS}}
    fix_params = {**start_params, **(source["fix_params"] or {})}
    full_names = plans["tpe"][2].names
    # Every method's params cover the full space: settings a method does not search take the base's values.
    def full(params: dict[str, Any], base_config: RunConfig) -> dict[str, Any]:
        return {**{n: getattr(base_config, n) for n in full_names}, **params}

    # 1. Sensitivity: does each repaired setting move validation recall by more than the seed noise?
    sensitivity = []
    start_valid = arm(runs, full(start_params, start), seeds, "best_metric")
    for name, value in (("learning_rate", fix_params.get("learning_rate", 0.005)), ("neg_num", 10),
                        ("patience", 10)):
        variant = arm(runs, full({**start_params, name: value}, start), seeds, "best_metric")
        effect = variant.mean - start_valid.mean
        sd = pooled_sd([start_valid, variant])
        sensitivity.append({"setting": name, "from": start_params.get(name), "to": value, "effect": effect,
                            "seed_sd": sd, "beyond_2sd": abs(effect) > 2 * sd})
        print(f"[bench] sensitivity {name}: {effect:+.4f} (seed sd {sd:.4f})", flush=True)

    # 2. The methods.
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
    for tuner_seed in range(args.tuner_seeds):
        for method in ("doctor", "tpe", "random"):
            space_base = base if method == "doctor" else start
            trials = search(method, tuner_seed, args, {**plans, "doctor": plans["doctor"]}, _Proxy(runs, full,
                                                                                                     space_base), seed0)
            results[method].append({"tuner_seed": tuner_seed, "trials": trials})
            print(f"[bench] {dataset} {method} tuner seed {tuner_seed}: values "
                  + ", ".join(f"{t['value']:.4f}" for t in trials) + f" ({runs.trained} runs trained so far)",
                  flush=True)
        results["rerun"].append({"tuner_seed": tuner_seed, "trials": [
            {"params": fix_params, "value": runs.run(full(fix_params, base), seed0)["best_metric"],
             "final_test": runs.run(full(fix_params, base), seed0)["final_test"]}]})
    best_any = max(t["value"] for m in METHODS for r in results[m] for t in r["trials"])

    # 3. Per method: trials to reach, picks on fresh seeds, verdicts, false winners.
    start_full = full(start_params, start)
    start_arm = arm(runs, start_full, seeds)
    start_single = runs.run(start_full, seed0)["best_metric"]
    table = []
    for method in METHODS:
        reach, pick_tests, declared, naive_inside, false_winners = [], [], 0, 0, 0
        for result in results[method]:
            values = [t["value"] for t in result["trials"]]
            running = [max(values[: i + 1]) for i in range(len(values))]
            reached = next((i + 1 for i, v in enumerate(running) if v >= (1 - WITHIN) * best_any), None)
            reach.append(reached)
            pick = max(result["trials"], key=lambda t: t["value"])
            pick_params = full(pick["params"], base if method in ("doctor", "rerun") else start)
            pick_arm = arm(runs, pick_params, seeds)
            pick_tests.append(pick_arm.mean)
            verdict = judge(Arm("tuned", pick_arm.values, pick_arm.seeds), Arm("start", start_arm.values,
                                                                               start_arm.seeds), "test recall")
            if pick["value"] > start_single and verdict.winner != "best":
                naive_inside += 1
            if verdict.winner == "best":
                declared += 1
                confirm = arm(runs, pick_params, check).mean - arm(runs, start_full, check).mean
                false_winners += confirm <= 0
            result.update(pick=pick_params, pick_test=pick_arm.values, verdict=verdict.to_dict())
        table.append({"method": method, "reach": reach, "pick_test_mean": statistics.fmean(pick_tests),
                      "pick_test_sd": statistics.stdev(pick_tests) if len(pick_tests) > 1 else math.nan,
                      "declared": declared, "naive_inside_noise": naive_inside, "false_winners": false_winners,
                      "studies": len(results[method])})
    return {"dataset": dataset, "start_run": str(start_run), "best_any": best_any, "sensitivity": sensitivity,
            "start_test": {"mean": start_arm.mean, "sd": start_arm.sd}, "table": table, "results": results,
            "trained": runs.trained, "doctor_space": doctor_space.to_dict()}


class _Proxy:
    """The cache seen through one method's space: missing settings take that method's base values."""

    def __init__(self, runs: Runs, full: Any, base: RunConfig) -> None:
        self.runs, self.full, self.base = runs, full, base

    def run(self, params: dict[str, Any], seed: int) -> dict[str, Any]:
        return self.runs.run(self.full(params, self.base), seed)


def render(summary: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [f"## {summary['dataset']}{' (--quick)' if args.quick else ''}: {args.tuner_seeds} tuner seeds, "
             f"{args.trials} trials, {args.seeds} fresh seeds per pick, {args.check_seeds} check seeds", "",
             f"Best validation recall found by any method: {summary['best_any']:.4f}; the start's test recall "
             f"{summary['start_test']['mean']:.4f} ± {summary['start_test']['sd']:.4f} over {args.seeds} seeds.", "",
             "Sensitivity (validation recall, one repair at a time, mean over seeds):", ""]
    for row in summary["sensitivity"]:
        lines.append(f"- {row['setting']} {row['from']} -> {row['to']}: {row['effect']:+.4f} (seed sd "
                     f"{row['seed_sd']:.4f}; {'beyond' if row['beyond_2sd'] else 'inside'} 2 sd)")
    lines += ["", "| method | trials to reach 98% of best (per tuner seed) | pick's test recall, mean ± sd over "
              "tuner seeds | winners declared | naive claims inside noise | false winners |",
              "|---|---|---|---|---|---|"]
    for row in summary["table"]:
        reach = ", ".join(str(r) if r is not None else f">{args.trials if row['method'] != 'rerun' else 1}"
                          for r in row["reach"])
        lines.append(f"| {row['method']} | {reach} | {row['pick_test_mean']:.4f} ± "
                     f"{row['pick_test_sd']:.4f} | {row['declared']}/{row['studies']} | "
                     f"{row['naive_inside_noise']}/{row['studies']} | {row['false_winners']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 tuner seeds, 4 trials, 2 seeds, synthetic only")
    parser.add_argument("--datasets", default=None, help="comma-separated: syn, ml100k (default: both; quick: syn)")
    parser.add_argument("--tuner_seeds", type=int, default=None)
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--check_seeds", type=int, default=None)
    parser.add_argument("--max_iter", type=int, default=1)
    parser.add_argument("--test_iter", type=int, default=100)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    quick = dict(tuner_seeds=3, trials=4, seeds=2, check_seeds=2, datasets="syn")
    full = dict(tuner_seeds=5, trials=12, seeds=3, check_seeds=5, datasets="syn,ml100k")
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="recdoc-bench-tune-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    out = []
    for dataset in args.datasets.split(","):
        summary = bench_dataset(dataset, work / dataset, args)
        out.append(summary)
        print(render(summary, args), flush=True)
        print(f"({summary['trained']} runs trained for {dataset}; work folder {work / dataset})\n", flush=True)
    write_file(work / "summary.json", json.dumps(out, indent=1, default=str), replace=True)
    print(f"bench/tune.py finished in {time.monotonic() - started:.0f} s; summary in {work / 'summary.json'}")


if __name__ == "__main__":
    main()
