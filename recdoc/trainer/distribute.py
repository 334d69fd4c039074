"""Training past one process on `tf.distribute`, with the single-process numbers (`--strategy`).

- `none`: no strategy, the single-process loop as it always was.
- `mirrored`: `tf.distribute.MirroredStrategy` over this machine's devices (its GPUs, else the CPU).
- `multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy`, one process per machine, the cluster from
  `TF_CONFIG` (RING collectives on CPUs, NCCL on GPUs).

How the numbers stay the same (`step.Trainer` does the maths): every worker runs the same batch sampler and the same
negative sampler from the same seed, so each holds the same global batch and the same shared negatives; replica r
takes rows `[r*B/R, (r+1)*B/R)`, computes `sum(per-row loss) / B` (the global batch) and its gradients in its own
XLA program; dense gradients are all-reduced (SUM) and the item table's `IndexedSlices` are all-gathered, never
densified; then every replica applies the identical TF1 Adam update to its own copy (the fused kernel, loaded in
every process). Only the float summation order differs from one process.

Evaluation is sharded over the workers by search block (`evaluate.Shard`); `Cluster.exchange` sums the block
matrices across workers (each block has one non-zero row, so the sum is exact) and every worker merges the same
metrics, so every worker takes the same early-stopping decision. The chief (worker 0) alone writes the run folder:
train.log, metrics.jsonl, run.json, TensorBoard and checkpoints; the others read it to resume, so on several
machines `--runs_dir` must be a shared folder.
"""

from __future__ import annotations

import json
import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recdoc.errors import UsageError
from recdoc.trainer.evaluate import ONE_PROCESS, Shard

CPU_REPLICAS_ENV = "RECDOC_CPU_REPLICAS"  # `mirrored` without GPUs: split the CPU into this many replicas


@dataclass
class Cluster:
    """Where this process stands: its strategy (None for `none`), its worker index and the worker count."""

    name: str
    strategy: Any  # tf.distribute.Strategy | None
    worker_index: int = 0
    worker_count: int = 1
    _all_reduce: Any = field(default=None, repr=False)

    @property
    def is_chief(self) -> bool:
        return self.worker_index == 0

    @property
    def replicas(self) -> int:
        return 1 if self.strategy is None else int(self.strategy.num_replicas_in_sync)

    @property
    def eval_shard(self) -> Shard:
        return Shard(self.worker_index, self.worker_count) if self.worker_count > 1 else ONE_PROCESS

    def scope(self) -> Any:
        """Variables created inside are mirrored on every replica (plain variables without a strategy)."""
        return nullcontext() if self.strategy is None else self.strategy.scope()

    def exchange(self, matrix: np.ndarray) -> np.ndarray:
        """The element-wise sum of `matrix` over all workers (an all-reduce); itself with one worker."""
        if self.worker_count == 1:
            return matrix
        if self._all_reduce is None:
            self._all_reduce = self._make_all_reduce()
        return np.asarray(self._all_reduce(np.asarray(matrix, dtype=np.float64)).numpy(), dtype=np.float64)

    def _make_all_reduce(self) -> Any:
        from recdoc.tfimport import tf

        strategy = self.strategy
        local_replicas = max(1, self.replicas // self.worker_count)

        @tf.function(reduce_retracing=True)  # eager collectives are slow; one trace per matrix shape
        def all_reduce(value: tf.Tensor) -> tf.Tensor:
            def first_local_replica_only() -> tf.Tensor:
                # Every local replica sees the same matrix: count it once per worker (x1 and x0 are exact).
                replica = tf.distribute.get_replica_context().replica_id_in_sync_group
                keep = tf.cast(tf.equal(tf.math.floormod(replica, local_replicas), 0), tf.float64)
                return value * keep

            return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(first_local_replica_only), axis=None)

        return all_reduce

    def barrier(self) -> None:
        """Wait until every worker gets here (the chief's checkpoints are on disk once all have)."""
        self.exchange(np.zeros(1))

    def describe(self) -> dict[str, Any]:
        """What run.json records about the distribution."""
        out: dict[str, Any] = {"strategy": self.name, "workers": self.worker_count, "replicas": self.replicas}
        if self.strategy is not None:
            out["devices"] = list(getattr(self.strategy.extended, "worker_devices", ()))
        return out


def _tf_config_workers() -> tuple[int, int]:
    """(this worker's index, worker count) from TF_CONFIG; a chief task counts as worker 0."""
    text = os.environ.get("TF_CONFIG", "")
    if not text.strip():
        return 0, 1
    try:
        config = json.loads(text)
        cluster = config["cluster"]
        task_type, task_index = config["task"]["type"], int(config["task"]["index"])
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"TF_CONFIG is not a valid cluster description ({exc!s}); expected "
                         '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}'
                         ) from None
    chiefs = len(cluster.get("chief", []))
    workers = len(cluster.get("worker", []))
    if task_type == "chief":
        return 0, chiefs + workers
    if task_type != "worker":
        raise UsageError(f"TF_CONFIG task type {task_type!r}: --strategy multi_worker runs chief and worker tasks")
    return chiefs + task_index, chiefs + workers


def localhost_tf_configs(workers: int) -> list[str]:
    """TF_CONFIG values for `workers` processes of one run on this machine, on free localhost ports: how to try
    `--strategy multi_worker` without a cluster (the scale-out test and bench/scale_out.py do)."""
    import socket

    sockets = [socket.socket() for _ in range(workers)]
    for sock in sockets:
        sock.bind(("localhost", 0))
    hosts = [f"localhost:{sock.getsockname()[1]}" for sock in sockets]
    for sock in sockets:
        sock.close()
    return [json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}})
            for index in range(workers)]


def worker_position(name: str) -> tuple[int, int]:
    """(worker index, worker count) for `--strategy name`, read before TensorFlow starts."""
    return _tf_config_workers() if name == "multi_worker" else (0, 1)


def make_cluster(name: str) -> Cluster:
    """Create the strategy. Call before any other TensorFlow work: collectives are set up at startup."""
    if name == "none":
        return Cluster(name, None)
    from recdoc.tfimport import tf

    if name == "mirrored":
        cpu_replicas = int(os.environ.get(CPU_REPLICAS_ENV, "0") or 0)
        if cpu_replicas > 1 and not tf.config.list_physical_devices("GPU"):
            # Several replicas on one CPU (tests, and trying the mirrored path without GPUs): no faster, since
            # every replica holds the tables and runs the Adam pass, but the same code path as several GPUs.
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas)
            return Cluster(name, tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(cpu_replicas)]))
        return Cluster(name, tf.distribute.MirroredStrategy())
    index, count = _tf_config_workers()
    gpus = tf.config.list_physical_devices("GPU")
    implementation = (tf.distribute.experimental.CommunicationImplementation.NCCL if gpus
                      else tf.distribute.experimental.CommunicationImplementation.RING)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(implementation=implementation))
    return Cluster(name, strategy, index, count)
