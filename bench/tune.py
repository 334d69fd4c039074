"""Benchmark of `recdoc tune`: does starting from the diagnosis find a good configuration in fewer trials, and does
the seed-noise verdict avoid false winners?

Task: synthetic multi-interest data from `recdoc data synth` (and MovieLens-100K with `--datasets syn,ml100k`), a
starting ComiRec-DR run with three faults (the incident's learning rate 0.001, patience 1, neg_num 1), every run at
the same budget (`--max_iter` thousand iterations, an evaluation every `--test_iter`).

1. Sensitivity check (`--sensitivity_only` stops after it), on `--seeds` seeds: does each fault move validation
   recall by more than 2 seed sd on this task? Two views, since a fault may matter only once another is repaired:
   each repair alone from the start, and each fault put back alone into the start with every fault repaired.
   Printed with every run's best validation recall, iterations and whether patience stopped it (the README
   records it). `--faults` picks the start's faults, for a task where one of them cannot matter.
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
from dataclasses import dataclass, replace
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
# The repair the sensitivity check tries for a fault the doctor's fix leaves as it was (0.005: the README's DR rate).
REPAIRS = dict(learning_rate=0.005, patience=10, neg_num=10)
METHODS = ("doctor", "tpe", "random", "rerun")
METHOD_LABELS = dict(doctor="doctor-seeded tune", tpe="plain TPE", random="random search", rerun="one rerun")
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
        # The budget is in the key: a work folder reused with another --max_iter or --test_iter trains afresh.
        key = json.dumps([sorted(params.items()), seed, self.base.dataset, self.base.max_iter, self.base.test_iter])
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

            synthesize(dataset, items=args.items, users=args.users, interests=args.interests, seed=0,
                       data_dir=str(data_dir))
    shape = TINY if dataset != "ml100k" else {}
    config = RunConfig.for_dataset(dataset, model_type="ComiRec-DR", data_dir=str(data_dir),
                                   runs_dir=str(work / "start"), max_iter=args.max_iter, test_iter=args.test_iter,
                                   exp=_start_name(args), **shape,
                                   **{k: FAULTS[k] for k in args.faults})
    folder = Path(config.runs_dir) / config.exp_name
    if not (folder / "run.json").is_file():
        train(config)
    return folder


def _start_name(args: argparse.Namespace) -> str:
    """The start's folder name carries its faults and budget: a work folder reused with others trains a new start."""
    return f"faulty_{'_'.join(sorted(args.faults))}_m{args.max_iter}_t{args.test_iter}"


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


@dataclass
class Setup:
    """What every step of one dataset's bench shares: the cache, the start, its repair and the seeds."""

    dataset: str
    runs: Runs
    plans: dict[str, Any]
    base: RunConfig  # the doctor's base (the fix's fixed settings)
    start: RunConfig  # the faulty start as a config
    start_params: dict[str, Any]
    fix_params: dict[str, Any]
    seed0: int  # the searches' seed
    seeds: list[int]  # fresh seeds for repeats
    check: list[int]  # further seeds that confirm or contradict a declared winner

    def full(self, params: dict[str, Any], base_config: RunConfig) -> dict[str, Any]:
        """Every method's params cover the full space: settings a method does not search take the base's values."""
        return {**{n: getattr(base_config, n) for n in self.plans["tpe"][2].names}, **params}


def plan(dataset: str, work: Path, args: argparse.Namespace) -> Setup:
    """The faulty start, the doctor's plan and the generic one, and the seeds every step uses."""
    start_run = prepare(dataset, work, args)

    def say(line: str) -> None:
        print(f"[bench] {line}", flush=True)

    plans = {}
    for method in ("doctor", "tpe"):
        request = TuneRequest(run=[str(start_run)], max_iter=args.max_iter, test_iter=args.test_iter,
                              doctor=method == "doctor", space=None if method == "doctor" else GENERIC_SPACE)
        plans[method] = starting_point(request, work, say)
    plans["random"] = plans["tpe"]
    base, start, _, _, source = plans["doctor"]
    start_params = {**source["start_params"], **{k: getattr(start, k) for k in args.faults}}
    seed0 = start.random_seed
    return Setup(dataset=dataset, runs=Runs(work, replace(base, runs_dir=str(work / "runs"))), plans=plans,
                 base=base, start=start, start_params=start_params,
                 fix_params={**start_params, **(source["fix_params"] or {})}, seed0=seed0,
                 seeds=[seed0 + 1 + i for i in range(args.seeds)],
                 check=[seed0 + 1 + args.seeds + i for i in range(args.check_seeds)])


def sensitivity(setup: Setup, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Does each fault cost validation recall (mean over seeds) by more than 2 seed sd?

    Two views, since a fault can matter only once another is repaired (patience 1 cannot stop a run whose
    learning rate is too low to plateau): each repair alone from the start, and each fault put back alone into
    the start with every fault repaired (the doctor's fix, plus `REPAIRS` for the faults it left as they were).
    """
    runs, seeds = setup.runs, setup.seeds
    repaired = {name: _repair(setup, name) for name in args.faults}
    all_repaired = {**setup.fix_params, **repaired}
    rows = []
    for view, reference, reference_base in (("repair alone", setup.start_params, setup.start),
                                            ("fault put back", all_repaired, setup.base)):
        reference_params = setup.full(reference, reference_base)
        reference_arm = arm(runs, reference_params, seeds, "best_metric")
        print(f"[bench] sensitivity {view}, reference: {_arm_line(runs, reference_params, seeds)}", flush=True)
        for name in args.faults:
            flipped = repaired[name] if view == "repair alone" else setup.start_params[name]
            variant_params = setup.full({**reference, name: flipped}, reference_base)
            variant = arm(runs, variant_params, seeds, "best_metric")
            # Signed as the repair's gain in both views: repaired minus faulty.
            gain = (variant.mean - reference_arm.mean) * (1 if view == "repair alone" else -1)
            sd = pooled_sd([reference_arm, variant])
            rows.append({"view": view, "setting": name, "from": setup.start_params[name], "to": repaired[name],
                         "effect": gain, "seed_sd": sd, "beyond_2sd": abs(gain) > 2 * sd})
            print(f"[bench] sensitivity {view} {name}: repair's gain {gain:+.4f} (seed sd {sd:.4f}) | "
                  f"{_arm_line(runs, variant_params, seeds)}", flush=True)
    return rows


def _repair(setup: Setup, name: str) -> Any:
    """The repaired value of a fault: the doctor's where its fix changes the setting, else `REPAIRS`'."""
    fixed = setup.fix_params.get(name)
    return fixed if fixed != setup.start_params[name] else REPAIRS[name]


def _arm_line(runs: Runs, params: dict[str, Any], seeds: list[int]) -> str:
    """Per seed: best validation recall, iterations run, whether patience stopped it, seconds to train."""
    outcomes = [runs.run(params, s) for s in seeds]
    return "; ".join(f"{o['best_metric'] or 0.0:.4f} at {o['iterations']} it"
                     f"{' (stopped early)' if o['stop_reason'] == 'early_stop' else ''} {o['seconds']:.0f} s"
                     for o in outcomes)


def run_searches(setup: Setup, args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """Every method's study at every tuner seed, and the one rerun of the fix (the same run for every seed)."""
    runs = setup.runs
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
    for tuner_seed in range(args.tuner_seeds):
        for method in ("doctor", "tpe", "random"):
            space_base = setup.base if method == "doctor" else setup.start
            trials = search(method, tuner_seed, args, setup.plans, _Proxy(runs, setup.full, space_base),
                            setup.seed0)
            results[method].append({"tuner_seed": tuner_seed, "trials": trials})
            print(f"[bench] {setup.dataset} {method} tuner seed {tuner_seed}: values "
                  + ", ".join(f"{t['value']:.4f}" for t in trials) + f" ({runs.trained} runs trained so far)",
                  flush=True)
        rerun = runs.run(setup.full(setup.fix_params, setup.base), setup.seed0)
        results["rerun"].append({"tuner_seed": tuner_seed, "trials": [
            {"params": setup.fix_params, "value": rerun["best_metric"], "final_test": rerun["final_test"]}]})
    return results


def trials_to_reach(values: list[float], target: float) -> int | None:
    """The number of trials after which the study's best reached `target`; None if it never did."""
    best = -math.inf
    for number, value in enumerate(values, start=1):
        best = max(best, value)
        if best >= target:
            return number
    return None


def score_method(setup: Setup, method: str, studies_of_method: list[dict[str, Any]], best_any: float,
                 start_arm: Arm) -> dict[str, Any]:
    """One row of the table: trials to reach, the pick's test recall on fresh seeds, verdicts, false winners."""
    runs = setup.runs
    start_full = setup.full(setup.start_params, setup.start)
    start_single = runs.run(start_full, setup.seed0)["best_metric"]
    reach, pick_tests, declared, naive_inside, false_winners = [], [], 0, 0, 0
    for result in studies_of_method:
        reach.append(trials_to_reach([t["value"] for t in result["trials"]], (1 - WITHIN) * best_any))
        pick = max(result["trials"], key=lambda t: t["value"])
        pick_params = setup.full(pick["params"], setup.base if method in ("doctor", "rerun") else setup.start)
        pick_arm = arm(runs, pick_params, setup.seeds)
        pick_tests.append(pick_arm.mean)
        verdict = judge(Arm("tuned", pick_arm.values, pick_arm.seeds), Arm("start", start_arm.values,
                                                                           start_arm.seeds), "test recall")
        if pick["value"] > start_single and verdict.winner != "best":
            naive_inside += 1
        if verdict.winner == "best":
            declared += 1
            confirm = arm(runs, pick_params, setup.check).mean - arm(runs, start_full, setup.check).mean
            false_winners += confirm <= 0
        result.update(pick=pick_params, pick_test=pick_arm.values, verdict=verdict.to_dict())
    return {"method": method, "reach": reach, "pick_test_mean": statistics.fmean(pick_tests),
            "pick_test_sd": statistics.stdev(pick_tests) if len(pick_tests) > 1 else math.nan,
            "declared": declared, "naive_inside_noise": naive_inside, "false_winners": false_winners,
            "studies": len(studies_of_method)}


def bench_dataset(dataset: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    setup = plan(dataset, work, args)
    summary: dict[str, Any] = {"dataset": dataset, "sensitivity": sensitivity(setup, args),
                               "doctor_space": setup.plans["doctor"][2].to_dict()}
    if args.sensitivity_only:
        return {**summary, "trained": setup.runs.trained}
    results = run_searches(setup, args)
    best_any = max(t["value"] for m in METHODS for r in results[m] for t in r["trials"])
    # Printed before the picks' repeats, which take as long again: a killed bench still leaves this column.
    for method in METHODS:
        reach = [trials_to_reach([t["value"] for t in r["trials"]], (1 - WITHIN) * best_any) for r in results[method]]
        print(f"[bench] {dataset} {method}: trials to reach 98% of the best ({best_any:.4f}): {reach}", flush=True)
    start_arm = arm(setup.runs, setup.full(setup.start_params, setup.start), setup.seeds)
    table = [score_method(setup, method, results[method], best_any, start_arm) for method in METHODS]
    return {**summary, "best_any": best_any, "start_test": {"mean": start_arm.mean, "sd": start_arm.sd},
            "table": table, "results": results, "trained": setup.runs.trained}


class _Proxy:
    """The cache seen through one method's space: missing settings take that method's base values."""

    def __init__(self, runs: Runs, full: Any, base: RunConfig) -> None:
        self.runs, self.full, self.base = runs, full, base

    def run(self, params: dict[str, Any], seed: int) -> dict[str, Any]:
        return self.runs.run(self.full(params, self.base), seed)


def render(summary: dict[str, Any], args: argparse.Namespace) -> str:
    data = ("MovieLens-100K" if summary["dataset"] == "ml100k" else
            f"{args.items:,} items, {args.users:,} users")  # --items and --users shape the synthetic data only
    lines = [f"Sensitivity on {summary['dataset']} (best validation recall, the repair's gain, mean over "
             f"{args.seeds} seeds; {data}, max_iter {args.max_iter}, test_iter {args.test_iter}):", ""]
    for row in summary["sensitivity"]:
        lines.append(f"- {row['view']}: {row['setting']} {row['from']} -> {row['to']}: {row['effect']:+.4f} (seed sd "
                     f"{row['seed_sd']:.4f}; {'beyond' if row['beyond_2sd'] else 'inside'} 2 sd)")
    if args.sensitivity_only:
        return "\n".join(lines)
    heading = [f"## {summary['dataset']}{' (--quick)' if args.quick else ''}: {args.tuner_seeds} tuner seeds, "
               f"{args.trials} trials, {args.seeds} fresh seeds per pick, {args.check_seeds} check seeds", "",
               f"Best validation recall found by any method: {summary['best_any']:.4f}; the start's test recall "
               f"{summary['start_test']['mean']:.4f} ± {summary['start_test']['sd']:.4f} over {args.seeds} seeds.",
               ""]
    lines = heading + lines + [
        "", "| method | trials to reach 98% of the best (per tuner seed) | pick's test recall, mean ± sd over "
        "tuner seeds | winners declared | naive claims inside noise | false winners |",
        "|---|---|---|---|---|---|"]
    for row in summary["table"]:
        reach = ", ".join(str(r) if r is not None else f">{args.trials if row['method'] != 'rerun' else 1}"
                          for r in row["reach"])
        sd = "" if math.isnan(row["pick_test_sd"]) or row["method"] == "rerun" else f" ± {row['pick_test_sd']:.4f}"
        lines.append(f"| {METHOD_LABELS[row['method']]} | {reach} | {row['pick_test_mean']:.4f}{sd} | "
                     f"{row['declared']}/{row['studies']} | {row['naive_inside_noise']}/{row['studies']} | "
                     f"{row['false_winners']} |")
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
    parser.add_argument("--interests", type=int, default=4, help="`recdoc data synth --interests`")
    parser.add_argument("--faults", default=",".join(FAULTS),
                        help=f"the start's faults, comma-separated, among {', '.join(FAULTS)}")
    parser.add_argument("--sensitivity_only", action="store_true",
                        help="only the sensitivity check: is the task sized so that each fault costs recall?")
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    args.faults = tuple(args.faults.split(","))
    if not set(args.faults) <= set(FAULTS):
        parser.error(f"--faults: choose among {', '.join(FAULTS)}")
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
