"""Sampled-softmax loss against TensorFlow's own, TF1-style Adam against its formula, and the train step."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from recdoc.config import RunConfig
from recdoc.errors import UsageError
from recdoc.trainer.loss import CandidateSampler, sampled_softmax_loss
from recdoc.trainer.models import build_model
from recdoc.trainer.optimizer import Adam
from recdoc.trainer.train import Trainer


def test_candidate_sampler_draws_unique_ids_in_range_reproducibly() -> None:
    first = CandidateSampler(num_sampled=30, item_count=100, seed=5).sample(np.array([1, 2, 3]))
    again = CandidateSampler(num_sampled=30, item_count=100, seed=5).sample(np.array([1, 2, 3]))
    ids = first.sampled_ids
    assert ids.shape == (30,) and len(set(ids.tolist())) == 30
    assert ids.min() >= 0 and ids.max() < 100
    assert first.true_expected_count.shape == (3, 1)
    np.testing.assert_array_equal(ids, again.sampled_ids)
    # Log-uniform: id 0 is the most likely class, so its expected count is the largest.
    expected = first.true_expected_count[:, 0]
    assert expected[0] > expected[1] > expected[2]


def test_candidate_sampler_resumes_from_its_saved_state() -> None:
    uninterrupted = CandidateSampler(num_sampled=50, item_count=300, seed=2)
    draws = [uninterrupted.sample(np.array([4])).sampled_ids for _ in range(5)]
    interrupted = CandidateSampler(num_sampled=50, item_count=300, seed=2)
    for _ in range(2):
        interrupted.sample(np.array([4]))
    saved = json.loads(json.dumps(interrupted.state()))  # as stored in the run's loop state
    resumed = CandidateSampler(num_sampled=50, item_count=300, seed=2)
    resumed.restore(saved)
    for expected in draws[2:]:
        np.testing.assert_array_equal(resumed.sample(np.array([4])).sampled_ids, expected)


class ScriptedUniform:
    """Stands in for the sampler's numpy generator: uniforms that decode to the given ids, in order."""

    def __init__(self, ids: list[int], item_count: int) -> None:
        self.values = [math.log(i + 1.5) / math.log1p(item_count) for i in ids]  # exp(u * log(n + 1)) = id + 1.5

    def random(self, size: int) -> np.ndarray:
        drawn, self.values = self.values[:size], self.values[size:]
        assert len(drawn) == size, "the sampler asked for more draws than scripted"
        return np.array(drawn)


@pytest.mark.parametrize(("ids", "sampled", "tries"), [
    ([2, 2, 5, 2, 7, 1], [2, 5, 7], 5),  # repeats: tries counts every draw up to the third new id
    ([3, 1, 4, 9, 9, 9], [3, 1, 4], 3),  # no repeat before the third new id: tries == num_sampled
    ([4, 4, 4, 4, 9, 9] + [9, 4, 1] + [0] * 9, [4, 9, 1], 9),  # a second, doubled chunk: 6 + 3 draws
])
def test_candidate_sampler_counts_its_tries_as_tensorflow_does(ids: list[int], sampled: list[int],
                                                               tries: int) -> None:
    item_count, num_sampled = 10, 3
    sampler = CandidateSampler(num_sampled=num_sampled, item_count=item_count, seed=0)
    sampler.rng = ScriptedUniform(ids, item_count)  # type: ignore[assignment]
    drawn = sampler.sample(np.array([0, 8]))
    np.testing.assert_array_equal(drawn.sampled_ids, sampled)
    probability = np.log((np.array([0, 8]) + 2.0) / (np.array([0, 8]) + 1.0)) / math.log1p(item_count)
    expected = probability * num_sampled if tries == num_sampled else -np.expm1(tries * np.log1p(-probability))
    np.testing.assert_allclose(drawn.true_expected_count[:, 0], expected, rtol=1e-6)
    assert not sampler._seen.any() and (sampler._first_position == np.iinfo(np.int32).max).all()


def test_candidate_sampler_has_tensorflows_distribution_and_expected_counts() -> None:
    # Against the op the original uses (`log_uniform_candidate_sampler`, unique): how often each tenth of the
    # catalogue is drawn, and the expected count of a rare true class (which depends on the number of tries).
    items, num_sampled, batches = 1000, 200, 300
    ours = CandidateSampler(num_sampled=num_sampled, item_count=items, seed=7)
    true_class = tf.constant([[999]], tf.int64)
    ours_hits, theirs_hits = np.zeros(items), np.zeros(items)
    ours_counts, theirs_counts = [], []
    for batch in range(batches):
        drawn = ours.sample(np.array([999]))
        ours_hits[drawn.sampled_ids] += 1
        ours_counts.append(drawn.true_expected_count[0, 0])
        ids, true_expected, _ = tf.random.log_uniform_candidate_sampler(
            true_class, 1, num_sampled, True, items, seed=batch + 1)
        theirs_hits[ids.numpy()] += 1
        theirs_counts.append(true_expected.numpy()[0, 0])
    deciles = lambda hits: hits.reshape(10, -1).sum(axis=1) / hits.sum()  # noqa: E731
    np.testing.assert_allclose(deciles(ours_hits), deciles(theirs_hits), rtol=0.06)
    assert np.mean(ours_counts) == pytest.approx(np.mean(theirs_counts), rel=0.03)


def test_candidate_sampler_rejects_more_negatives_than_items() -> None:
    with pytest.raises(UsageError, match="neg_num"):
        CandidateSampler(num_sampled=2560, item_count=1349, seed=1)


@pytest.mark.parametrize("compiled", [False, True])
def test_loss_equals_tensorflow_sampled_softmax_loss_with_accidental_hits(compiled: bool) -> None:
    items, dim, batch, num_sampled = 60, 8, 7, 25
    table = tf.random.stateless_normal([items, dim], seed=(1, 2))
    readout = tf.random.stateless_normal([batch, dim], seed=(3, 4))
    # Small ids are the likeliest log-uniform draws, so these targets collide with the candidates.
    targets = np.array([0, 1, 2, 3, 4, 40, 59], np.int64)
    candidates = CandidateSampler(num_sampled=num_sampled, item_count=items, seed=1).sample(targets)
    hits = np.isin(targets, candidates.sampled_ids)
    assert hits.sum() >= 2 and not hits.all()

    expected = tf.reduce_mean(tf.nn.sampled_softmax_loss(
        weights=table, biases=tf.zeros([items]), labels=targets.reshape(-1, 1), inputs=readout,
        num_sampled=num_sampled, num_classes=items, sampled_values=candidates.as_tuple(),
        remove_accidental_hits=True)).numpy()
    loss_fn = tf.function(sampled_softmax_loss, jit_compile=True) if compiled else sampled_softmax_loss
    ours = loss_fn(table, readout, tf.constant(targets, tf.int32), *candidates.as_tuple()).numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-5)

    # Leaving the hits in would change the value: the comparison is sensitive to their removal.
    without_removal = tf.reduce_mean(tf.nn.sampled_softmax_loss(
        weights=table, biases=tf.zeros([items]), labels=targets.reshape(-1, 1), inputs=readout,
        num_sampled=num_sampled, num_classes=items, sampled_values=candidates.as_tuple(),
        remove_accidental_hits=False)).numpy()
    assert abs(without_removal - expected) > 1e-3


def test_loss_gradients_equal_tensorflow_sampled_softmax_gradients() -> None:
    items, dim, batch, num_sampled = 50, 6, 5, 20
    table = tf.Variable(tf.random.stateless_normal([items, dim], seed=(5, 6)))
    readout = tf.Variable(tf.random.stateless_normal([batch, dim], seed=(7, 8)))
    targets = np.array([0, 1, 7, 20, 49], np.int64)
    candidates = CandidateSampler(num_sampled=num_sampled, item_count=items, seed=3).sample(targets)
    with tf.GradientTape(persistent=True) as tape:
        ours = sampled_softmax_loss(table, readout, targets, *candidates.as_tuple())
        theirs = tf.reduce_mean(tf.nn.sampled_softmax_loss(
            table, tf.zeros([items]), targets.reshape(-1, 1), readout, num_sampled, items,
            sampled_values=candidates.as_tuple()))
    for variable in (table, readout):
        np.testing.assert_allclose(tf.convert_to_tensor(tape.gradient(ours, variable)).numpy(),
                                   tf.convert_to_tensor(tape.gradient(theirs, variable)).numpy(),
                                   rtol=1e-4, atol=1e-6)


def numpy_tf1_adam(param: np.ndarray, steps: list[tuple[np.ndarray, np.ndarray]], lr: float,
                   beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> list[np.ndarray]:
    """TF1 AdamOptimizer's sparse path: sum duplicate rows, decay every row's moments, move every row."""
    param = param.astype(np.float64).copy()
    m = np.zeros_like(param)
    v = np.zeros_like(param)
    history = []
    for t, (indices, values) in enumerate(steps, start=1):
        gradient = np.zeros_like(param)
        np.add.at(gradient, indices, values)
        m = beta1 * m + (1 - beta1) * gradient
        v = beta2 * v + (1 - beta2) * gradient ** 2
        lr_t = lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
        param = param - lr_t * m / (np.sqrt(v) + eps)
        history.append(param.copy())
    return history


@pytest.mark.parametrize("use_kernel", [True, False])
@pytest.mark.parametrize("in_graph", [False, True])
def test_adam_matches_tf1_sparse_formula_and_moves_untouched_rows(use_kernel: bool, in_graph: bool) -> None:
    rows, dim, lr = 6, 3, 0.01
    rng = np.random.default_rng(0)
    initial = rng.normal(size=(rows, dim)).astype(np.float32)
    steps = [
        (np.array([0, 2, 2]), rng.normal(size=(3, dim))),  # duplicate row 2: summed before squaring
        (np.array([1]), rng.normal(size=(1, dim))),  # rows 0 and 2 untouched but with moments
        (np.array([5, 0]), np.full((2, dim), 1e-6)),  # tiny gradient: epsilon 1e-8 vs 1e-7 matters
    ]
    variable = tf.Variable(initial)
    optimizer = Adam([variable], learning_rate=lr, use_kernel=use_kernel)

    def apply(indices: tf.Tensor, values: tf.Tensor) -> None:
        optimizer.apply_gradients([(tf.IndexedSlices(values, indices, tf.constant([rows, dim])), variable)])

    apply_fn = tf.function(apply) if in_graph else apply
    expected = numpy_tf1_adam(initial, steps, lr)
    previous = initial
    for step_number, ((indices, values), want) in enumerate(zip(steps, expected), start=1):
        apply_fn(tf.constant(indices, tf.int32), tf.constant(values, tf.float32))
        current = variable.numpy()
        np.testing.assert_allclose(current, want, rtol=1e-5, atol=1e-6)
        if step_number == 2:
            untouched_with_moments = [0, 2]
            assert np.all(np.abs(current[untouched_with_moments] - previous[untouched_with_moments]) > 1e-4)
            never_touched = [3, 4]
            np.testing.assert_array_equal(current[never_touched], initial[never_touched])
        previous = current
    assert int(optimizer.iterations.numpy()) == 3
    np.testing.assert_allclose(optimizer.beta1_power.numpy(), 0.9 ** 4, rtol=1e-6)
    # Row 5 got one 1e-6 gradient at t=3: m = 1e-7, sqrt(v) = sqrt(1e-3) * 1e-6, so epsilon decides the step
    # (about 0.00485 with 1e-8, 0.00154 with Keras' 1e-7).
    lr_t = lr * np.sqrt(1 - 0.999 ** 3) / (1 - 0.9 ** 3)
    hand_step = lr_t * 1e-7 / (np.sqrt(1e-3) * 1e-6 + 1e-8)
    np.testing.assert_allclose(initial[5] - variable.numpy()[5], hand_step, rtol=1e-3)


def float32_tf1_sparse_adam(param: np.ndarray, steps: list[tuple[np.ndarray, np.ndarray]], lr: float
                            ) -> np.ndarray:
    """TF1's `_apply_sparse_shared`, one float32 operation at a time in TF1's order (numpy never fuses)."""
    f = np.float32
    beta1, beta2, eps = f(0.9), f(0.999), f(1e-8)
    param, m, v = param.copy(), np.zeros_like(param), np.zeros_like(param)
    beta1_power, beta2_power = beta1, beta2
    for indices, values in steps:
        rows, positions = np.unique(indices, return_inverse=True)
        summed = np.zeros((len(rows), param.shape[1]), np.float32)
        for position, value in zip(positions, values.astype(np.float32)):  # duplicates summed in input order
            summed[position] += value
        rate = f(lr) * np.sqrt(f(1) - beta2_power) / (f(1) - beta1_power)
        m = m * beta1
        m[rows] += summed * (f(1) - beta1)
        v = v * beta2
        v[rows] += (summed * summed) * (f(1) - beta2)
        param = param - rate * m / (np.sqrt(v) + eps)
        beta1_power, beta2_power = beta1_power * beta1, beta2_power * beta2
    return param


@pytest.mark.parametrize("use_kernel", [True, False])
def test_sparse_update_is_tf1_arithmetic_to_the_last_bit(use_kernel: bool) -> None:
    rows, dim = 50, 16
    rng = np.random.default_rng(4)
    initial = rng.normal(size=(rows, dim)).astype(np.float32)
    steps = [(rng.integers(0, rows, size=12), rng.normal(size=(12, dim)).astype(np.float32)) for _ in range(6)]
    variable = tf.Variable(initial)
    optimizer = Adam([variable], learning_rate=0.01, use_kernel=use_kernel)
    apply = tf.function(lambda i, g: optimizer.apply_gradients(
        [(tf.IndexedSlices(g, i, tf.constant([rows, dim])), variable)]))
    for indices, values in steps:
        apply(tf.constant(indices, tf.int32), tf.constant(values))
    np.testing.assert_array_equal(variable.numpy(), float32_tf1_sparse_adam(initial, steps, 0.01))
    if use_kernel and shutil.which("g++"):
        assert optimizer.sparse_update_path == "fused kernel"  # a compiler is here: the kernel must build


def test_the_kernel_never_writes_into_a_tensor_read_before_the_update() -> None:
    # An eager read shares the variable's buffer; the update must copy first (TensorFlow's copy-on-write).
    variable = tf.Variable(np.arange(12, dtype=np.float32).reshape(4, 3))
    optimizer = Adam([variable], learning_rate=0.1)
    held = variable.read_value()
    before = held.numpy().copy()
    optimizer.apply_gradients([(tf.IndexedSlices(tf.ones([1, 3]), tf.constant([2]), tf.constant([4, 3])),
                                variable)])
    np.testing.assert_array_equal(held.numpy(), before)
    assert not np.array_equal(variable.numpy(), before)


def test_set_learning_rate_changes_the_step_size() -> None:
    variable = tf.Variable([[1.0]])
    optimizer = Adam([variable], learning_rate=0.5)
    optimizer.set_learning_rate(0.1)
    optimizer.apply_gradients([(tf.constant([[2.0]]), variable)])
    # First Adam step moves by lr * g / |g| (up to epsilon).
    np.testing.assert_allclose(variable.numpy(), [[0.9]], rtol=1e-6)


def tiny_run_config(**overrides: object) -> RunConfig:
    values: dict[str, object] = dict(batch_size=16, maxlen=8, num_interest=2, embedding_dim=8, hidden_size=8,
                                     neg_num=2, learning_rate=0.01, random_seed=5)
    values.update(overrides)
    return RunConfig(**values)  # type: ignore[arg-type]


def tiny_training_batch(items: int, batch: int, maxlen: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    lengths = rng.integers(2, maxlen + 1, size=batch)
    mask = (np.arange(maxlen)[None, :] < lengths[:, None]).astype(np.float32)
    hist = (rng.integers(1, items, size=(batch, maxlen)) * mask).astype(np.int32)
    target = rng.integers(1, items, size=batch).astype(np.int32)
    return hist, mask, target


def test_train_steps_lower_the_loss_and_repeat_exactly_for_a_seed() -> None:
    items, steps = 200, 40

    def run() -> tuple[list[float], int]:
        config = tiny_run_config(random_seed=9)
        trainer = Trainer(build_model(config, items), config)
        batch = tiny_training_batch(items, config.batch_size, config.maxlen)
        losses = [trainer.train_step(*batch) for _ in range(steps)]
        return losses, int(trainer.optimizer.iterations.numpy())

    losses, iterations = run()
    assert all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.75 * np.mean(losses[:5])
    assert iterations == steps
    assert run()[0] == losses


@pytest.mark.parametrize("use_kernel", [True, False])
def test_several_steps_in_one_call_equal_the_same_steps_one_by_one(use_kernel: bool,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    if not use_kernel:
        from recdoc.trainer.kernels import build

        monkeypatch.setattr(build, "load", lambda name: build.KernelLoad(None, "switched off by the test"))
    items = 120
    config = tiny_run_config(random_seed=4)
    rng = np.random.default_rng(8)
    batches = []
    for _ in range(5):
        hist, mask, _ = tiny_training_batch(items, config.batch_size, config.maxlen)
        batches.append((np.roll(hist, int(rng.integers(1, 7)), axis=0), mask,
                        rng.integers(1, items, size=config.batch_size).astype(np.int32)))
    one_by_one = Trainer(build_model(config, items), config)
    losses = [one_by_one.train_step(*batch) for batch in batches]
    grouped = Trainer(build_model(config, items), config)
    assert grouped.train_steps(batches[:3]) + grouped.train_steps(batches[3:]) == losses
    for a, b in zip(one_by_one.variables, grouped.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert (grouped.optimizer.sparse_update_path == "fused kernel") == (use_kernel and shutil.which("g++") is not None)


def test_checkpoint_objects_round_trip_model_and_optimizer(tmp_path: Path) -> None:
    config = tiny_run_config()
    items = 100
    trainer = Trainer(build_model(config, items), config)
    batch = tiny_training_batch(items, config.batch_size, config.maxlen)
    trainer.train_step(*batch)
    saved = tf.train.Checkpoint(**trainer.checkpoint_objects()).save(str(tmp_path / "ckpt"))
    table_after_one = trainer.model.item_embeddings.numpy().copy()
    trainer.train_step(*batch)
    trainer.set_learning_rate(0.002)
    tf.train.Checkpoint(**trainer.checkpoint_objects()).restore(saved).assert_consumed()
    np.testing.assert_array_equal(trainer.model.item_embeddings.numpy(), table_after_one)
    assert int(trainer.optimizer.iterations.numpy()) == 1
    assert trainer.optimizer.learning_rate.numpy() == pytest.approx(0.01)


def test_variable_without_gradient_is_left_alone_moments_included() -> None:
    reached, unreached = tf.Variable([[1.0, 2.0]]), tf.Variable([[3.0]])
    optimizer = Adam([reached, unreached], learning_rate=0.1)
    optimizer.apply_gradients([(tf.constant([[1.0, -1.0]]), reached), (None, unreached)])
    np.testing.assert_allclose(reached.numpy(), [[0.9, 2.1]], rtol=1e-6)
    np.testing.assert_array_equal(unreached.numpy(), [[3.0]])
    np.testing.assert_array_equal(optimizer.first_moments[1].numpy(), [[0.0]])
