"""Weights initialised as TF1's `tf.layers.dense` / `tf.get_variable` defaults, seeded statelessly.

The original builds its extra layers with TF1 defaults: kernels glorot-uniform over the kernel's own shape,
biases zero (or, where it passes `bias_initializer=None`, glorot-uniform over the bias shape, because TF1 falls
back to glorot-uniform for any float variable without an initializer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from recdoc.tfimport import tf
from recdoc.trainer.models.base import glorot_uniform_limit

WeightSeed = tuple[int, int]
BiasInit = Literal["zeros", "glorot_uniform", "ones"]


def tf1_fans(shape: list[int]) -> tuple[int, int]:
    """TF1's `_compute_fans`: (fan_in, fan_out) of a variable shape; leading axes count as receptive field."""
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = 1
    for size in shape[:-2]:
        receptive_field *= size
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def glorot_uniform_variable(shape: list[int], seed: WeightSeed, name: str) -> tf.Variable:
    """A variable drawn as TF1's default initializer (glorot-uniform over `shape`)."""
    limit = glorot_uniform_limit(*tf1_fans(shape))
    return tf.Variable(tf.random.stateless_uniform(shape, seed=seed, minval=-limit, maxval=limit), name=name)


class Dense(tf.Module):
    """`tf.layers.dense`: `activation(x @ kernel + bias)` over the last axis of any-rank input."""

    def __init__(self, input_dim: int, units: int, kernel_seed: WeightSeed, bias_seed: WeightSeed,
                 bias_init: BiasInit = "zeros", activation: Callable[[tf.Tensor], tf.Tensor] | None = None,
                 name: str | None = None) -> None:
        super().__init__(name=name)
        self.kernel = glorot_uniform_variable([input_dim, units], kernel_seed, name="kernel")
        if bias_init == "glorot_uniform":
            self.bias = glorot_uniform_variable([units], bias_seed, name="bias")
        else:
            fill = 1.0 if bias_init == "ones" else 0.0
            self.bias = tf.Variable(tf.fill([units], fill), name="bias")
        self.activation = activation

    def __call__(self, inputs: tf.Tensor) -> tf.Tensor:
        # One 2-D matmul over the flattened leading axes: XLA on the CPU runs it far faster than a batched einsum.
        flat = tf.reshape(inputs, [-1, inputs.shape[-1]])
        outputs = tf.reshape(tf.matmul(flat, self.kernel) + self.bias,
                             tf.concat([tf.shape(inputs)[:-1], [self.kernel.shape[1]]], axis=0))
        return outputs if self.activation is None else self.activation(outputs)
