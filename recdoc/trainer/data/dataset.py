"""Load a prepared dataset folder (`<data_dir>/<name>_data/`), as written by recdoc or by the original's script.

Files: `<name>_train.txt`, `_valid.txt`, `_test.txt` (`user_id,item_id,rank`) and optionally `<name>_item_cate.txt`
(`item_id,cate_id`). Like the original's `DataIterator.read`, each user's items are ordered by the third column
(stable), whatever the line order; users keep the order of their first line. Parsing is done by pandas' C reader;
the slow line-by-line scan only runs to name the offending line once the fast parse has failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recdoc.config import SPLITS, dataset_defaults
from recdoc.errors import InputError

MIN_SEQUENCE = 5  # the original's filter_size; training needs len >= 5 for k ~ U{4..len-1}
STATS_FILE = "stats.json"  # written by `recdoc data prepare` / `data synth`


@dataclass
class Split:
    """One split: users in file order, and one rank-ordered int32 item sequence per user.

    `flat` (all sequences back to back) and `offsets` (user i is `flat[offsets[i]:offsets[i+1]]`) are the same data
    in the form the samplers index without Python loops; they are derived when not given.
    """

    path: Path
    users: np.ndarray
    sequences: list[np.ndarray]
    flat: np.ndarray | None = field(default=None, repr=False)
    offsets: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.flat is None or self.offsets is None:
            lengths = np.fromiter((len(s) for s in self.sequences), dtype=np.int64, count=len(self.sequences))
            self.offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
            self.flat = (np.concatenate(self.sequences).astype(np.int32) if self.sequences
                         else np.zeros(0, dtype=np.int32))

    @property
    def lengths(self) -> np.ndarray:
        assert self.offsets is not None
        return np.diff(self.offsets)

    @property
    def interactions(self) -> int:
        assert self.flat is not None
        return len(self.flat)

    def __len__(self) -> int:
        return len(self.users)


class ItemCategories(Mapping[int, int]):
    """Item id -> category id, read-only, held as one array over the catalogue (-1: no category).

    A dict of Taobao's 1.7M items costs ~200 MiB of Python objects; this is one 13 MiB array, which is also the
    dense lookup evaluation needs (`lookup_array`)."""

    def __init__(self, items: np.ndarray, categories: np.ndarray, item_count: int) -> None:
        self._lookup = np.full(item_count, -1, dtype=np.int64)
        # An item's last record wins, as a dict built from the file would have it.
        last = len(items) - 1 - np.unique(items[::-1], return_index=True)[1]
        self._lookup[items[last]] = categories[last]
        self._count = len(last)

    def __getitem__(self, item: int) -> int:
        if 0 <= item < len(self._lookup) and self._lookup[item] >= 0:
            return int(self._lookup[item])
        raise KeyError(item)

    def __iter__(self) -> Iterator[int]:
        return iter(np.flatnonzero(self._lookup >= 0).tolist())

    def __len__(self) -> int:
        return self._count

    def lookup_array(self, size: int | None = None) -> np.ndarray:
        """Dense int64 item -> category array of at least `size` entries, -1 where there is none."""
        if size is None or size <= len(self._lookup):
            return self._lookup.copy()
        return np.concatenate([self._lookup, np.full(size - len(self._lookup), -1, dtype=np.int64)])


@dataclass
class Dataset:
    name: str
    path: Path
    item_count: int
    train: Split
    valid: Split
    test: Split
    item_cate: Mapping[int, int]


# ComiRec's layout, owned here: `<data_dir>/<name>_data/<name>_<split>.txt`.
FOLDER_SUFFIX = "_data"


def dataset_folder(data_dir: str | Path, name: str) -> Path:
    """`<data_dir>/<name>_data`."""
    return Path(data_dir) / f"{name}{FOLDER_SUFFIX}"


def split_file(data_dir: str | Path, name: str, split: str) -> Path:
    """`<data_dir>/<name>_data/<name>_<split>.txt`."""
    return dataset_folder(data_dir, name) / f"{name}_{split}.txt"


def dataset_name(folder: str | Path) -> str | None:
    """The dataset a `<name>_data` folder holds; None for a folder not named so."""
    name = Path(folder).name
    return name[: -len(FOLDER_SUFFIX)] if name.endswith(FOLDER_SUFFIX) and len(name) > len(FOLDER_SUFFIX) else None


def load_dataset(data_dir: str | Path, name: str, item_count: int | None = None) -> Dataset:
    """Read the three splits and the optional item categories; validate ids against `item_count`.

    `item_count`: the given value, else the original's constant for `book`/`taobao`, else max item id + 1
    (refused when it exceeds the item_count the folder's stats.json records: an id there is corrupt).
    """
    folder = require_dataset_folder(data_dir, name)
    raw = {part: _read_int_table(split_file(data_dir, name, part), 3, "user_id,item_id,rank") for part in SPLITS}
    if item_count is None:
        item_count = dataset_defaults(name).get("item_count")
    if item_count is None:
        item_count = max(int(table[:, 1].max()) for table in raw.values()) + 1
        # A corrupt id would silently grow the inferred count; a prepared folder records the true one.
        recorded = recorded_item_count(folder)
        if recorded is not None and item_count > recorded:
            for part, table in raw.items():
                too_large = np.flatnonzero(table[:, 1] >= recorded)
                if len(too_large):
                    path = split_file(data_dir, name, part)
                    raise InputError(f"item id {table[too_large[0], 1]} >= item_count {recorded} recorded in "
                                     f"{STATS_FILE} (pass --item_count, or check that the files belong to this "
                                     "dataset)", str(path), _physical_line(path, int(too_large[0])))
    splits = {part: _build_split(split_file(data_dir, name, part), table, int(item_count))
              for part, table in raw.items()}
    item_cate = _read_item_cate(folder / f"{name}_item_cate.txt", int(item_count))
    return Dataset(name=name, path=folder, item_count=int(item_count), train=splits["train"],
                   valid=splits["valid"], test=splits["test"], item_cate=item_cate)


def require_dataset_folder(data_dir: str | Path, name: str) -> Path:
    """`<data_dir>/<name>_data/`, or an InputError telling how to make it."""
    folder = dataset_folder(data_dir, name)
    if not folder.is_dir():
        if name in PAPER_DATA:  # never synthetic data under a paper dataset's name
            raise InputError(f"no dataset folder: {data_needed(name, str(data_dir))}", str(folder))
        raise InputError(f"no dataset folder; run `recdoc data prepare` or `recdoc data synth` with --name {name}",
                         str(folder))
    return folder


def recorded_item_count(folder: Path) -> int | None:
    """`item_count` from the stats.json `recdoc data prepare`/`synth` wrote in a dataset folder; None when absent or
    unreadable."""
    try:
        value = json.loads((folder / STATS_FILE).read_text(encoding="utf-8")).get("item_count")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _read_int_table(path: Path, columns: int, layout: str) -> np.ndarray:
    """All rows of a comma-separated integer file as an int64 [n, columns] array; InputError with file:line."""
    if not path.is_file():
        raise InputError(f"missing file (expected {layout} per line)", str(path))
    try:
        frame = pd.read_csv(path, header=None, dtype=np.int64, engine="c")
    except pd.errors.EmptyDataError:
        raise InputError(f"the file is empty (expected {layout} per line)", str(path)) from None
    except (ValueError, pd.errors.ParserError, OverflowError):
        raise _first_bad_line(path, columns, layout) from None
    if frame.shape[1] != columns:
        raise _first_bad_line(path, columns, layout)
    return frame.to_numpy(dtype=np.int64)


def _first_bad_line(path: Path, columns: int, layout: str) -> InputError:
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            fields = line.strip().split(",")
            if len(fields) != columns:
                return InputError(f"expected {columns} fields ({layout}), found {len(fields)}", str(path), number)
            for value in fields:
                try:
                    int(value)
                except ValueError:
                    return InputError(f"expected integers ({layout}), found {value!r}", str(path), number)
    return InputError(f"could not be parsed as {layout}", str(path))


def _physical_line(path: Path, row: int) -> int:
    """1-based line number of the `row`-th non-blank line (pandas skips blank lines)."""
    seen = -1
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                seen += 1
                if seen == row:
                    return number
    return row + 1


def _build_split(path: Path, table: np.ndarray, item_count: int) -> Split:
    users, items, ranks = table[:, 0], table[:, 1], table[:, 2]
    for label, values, low in (("user id", users, 0), ("item id", items, 1)):
        bad = np.flatnonzero(values < low)
        if len(bad):
            hint = " (0 is the padding id)" if label == "item id" and values[bad[0]] == 0 else ""
            raise InputError(f"{label} must be >= {low}{hint}, found {values[bad[0]]}", str(path),
                             _physical_line(path, int(bad[0])))
    too_large = np.flatnonzero(items >= item_count)
    if len(too_large):
        raise InputError(f"item id {items[too_large[0]]} >= item_count {item_count} (pass --item_count, or check that "
                         "the files belong to this dataset)", str(path), _physical_line(path, int(too_large[0])))

    order, first_rows = _user_major_order(users, ranks)
    sorted_users = users[order]
    flat = items[order].astype(np.int32)
    block_starts = np.flatnonzero(np.concatenate(([True], sorted_users[1:] != sorted_users[:-1])))
    offsets = np.concatenate((block_starts, [len(flat)])).astype(np.int64)
    lengths = np.diff(offsets)
    short = np.flatnonzero(lengths < MIN_SEQUENCE)
    if len(short):
        user = int(sorted_users[block_starts[short[0]]])
        raise InputError(f"user {user} has {int(lengths[short[0]])} interactions; every user needs at least "
                         f"{MIN_SEQUENCE} (the original's filter)", str(path),
                         _physical_line(path, int(first_rows[short[0]])))
    sequences = np.split(flat, offsets[1:-1]) if len(flat) else []
    return Split(path=path, users=sorted_users[block_starts].astype(np.int64), sequences=sequences, flat=flat,
                 offsets=offsets)


def _user_major_order(users: np.ndarray, ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row order grouping users (by first line) with ranks ascending (stable), and each user's first row."""
    boundaries = np.flatnonzero(users[1:] != users[:-1]) + 1
    block_starts = np.concatenate(([0], boundaries))
    rank_steps_ok = np.ones(len(ranks), dtype=bool)
    rank_steps_ok[1:] = ranks[1:] >= ranks[:-1]
    rank_steps_ok[block_starts] = True
    if len(np.unique(users[block_starts])) == len(block_starts) and rank_steps_ok.all():
        return np.arange(len(users)), block_starts  # the common case: already one block per user, in rank order
    unique_users, first_row, inverse = np.unique(users, return_index=True, return_inverse=True)
    position = np.empty(len(unique_users), dtype=np.int64)
    position[np.argsort(first_row, kind="stable")] = np.arange(len(unique_users))
    order = np.argsort(ranks, kind="stable")
    order = order[np.argsort(position[inverse][order], kind="stable")]
    return order, np.sort(first_row)


def _read_item_cate(path: Path, item_count: int) -> Mapping[int, int]:
    if not path.is_file():
        return {}
    table = _read_int_table(path, 2, "item_id,cate_id")
    bad = np.flatnonzero((table[:, 0] < 0) | (table[:, 0] >= item_count))
    if len(bad):
        raise InputError(f"item id {table[bad[0], 0]} outside 0..{item_count - 1}", str(path),
                         _physical_line(path, int(bad[0])))
    negative = np.flatnonzero(table[:, 1] < 0)
    if len(negative):
        raise InputError(f"category id {table[negative[0], 1]} is negative", str(path),
                         _physical_line(path, int(negative[0])))
    return ItemCategories(table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), item_count)


# ---------------------------------------------------------------- where a dataset comes from
# The paper's data is never synthesised under its name: a command that needs it says where to get it (the links
# the original's README gives) and the `recdoc data prepare` line that turns it into <data_dir>/<name>_data/.
PAPER_DATA = {
    "book": ("the Amazon Books 5-core reviews and metadata (reviews_Books_5.json, meta_Books.json) from "
             "http://jmcauley.ucsd.edu/data/amazon/index.html",
             "--source amazon --input reviews_Books_5.json --meta meta_Books.json --name book"),
    "taobao": ("Taobao's UserBehavior.csv from https://tianchi.aliyun.com/dataset/dataDetail?dataId=649",
               "--source taobao --input UserBehavior.csv --name taobao"),
    "ml100k": ("MovieLens-100K (read from the recbole==1.2.1 wheel)", "--source ml-100k"),
}


def data_needed(dataset: str, data_dir: str) -> str | None:
    """None when `<data_dir>/<dataset>_data/` holds its three split files; else what to do first, in one sentence:
    where to get the paper's data and the `recdoc data prepare` line (your own data: the csv line)."""
    folder = dataset_folder(data_dir, dataset)
    if all(split_file(data_dir, dataset, split).is_file() for split in SPLITS):
        return None
    source, args = PAPER_DATA.get(dataset, (f"your raw interactions of {dataset} (user, item, time)",
                                            f"--source csv --input RAW.csv --name {dataset}"))
    return (f"{folder}/ is not on this machine: get {source}, then run `recdoc data prepare {args} "
            f"--data_dir {data_dir}`")
