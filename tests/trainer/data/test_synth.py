"""Synthetic data: deterministic by seed, prepared by the original's rules, planted multi-interest structure."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import numpy as np
import pytest

from recdoc.errors import UsageError
from recdoc.trainer.data.dataset import load_dataset
from recdoc.trainer.data.synth import generate_log, structure_recall, synthesize


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    one = synthesize("s", items=400, users=500, interests=4, seed=3, data_dir=str(tmp_path / "a"))
    two = synthesize("s", items=400, users=500, interests=4, seed=3, data_dir=str(tmp_path / "b"))
    other = synthesize("s", items=400, users=500, interests=4, seed=4, data_dir=str(tmp_path / "c"))
    _, mismatch, errors = filecmp.cmpfiles(one, two, _files(one), shallow=False)
    assert mismatch == [] and errors == []
    assert (one / "s_train.txt").read_bytes() != (other / "s_train.txt").read_bytes()


def test_tiny_dataset_loads_with_frequency_ordered_ids(tmp_path: Path) -> None:
    synthesize("tiny", items=200, users=300, interests=4, seed=0, data_dir=str(tmp_path))
    data = load_dataset(str(tmp_path), "tiny")
    all_items = np.concatenate([data.train.flat, data.valid.flat, data.test.flat])
    counts = np.bincount(all_items, minlength=data.item_count)[1:]
    assert counts.min() >= 5 and np.all(np.diff(counts) <= 0)
    lengths = np.concatenate([data.train.lengths, data.valid.lengths, data.test.lengths])
    assert lengths.min() >= 5 and lengths.max() <= 60
    assert len(data.train.users) == int(0.8 * (len(data.train.users) + len(data.valid.users) + len(data.test.users)))
    stats = json.loads((data.path / "stats.json").read_text())
    assert stats["source"] == "synth" and stats["generator"]["seed"] == 0
    assert set(data.item_cate) == set(range(1, data.item_count))


def test_users_mix_two_to_k_interests() -> None:
    interests = 3
    raw = generate_log(items=3000, users=400, interests=interests, seed=1)
    per_user_clusters = [np.unique(raw.category_codes[raw.user_codes == u]) for u in range(400)]
    counts = np.bincount(raw.category_codes[raw.user_codes == 0])
    assert counts.sum() >= 8
    sizes = np.array([len(c) for c in per_user_clusters])
    # Noise steps (3%) may add a stray cluster; planted interests are 2..3.
    assert np.mean((sizes >= 2) & (sizes <= interests)) > 0.6
    assert np.mean(sizes >= 2) > 0.97
    # Most of a user's steps stay in their top clusters.
    top_share = np.mean([np.sort(np.bincount(raw.category_codes[raw.user_codes == u]))[-interests:].sum()
                         / np.sum(raw.user_codes == u) for u in range(400)])
    assert top_share > 0.95


def test_planted_structure_beats_popularity_by_a_wide_margin(tmp_path: Path) -> None:
    synthesize("learn", items=2000, users=3000, interests=4, seed=0, data_dir=str(tmp_path))
    data = load_dataset(str(tmp_path), "learn")
    recall = structure_recall(data, topn=50)
    assert recall["oracle"] > 0.6
    assert recall["oracle"] >= 6 * recall["most_popular"], recall


def test_bad_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        synthesize("x", items=5, users=300, interests=4, seed=0, data_dir=str(tmp_path))
    with pytest.raises(UsageError):
        synthesize("x", items=300, users=300, interests=0, seed=0, data_dir=str(tmp_path))
    with pytest.raises(UsageError):
        synthesize("../x", items=300, users=300, interests=2, seed=0, data_dir=str(tmp_path))
