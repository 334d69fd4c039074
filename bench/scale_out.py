"""Scale-out on this machine: steps/s and evaluation users/s for 1 and 2 workers at Book and Taobao scale.

For each scale (Book: 367,983 items, batch 128, maxlen 20; Taobao: 1,708,531 items, batch 256, maxlen 50; both
ComiRec-DR, d 64, K 4, neg_num 10) and each worker count (1: `--strategy none`; 2: `--strategy multi_worker`, two
processes on localhost ports with TF_CONFIG, RING collectives), child processes built from the trainer's pieces
(`make_cluster`, `build_model`, `Trainer`, `TrainSampler`, `evaluate`) do, in the loop's order:

1. one sharded evaluation of the freshly initialised model on the validation split (every worker holds the same
   initial weights, so the merged metrics must EQUAL one process's: checked, exit status 1 otherwise);
2. a first call of 10 steps (tracing and XLA compilation, not timed), then `--steps` more, timed;
3. a second evaluation, timed, and the last step's loss (compared with one process's to float tolerance).

The data is synthetic (`recdoc data synth`; the >= 5 filter keeps few distinct items at these user counts, so the
model is given the full `item_count`: table and Adam moments are full size, as scale.py does). Peak memory is
each child's own `ru_maxrss`. On a 2-core machine two workers share the same cores: expect no speed-up; the point
is that it runs, agrees, and what one more worker costs in collectives.

Run: `python bench/scale_out.py [--scales book,taobao] [--steps 100] [--data_dir /tmp/recdoc_scale_out] [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SCALES: dict[str, dict[str, int]] = {
    # users before the >= 5 filter: enough validation users for several search blocks (1,024 users each at K 4)
    "book": {"item_count": 367_983, "batch_size": 128, "maxlen": 20, "users": 40_000},
    "taobao": {"item_count": 1_708_531, "batch_size": 256, "maxlen": 50, "users": 40_000},
}
GIB = 1024 ** 3


# ---------------------------------------------------------------- child: one worker
def run_child(spec: dict[str, Any]) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from recdoc.config import RunConfig
    from recdoc.trainer.data.dataset import load_dataset
    from recdoc.trainer.data.sampling import TrainSampler
    from recdoc.trainer.distribute import make_cluster
    from recdoc.trainer.evaluate import evaluate, search_backend
    from recdoc.trainer.loop import STEPS_PER_CALL
    from recdoc.trainer.models import build_model
    from recdoc.trainer.train import Trainer

    cluster = make_cluster(spec["strategy"])
    config = RunConfig.for_dataset(spec["dataset"], model_type="ComiRec-DR", batch_size=spec["batch_size"],
                                   maxlen=spec["maxlen"], item_count=spec["item_count"], learning_rate=0.001,
                                   data_dir=spec["data_dir"])
    dataset = load_dataset(spec["data_dir"], spec["dataset"], spec["item_count"])
    with cluster.scope():
        model = build_model(config, dataset.item_count)
        trainer = Trainer(model, config, cluster.strategy)
    sampler = TrainSampler(dataset.train, config.batch_size, config.maxlen, config.random_seed)
    sharding: dict[str, Any] = ({} if cluster.worker_count == 1 else
                                {"shard": cluster.eval_shard, "exchange": cluster.exchange})
    start = time.monotonic()
    initial = evaluate(model, dataset.valid, config, **sharding)
    first_eval_s = time.monotonic() - start
    losses = trainer.train_steps([sampler.next_batch() for _ in range(STEPS_PER_CALL)])  # compile
    cluster.barrier()
    start = time.monotonic()
    done = 0
    while done < spec["steps"]:
        count = min(STEPS_PER_CALL, spec["steps"] - done)
        losses += trainer.train_steps([sampler.next_batch() for _ in range(count)])
        done += count
    train_s = time.monotonic() - start
    cluster.barrier()
    start = time.monotonic()
    trained = evaluate(model, dataset.valid, config, **sharding)
    eval_s = time.monotonic() - start
    report = {
        "worker": cluster.worker_index, "workers": cluster.worker_count, "sparse_adam":
        trainer.optimizer.sparse_update_path, "valid_users": len(dataset.valid), "steps": spec["steps"],
        "train_s": train_s, "steps_per_s": spec["steps"] / train_s, "first_eval_s": first_eval_s,
        "eval_s": eval_s, "users_per_s": len(dataset.valid) / eval_s, "initial": initial, "trained": trained,
        "last_loss": losses[-1], "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "eval_search": search_backend(), "gpu_peak_bytes": gpu_peaks(),
    }
    Path(spec["report"]).write_text(json.dumps(report), encoding="utf-8")


def gpu_peaks() -> dict[str, int]:
    """Peak bytes TensorFlow allocated on each visible GPU (empty without one)."""
    import tensorflow as tf

    peaks = {}
    for index, _ in enumerate(tf.config.list_physical_devices("GPU")):
        peaks[f"GPU:{index}"] = int(tf.config.experimental.get_memory_info(f"GPU:{index}")["peak"])
    return peaks


# ---------------------------------------------------------------- parent
def ensure_data(data_dir: Path, scale: str) -> str:
    name = f"scaleout_{scale}"
    from recdoc.trainer.data.dataset import split_file

    if not split_file(data_dir, name, "train").is_file():
        spec = SCALES[scale]
        print(f"synthesising {spec['item_count']:,} items x {spec['users']:,} users ...", flush=True)
        subprocess.run([sys.executable, "-m", "recdoc", "data", "synth", "--name", name, "--items",
                        str(spec["item_count"]), "--users", str(spec["users"]), "--data_dir", str(data_dir)],
                       check=True, stdout=subprocess.DEVNULL)
    return name


def run_workers(scale: str, dataset: str, data_dir: Path, workers: int, steps: int) -> list[dict[str, Any]]:
    from recdoc.trainer.distribute import localhost_tf_configs

    with tempfile.TemporaryDirectory(prefix="recdoc_scale_out_") as scratch:
        tf_configs = localhost_tf_configs(workers)
        processes = []
        for index in range(workers):
            spec = {"strategy": "none" if workers == 1 else "multi_worker", "dataset": dataset,
                    "data_dir": str(data_dir), "steps": steps, "report": f"{scratch}/w{index}.json",
                    **{k: v for k, v in SCALES[scale].items() if k != "users"}}
            env = dict(os.environ, CUDA_VISIBLE_DEVICES="-1")
            if workers > 1:
                env["TF_CONFIG"] = tf_configs[index]
            processes.append(subprocess.Popen([sys.executable, __file__, "--child", json.dumps(spec)], env=env,
                                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        for process in processes:
            output, _ = process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"a {scale} worker exited with {process.returncode}:\n{output[-2000:]}")
        return [json.loads(Path(f"{scratch}/w{i}.json").read_text()) for i in range(workers)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="book,taobao")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 100; --quick: 20)")
    parser.add_argument("--data_dir", default=os.path.join(tempfile.gettempdir(), "recdoc_scale_out"))
    parser.add_argument("--quick", action="store_true", help="Book scale only, 20 steps")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(json.loads(args.child))
        return 0
    steps = args.steps or (20 if args.quick else 100)
    scales = ["book"] if args.quick else [s.strip() for s in args.scales.split(",") if s.strip()]
    unknown = [s for s in scales if s not in SCALES]
    if unknown or steps < 1:
        print(f"--scales takes {', '.join(SCALES)} and --steps must be positive", file=sys.stderr)
        return 2
    data_dir = Path(args.data_dir)
    ok = True
    rows = []
    for scale in scales:
        dataset = ensure_data(data_dir, scale)
        results = {}
        for workers in (1, 2):
            load = os.getloadavg()[0]
            results[workers] = run_workers(scale, dataset, data_dir, workers, steps)
            chief = results[workers][0]
            rows.append((scale, workers, chief, max(r["peak_rss"] for r in results[workers]), load))
        one, two = results[1][0], results[2]
        same_initial = all(r["initial"] == one["initial"] for r in two)
        same_trained = all(r["trained"] == two[0]["trained"] for r in two)
        loss_gap = abs(two[0]["last_loss"] - one["last_loss"]) / abs(one["last_loss"])
        recall_gap = abs(two[0]["trained"]["recall@50"] - one["trained"]["recall@50"])
        ok &= same_initial and same_trained and loss_gap < 1e-4
        print(f"{scale}: sharded evaluation of the initial model equals one process: {same_initial}; the two "
              f"workers merged the same metrics: {same_trained}; after {steps + 10} steps the last loss differs "
              f"by {loss_gap:.1e} (relative) and valid recall@50 by {recall_gap:.1e} (float summation order)",
              flush=True)
    print()
    print("| scale | workers | steps/s | eval users/s | valid users | peak RSS per worker | Adam update | load |")
    print("|---|---|---|---|---|---|---|---|")
    for scale, workers, chief, peak, load in rows:
        print(f"| {scale} | {workers} | {chief['steps_per_s']:.1f} | {chief['users_per_s']:,.0f} | "
              f"{chief['valid_users']:,} | {peak / GIB:.2f} GiB | {chief['sparse_adam']} | {load:.1f} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
