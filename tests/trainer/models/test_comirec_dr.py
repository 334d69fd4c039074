"""ComiRec-DR: bilinear map, routing, masking, gradient path, hard readout, initialisation, registry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from recdoc.errors import UsageError
from recdoc.trainer.models import build_model
from recdoc.trainer.models.comirec_dr import ComiRecDR, bilinear_map, dynamic_routing, routing_weights, squash
from support.builders import BATCH, DIM, ITEMS, MAXLEN, K, tiny_batch, tiny_config


def numpy_routing(interest_items: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The original's routing loop written out in numpy (float64)."""
    batch, k, t, _ = interest_items.shape
    logits = np.zeros((batch, k, t))
    for iteration in range(3):
        weights = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        weights = np.where(mask[:, None, :] == 0, 0.0, weights)
        capsules = np.einsum("bkt,bktd->bkd", weights, interest_items)
        norm2 = (capsules ** 2).sum(-1, keepdims=True)
        capsules = norm2 / (1 + norm2) / np.sqrt(norm2 + 1e-9) * capsules
        if iteration < 2:
            logits = logits + np.einsum("bktd,bkd->bkt", interest_items, capsules)
    return capsules


def test_squash_matches_hand_computed_value() -> None:
    # |s|^2 = 25: 25/26/5 * [3, 4]
    out = squash(tf.constant([[3.0, 4.0]])).numpy()
    np.testing.assert_allclose(out, [[25 / 26 / 5 * 3, 25 / 26 / 5 * 4]], rtol=1e-6)


def test_routing_weights_sum_to_one_over_interests_and_vanish_at_padding() -> None:
    logits = tf.random.stateless_normal([BATCH, K, MAXLEN], seed=(1, 2))
    _, mask = tiny_batch()
    weights = routing_weights(logits, tf.constant(mask)).numpy()
    sums = weights.sum(axis=1)  # [B, T]
    np.testing.assert_allclose(sums[mask == 1], 1.0, rtol=1e-6)
    assert np.all(weights.transpose(0, 2, 1)[mask == 0] == 0.0)


def test_bilinear_einsum_equals_the_original_broadcast_product() -> None:
    weights = tf.random.stateless_normal([1, MAXLEN, K * DIM, DIM], seed=(3, 4))
    history = tf.random.stateless_normal([BATCH, MAXLEN, DIM], seed=(5, 6))
    # The original: reduce_sum(W[:, :T] * expand_dims(e, 2), axis=3) -> reshape [B,T,K,d] -> transpose.
    broadcast = tf.reduce_sum(weights * history[:, :, tf.newaxis, :], axis=3)
    expected = tf.transpose(tf.reshape(broadcast, [BATCH, MAXLEN, K, DIM]), [0, 2, 1, 3])
    np.testing.assert_allclose(bilinear_map(weights, history, K).numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


def test_interests_match_a_numpy_transcription_of_the_original() -> None:
    model = build_model(tiny_config(), ITEMS)
    hist, mask = tiny_batch()
    table = model.item_embeddings.numpy().astype(np.float64)
    weights = model.bilinear_weights.numpy().astype(np.float64)
    history = table[hist] * mask[:, :, None]
    items_hat = np.einsum("tod,btd->bto", weights[0], history).reshape(BATCH, MAXLEN, K, DIM).transpose(0, 2, 1, 3)
    expected = numpy_routing(items_hat, mask)
    interests = model.interests(hist, mask).numpy()
    assert interests.shape == (BATCH, K, DIM)
    np.testing.assert_allclose(interests, expected, rtol=1e-4, atol=1e-6)
    # Logits start from zero on every pass: a second call gives the same vectors.
    np.testing.assert_array_equal(model.interests(hist, mask).numpy(), interests)


def test_padded_ids_do_not_change_interests() -> None:
    model = build_model(tiny_config(), ITEMS)
    hist, mask = tiny_batch()
    changed = hist.copy()
    changed[mask == 0] = np.arange(1, int((mask == 0).sum()) + 1) % (ITEMS - 1) + 1
    assert not np.array_equal(changed, hist)
    np.testing.assert_array_equal(model.interests(changed, mask).numpy(), model.interests(hist, mask).numpy())


def test_gradient_reaches_bilinear_weights_only_through_the_last_iteration() -> None:
    model = build_model(tiny_config(), ITEMS)
    hist, mask = tiny_batch()
    probe = tf.random.stateless_normal([BATCH, K, DIM], seed=(8, 9))
    mask_t = tf.constant(mask)

    with tf.GradientTape() as tape:
        objective = tf.reduce_sum(model.compute_interests(hist, mask_t) * probe)
    model_grad = tape.gradient(objective, model.bilinear_weights).numpy()

    # Final iteration with the routing logits of the first two held constant.
    history = model.embed_history(hist, mask_t)
    items_hat = bilinear_map(model.bilinear_weights, history, K).numpy().astype(np.float64)
    logits = np.zeros((BATCH, K, MAXLEN))
    for _ in range(2):
        weights = np.where(mask[:, None, :] == 0, 0.0, np.exp(logits) / np.exp(logits).sum(1, keepdims=True))
        capsules = squash(tf.constant(np.einsum("bkt,bktd->bkd", weights, items_hat))).numpy()
        logits = logits + np.einsum("bktd,bkd->bkt", items_hat, capsules)
    final_weights = tf.constant(routing_weights(tf.constant(logits, tf.float32), mask_t))
    with tf.GradientTape() as tape:
        last = squash(tf.einsum("bkt,bktd->bkd", final_weights, bilinear_map(model.bilinear_weights, history, K)))
        reference_objective = tf.reduce_sum(last * probe)
    reference_grad = tape.gradient(reference_objective, model.bilinear_weights).numpy()
    np.testing.assert_allclose(model_grad, reference_grad, rtol=1e-4, atol=1e-5)

    # Without the stop-gradients the gradient would differ: the check above can tell them apart.
    with tf.GradientTape() as tape:
        items = bilinear_map(model.bilinear_weights, history, K)
        routing = tf.zeros([BATCH, K, MAXLEN])
        for iteration in range(3):
            caps = squash(tf.einsum("bkt,bktd->bkd", routing_weights(routing, mask_t), items))
            if iteration < 2:
                routing += tf.einsum("bktd,bkd->bkt", items, caps)
        unstopped = tf.reduce_sum(caps * probe)
    unstopped_grad = tape.gradient(unstopped, model.bilinear_weights).numpy()
    assert np.abs(unstopped_grad - model_grad).max() > 1e-3


def test_routing_passes_no_gradient_to_padding_positions_of_the_table() -> None:
    model = build_model(tiny_config(), ITEMS)
    hist, mask = tiny_batch()
    hist[mask == 0] = ITEMS - 1  # an id used only at padding
    assert (ITEMS - 1) not in hist[mask == 1]
    with tf.GradientTape() as tape:
        objective = tf.reduce_sum(model.compute_interests(hist, tf.constant(mask)))
    gradient = tf.convert_to_tensor(tape.gradient(objective, model.item_embeddings)).numpy()
    assert np.all(gradient[ITEMS - 1] == 0.0)
    assert np.abs(gradient[hist[0, 0]]).max() > 0.0


def test_readout_picks_the_interest_closest_to_the_true_target() -> None:
    model = build_model(tiny_config(), ITEMS)
    table = np.zeros((ITEMS, DIM), np.float32)
    table[1, 0] = 1.0
    table[2, 1] = 1.0
    table[3] = [-1.0, -1.0, 0.0, 0.0]
    model.item_embeddings.assign(table)
    interests = np.array([[[2.0, 0.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0], [-0.5, -0.1, 0.0, 0.0]]] * 3, np.float32)
    chosen = model.readout(tf.constant(interests), tf.constant([1, 2, 3])).numpy()
    np.testing.assert_array_equal(chosen, interests[[0, 1, 2], [0, 1, 2]])


def test_readout_gradient_flows_to_the_chosen_interest_only() -> None:
    model = build_model(tiny_config(), ITEMS)
    interests = tf.Variable(tf.random.stateless_normal([BATCH, K, DIM], seed=(1, 1)))
    targets = tf.constant([1, 2, 3])
    with tf.GradientTape(persistent=True) as tape:
        objective = tf.reduce_sum(model.readout(interests, targets))
    gradient = tape.gradient(objective, interests).numpy()
    scores = np.einsum("bkd,bd->bk", interests.numpy(), model.item_embeddings.numpy()[[1, 2, 3]])
    expected = np.zeros_like(gradient)
    expected[np.arange(BATCH), scores.argmax(1)] = 1.0
    np.testing.assert_array_equal(gradient, expected)
    assert tape.gradient(objective, model.item_embeddings) is None


def test_item_table_is_glorot_uniform_over_its_shape_and_bilinear_weights_standard_normal() -> None:
    items, dim = 5000, 64
    model = build_model(tiny_config(embedding_dim=dim, hidden_size=dim, maxlen=20, num_interest=4), items)
    table = model.item_embeddings.numpy()
    limit = math.sqrt(6.0 / (items + dim))
    assert table.shape == (items, dim)
    assert np.abs(table).max() <= limit
    assert np.abs(table).max() > 0.99 * limit
    assert abs(table.std() - limit / math.sqrt(3.0)) < 0.02 * limit
    weights = model.bilinear_weights.numpy()
    assert weights.shape == (1, 20, 4 * dim, dim)
    assert abs(weights.mean()) < 0.01 and abs(weights.std() - 1.0) < 0.01


def test_same_seed_same_weights_other_seed_other_weights() -> None:
    first = build_model(tiny_config(), ITEMS)
    second = build_model(tiny_config(), ITEMS)
    third = build_model(tiny_config(random_seed=8), ITEMS)
    np.testing.assert_array_equal(first.item_embeddings.numpy(), second.item_embeddings.numpy())
    np.testing.assert_array_equal(first.bilinear_weights.numpy(), second.bilinear_weights.numpy())
    assert not np.array_equal(first.item_embeddings.numpy(), third.item_embeddings.numpy())


def test_build_model_accepts_aliases_and_names_available_types_for_others() -> None:
    assert isinstance(build_model(tiny_config(model_type="comirec_dr"), ITEMS), ComiRecDR)
    with pytest.raises(UsageError, match="not available.*ComiRec-DR"):
        build_model(tiny_config(model_type="NoSuchModel"), ITEMS)
    with pytest.raises(UsageError, match="hidden_size"):
        build_model(tiny_config(hidden_size=DIM * 2), ITEMS)


def test_dynamic_routing_with_uniform_first_pass_on_single_position() -> None:
    # K identical inputs keep the routing logits equal across interests, so c stays 1/K and v = squash(e_hat / K).
    items = np.tile(np.array([[1.0, 2.0]], np.float32), (K, 1))[None, :, None, :]  # [1, K, 1, 2]
    out = dynamic_routing(tf.constant(items), tf.constant([[1.0]])).numpy()
    np.testing.assert_allclose(out[0], squash(tf.constant(items[0, :, 0, :] / K)).numpy(), rtol=1e-6)
