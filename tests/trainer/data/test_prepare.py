"""The original's preprocessing rules on hand-made raw files, with hand-derived expectations."""

from __future__ import annotations

import filecmp
import importlib.util
import json
import random
from pathlib import Path

import numpy as np
import pytest

from recdoc.errors import InputError, UsageError
from recdoc.trainer.data import prepare
from recdoc.trainer.data.prepare import prepare_dataset

# Raw log, user-major blocks in this file order: u7, u3, u4, u9, u1, u8, u5, u2.
# Item counts: c 11, a 10, d 8, b 8 (d is seen before b, so the tie gives d the lower id), e 4 and f 2 (dropped).
# u4 keeps 2 interactions, u8 keeps 4 (its f is dropped): both filtered out.
RAW_ROWS = """user,item,timestamp,category
u7,c,100,C
u7,a,90,A
u7,c,95,C
u7,d,300,A
u7,e,1,E
u7,b,200,B
u3,a,50,A
u3,c,40,C
u3,d,60,A
u3,b,50,B
u3,f,7,F
u3,a,70,A
u4,a,1,A
u4,c,2,C
u4,e,3,E
u4,e,4,E
u9,d,10,A
u9,d,11,A
u9,a,12,A
u9,c,13,C
u9,b,14,B
u9,b,15,B
u1,a,5,A
u1,b,4,B
u1,c,3,C
u1,d,2,A
u1,c,1,C
u8,a,1,A
u8,b,2,B
u8,c,3,C
u8,d,4,A
u8,f,5,F
u5,b,1,B
u5,a,2,A
u5,c,3,C
u5,e,4,E
u5,d,5,A
u5,a,6,A
u2,c,9,C
u2,c,8,Z
u2,a,7,A
u2,d,6,A
u2,b,5,B
"""
ITEM_IDS = {"c": 1, "a": 2, "d": 3, "b": 4}
# Each kept user's kept items sorted by timestamp (u3: a@50 before b@50, file order), as item ids.
SEQUENCES = {
    "u7": [2, 1, 1, 4, 3],
    "u3": [1, 2, 4, 3, 2],
    "u9": [3, 3, 2, 1, 4, 4],
    "u1": [1, 3, 1, 4, 2],
    "u5": [4, 2, 1, 3, 2],
    "u2": [4, 3, 2, 1, 1],
}
FIRST_APPEARANCE = ["u7", "u3", "u9", "u1", "u5", "u2"]


def _expected_user_order() -> list[str]:
    users = list(FIRST_APPEARANCE)
    random.seed(1230)
    random.shuffle(users)
    return users


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture()
def raw_csv(tmp_path: Path) -> Path:
    return _write(tmp_path / "raw.csv", RAW_ROWS)


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_rules_on_hand_made_log(raw_csv: Path, tmp_path: Path) -> None:
    folder = prepare_dataset("csv", str(raw_csv), None, "toy", str(tmp_path / "data"))
    assert folder == tmp_path / "data" / "toy_data"
    order = _expected_user_order()
    expected: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    # 6 users: int(0.8*6) = 4 train, int(0.9*6) = 5 -> 1 valid, 1 test.
    for user_id, user in enumerate(order):
        part = "train" if user_id < 4 else "valid" if user_id < 5 else "test"
        expected[part] += [f"{user_id},{item},{rank}" for rank, item in enumerate(SEQUENCES[user])]
    for part, lines in expected.items():
        assert _lines(folder / f"toy_{part}.txt") == lines, part
    assert _lines(folder / "toy_item_map.txt") == ["c,1", "a,2", "d,3", "b,4"]
    assert _lines(folder / "toy_user_map.txt") == [f"{user},{i}" for i, user in enumerate(order)]
    # Categories walk kept-item rows in file order: C, A, B, then Z (c's last row wins); E never gets an id.
    assert _lines(folder / "toy_cate_map.txt") == ["C,1", "A,2", "B,3", "Z,4"]
    assert _lines(folder / "toy_item_cate.txt") == ["1,4", "2,2", "3,2", "4,3"]
    stats = json.loads((folder / "stats.json").read_text())
    assert (stats["users"], stats["items"], stats["interactions"], stats["categories"]) == (6, 4, 31, 4)
    assert [stats["splits"][p]["users"] for p in ("train", "valid", "test")] == [4, 1, 1]
    assert stats["raw"] == {"users": 8, "items": 6, "interactions": 43, "categories": 6}
    # Eval targets are seq[int(0.8*len):]: one item for 5-long users, [4, 4] for u9.
    eval_users = order[4:]
    assert stats["eval_users_with_duplicate_targets"] == pytest.approx(("u9" in eval_users) / 2)


def test_same_input_gives_byte_identical_folders(raw_csv: Path, tmp_path: Path) -> None:
    first = prepare_dataset("csv", str(raw_csv), None, "toy", str(tmp_path / "one"))
    second = prepare_dataset("csv", str(raw_csv), None, "toy", str(tmp_path / "two"))
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    match, mismatch, errors = filecmp.cmpfiles(first, second, names, shallow=False)
    assert mismatch == [] and errors == [] and len(match) == 8


def test_item_tie_keeps_first_appearance_and_boundary_count() -> None:
    # b and a both seen 5 times, b first; z seen 4 times is dropped; one user of 10 kept interactions.
    items = ["b", "a", "z"] * 4 + ["b", "a"]
    raw = prepare._log_from_columns(np.asarray(["u"] * len(items), dtype=object), np.asarray(items, dtype=object),
                                    np.arange(len(items)))
    result = prepare.apply_rules(raw)
    assert result.item_map_keys.tolist() == ["b", "a"]
    assert result.rows_item.tolist() == [1, 2] * 5
    assert result.rows_rank.tolist() == list(range(10))


def test_refuses_to_overwrite(raw_csv: Path, tmp_path: Path) -> None:
    folder = prepare_dataset("csv", str(raw_csv), None, "toy", str(tmp_path))
    before = (folder / "toy_train.txt").read_bytes()
    with pytest.raises(InputError, match="already exists"):
        prepare_dataset("csv", str(raw_csv), None, "toy", str(tmp_path))
    assert (folder / "toy_train.txt").read_bytes() == before


def test_failure_while_writing_leaves_nothing(raw_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(prepare, "_write_key_map", broken)
    with pytest.raises(OSError):
        prepare_dataset("csv", str(raw_csv), None, "toy", str(tmp_path / "data"))
    assert list((tmp_path / "data").iterdir()) == []


@pytest.mark.parametrize(("text", "line", "message"), [
    ("u,i,1\nu,i,2\nu,i\n", 3, "expected 3 fields"),
    ("user,item,time\nu,i,1\nu,i,soon\n", 3, "timestamp must be a number"),
    ("u,i,1,c\nu,i,2,\n", 2, "empty category"),
])
def test_bad_csv_names_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    raw = _write(tmp_path / "bad.csv", text)
    with pytest.raises(InputError, match=message) as caught:
        prepare_dataset("csv", str(raw), None, "bad", str(tmp_path / "data"))
    assert (caught.value.path, caught.value.line) == (str(raw), line)
    assert not (tmp_path / "data" / "bad_data").exists()


def test_empty_missing_and_unknown_inputs(tmp_path: Path) -> None:
    empty = _write(tmp_path / "empty.csv", "")
    with pytest.raises(InputError, match="empty"):
        prepare_dataset("csv", str(empty), None, "x", str(tmp_path))
    with pytest.raises(InputError, match="no such file"):
        prepare_dataset("taobao", str(tmp_path / "nope.csv"), None, None, str(tmp_path))
    with pytest.raises(UsageError, match="unknown --source"):
        prepare_dataset("movielens", None, None, "x", str(tmp_path))
    with pytest.raises(UsageError, match="--name is required"):
        prepare_dataset("csv", str(empty), None, None, str(tmp_path))
    header_only = _write(tmp_path / "header.csv", "user,item,timestamp\n")
    with pytest.raises(InputError, match="no data rows"):
        prepare_dataset("csv", str(header_only), None, "x", str(tmp_path))


def _taobao_text() -> str:
    # uid,iid,cid,behavior,ts. Item 11 has 5 pv rows (kept), 12 has 5 rows but one is 'buy' (dropped).
    rows = []
    for ts in range(5):
        rows += [f"1,11,7,pv,{100 - ts}", f"1,12,8,{'buy' if ts == 0 else 'pv'},{ts}"]
    return "\n".join(rows) + "\n"


def test_taobao_keeps_pv_rows_and_cid(tmp_path: Path) -> None:
    raw = _write(tmp_path / "UserBehavior.csv", _taobao_text() + "1,11,9,pv,1000\n")
    folder = prepare_dataset("taobao", str(raw), None, None, str(tmp_path))
    assert folder.name == "taobao_data"
    # One user; 0.8*1 -> 0 train users, 0.9*1 -> 0 valid, so the single user is in test.
    assert _lines(folder / "taobao_test.txt") == [f"0,1,{rank}" for rank in range(6)]
    assert _lines(folder / "taobao_train.txt") == []
    assert _lines(folder / "taobao_item_map.txt") == ["11,1"]
    assert _lines(folder / "taobao_cate_map.txt") == ["7,1", "9,2"]
    assert _lines(folder / "taobao_item_cate.txt") == ["1,2"]


def test_taobao_bad_row(tmp_path: Path) -> None:
    raw = _write(tmp_path / "UserBehavior.csv", "1,11,7,pv,1\n1,x,7,pv,2\n")
    with pytest.raises(InputError, match="iid must be an integer") as caught:
        prepare_dataset("taobao", str(raw), None, None, str(tmp_path))
    assert caught.value.line == 2


def test_amazon_reviews_with_python_literal_meta(tmp_path: Path) -> None:
    reviews = [json.dumps({"reviewerID": "R1", "asin": f"B{i % 2}", "unixReviewTime": 1000 - i}) for i in range(10)]
    raw = _write(tmp_path / "reviews.json", "\n".join(reviews) + "\n")
    meta = _write(tmp_path / "meta.json",
                  "{'asin': 'B0', 'categories': [['Books', 'Fiction']]}\n"
                  "{'asin': 'B9', 'categories': [['Books', 'Poetry']]}\n"
                  "{'asin': 'B1', 'categories': [['Books', 'History'], ['Books', 'X']]}\n")
    folder = prepare_dataset("amazon", str(raw), str(meta), "book", str(tmp_path))
    # Time runs backwards in the file: sorted by time, B1 (i=9) comes first.
    assert _lines(folder / "book_test.txt") == [f"0,{2 if rank % 2 == 0 else 1},{rank}" for rank in range(10)]
    assert _lines(folder / "book_item_map.txt") == ["B0,1", "B1,2"]
    assert _lines(folder / "book_cate_map.txt") == ["Fiction,1", "History,2"]
    assert _lines(folder / "book_item_cate.txt") == ["1,1", "2,2"]


def test_amazon_missing_field_names_line(tmp_path: Path) -> None:
    raw = _write(tmp_path / "reviews.json", '{"reviewerID": "R", "asin": "B", "unixReviewTime": 1}\n'
                                            '{"reviewerID": "R", "asin": "B"}\n')
    with pytest.raises(InputError, match="unixReviewTime") as caught:
        prepare_dataset("amazon", str(raw), None, "book", str(tmp_path))
    assert caught.value.line == 2


@pytest.mark.skipif(importlib.util.find_spec("recbole") is None,
                    reason="recbole wheel not installed (pip install --no-deps recbole==1.2.1): no MovieLens-100K")
def test_ml100k_sizes(tmp_path: Path) -> None:
    folder = prepare_dataset("ml-100k", None, None, None, str(tmp_path))
    assert folder.name == "ml100k_data"
    stats = json.loads((folder / "stats.json").read_text())
    assert (stats["users"], stats["items"], stats["interactions"]) == (943, 1349, 99287)
    assert [stats["splits"][p]["users"] for p in ("train", "valid", "test")] == [754, 94, 95]
    # 19 genres in the catalogue; 'Fantasy' is never the first genre of a kept movie, so 18 get ids.
    assert stats["raw"]["categories"] == 19
    assert stats["categories"] == 18
    assert sum(1 for _ in open(folder / "ml100k_item_cate.txt")) == 1349


def _plain_original_rules(lines: list[str]) -> dict[str, list[str]]:
    """The original data.py + category.py for Taobao, restated with plain dicts and loops (no numpy)."""
    sequences: dict[int, list[tuple[int, int]]] = {}
    counts: dict[int, int] = {}
    for line in lines:
        uid, iid, _, behavior, ts = line.split(",")
        if behavior != "pv":
            continue
        counts[int(iid)] = counts.get(int(iid), 0) + 1
        sequences.setdefault(int(uid), []).append((int(iid), int(ts)))
    ranked = sorted(counts.items(), key=lambda pair: pair[1], reverse=True)
    item_map = {iid: n + 1 for n, (iid, count) in enumerate(ranked) if count >= 5}
    users = [u for u in sequences if sum(iid in item_map for iid, _ in sequences[u]) >= 5]
    random.seed(1230)
    random.shuffle(users)
    out: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    cut_1, cut_2 = int(len(users) * 0.8), int(len(users) * 0.9)
    for user_id, user in enumerate(users):
        part = "train" if user_id < cut_1 else "valid" if user_id < cut_2 else "test"
        kept = [iid for iid, _ in sorted(sequences[user], key=lambda pair: pair[1]) if iid in item_map]
        out[part] += [f"{user_id},{item_map[iid]},{rank}" for rank, iid in enumerate(kept)]
    cate_map: dict[str, int] = {}
    item_cate: dict[int, int] = {}
    for line in lines:
        _, iid, cid, behavior, _ = line.split(",")
        if behavior == "pv" and int(iid) in item_map:
            cate_map.setdefault(cid, len(cate_map) + 1)
            item_cate[item_map[int(iid)]] = cate_map[cid]
    out["item_map"] = [f"{iid},{n}" for iid, n in item_map.items()]
    out["user_map"] = [f"{u},{n}" for n, u in enumerate(users)]
    out["item_cate"] = [f"{i},{c}" for i, c in item_cate.items()]
    out["cate_map"] = [f"{c},{n}" for c, n in cate_map.items()]
    return out


def test_matches_plain_restatement_on_random_taobao_log(tmp_path: Path) -> None:
    rng = random.Random(7)
    behaviors = ["pv"] * 8 + ["buy", "cart", "fav"]
    lines = [f"{rng.randint(1, 120)},{int(rng.paretovariate(1.2) * 10)},{rng.randint(1, 15)},"
             f"{rng.choice(behaviors)},{rng.randint(0, 40)}" for _ in range(6000)]
    raw = _write(tmp_path / "UserBehavior.csv", "\n".join(lines) + "\n")
    folder = prepare_dataset("taobao", str(raw), None, "tb", str(tmp_path))
    expected = _plain_original_rules(lines)
    assert len(expected["train"]) > 1000 and len(expected["item_map"]) > 20
    for key, want in expected.items():
        assert _lines(folder / f"tb_{key}.txt") == want, key
