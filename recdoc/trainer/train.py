"""The train step: forward, hard readout, sampled softmax and gradients in one XLA program, then TF1-style Adam
applied in place (outside XLA: the item table's sparse update is recdoc's own kernel); several consecutive steps
run inside one `tf.function` call.

Negatives are drawn on the host (`loss.CandidateSampler`) and passed in. The item table's gradient leaves the
XLA program as `IndexedSlices` (the looked-up rows), as in TF1, so the optimizer takes its sparse path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from recdoc.config import RunConfig
from recdoc.errors import UsageError
from recdoc.tfimport import tf
from recdoc.trainer.loss import CandidateSampler, sampled_softmax_loss
from recdoc.trainer.models.base import MultiInterestModel
from recdoc.trainer.optimizer import Adam

Batch = tuple[np.ndarray, np.ndarray, np.ndarray]  # hist int32 [B, T], mask float32 [B, T], target int32 [B]


class Trainer:
    """Owns the optimizer and the compiled step for one model and run configuration.

    With a `tf.distribute` strategy (`distribute.py`), build the model and the Trainer inside `strategy.scope()`:
    each step then runs on every replica on its rows of the global batch (see `_replica_step`)."""

    def __init__(self, model: MultiInterestModel, config: RunConfig, strategy: Any = None) -> None:
        self.model = model
        self.config = config
        self.strategy = strategy
        self.replicas = 1 if strategy is None else int(strategy.num_replicas_in_sync)
        if config.batch_size % self.replicas:
            raise UsageError(f"--batch_size {config.batch_size} must divide evenly over the {self.replicas} "
                             "replicas of --strategy: each takes an equal share of the global batch")
        self.trainable_variables: tuple[tf.Variable, ...] = tuple(model.trainable_variables)
        self.optimizer = Adam(self.trainable_variables, learning_rate=config.learning_rate)
        self.candidate_sampler = CandidateSampler(num_sampled=config.num_sampled, item_count=model.item_count,
                                                  seed=config.random_seed)

    @property
    def variables(self) -> tuple[tf.Variable, ...]:
        return tuple(self.model.variables) + tuple(self.optimizer.variables)

    def checkpoint_objects(self) -> dict[str, tf.Module]:
        return {"model": self.model, "optimizer": self.optimizer}

    def set_learning_rate(self, learning_rate: float) -> None:
        self.optimizer.set_learning_rate(learning_rate)

    def train_step(self, hist: np.ndarray, mask: np.ndarray, target: np.ndarray) -> float:
        """One optimisation step on a sampler batch; returns the batch's mean loss."""
        return self.train_steps([(hist, mask, target)])[0]

    def train_steps(self, batches: Sequence[Batch]) -> list[float]:
        """Consecutive optimisation steps, one per batch in order, in one call; each batch's mean loss.

        Exactly the steps `train_step` would take one by one (negatives are drawn per batch, in order), but one
        TensorFlow call for the lot: a call costs about a millisecond on 2 cores, a tenth of a ComiRec-DR step.
        """
        candidates = [self.candidate_sampler.sample(target) for _, _, target in batches]
        steps = self._steps if self.strategy is None else self._distributed_steps
        losses = steps(
            tf.convert_to_tensor(np.stack([b[0] for b in batches]), dtype=tf.int32),
            tf.convert_to_tensor(np.stack([b[1] for b in batches]), dtype=tf.float32),
            tf.convert_to_tensor(np.stack([b[2] for b in batches]), dtype=tf.int32),
            tf.convert_to_tensor(np.stack([c.sampled_ids for c in candidates])),
            tf.convert_to_tensor(np.stack([c.true_expected_count for c in candidates])),
            tf.convert_to_tensor(np.stack([c.sampled_expected_count for c in candidates])))
        return [float(loss) for loss in losses.numpy()]

    # No autograph: the body's only loop runs over a static step count and its only branches test Python values,
    # so converting it buys nothing and cost about 2 s of tracing per run (a tune trial is a run).
    @tf.function(autograph=False)
    def _steps(self, hist: tf.Tensor, mask: tf.Tensor, target: tf.Tensor, sampled_ids: tf.Tensor,
               true_expected_count: tf.Tensor, sampled_expected_count: tf.Tensor) -> tf.Tensor:
        # A Python loop (unrolled per number of steps, a handful of sizes per run): every update is ordered
        # before the next step's reads by the function's automatic control dependencies on the variables,
        # which a tf.while_loop would not guarantee across iterations.
        losses = []
        for i in range(hist.shape[0]):
            loss, gradients = self._loss_and_gradients(hist[i], mask[i], target[i], sampled_ids[i],
                                                       true_expected_count[i], sampled_expected_count[i])
            self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
            losses.append(loss)
        return tf.stack(losses)

    @tf.function
    def _distributed_steps(self, hist: tf.Tensor, mask: tf.Tensor, target: tf.Tensor, sampled_ids: tf.Tensor,
                           true_expected_count: tf.Tensor, sampled_expected_count: tf.Tensor) -> tf.Tensor:
        # As `_steps`, one replica step per batch in order; the reduced loss is the global batch's mean.
        losses = []
        for i in range(hist.shape[0]):
            per_replica = self.strategy.run(self._replica_step, args=(
                hist[i], mask[i], target[i], sampled_ids[i], true_expected_count[i], sampled_expected_count[i]))
            losses.append(self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None))
        return tf.stack(losses)

    def _replica_step(self, hist: tf.Tensor, mask: tf.Tensor, target: tf.Tensor, sampled_ids: tf.Tensor,
                      true_expected_count: tf.Tensor, sampled_expected_count: tf.Tensor) -> tf.Tensor:
        """One replica's share of a step: its rows of the global batch (every worker holds the whole batch and
        the same shared negatives), the sum of their losses over the global batch, gradients summed over
        replicas (the item table's as gathered `IndexedSlices`), then the same TF1 Adam update on every replica.

        Collectives stay outside the XLA program (a merge_call cannot run inside a nested function)."""
        context = tf.distribute.get_replica_context()
        replica = context.replica_id_in_sync_group

        def rows(tensor: tf.Tensor) -> tf.Tensor:
            shares = tf.reshape(tensor, [self.replicas, -1, *tensor.shape[1:]])
            return tf.gather(shares, replica)

        loss, gradients = self._replica_loss_and_gradients(
            rows(hist), rows(mask), rows(target), sampled_ids, rows(true_expected_count), sampled_expected_count)
        present = [i for i, g in enumerate(gradients) if g is not None]
        summed = context.all_reduce(tf.distribute.ReduceOp.SUM, [gradients[i] for i in present])
        # Each replica updates its own copy (variable handles resolve to the replica's component here).
        self.optimizer.apply_gradients((summed[n], self.trainable_variables[i]) for n, i in enumerate(present))
        return loss

    @tf.function(jit_compile=True)
    def _replica_loss_and_gradients(self, hist: tf.Tensor, mask: tf.Tensor, target: tf.Tensor,
                                    sampled_ids: tf.Tensor, true_expected_count: tf.Tensor,
                                    sampled_expected_count: tf.Tensor
                                    ) -> tuple[tf.Tensor, list[tf.Tensor | tf.IndexedSlices | None]]:
        """`_loss_and_gradients` on a replica's rows, the loss normalised by the global batch."""
        return self._traced_loss_and_gradients(hist, mask, target, sampled_ids, true_expected_count,
                                               sampled_expected_count, global_batch=self.config.batch_size)

    @tf.function(jit_compile=True)
    def _loss_and_gradients(self, hist: tf.Tensor, mask: tf.Tensor, target: tf.Tensor, sampled_ids: tf.Tensor,
                            true_expected_count: tf.Tensor,
                            sampled_expected_count: tf.Tensor
                            ) -> tuple[tf.Tensor, list[tf.Tensor | tf.IndexedSlices | None]]:
        """Forward, readout, loss and gradients as one XLA program."""
        return self._traced_loss_and_gradients(hist, mask, target, sampled_ids, true_expected_count,
                                               sampled_expected_count)

    def _traced_loss_and_gradients(self, hist: tf.Tensor, mask: tf.Tensor, target: tf.Tensor,
                                   sampled_ids: tf.Tensor, true_expected_count: tf.Tensor,
                                   sampled_expected_count: tf.Tensor, global_batch: int | None = None
                                   ) -> tuple[tf.Tensor, list[tf.Tensor | tf.IndexedSlices | None]]:
        """The body both jitted functions trace: forward, readout, sampled softmax (mean over the batch, or over
        `global_batch` on a replica's rows) and the gradients."""
        with tf.GradientTape() as tape:
            interests = self.model.compute_interests(hist, mask)
            readout = self.model.readout(interests, target)
            loss = sampled_softmax_loss(self.model.item_embeddings, readout, target, sampled_ids,
                                        true_expected_count, sampled_expected_count, global_batch=global_batch)
        return loss, tape.gradient(loss, self.trainable_variables)
