"""Adam with TF1 `AdamOptimizer` semantics, the original's optimizer, epsilon 1e-8 (Keras 3's is 1e-7).

TF1 dispatches on the gradient's type, and so does this class:
- a dense gradient (the bilinear weights, dense layers) goes through `ApplyAdam` (`_apply_dense`):
  `m += (g - m) * (1 - b1)`, `v += (g^2 - v) * (1 - b2)`, `var -= lr_t * m / (sqrt(v) + eps)`;
- a sparse gradient (`IndexedSlices`: the item table, reached through lookups) goes through `_apply_sparse_shared`:
  duplicate rows summed, then the moments of EVERY row decayed (`m = m * b1`, `v = v * b2`), `g * (1 - b1)` and
  `(g * g) * (1 - b2)` added on the touched rows, and every row moved by `lr * m / (sqrt(v) + eps)` with
  `lr = lr_t * sqrt(1 - b2^t) / (1 - b1^t)`. Untouched rows keep moving while their moments are non-zero.
The sparse update runs as recdoc's fused kernel (`kernels/tf1_sparse_adam.cc`: one pass over the three tables)
when it compiles, otherwise as TF1's own sequence of TensorFlow ops; both give the same float32 numbers.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from recdoc.tfimport import tf
from recdoc.trainer.kernels import build

BETA1 = 0.9
BETA2 = 0.999
EPSILON = 1e-8
SPARSE_ADAM_SOURCE = "tf1_sparse_adam.cc"


def all_on_cpu(devices: Sequence[str]) -> bool:
    """Whether every device string names a CPU (an empty one means unplaced, which is the CPU here)."""
    return all(not device or ":CPU:" in device.upper() or device.upper().endswith("CPU") for device in devices)


class Adam(tf.Module):
    """TF1-style Adam. Variables (moments, beta powers, step count) are checkpointable as a `tf.Module`.

    `use_kernel=False` forces the TensorFlow-ops path of the sparse update (tests compare the two)."""

    def __init__(self, variables: Sequence[tf.Variable], learning_rate: float, beta1: float = BETA1,
                 beta2: float = BETA2, epsilon: float = EPSILON, use_kernel: bool = True) -> None:
        super().__init__(name="Adam")
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        # A variable, so changing it (finetune) needs no retrace of the compiled step.
        self.learning_rate = tf.Variable(learning_rate, dtype=tf.float32, trainable=False, name="learning_rate")
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations")
        # TF1 keeps running products b1^t, b2^t (starting at b1, b2) and multiplies after each update.
        self.beta1_power = tf.Variable(beta1, dtype=tf.float32, trainable=False, name="beta1_power")
        self.beta2_power = tf.Variable(beta2, dtype=tf.float32, trainable=False, name="beta2_power")
        self._variable_refs = [v.ref() for v in variables]
        self.first_moments = [tf.Variable(tf.zeros_like(v), trainable=False, name=f"m_{i}")
                              for i, v in enumerate(variables)]
        self.second_moments = [tf.Variable(tf.zeros_like(v), trainable=False, name=f"v_{i}")
                               for i, v in enumerate(variables)]
        if not use_kernel:
            kernel = build.KernelLoad(None, "not requested")
        elif not all_on_cpu([v.device for v in variables]):
            kernel = build.KernelLoad(None, "variables not on the CPU; the kernel is CPU-only")
        else:
            kernel = build.load(SPARSE_ADAM_SOURCE)
        self._sparse_kernel = kernel.module
        # Recorded in run.json: which path updated the item table, and why not the kernel.
        self.sparse_update_path = ("fused kernel" if kernel.module is not None
                                   else f"TensorFlow ops ({kernel.detail})")

    def set_learning_rate(self, learning_rate: float) -> None:
        self.learning_rate.assign(learning_rate)

    def apply_gradients(self,
                        grads_and_vars: Iterable[tuple[tf.Tensor | tf.IndexedSlices | None, tf.Variable]]) -> None:
        """One Adam step for every (gradient, variable) pair, dense or sparse by the gradient's type."""
        slot_index = {ref: i for i, ref in enumerate(self._variable_refs)}
        beta1 = tf.constant(self.beta1, tf.float32)
        beta2 = tf.constant(self.beta2, tf.float32)
        epsilon = tf.constant(self.epsilon, tf.float32)
        for gradient, variable in grads_and_vars:
            if gradient is None:
                continue  # as TF1: a variable the loss does not reach is left alone, moments included
            i = slot_index[variable.ref()]
            m, v = self.first_moments[i], self.second_moments[i]
            if isinstance(gradient, tf.IndexedSlices):
                # TF1 computes the bias-corrected rate in the graph, in float32, in this order.
                lr = self.learning_rate * tf.sqrt(1 - self.beta2_power) / (1 - self.beta1_power)
                self._apply_sparse(variable, m, v, lr, beta1, beta2, epsilon, gradient)
            else:
                tf.raw_ops.ResourceApplyAdam(
                    var=variable.handle, m=m.handle, v=v.handle, beta1_power=self.beta1_power,
                    beta2_power=self.beta2_power, lr=self.learning_rate, beta1=beta1, beta2=beta2,
                    epsilon=epsilon, grad=gradient)
        self.beta1_power.assign(self.beta1_power * self.beta1)
        self.beta2_power.assign(self.beta2_power * self.beta2)
        self.iterations.assign_add(1)

    def _apply_sparse(self, variable: tf.Variable, m: tf.Variable, v: tf.Variable, lr: tf.Tensor,
                      beta1: tf.Tensor, beta2: tf.Tensor, epsilon: tf.Tensor, gradient: tf.IndexedSlices) -> None:
        values = tf.convert_to_tensor(gradient.values, tf.float32)
        if self._sparse_kernel is not None:
            self._sparse_kernel.recdoc_tf1_sparse_adam(var=variable.handle, m=m.handle, v=v.handle, lr=lr,
                                                       beta1=beta1, beta2=beta2, epsilon=epsilon,
                                                       values=values, indices=gradient.indices)
            return
        # TF1's `_apply_sparse_duplicate_indices` then `_apply_sparse_shared`, op for op.
        rows, positions = tf.unique(gradient.indices)
        summed = tf.math.unsorted_segment_sum(values, positions, tf.shape(rows)[0])
        m.assign(m * beta1)
        m.scatter_add(tf.IndexedSlices(summed * (1 - beta1), rows))
        v.assign(v * beta2)
        # tf.square, not summed * summed: Grappler reassociates a chain of Muls, which changes the rounding.
        v.scatter_add(tf.IndexedSlices(tf.square(summed) * (1 - beta2), rows))
        variable.assign_sub(lr * m.read_value() / (tf.sqrt(v.read_value()) + epsilon))
