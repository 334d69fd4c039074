"""The original's sampled-softmax loss, split so the arithmetic compiles under XLA.

`tf.nn.sampled_softmax_loss` draws its candidates with an op XLA cannot compile. `CandidateSampler` draws
them eagerly with the same op (`log_uniform_candidate_sampler`, unique, shared by the batch), and
`sampled_softmax_loss` does the rest by hand: log-Q correction, accidental hits removed, softmax cross-entropy
against the true class, mean over the batch (reference section 4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from recdoc.errors import UsageError

# What `tf.nn.compute_accidental_hits` adds to a sampled logit equal to the true class.
_ACCIDENTAL_HIT_LOGIT_OFFSET = -np.finfo(np.float32).max


@dataclass(frozen=True)
class SampledCandidates:
    """One batch's negatives: the `sampled_values` triple of `tf.nn.sampled_softmax_loss`."""

    sampled_ids: tf.Tensor  # int64 [S]
    true_expected_count: tf.Tensor  # float32 [B, 1]
    sampled_expected_count: tf.Tensor  # float32 [S]

    def as_tuple(self) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        return self.sampled_ids, self.true_expected_count, self.sampled_expected_count


class CandidateSampler:
    """The original's default sampler: log-uniform over `[0, item_count)`, `num_sampled` unique ids per batch.

    Runs eagerly on the host; the op's own seed plus TensorFlow's global seed make the sequence reproducible.
    """

    def __init__(self, num_sampled: int, item_count: int, seed: int) -> None:
        if num_sampled > item_count:
            # TensorFlow's unique sampler fails on this too (the original would crash at its first step); drawing
            # exactly item_count is allowed (every item once), as in the original.
            raise UsageError(f"sampled softmax needs at most as many negatives as items: neg_num x batch_size = "
                             f"{num_sampled} but item_count = {item_count}; lower --neg_num or --batch_size")
        self.num_sampled = num_sampled
        self.item_count = item_count
        self.seed = seed

    def sample(self, target_ids: np.ndarray | tf.Tensor) -> SampledCandidates:
        true_classes = tf.reshape(tf.cast(target_ids, tf.int64), [-1, 1])
        sampled, true_expected, sampled_expected = tf.random.log_uniform_candidate_sampler(
            true_classes=true_classes, num_true=1, num_sampled=self.num_sampled, unique=True,
            range_max=self.item_count, seed=self.seed)
        return SampledCandidates(sampled, true_expected, sampled_expected)


def sampled_softmax_loss(item_table: tf.Tensor, readout: tf.Tensor, target_ids: tf.Tensor,
                         sampled_ids: tf.Tensor, true_expected_count: tf.Tensor,
                         sampled_expected_count: tf.Tensor) -> tf.Tensor:
    """Mean over the batch of `tf.nn.sampled_softmax_loss(item_table, zeros, target, readout, ...)`.

    Zero, untrainable biases as the original, so they are left out. Compiles under XLA.
    """
    target_ids = tf.reshape(tf.cast(target_ids, tf.int64), [-1])
    sampled_ids = tf.cast(sampled_ids, tf.int64)
    true_weights = tf.gather(item_table, target_ids)  # [B, d]
    sampled_weights = tf.gather(item_table, sampled_ids)  # [S, d]
    true_logits = tf.reduce_sum(readout * true_weights, axis=1, keepdims=True)
    true_logits -= tf.math.log(tf.reshape(true_expected_count, [-1, 1]))
    sampled_logits = tf.matmul(readout, sampled_weights, transpose_b=True)
    sampled_logits -= tf.math.log(sampled_expected_count)[tf.newaxis, :]
    accidental_hits = tf.equal(target_ids[:, tf.newaxis], sampled_ids[tf.newaxis, :])
    sampled_logits += tf.where(accidental_hits, _ACCIDENTAL_HIT_LOGIT_OFFSET, 0.0)
    logits = tf.concat([true_logits, sampled_logits], axis=1)
    # The true class is column 0: cross-entropy = logsumexp(logits) - logits[:, 0].
    per_example = tf.reduce_logsumexp(logits, axis=1) - logits[:, 0]
    return tf.reduce_mean(per_example)
