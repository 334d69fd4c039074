"""Loading prepared folders: ordering as the original's reader, item_count, and validation with file:line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recdoc.errors import InputError
from recdoc.trainer.data.dataset import Split, load_dataset

TRAIN = "".join(f"{u},{i},{r}\n" for u, seq in ((0, [3, 1, 2, 1, 5]), (1, [4, 4, 1, 2, 6, 7])) for r, i in
                enumerate(seq))
VALID = "".join(f"2,{i},{r}\n" for r, i in enumerate([1, 2, 3, 4, 5]))
TEST = "".join(f"3,{i},{r}\n" for r, i in enumerate([7, 6, 5, 4, 3, 2]))


def _folder(root: Path, name: str, train: str = TRAIN, valid: str = VALID, test: str = TEST,
            item_cate: str | None = "1,1\n2,1\n3,2\n") -> Path:
    folder = root / f"{name}_data"
    folder.mkdir(parents=True)
    for part, text in (("train", train), ("valid", valid), ("test", test)):
        (folder / f"{name}_{part}.txt").write_text(text)
    if item_cate is not None:
        (folder / f"{name}_item_cate.txt").write_text(item_cate)
    return folder


def test_loads_sequences_and_item_count(tmp_path: Path) -> None:
    _folder(tmp_path, "toy")
    data = load_dataset(str(tmp_path), "toy")
    assert data.item_count == 8  # max id 7 + padding
    assert data.train.users.tolist() == [0, 1]
    assert [s.tolist() for s in data.train.sequences] == [[3, 1, 2, 1, 5], [4, 4, 1, 2, 6, 7]]
    assert data.train.sequences[0].dtype == np.int32
    assert data.test.sequences[0].tolist() == [7, 6, 5, 4, 3, 2]
    assert data.item_cate == {1: 1, 2: 1, 3: 2}
    assert data.train.offsets.tolist() == [0, 5, 11]
    assert load_dataset(str(tmp_path), "toy", item_count=100).item_count == 100


def test_orders_like_the_original_reader(tmp_path: Path) -> None:
    # Lines interleaved and out of rank order: user 9 appears first, then 4; items follow the rank column.
    train = "9,1,2\n4,5,4\n9,2,0\n4,6,0\n9,3,1\n4,7,3\n9,4,4\n4,8,1\n9,5,3\n4,9,2\n"
    _folder(tmp_path, "mixed", train=train, item_cate=None)
    data = load_dataset(str(tmp_path), "mixed")
    assert data.train.users.tolist() == [9, 4]
    assert [s.tolist() for s in data.train.sequences] == [[2, 3, 1, 5, 4], [6, 8, 9, 7, 5]]
    assert data.item_cate == {}


def test_known_dataset_uses_original_item_count(tmp_path: Path) -> None:
    _folder(tmp_path, "book")
    assert load_dataset(str(tmp_path), "book").item_count == 367983
    with pytest.raises(InputError, match="item id 7 >= item_count 7") as caught:
        load_dataset(str(tmp_path), "book", item_count=7)
    assert caught.value.path.endswith("book_train.txt") and caught.value.line == 11


@pytest.mark.parametrize(("train", "line", "message"), [
    (TRAIN.replace("1,6,4", "1,six,4"), 10, "expected integers"),
    (TRAIN.replace("1,6,4", "1,6"), 10, "expected 3 fields"),
    (TRAIN.replace("1,6,4", "1,6,4,0"), 10, "expected 3 fields"),
    (TRAIN + "5,1,0\n5,2,1\n", 12, "user 5 has 2 interactions"),
    (TRAIN.replace("0,3,0", "0,0,0"), 1, "padding"),
])
def test_bad_lines_are_named(tmp_path: Path, train: str, line: int, message: str) -> None:
    _folder(tmp_path, "bad", train=train)
    with pytest.raises(InputError, match=message) as caught:
        load_dataset(str(tmp_path), "bad")
    assert caught.value.path.endswith("bad_train.txt") and caught.value.line == line


def test_empty_split_and_missing_folder(tmp_path: Path) -> None:
    _folder(tmp_path, "hollow", valid="")
    with pytest.raises(InputError, match="empty") as caught:
        load_dataset(str(tmp_path), "hollow")
    assert caught.value.path.endswith("hollow_valid.txt")
    with pytest.raises(InputError, match="recdoc data prepare"):
        load_dataset(str(tmp_path), "absent")


def test_item_cate_outside_item_count(tmp_path: Path) -> None:
    _folder(tmp_path, "cat", item_cate="1,1\n99,2\n")
    with pytest.raises(InputError, match="item id 99") as caught:
        load_dataset(str(tmp_path), "cat")
    assert caught.value.line == 2


def test_item_cate_negative_category_names_the_line(tmp_path: Path) -> None:
    _folder(tmp_path, "cat", item_cate="1,1\n2,-3\n")
    with pytest.raises(InputError, match="category id -3 is negative") as caught:
        load_dataset(str(tmp_path), "cat")
    assert caught.value.line == 2


def test_item_categories_read_as_a_dict_would_with_the_last_record_winning(tmp_path: Path) -> None:
    from recdoc.metrics import category_lookup

    _folder(tmp_path, "cat", item_cate="3,2\n1,1\n3,5\n6,0\n")
    categories = load_dataset(str(tmp_path), "cat").item_cate
    assert categories == {3: 5, 1: 1, 6: 0} and len(categories) == 3
    assert 3 in categories and 2 not in categories and 99 not in categories and categories.get(2) is None
    assert category_lookup(categories).tolist() == [-1, 1, -1, 5, -1, -1, 0, -1]
    assert category_lookup(categories, 10).tolist() == category_lookup(dict(categories), 10).tolist()


def test_split_built_from_sequences_derives_flat_form() -> None:
    split = Split(Path("x"), np.array([3, 1]), [np.array([1, 2, 3, 4, 5], np.int32), np.array([6] * 7, np.int32)])
    assert split.offsets.tolist() == [0, 5, 12]
    assert split.flat.tolist() == [1, 2, 3, 4, 5] + [6] * 7
    assert split.lengths.tolist() == [5, 7] and len(split) == 2 and split.interactions == 12
