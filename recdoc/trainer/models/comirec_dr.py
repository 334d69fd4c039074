"""ComiRec-DR: per-position, per-interest bilinear map followed by three iterations of dynamic routing.

Reference section 3 ("ComiRec-DR"). The original computes the bilinear map by broadcasting to a
`[B, T, K*d, d]` tensor; the einsum here is the same sum without materialising it.
"""

from __future__ import annotations

from typing import Any

from recdoc.model_specs import ModelSpec
from recdoc.tfimport import tf
from recdoc.trainer.models.base import MultiInterestModel

SPEC = ModelSpec(name="ComiRec-DR", aliases=("comirec-dr", "comirec_dr"), multi_interest=True,
                 paper_row="ComiRec-DR", checkpoint_names=(), order=1)

ROUTING_ITERATIONS = 3
SQUASH_EPSILON = 1e-9


def bilinear_map(bilinear_weights: tf.Tensor, history_embeddings: tf.Tensor, num_interest: int) -> tf.Tensor:
    """`e_hat[b, k, t, :] = (W[0, t] @ e[b, t])[k*d:(k+1)*d]`, shape `[B, K, T, d]`.

    `bilinear_weights` is `[1, T, K*d, d]`, `history_embeddings` `[B, T, d]`.
    """
    projected = tf.einsum("tod,btd->bto", bilinear_weights[0], history_embeddings)  # [B, T, K*d]
    batch, seq_len = tf.shape(projected)[0], tf.shape(projected)[1]
    dim = history_embeddings.shape[-1]
    return tf.transpose(tf.reshape(projected, [batch, seq_len, num_interest, dim]), [0, 2, 1, 3])


def squash(capsules: tf.Tensor) -> tf.Tensor:
    """`|s|^2 / (1 + |s|^2) / sqrt(|s|^2 + 1e-9) * s`, over the last axis."""
    squared_norm = tf.reduce_sum(tf.square(capsules), axis=-1, keepdims=True)
    return squared_norm / (1.0 + squared_norm) / tf.sqrt(squared_norm + SQUASH_EPSILON) * capsules


def routing_weights(routing_logits: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Softmax over interests for each position, zeroed at padding without renormalising: `[B, K, T]`."""
    weights = tf.nn.softmax(routing_logits, axis=1)
    return tf.where(tf.equal(mask[:, tf.newaxis, :], 0.0), tf.zeros_like(weights), weights)


def dynamic_routing(interest_items: tf.Tensor, mask: tf.Tensor,
                    initial_logits: tf.Tensor | None = None) -> tf.Tensor:
    """Three routing iterations over `interest_items [B, K, T, d]`; returns interests `[B, K, d]`.

    Logits start at zero on every call (ComiRec-DR) unless `initial_logits [B, K, T]` are given (MIND draws them
    at random). Iterations before the last see `e_hat` behind a stop-gradient and update the logits by
    `<v_k, e_hat[k, t]>`; the last uses `e_hat` itself, so gradients reach the bilinear weights only through the
    final iteration (with the routing weights it computed treated as constants).
    """
    if initial_logits is None:
        routing_logits = tf.zeros(tf.shape(interest_items)[:3], dtype=interest_items.dtype)
    else:
        routing_logits = tf.stop_gradient(initial_logits)
    frozen_items = tf.stop_gradient(interest_items)
    for iteration in range(ROUTING_ITERATIONS):
        weights = routing_weights(routing_logits, mask)
        if iteration < ROUTING_ITERATIONS - 1:
            capsules = squash(tf.einsum("bkt,bktd->bkd", weights, frozen_items))
            routing_logits += tf.einsum("bktd,bkd->bkt", frozen_items, capsules)
        else:
            capsules = squash(tf.einsum("bkt,bktd->bkd", weights, interest_items))
    return capsules


class ComiRecDR(MultiInterestModel):
    """ComiRec-DR with K interests; no ReLU, no projection after routing."""

    def __init__(self, item_count: int, embedding_dim: int, maxlen: int, num_interest: int,
                 initializer_seed: int) -> None:
        super().__init__(item_count, embedding_dim, maxlen, num_interest, initializer_seed, name="ComiRec_DR")
        self.bilinear_weights = self.normal_weight([1, maxlen, num_interest * embedding_dim, embedding_dim],
                                                   stddev=1.0, name="bilinear_weights")

    def compute_interests(self, hist: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        history = self.embed_history(hist, mask)
        interest_items = bilinear_map(self.bilinear_weights, history, self.num_interest)
        return dynamic_routing(interest_items, mask)


def build(config: Any, item_count: int) -> ComiRecDR:
    return ComiRecDR(item_count=item_count, embedding_dim=config.embedding_dim, maxlen=config.maxlen,
                     num_interest=config.num_interest, initializer_seed=config.random_seed)
