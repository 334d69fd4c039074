"""YouTube DNN: the masked mean of the history embeddings through one linear layer; one interest.

Reference section 3, as the original `Model_DNN`: `sum_t e_t / (sum_t mask_t + 1e-9)` (the embeddings are already
zero at padding), then `tf.layers.dense(d)` without activation (bias, glorot-uniform kernel, zero bias).
"""

from __future__ import annotations

from typing import Any

from recdoc.model_specs import ModelSpec
from recdoc.tfimport import tf
from recdoc.trainer.models.base import MultiInterestModel
from recdoc.trainer.models.layers import Dense

SPEC = ModelSpec(name="DNN", aliases=("dnn", "youtubednn", "youtube-dnn", "youtube_dnn", "youtube dnn"),
                 paper_row="DNN", checkpoint_names=("dnn", "user_layer", "user"), order=4)
MEAN_EPSILON = 1e-9


def masked_mean(history_embeddings: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean over the real positions of `history_embeddings [B, T, d]` (zero at padding): `[B, d]`."""
    counts = tf.reduce_sum(mask, axis=1, keepdims=True)
    return tf.reduce_sum(history_embeddings, axis=1) / (counts + MEAN_EPSILON)


class YouTubeDNN(MultiInterestModel):
    """YouTube DNN (the original's `--model_type DNN`); K = 1."""

    merges_interests = False  # one user vector [B, d] in the original: its top-N kept as is

    def __init__(self, item_count: int, embedding_dim: int, maxlen: int, initializer_seed: int) -> None:
        super().__init__(item_count, embedding_dim, maxlen, 1, initializer_seed, name="DNN")
        self.user_layer = Dense(embedding_dim, embedding_dim, self._next_weight_seed(), self._next_weight_seed(),
                                name="user")

    def compute_interests(self, hist: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        user = self.user_layer(masked_mean(self.embed_history(hist, mask), mask))
        return user[:, tf.newaxis, :]


def build(config: Any, item_count: int) -> YouTubeDNN:
    return YouTubeDNN(item_count=item_count, embedding_dim=config.embedding_dim, maxlen=config.maxlen,
                      initializer_seed=config.random_seed)
