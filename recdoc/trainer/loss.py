"""The original's sampled-softmax loss, split so the arithmetic compiles under XLA.

`tf.nn.sampled_softmax_loss` draws its candidates with an op XLA cannot compile. `CandidateSampler` draws them
on the host with the same distribution and rules as that op's default (`log_uniform_candidate_sampler`, unique,
shared by the batch, TensorFlow's expected-count formula), and `sampled_softmax_loss` does the rest by hand:
log-Q correction, accidental hits removed, softmax cross-entropy against the true class, mean over the batch
(reference section 4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from recdoc.errors import UsageError
from recdoc.tfimport import tf

# What `tf.nn.compute_accidental_hits` adds to a sampled logit equal to the true class.
_ACCIDENTAL_HIT_LOGIT_OFFSET = -np.finfo(np.float32).max
_NO_POSITION = np.iinfo(np.int32).max


@dataclass(frozen=True)
class SampledCandidates:
    """One batch's negatives: the `sampled_values` triple of `tf.nn.sampled_softmax_loss`."""

    sampled_ids: np.ndarray  # int64 [S]
    true_expected_count: np.ndarray  # float32 [B, 1]
    sampled_expected_count: np.ndarray  # float32 [S]

    def as_tuple(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.sampled_ids, self.true_expected_count, self.sampled_expected_count


class CandidateSampler:
    """The original's default sampler: log-uniform over `[0, item_count)`, `num_sampled` unique ids per batch.

    As TensorFlow's `LogUniformSampler` with `unique=True`: draw `floor(exp(u * log(item_count + 1))) - 1` until
    `num_sampled` distinct ids are in hand, counting every draw (`num_tries`); the expected count of an id with
    probability `p = log((id + 2) / (id + 1)) / log(item_count + 1)` is `-expm1(num_tries * log1p(-p))`
    (`p * num_sampled` when no draw repeated). A numpy generator seeded with the run's seed drives it; its state
    is saved with the run (`state`/`restore`), so a resumed run draws what an uninterrupted one would.
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
        self.rng = np.random.default_rng(seed)
        self._log_range = math.log1p(item_count)
        # Scratch arrays over the catalogue, restored after every draw: ids already taken, first draw positions.
        self._seen = np.zeros(item_count, dtype=bool)
        self._first_position = np.full(item_count, _NO_POSITION, dtype=np.int32)

    def sample(self, target_ids: np.ndarray | tf.Tensor) -> SampledCandidates:
        sampled, num_tries = self._draw_unique()
        targets = np.asarray(target_ids, dtype=np.int64).reshape(-1, 1)
        return SampledCandidates(sampled, self._expected_count(targets, num_tries),
                                 self._expected_count(sampled, num_tries))

    def state(self) -> dict[str, Any]:
        """The generator's state (JSON-able)."""
        return dict(self.rng.bit_generator.state)

    def restore(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state

    def _draw_unique(self) -> tuple[np.ndarray, int]:
        """The first `num_sampled` distinct ids of the draw sequence, and how many draws that took."""
        seen, first = self._seen, self._first_position
        chosen: list[np.ndarray] = []
        have, drawn = 0, 0
        chunk = 2 * self.num_sampled
        while True:
            draws = np.exp(self.rng.random(chunk) * self._log_range).astype(np.int64) - 1
            draws %= self.item_count  # as TensorFlow: guards a rounding up to item_count
            positions = np.arange(chunk, dtype=np.int32)
            np.minimum.at(first, draws, positions)  # each id's first position in this chunk
            is_new = (first[draws] == positions) & ~seen[draws]
            first[draws] = _NO_POSITION
            new_positions = np.flatnonzero(is_new)  # in draw order
            missing = self.num_sampled - have
            if len(new_positions) >= missing:
                chosen.append(draws[new_positions[:missing]])
                sampled = np.concatenate(chosen)
                seen[sampled] = False
                return sampled, drawn + int(new_positions[missing - 1]) + 1
            new_ids = draws[new_positions]
            seen[new_ids] = True
            chosen.append(new_ids)
            have += len(new_ids)
            drawn += chunk
            chunk *= 2

    def _expected_count(self, ids: np.ndarray, num_tries: int) -> np.ndarray:
        probability = np.log((ids + 2.0) / (ids + 1.0)) / self._log_range
        if num_tries == self.num_sampled:
            return (probability * self.num_sampled).astype(np.float32)
        return (-np.expm1(num_tries * np.log1p(-probability))).astype(np.float32)


def sampled_softmax_loss(item_table: tf.Tensor, readout: tf.Tensor, target_ids: tf.Tensor,
                         sampled_ids: tf.Tensor, true_expected_count: tf.Tensor,
                         sampled_expected_count: tf.Tensor, global_batch: int | None = None) -> tf.Tensor:
    """Mean over the batch of `tf.nn.sampled_softmax_loss(item_table, zeros, target, readout, ...)`.

    Zero, untrainable biases as the original, so they are left out. Compiles under XLA. With `global_batch`, the
    rows are one replica's share of a larger batch: their sum over `global_batch`, so that the replicas' losses
    (and gradients) add up to the global batch's mean.
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
    if global_batch is not None:
        return tf.reduce_sum(per_example) / float(global_batch)
    return tf.reduce_mean(per_example)
