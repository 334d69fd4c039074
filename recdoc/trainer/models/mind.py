"""MIND: one bilinear map shared by every interest, randomly initialised routing, optional ReLU projection.

Reference section 3 ("MIND"), as the original `CapsuleNetwork(bilinear_type=0)`: `e_hat = Dense(d)(e)` on every
position (the original passes `bias_initializer=None`, which TF1 turns into glorot-uniform over the bias), tiled
K times so all interests start from the same `e_hat`; the routing logits are drawn from a truncated normal
(stddev 1) on every forward pass, training and evaluation alike, so evaluation is stochastic; then the same three
routing iterations as ComiRec-DR. The original adds `Dense(d, relu)` after routing on `book` only.
"""

from __future__ import annotations

from typing import Any

from recdoc.model_specs import ModelSpec
from recdoc.tfimport import tf
from recdoc.trainer.models.base import MultiInterestModel
from recdoc.trainer.models.comirec_dr import dynamic_routing
from recdoc.trainer.models.layers import Dense

# Random routing logits on every pass: evaluation is stochastic (rescore takes several passes).
SPEC = ModelSpec(name="MIND", aliases=("mind",), multi_interest=True, stochastic_evaluation=True, paper_row="MIND",
                 checkpoint_names=("capsule", "bilinear", "routing", "mind"), order=3)
ROUTING_LOGIT_STDDEV = 1.0


def shared_bilinear_map(bilinear: Dense, history_embeddings: tf.Tensor, num_interest: int) -> tf.Tensor:
    """`Dense(d)` on every position, tiled over K interests: `[B, K, T, d]`, identical along K."""
    projected = bilinear(history_embeddings)  # [B, T, d]
    return tf.tile(projected[:, tf.newaxis, :, :], [1, num_interest, 1, 1])


class MIND(MultiInterestModel):
    """MIND with a fixed number K of interests; `relu_projection` is the original's `dataset == 'book'`."""

    def __init__(self, item_count: int, embedding_dim: int, maxlen: int, num_interest: int,
                 initializer_seed: int, relu_projection: bool) -> None:
        super().__init__(item_count, embedding_dim, maxlen, num_interest, initializer_seed, name="MIND")
        self.bilinear = Dense(embedding_dim, embedding_dim, self._next_weight_seed(), self._next_weight_seed(),
                              bias_init="glorot_uniform", name="bilinear")
        self.projection = (Dense(embedding_dim, embedding_dim, self._next_weight_seed(), self._next_weight_seed(),
                                 activation=tf.nn.relu, name="proj") if relu_projection else None)
        # Its own generator: the routing draws are reproducible from the seed and resume with the checkpoint.
        self.routing_generator = tf.random.Generator.from_seed(initializer_seed)

    def initial_routing_logits(self, batch_size: tf.Tensor, seq_len: tf.Tensor) -> tf.Tensor:
        return self.routing_generator.truncated_normal([batch_size, self.num_interest, seq_len],
                                                       stddev=ROUTING_LOGIT_STDDEV)

    def compute_interests(self, hist: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        history = self.embed_history(hist, mask)
        interest_items = shared_bilinear_map(self.bilinear, history, self.num_interest)
        shape = tf.shape(hist)
        capsules = dynamic_routing(interest_items, mask, self.initial_routing_logits(shape[0], shape[1]))
        return capsules if self.projection is None else self.projection(capsules)


def build(config: Any, item_count: int) -> MIND:
    # The original's get_model: `relu_layer = True if dataset == 'book' else False`.
    return MIND(item_count=item_count, embedding_dim=config.embedding_dim, maxlen=config.maxlen,
                num_interest=config.num_interest, initializer_seed=config.random_seed,
                relu_projection=config.dataset == "book")
