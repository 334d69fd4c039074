"""What every ComiRec model shares: the item table, masked history lookup, the hard readout, compiled inference.

A new model type (MIND, ComiRec-SA, YouTube DNN, GRU4Rec) is one module that subclasses `MultiInterestModel`,
creates its own weights in `__init__` and implements `compute_interests`; the table, masking, readout and the
compiled `interests` entry point come from here (reference section 3, "Shared").
"""

from __future__ import annotations

import math
import random

import numpy as np

from recdoc.tfimport import tf


def seed_everything(seed: int) -> None:
    """Seed Python's `random`, numpy and TensorFlow from one number, as the original's `--random_seed`."""
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)


def glorot_uniform_limit(fan_in: int, fan_out: int) -> float:
    return math.sqrt(6.0 / (fan_in + fan_out))


class MultiInterestModel(tf.Module):
    """Base of all models: one `[item_count, d]` table serving history, target, softmax weights and retrieval.

    `interests(hist, mask) -> [B, K, d]` (K = 1 for single-interest models) is XLA-compiled for inference;
    training code calls `compute_interests` inside its own compiled step.
    """

    # TESTING ONLY (bench/probe_proof.py, tests/instruments/probe/test_probe.py): when True, the readout is fed item 0
    # instead of the true target, reproducing the faulty public TF2 port (reference section 3, DR step 5) so that
    # recdoc's probe can be shown to catch it. `recdoc train` never sets it; no user flag reaches it.
    testing_readout_fed_item_zero: bool = False
    # The original's evaluation merges a 3-D user embedding [B, K, d] (every capsule/attention model, even with
    # K = 1: item 0 dropped, `--coef` applied) and keeps faiss' raw list for a 2-D one (DNN, GRU4REC).
    merges_interests: bool = True

    def __init__(self, item_count: int, embedding_dim: int, maxlen: int, num_interest: int,
                 initializer_seed: int, name: str | None = None) -> None:
        super().__init__(name=name)
        self.item_count = item_count
        self.embedding_dim = embedding_dim
        self.maxlen = maxlen
        self.num_interest = num_interest
        # Stateless draws keyed by (seed, weight number): initial weights depend on the seed only, not on how
        # many random ops ran before, and no generator state ends up in checkpoints.
        self._initializer_seed = initializer_seed
        self._weights_created = 0
        limit = glorot_uniform_limit(item_count, embedding_dim)  # TF1 default initializer over the table's shape
        self.item_embeddings = tf.Variable(
            tf.random.stateless_uniform([item_count, embedding_dim], seed=self._next_weight_seed(),
                                        minval=-limit, maxval=limit),
            name="item_embeddings")
        self._compiled_interests = tf.function(self.compute_interests, jit_compile=True, reduce_retracing=True)

    def _next_weight_seed(self) -> tuple[int, int]:
        self._weights_created += 1
        return (self._initializer_seed, self._weights_created)

    def normal_weight(self, shape: list[int], stddev: float, name: str) -> tf.Variable:
        """A weight drawn from normal(0, stddev), seeded from the model's seed."""
        return tf.Variable(tf.random.stateless_normal(shape, seed=self._next_weight_seed(), stddev=stddev), name=name)

    def embed_history(self, hist: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """History embeddings `[B, T, d]`, zero at padding (the original multiplies by the mask)."""
        return tf.gather(self.item_embeddings, hist) * mask[:, :, tf.newaxis]

    def compute_interests(self, hist: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """Interest vectors `[B, K, d]` for int32 `hist [B, T]` and float32 `mask [B, T]` (each model's own)."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute_interests")

    def interests(self, hist: np.ndarray | tf.Tensor, mask: np.ndarray | tf.Tensor) -> tf.Tensor:
        """Compiled inference entry point (evaluation calls it once per batch)."""
        return self._compiled_interests(tf.convert_to_tensor(hist, dtype=tf.int32),
                                        tf.convert_to_tensor(mask, dtype=tf.float32))

    def readout(self, interests: tf.Tensor, target_ids: tf.Tensor) -> tf.Tensor:
        """Hard, target-aware readout `[B, d]`: the interest with the largest dot product with the true target.

        The choice carries no gradient (argmax); the chosen interest does.
        """
        if self.testing_readout_fed_item_zero:
            target_ids = tf.zeros_like(target_ids)
        target_embeddings = tf.gather(self.item_embeddings, target_ids)
        scores = tf.einsum("bkd,bd->bk", tf.stop_gradient(interests), tf.stop_gradient(target_embeddings))
        chosen = tf.argmax(scores, axis=1, output_type=tf.int32)
        return tf.gather(interests, chosen, axis=1, batch_dims=1)
