"""GRU4Rec: the final state of a GRU run over the history; one interest.

Reference section 3, as the original `Model_GRU4REC`: `tf.nn.dynamic_rnn(GRUCell(d), masked history,
sequence_length = sum(mask))`, whose final state is the state after the first `length` steps (later steps leave
it unchanged, so right padding never reaches it). The cell is TF1's `GRUCell`:
`r, u = sigmoid([x, h] @ W_g + b_g)`, `c = tanh([x, r * h] @ W_c + b_c)`, `h' = u * h + (1 - u) * c`, with
glorot-uniform kernels over their concatenated shapes, gate bias 1 and candidate bias 0.
"""

from __future__ import annotations

from typing import Any

from recdoc.model_specs import ModelSpec
from recdoc.tfimport import tf
from recdoc.trainer.models.base import MultiInterestModel
from recdoc.trainer.models.layers import Dense

SPEC = ModelSpec(name="GRU4REC", aliases=("gru4rec",), paper_row="GRU4REC", checkpoint_names=("gru",), order=5)


class GRUCell(tf.Module):
    """TF1's `GRUCell` (reset applied before the candidate's matmul)."""

    def __init__(self, input_dim: int, units: int, seeds: list[tuple[int, int]]) -> None:
        super().__init__(name="gru_cell")
        self.units = units
        # Weight holders over the concatenated [input, state] rows, as TF1 stores them; the maths is in `step`.
        self.gates = Dense(input_dim + units, 2 * units, seeds[0], seeds[1], bias_init="ones", name="gates")
        self.candidate = Dense(input_dim + units, units, seeds[2], seeds[3], name="candidate")

    def input_parts(self, inputs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The input's share of the gate and candidate pre-activations (plus biases) for every step at once.

        TF1's cell computes `[x, h] @ W`; that is `x @ W[:input_dim] + h @ W[input_dim:]`, so the input's share
        is one large matmul over all steps and only the state's share stays inside the recurrence.
        """
        input_dim = inputs.shape[-1]
        flat = tf.reshape(inputs, [-1, input_dim])
        gate_part = tf.matmul(flat, self.gates.kernel[:input_dim]) + self.gates.bias
        candidate_part = tf.matmul(flat, self.candidate.kernel[:input_dim]) + self.candidate.bias
        leading = tf.shape(inputs)[:-1]
        return (tf.reshape(gate_part, tf.concat([leading, [2 * self.units]], axis=0)),
                tf.reshape(candidate_part, tf.concat([leading, [self.units]], axis=0)))

    def step(self, gate_input: tf.Tensor, candidate_input: tf.Tensor, state: tf.Tensor) -> tf.Tensor:
        """`r, u = sigmoid(...)`, `c = tanh(... + (r * h) @ W_c[input_dim:])`, `h' = u * h + (1 - u) * c`."""
        input_dim = self.gates.kernel.shape[0] - self.units
        gate_values = tf.math.sigmoid(gate_input + tf.matmul(state, self.gates.kernel[input_dim:]))
        reset, update = tf.split(gate_values, 2, axis=1)
        candidate = tf.math.tanh(candidate_input + tf.matmul(reset * state, self.candidate.kernel[input_dim:]))
        return update * state + (1.0 - update) * candidate


def final_state(cell: GRUCell, inputs: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
    """`dynamic_rnn`'s final state for `inputs [B, T, d]` and `lengths [B]`, from a zero state.

    Unrolled over the static T (the step compiles as one XLA program); steps at or past a sequence's length keep
    its state.
    """
    seq_len = inputs.shape[1]
    if seq_len is None:
        raise ValueError("GRU4Rec needs histories of a static length (maxlen)")
    gate_inputs, candidate_inputs = cell.input_parts(inputs)
    state = tf.zeros([tf.shape(inputs)[0], cell.units], dtype=inputs.dtype)
    for step in range(seq_len):
        stepped = cell.step(gate_inputs[:, step, :], candidate_inputs[:, step, :], state)
        state = tf.where((step < lengths)[:, tf.newaxis], stepped, state)
    return state


class GRU4Rec(MultiInterestModel):
    """GRU4Rec (the original's `--model_type GRU4REC`); hidden size = d; K = 1."""

    merges_interests = False  # one user vector [B, d] in the original: its top-N kept as is

    def __init__(self, item_count: int, embedding_dim: int, maxlen: int, initializer_seed: int) -> None:
        super().__init__(item_count, embedding_dim, maxlen, 1, initializer_seed, name="GRU4REC")
        self.cell = GRUCell(embedding_dim, embedding_dim, [self._next_weight_seed() for _ in range(4)])

    def compute_interests(self, hist: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        lengths = tf.cast(tf.reduce_sum(mask, axis=1), tf.int32)
        return final_state(self.cell, self.embed_history(hist, mask), lengths)[:, tf.newaxis, :]


def build(config: Any, item_count: int) -> GRU4Rec:
    return GRU4Rec(item_count=item_count, embedding_dim=config.embedding_dim, maxlen=config.maxlen,
                   initializer_seed=config.random_seed)
