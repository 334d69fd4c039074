"""ComiRec-SA, MIND, YouTube DNN, GRU4Rec and MostPopular: the maths that distinguishes each, and a short
training run per model that lowers the loss."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from recdoc.config import RunConfig
from recdoc.trainer.models import build_model
from recdoc.trainer.models.comirec_dr import dynamic_routing
from recdoc.trainer.models.comirec_sa import PADDING_SCORE, ComiRecSA
from recdoc.trainer.models.gru4rec import GRU4Rec, final_state
from recdoc.trainer.models.layers import Dense, tf1_fans
from recdoc.trainer.models.mind import MIND, shared_bilinear_map
from recdoc.trainer.models.youtube_dnn import YouTubeDNN, masked_mean
from recdoc.trainer.train import Trainer
from support.builders import BATCH, DIM, ITEMS, MAXLEN, K, tiny_batch, tiny_config


def with_other_padding_ids(hist: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The same histories with non-zero item ids at every padding position (mask still 0 there)."""
    return np.where(mask == 0, 7, hist).astype(np.int32)


def numpy_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------- shared layers
def test_tf1_fans_follow_tf1_rules() -> None:
    assert tf1_fans([64, 256]) == (64, 256)
    assert tf1_fans([64]) == (64, 64)  # a 1-D variable (a bias) uses its length for both
    assert tf1_fans([1, 20, 64]) == (20, 64)  # leading axes are the receptive field


def test_build_model_registers_every_model_with_its_interest_count() -> None:
    expected = {"ComiRec-SA": (ComiRecSA, K), "MIND": (MIND, K), "DNN": (YouTubeDNN, 1), "GRU4REC": (GRU4Rec, 1),
                "youtube_dnn": (YouTubeDNN, 1), "gru4rec": (GRU4Rec, 1)}
    hist, mask = tiny_batch()
    for model_type, (cls, interests) in expected.items():
        model = build_model(tiny_config(model_type=model_type), ITEMS)
        assert isinstance(model, cls)
        assert model.interests(hist, mask).shape == (BATCH, interests, DIM)


# ---------------------------------------------------------------- ComiRec-SA
def sa_reference(model: ComiRecSA, hist: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The original's SA written out in numpy: (attention [B, K, T], interests [B, K, d])."""
    table = model.item_embeddings.numpy().astype(np.float64)
    history = table[hist] * mask[:, :, None]
    with_pos = history + model.position_embedding.numpy()
    hidden = np.tanh(with_pos @ model.hidden_layer.kernel.numpy() + model.hidden_layer.bias.numpy())
    scores = np.transpose(hidden @ model.score_layer.kernel.numpy() + model.score_layer.bias.numpy(), [0, 2, 1])
    scores = np.where(mask[:, None, :] == 0, -2.0 ** 32 + 1, scores)
    attention = numpy_softmax(scores, axis=-1)
    return attention, attention @ history


def test_sa_positions_enter_the_scores_but_not_the_interests() -> None:
    model = build_model(tiny_config(model_type="ComiRec-SA"), ITEMS)
    model.position_embedding.assign(tf.random.stateless_uniform(model.position_embedding.shape, (3, 4), -2.0, 2.0))
    hist, mask = tiny_batch()
    attention, interests = sa_reference(model, hist, mask)
    np.testing.assert_allclose(model.attention(tf.constant(hist), tf.constant(mask)).numpy(), attention,
                               rtol=1e-5, atol=1e-6)
    # The reference mixes the plain item embeddings: positions must not leak into the interests.
    np.testing.assert_allclose(model.interests(hist, mask).numpy(), interests, rtol=1e-4, atol=1e-6)
    # ... while they do move the attention scores.
    before = model.attention(tf.constant(hist), tf.constant(mask)).numpy()
    model.position_embedding.assign(model.position_embedding * 0.0)
    assert not np.allclose(model.attention(tf.constant(hist), tf.constant(mask)).numpy(), before, atol=1e-4)


def test_sa_padding_gets_zero_attention_and_weights_sum_to_one() -> None:
    model = build_model(tiny_config(model_type="ComiRec-SA"), ITEMS)
    hist, mask = tiny_batch()
    attention = model.attention(tf.constant(hist), tf.constant(mask)).numpy()
    assert np.all(attention[np.broadcast_to(mask[:, None, :] == 0, attention.shape)] == 0.0)
    np.testing.assert_allclose(attention.sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(model.interests(with_other_padding_ids(hist, mask), mask).numpy(),
                               model.interests(hist, mask).numpy(), rtol=1e-6)
    assert PADDING_SCORE == -4294967295.0


def test_sa_initialisation_is_tf1_glorot_uniform() -> None:
    model = ComiRecSA(item_count=ITEMS, embedding_dim=16, maxlen=20, num_interest=4, initializer_seed=1)
    assert np.abs(model.position_embedding.numpy()).max() <= math.sqrt(6 / (20 + 16))
    assert np.abs(model.hidden_layer.kernel.numpy()).max() <= math.sqrt(6 / (16 + 64))
    assert model.hidden_layer.kernel.shape == (16, 64) and model.score_layer.kernel.shape == (64, 4)
    assert np.all(model.hidden_layer.bias.numpy() == 0) and np.all(model.score_layer.bias.numpy() == 0)


# ---------------------------------------------------------------- MIND
def test_mind_shared_map_is_one_dense_layer_tiled_over_interests() -> None:
    model = build_model(tiny_config(model_type="MIND"), ITEMS)
    hist, mask = tiny_batch()
    history = model.embed_history(tf.constant(hist), tf.constant(mask))
    tiled = shared_bilinear_map(model.bilinear, history, K).numpy()
    assert tiled.shape == (BATCH, K, MAXLEN, DIM)
    expected = history.numpy() @ model.bilinear.kernel.numpy() + model.bilinear.bias.numpy()
    for k in range(K):
        np.testing.assert_allclose(tiled[:, k], expected, rtol=1e-5, atol=1e-6)
    # `bias_initializer=None` in the original: TF1 falls back to glorot-uniform, so the bias is not zero.
    bias = model.bilinear.bias.numpy()
    assert np.any(bias != 0) and np.abs(bias).max() <= math.sqrt(6 / (2 * DIM))


def test_mind_routing_logits_are_drawn_afresh_on_every_pass() -> None:
    model = build_model(tiny_config(model_type="MIND"), ITEMS)
    first = model.initial_routing_logits(BATCH, MAXLEN).numpy()
    second = model.initial_routing_logits(BATCH, MAXLEN).numpy()
    assert not np.allclose(first, second)
    assert np.abs(first).max() <= 2.0  # truncated normal, stddev 1: within two standard deviations
    hist, mask = tiny_batch()
    assert not np.allclose(model.interests(hist, mask).numpy(), model.interests(hist, mask).numpy())
    # Same seed, same sequence of draws: runs are reproducible.
    again = build_model(tiny_config(model_type="MIND"), ITEMS)
    np.testing.assert_array_equal(again.initial_routing_logits(BATCH, MAXLEN).numpy(), first)


def test_routing_from_given_zero_logits_is_comirec_dr_routing_and_random_logits_change_it() -> None:
    items = tf.random.stateless_normal([BATCH, K, MAXLEN, DIM], seed=(5, 6))
    _, mask = tiny_batch()
    default = dynamic_routing(items, tf.constant(mask)).numpy()
    np.testing.assert_allclose(dynamic_routing(items, tf.constant(mask), tf.zeros([BATCH, K, MAXLEN])).numpy(),
                               default, rtol=1e-5, atol=1e-7)
    drawn = tf.random.stateless_truncated_normal([BATCH, K, MAXLEN], seed=(7, 8))
    assert not np.allclose(dynamic_routing(items, tf.constant(mask), drawn).numpy(), default, atol=1e-4)


def test_mind_relu_projection_only_on_book() -> None:
    hist, mask = tiny_batch()
    book = build_model(tiny_config(model_type="MIND", dataset="book"), ITEMS)
    other = build_model(tiny_config(model_type="MIND", dataset="taobao"), ITEMS)
    assert isinstance(book.projection, Dense) and other.projection is None
    assert np.all(book.interests(hist, mask).numpy() >= 0.0)
    assert np.any(other.interests(hist, mask).numpy() < 0.0)


# ---------------------------------------------------------------- YouTube DNN
def test_dnn_masked_mean_ignores_padding() -> None:
    embeddings = tf.constant([[[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]]])
    mean = masked_mean(embeddings, tf.constant([[1.0, 1.0, 0.0]])).numpy()
    np.testing.assert_allclose(mean, [[2.0, 3.0]], rtol=1e-6)
    model = build_model(tiny_config(model_type="DNN"), ITEMS)
    hist, mask = tiny_batch()
    table = model.item_embeddings.numpy()
    expected_mean = np.stack([table[hist[b, mask[b] == 1]].mean(axis=0) for b in range(BATCH)])
    expected = expected_mean @ model.user_layer.kernel.numpy() + model.user_layer.bias.numpy()
    np.testing.assert_allclose(model.interests(hist, mask).numpy()[:, 0], expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(model.interests(with_other_padding_ids(hist, mask), mask).numpy(),
                               model.interests(hist, mask).numpy(), rtol=1e-6)


# ---------------------------------------------------------------- GRU4Rec
def numpy_gru(model: GRU4Rec, inputs: np.ndarray) -> np.ndarray:
    """TF1 GRUCell over every step of `inputs [T, d]` for one sequence."""
    gates, candidate = model.cell.gates, model.cell.candidate
    state = np.zeros(DIM)
    for x in inputs:
        value = 1 / (1 + np.exp(-(np.concatenate([x, state]) @ gates.kernel.numpy() + gates.bias.numpy())))
        reset, update = value[:DIM], value[DIM:]
        c = np.tanh(np.concatenate([x, reset * state]) @ candidate.kernel.numpy() + candidate.bias.numpy())
        state = update * state + (1 - update) * c
    return state


def test_gru_final_state_is_the_state_at_the_sequence_length() -> None:
    model = build_model(tiny_config(model_type="GRU4REC"), ITEMS)
    np.testing.assert_array_equal(model.cell.gates.bias.numpy(), 1.0)  # TF1 GRUCell's gate bias
    hist, mask = tiny_batch()
    table = model.item_embeddings.numpy().astype(np.float64)
    states = model.interests(hist, mask).numpy()[:, 0]
    for b in range(BATCH):
        length = int(mask[b].sum())
        np.testing.assert_allclose(states[b], numpy_gru(model, table[hist[b, :length]]), rtol=1e-4, atol=1e-6)


def test_gru_padding_past_the_length_does_not_change_the_state() -> None:
    model = build_model(tiny_config(model_type="GRU4REC"), ITEMS)
    hist, mask = tiny_batch()
    inputs = model.embed_history(tf.constant(hist), tf.constant(mask))
    lengths = tf.constant(mask.sum(axis=1).astype(np.int32))
    noisy = inputs + tf.constant((1 - mask)[:, :, None] * 5.0, dtype=tf.float32)  # garbage after the length
    np.testing.assert_allclose(final_state(model.cell, noisy, lengths).numpy(),
                               final_state(model.cell, inputs, lengths).numpy(), rtol=1e-6)
    # The state does depend on the real steps.
    shorter = final_state(model.cell, inputs, lengths - 1).numpy()
    assert not np.allclose(shorter, final_state(model.cell, inputs, lengths).numpy())


# ---------------------------------------------------------------- training smoke tests
@pytest.mark.slow
@pytest.mark.parametrize("model_type", ["ComiRec-SA", "MIND", "DNN", "GRU4REC"])
def test_a_few_steps_lower_the_loss(model_type: str) -> None:
    config = tiny_config(model_type=model_type, batch_size=8, neg_num=10, learning_rate=0.05, dataset="book")
    items = 200
    model = build_model(config, items)
    trainer = Trainer(model, config)
    rng = np.random.default_rng(3)
    lengths = rng.integers(2, MAXLEN + 1, size=8)
    mask = (np.arange(MAXLEN)[None, :] < lengths[:, None]).astype(np.float32)
    hist = (rng.integers(1, items, size=(8, MAXLEN)) * mask).astype(np.int32)
    target = rng.integers(1, items, size=8).astype(np.int32)
    losses = [trainer.train_step(hist, mask, target) for _ in range(50)]
    assert all(math.isfinite(loss) for loss in losses)
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])


# ---------------------------------------------------------------- MostPopular run folder
def test_most_popular_run_folder_has_final_metrics_the_doctor_reads(tmp_path: Path) -> None:
    from recdoc.diagnose.readers import recdoc_folder
    from recdoc.trainer.data.dataset import load_dataset
    from recdoc.trainer.data.synth import synthesize
    from recdoc.trainer.evaluate import evaluate_most_popular
    from recdoc.trainer.loop import train

    synthesize("pop", items=300, users=200, interests=2, seed=0, data_dir=str(tmp_path / "data"))
    config = RunConfig.for_dataset("pop", model_type="MostPopular", data_dir=str(tmp_path / "data"),
                                   runs_dir=str(tmp_path / "runs"))
    run = train(config)
    record = json.loads((run / "run.json").read_text())
    dataset = load_dataset(str(tmp_path / "data"), "pop")
    expected = evaluate_most_popular(dataset.train, dataset.test, (20, 50), dataset.item_cate or None)
    assert record["final"]["test"] == pytest.approx(expected)
    assert record["final"]["test"]["recall@50"] > 0
    log = (run / "train.log").read_text().splitlines()
    assert log[-1].startswith("test recall: %.6f" % expected["recall@50"])
    parsed = recdoc_folder.read(run)
    assert parsed.finals["test"].recall == pytest.approx(expected["recall@50"])
