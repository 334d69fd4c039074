"""A toy multi-interest model, declared as every model is (one file: `SPEC`, the class, `build`), for the test that
adding a model is its file plus its reference data (tests/trainer/models/test_toy_model.py).

K linear heads over the masked mean of the history: interest k is `mean(e) @ W_k`.
"""

from __future__ import annotations

from typing import Any

from recdoc.model_specs import ModelSpec
from recdoc.tfimport import tf
from recdoc.trainer.models.base import MultiInterestModel

SPEC = ModelSpec(name="ToyHeads", aliases=("toy_heads", "toy-heads"), multi_interest=True,
                 checkpoint_names=("heads",), checkpoint_tensors=(("heads", "K,d,d"),))


class ToyHeads(MultiInterestModel):
    def __init__(self, item_count: int, embedding_dim: int, maxlen: int, num_interest: int,
                 initializer_seed: int) -> None:
        super().__init__(item_count, embedding_dim, maxlen, num_interest, initializer_seed, name="ToyHeads")
        self.heads = self.normal_weight([num_interest, embedding_dim, embedding_dim], stddev=0.5, name="heads")

    def compute_interests(self, hist: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        history = self.embed_history(hist, mask)
        mean = tf.reduce_sum(history, axis=1) / (tf.reduce_sum(mask, axis=1, keepdims=True) + 1e-9)
        return tf.einsum("bd,kde->bke", mean, self.heads)


def build(config: Any, item_count: int) -> ToyHeads:
    return ToyHeads(item_count=item_count, embedding_dim=config.embedding_dim, maxlen=config.maxlen,
                    num_interest=config.num_interest, initializer_seed=config.random_seed)
