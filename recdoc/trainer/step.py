"""The train step: forward, hard readout, sampled softmax and gradients in one XLA program, then TF1-style Adam
applied in place (outside XLA: the item table's sparse update is recdoc's own kernel), all inside one
`tf.function` call per step.

Negatives are drawn eagerly (the sampler op does not compile) and passed in. The item table's gradient leaves the
XLA program as `IndexedSlices` (the looked-up rows), as in TF1, so the optimizer takes its sparse path.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from recdoc.config import RunConfig
from recdoc.trainer.loss import CandidateSampler, sampled_softmax_loss
from recdoc.trainer.models.base import MultiInterestModel
from recdoc.trainer.optimizer import Adam


class Trainer:
    """Owns the optimizer and the compiled step for one model and run configuration."""

    def __init__(self, model: MultiInterestModel, config: RunConfig) -> None:
        self.model = model
        self.config = config
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
        candidates = self.candidate_sampler.sample(target)
        loss = self._step(tf.convert_to_tensor(hist, dtype=tf.int32),
                          tf.convert_to_tensor(mask, dtype=tf.float32),
                          tf.convert_to_tensor(target, dtype=tf.int32),
                          *candidates.as_tuple())
        return float(loss)

    @tf.function
    def _step(self, hist: tf.Tensor, mask: tf.Tensor, target: tf.Tensor, sampled_ids: tf.Tensor,
              true_expected_count: tf.Tensor, sampled_expected_count: tf.Tensor) -> tf.Tensor:
        loss, gradients = self._loss_and_gradients(hist, mask, target, sampled_ids, true_expected_count,
                                                   sampled_expected_count)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return loss

    @tf.function(jit_compile=True)
    def _loss_and_gradients(self, hist: tf.Tensor, mask: tf.Tensor, target: tf.Tensor, sampled_ids: tf.Tensor,
                            true_expected_count: tf.Tensor,
                            sampled_expected_count: tf.Tensor
                            ) -> tuple[tf.Tensor, list[tf.Tensor | tf.IndexedSlices | None]]:
        """Forward, readout, loss and gradients as one XLA program."""
        with tf.GradientTape() as tape:
            interests = self.model.compute_interests(hist, mask)
            readout = self.model.readout(interests, target)
            loss = sampled_softmax_loss(self.model.item_embeddings, readout, target, sampled_ids,
                                        true_expected_count, sampled_expected_count)
        return loss, tape.gradient(loss, self.trainable_variables)
