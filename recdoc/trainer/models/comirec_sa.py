"""ComiRec-SA: K attention heads over the history, each a weighted sum of the item embeddings.

Reference section 3 ("ComiRec-SA"), as the original `Model_ComiRec_SA`: a learned position embedding `[1, T, d]`
is added to the (masked) history embeddings only to compute the attention scores
`A = Dense(K)(tanh(Dense(4d)(x + pos)))`; padding scores are set to `-2**32 + 1` before the softmax over
positions; the interests are `A @ x`, the masked embeddings *without* positions. Dense layers are TF1's defaults
(bias, glorot-uniform kernel, zero bias); the position embedding is glorot-uniform over `[1, T, d]`.
"""

from __future__ import annotations

from typing import Any

from recdoc.model_specs import ModelSpec
from recdoc.tfimport import tf
from recdoc.trainer.models.base import MultiInterestModel
from recdoc.trainer.models.layers import Dense, glorot_uniform_variable

SPEC = ModelSpec(name="ComiRec-SA", aliases=("comirec-sa", "comirec_sa"), multi_interest=True,
                 paper_row="ComiRec-SA", checkpoint_names=("position", "self_atten"), order=2)
# The original's padding score, `-2 ** 32 + 1` in Python (float32 rounds it to -2**32).
PADDING_SCORE = float(-2 ** 32 + 1)
HIDDEN_MULTIPLIER = 4


def attention_weights(scores: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Softmax over positions of `scores [B, K, T]` with padding positions forced to `PADDING_SCORE`."""
    padded = tf.equal(mask[:, tf.newaxis, :], 0.0)
    return tf.nn.softmax(tf.where(padded, tf.fill(tf.shape(scores), PADDING_SCORE), scores), axis=-1)


class ComiRecSA(MultiInterestModel):
    """ComiRec-SA with K heads (interests)."""

    def __init__(self, item_count: int, embedding_dim: int, maxlen: int, num_interest: int,
                 initializer_seed: int) -> None:
        super().__init__(item_count, embedding_dim, maxlen, num_interest, initializer_seed, name="ComiRec_SA")
        self.position_embedding = glorot_uniform_variable([1, maxlen, embedding_dim], self._next_weight_seed(),
                                                          name="position_embedding")
        hidden = HIDDEN_MULTIPLIER * embedding_dim
        self.hidden_layer = Dense(embedding_dim, hidden, self._next_weight_seed(), self._next_weight_seed(),
                                  activation=tf.math.tanh, name="self_atten_hidden")
        self.score_layer = Dense(hidden, num_interest, self._next_weight_seed(), self._next_weight_seed(),
                                 name="self_atten_scores")

    def attention(self, hist: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """Attention weights `[B, K, T]` of each head over the history positions."""
        return self._attention(self.embed_history(hist, mask), mask)

    def _attention(self, history: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        seq_len = tf.shape(history)[1]
        with_positions = history + self.position_embedding[:, :seq_len, :]
        scores = tf.transpose(self.score_layer(self.hidden_layer(with_positions)), [0, 2, 1])
        return attention_weights(scores, mask)

    def compute_interests(self, hist: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        history = self.embed_history(hist, mask)
        return tf.matmul(self._attention(history, mask), history)


def build(config: Any, item_count: int) -> ComiRecSA:
    return ComiRecSA(item_count=item_count, embedding_dim=config.embedding_dim, maxlen=config.maxlen,
                     num_interest=config.num_interest, initializer_seed=config.random_seed)
