"""Turn a raw interaction log into the original ComiRec data folder, by the original's rules (reference section 1).

One reader per raw source (`ml-100k`, `csv`, `amazon`, `taobao`) produces a `RawLog` (interactions in raw file
order plus optional category records); `apply_rules` is the one pure function that applies the original
`preprocess/data.py` + `preprocess/category.py` rules to it; `write_prepared` writes the folder atomically.

Rules (exactly the original's):
- items with raw count >= 5 get ids 1..N by descending count, ties by first appearance (Python's stable sort);
- users with >= 5 interactions on kept items (duplicates count, not iterative), listed in order of first
  appearance in the raw file, shuffled once by `random.Random(1230).shuffle` (same stream as `random.seed(1230)`
  followed by `random.shuffle`); user ids 0..U-1 in shuffled order; first int(0.8U) train, to int(0.9U) valid;
- each user's kept interactions sorted by timestamp (stable) and written `user_id,item_id,rank`;
- categories as `category.py`: walk the category records (taobao rows / meta lines) in order, skip items that
  were not kept, number categories by first appearance, and let an item's last record win; `item_cate.txt` lists
  items in order of their first record.
Like the original, it also writes `<name>_user_map.txt`, `<name>_item_map.txt` (raw key -> id) and
`<name>_cate_map.txt`; recdoc adds `stats.json`.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

from recdoc.config import DATA_DIR
from recdoc.errors import InputError, UsageError
from recdoc.trainer.data.dataset import dataset_folder

FILTER_SIZE = 5
SHUFFLE_SEED = 1230
TRAIN_SHARE = 0.8
VALID_SHARE_END = 0.9
SOURCES = ("ml-100k", "csv", "amazon", "taobao")
_DEFAULT_NAMES = {"ml-100k": "ml100k", "taobao": "taobao"}


@dataclass(frozen=True)
class RawLog:
    """Interactions in raw file order. Codes index the key arrays; codes follow first appearance.

    `category_items` / `category_codes` are the category records in the order the original's `category.py` walks
    them (taobao: the pv rows; book: the meta file lines); `category_items` holds item codes, -1 for an item that
    is not in the log.
    """

    user_codes: np.ndarray
    user_keys: np.ndarray
    item_codes: np.ndarray
    item_keys: np.ndarray
    timestamps: np.ndarray
    category_items: np.ndarray | None = None
    category_codes: np.ndarray | None = None
    category_keys: np.ndarray | None = None


@dataclass(frozen=True)
class Prepared:
    """The original's output, as arrays. Rows are already in file order (split, then user id, then rank)."""

    rows_user: np.ndarray
    rows_item: np.ndarray
    rows_rank: np.ndarray
    split_rows: tuple[int, int]  # row index where valid starts, where test starts
    split_users: tuple[int, int, int]  # train, valid, test user counts
    user_map_keys: np.ndarray  # raw key of user id 0..U-1
    item_map_keys: np.ndarray  # raw key of item id 1..N
    cate_items: np.ndarray  # item ids in item_cate.txt order
    cate_ids: np.ndarray
    cate_map_keys: np.ndarray  # raw key of category id 1..C

    @property
    def users(self) -> int:
        return len(self.user_map_keys)

    @property
    def items(self) -> int:
        return len(self.item_map_keys)


# ---------------------------------------------------------------- the rules (pure)
def apply_rules(raw: RawLog, filter_size: int = FILTER_SIZE, seed: int = SHUFFLE_SEED) -> Prepared:
    """Apply the original's preprocessing rules to a raw log. Pure: same input, same arrays."""
    n_items_raw = len(raw.item_keys)
    item_counts = np.bincount(raw.item_codes, minlength=n_items_raw)
    # A stable sort on the negated count is Python's `sort(key=count, reverse=True)`: ties keep first appearance.
    by_frequency = np.argsort(-item_counts, kind="stable")
    kept_raw_items = by_frequency[item_counts[by_frequency] >= filter_size]
    item_id_of_code = np.zeros(n_items_raw, dtype=np.int64)
    item_id_of_code[kept_raw_items] = np.arange(1, len(kept_raw_items) + 1)

    row_item_ids = item_id_of_code[raw.item_codes]
    row_kept = row_item_ids > 0
    n_users_raw = len(raw.user_keys)
    kept_counts = np.bincount(raw.user_codes[row_kept], minlength=n_users_raw)
    candidates = np.flatnonzero(kept_counts >= filter_size)  # user codes follow first appearance already
    shuffled = candidates.tolist()
    random.Random(seed).shuffle(shuffled)
    shuffled_codes = np.asarray(shuffled, dtype=np.int64)
    n_users = len(shuffled_codes)
    user_id_of_code = np.full(n_users_raw, -1, dtype=np.int64)
    user_id_of_code[shuffled_codes] = np.arange(n_users)

    rows = np.flatnonzero(row_kept & (user_id_of_code[raw.user_codes] >= 0))
    row_users = user_id_of_code[raw.user_codes[rows]]
    # Stable by timestamp, then stable by user: each user's rows by time, ties in file order.
    order = np.argsort(raw.timestamps[rows], kind="stable")
    order = order[np.argsort(row_users[order], kind="stable")]
    rows_user = row_users[order]
    rows_item = row_item_ids[rows[order]]
    per_user = np.bincount(rows_user, minlength=n_users)
    starts = np.concatenate(([0], np.cumsum(per_user)[:-1])) if n_users else np.zeros(0, dtype=np.int64)
    rows_rank = np.arange(len(rows_user), dtype=np.int64) - np.repeat(starts, per_user)

    split_1, split_2 = int(n_users * TRAIN_SHARE), int(n_users * VALID_SHARE_END)
    split_rows = (int(np.searchsorted(rows_user, split_1)), int(np.searchsorted(rows_user, split_2)))

    cate_items, cate_ids, cate_map_keys = _item_categories(raw, item_id_of_code)
    return Prepared(
        rows_user=rows_user, rows_item=rows_item, rows_rank=rows_rank, split_rows=split_rows,
        split_users=(split_1, split_2 - split_1, n_users - split_2),
        user_map_keys=raw.user_keys[shuffled_codes], item_map_keys=raw.item_keys[kept_raw_items],
        cate_items=cate_items, cate_ids=cate_ids, cate_map_keys=cate_map_keys,
    )


def _item_categories(raw: RawLog, item_id_of_code: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    empty = np.zeros(0, dtype=np.int64)
    if raw.category_items is None or raw.category_codes is None or raw.category_keys is None:
        return empty, empty, np.zeros(0, dtype=object)
    known = raw.category_items >= 0
    record_items = np.zeros(len(raw.category_items), dtype=np.int64)
    record_items[known] = item_id_of_code[raw.category_items[known]]
    records = np.flatnonzero(record_items > 0)
    items = record_items[records]
    categories = raw.category_codes[records]
    if len(records) == 0:
        return empty, empty, np.zeros(0, dtype=object)
    category_order, category_first = np.unique(categories, return_index=True)
    category_order = category_order[np.argsort(category_first, kind="stable")]  # codes by first appearance
    category_id = np.zeros(int(categories.max()) + 1, dtype=np.int64)
    category_id[category_order] = np.arange(1, len(category_order) + 1)
    unique_items, first_index = np.unique(items, return_index=True)
    _, last_from_end = np.unique(items[::-1], return_index=True)
    last_index = len(items) - 1 - last_from_end  # aligned with unique_items
    listing = np.argsort(first_index, kind="stable")
    return (unique_items[listing], category_id[categories[last_index[listing]]],
            raw.category_keys[category_order])


def duplicate_target_share(prepared: Prepared) -> float:
    """Share of valid+test users whose evaluation targets (seq[int(0.8*len):]) hold a repeated item."""
    start = prepared.split_rows[0]
    users = prepared.rows_user[start:]
    if len(users) == 0:
        return 0.0
    items = prepared.rows_item[start:]
    ranks = prepared.rows_rank[start:]
    first_user = prepared.split_users[0]
    lengths = np.bincount(users - first_user)
    cut = (lengths * 0.8).astype(np.int64)  # the same float product as Python int(0.8 * len)
    target = ranks >= cut[users - first_user]
    pair_keys = (users[target] - first_user).astype(np.int64) * (int(items.max()) + 1) + items[target]
    unique_pairs = np.unique(pair_keys)
    distinct_per_user = np.bincount(unique_pairs // (int(items.max()) + 1), minlength=len(lengths))
    targets_per_user = np.bincount(users[target] - first_user, minlength=len(lengths))
    evaluated = lengths > 0
    return float(np.mean(distinct_per_user[evaluated] < targets_per_user[evaluated]))


# ---------------------------------------------------------------- writing
def write_prepared(prepared: Prepared, data_dir: Path, name: str, stats_extra: dict[str, Any]) -> Path:
    """Write `<data_dir>/<name>_data/` atomically (temp folder, then rename). Refuses to overwrite."""
    target = dataset_folder(data_dir, name)
    if target.exists():
        raise InputError("already exists; remove it or choose another --name", str(target))
    data_dir.mkdir(parents=True, exist_ok=True)
    # Named before it exists, so that a Ctrl-C arriving at any point can still find and remove it.
    staging = data_dir / f".{target.name}.partial-{os.getpid()}"
    try:
        shutil.rmtree(staging, ignore_errors=True)  # a leftover of a killed process that had this pid
        staging.mkdir()
        bounds = (0, *prepared.split_rows, len(prepared.rows_user))
        for part, (lo, hi) in zip(("train", "valid", "test"), zip(bounds[:-1], bounds[1:])):
            _write_int_rows(staging / f"{name}_{part}.txt",
                            (prepared.rows_user[lo:hi], prepared.rows_item[lo:hi], prepared.rows_rank[lo:hi]))
        _write_key_map(staging / f"{name}_user_map.txt", prepared.user_map_keys, 0)
        _write_key_map(staging / f"{name}_item_map.txt", prepared.item_map_keys, 1)
        if len(prepared.cate_items):
            _write_int_rows(staging / f"{name}_item_cate.txt", (prepared.cate_items, prepared.cate_ids))
            _write_key_map(staging / f"{name}_cate_map.txt", prepared.cate_map_keys, 1)
        stats = prepared_stats(prepared) | stats_extra
        (staging / "stats.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
        os.chmod(staging, 0o755)
        os.rename(staging, target)
    except BaseException:  # Ctrl-C included
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def prepared_stats(prepared: Prepared) -> dict[str, Any]:
    r1, r2 = prepared.split_rows
    total = len(prepared.rows_user)
    return {
        "users": prepared.users,
        "items": prepared.items,
        "item_count": prepared.items + 1,
        "interactions": total,
        "splits": {
            "train": {"users": prepared.split_users[0], "interactions": r1},
            "valid": {"users": prepared.split_users[1], "interactions": r2 - r1},
            "test": {"users": prepared.split_users[2], "interactions": total - r2},
        },
        "categories": len(prepared.cate_map_keys),
        "items_with_category": len(prepared.cate_items),
        "eval_users_with_duplicate_targets": round(duplicate_target_share(prepared), 6),
        "rules": {"filter_size": FILTER_SIZE, "shuffle_seed": SHUFFLE_SEED,
                  "split": [TRAIN_SHARE, VALID_SHARE_END], "order": "items by descending count, ties first seen"},
    }


_WRITE_CHUNK = 1_000_000


def _write_int_rows(path: Path, columns: tuple[np.ndarray, ...]) -> None:
    """`%d,%d,...\\n` per row, as the original writes; chunked so Taobao-size files stay in bounded memory."""
    line = ",".join(["%d"] * len(columns)) + "\n"
    with open(path, "w", encoding="ascii", newline="\n") as out:
        for lo in range(0, len(columns[0]), _WRITE_CHUNK):
            chunk = (column[lo:lo + _WRITE_CHUNK].tolist() for column in columns)
            out.write("".join(map(line.__mod__, zip(*chunk))))


def _write_key_map(path: Path, keys: np.ndarray, first_id: int) -> None:
    """`'%s,%d' % (key, id)` per line, as the original's `export_map`."""
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        for offset, key in enumerate(keys.tolist()):
            out.write(f"{key},{offset + first_id}\n")


# ---------------------------------------------------------------- readers
def _factorize(values: np.ndarray | list[Any]) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(np.asarray(values) if isinstance(values, list) else values, sort=False)
    return codes.astype(np.int64), np.asarray(uniques)


def _log_from_columns(users: Any, items: Any, timestamps: np.ndarray,
                      row_categories: Any | None = None) -> RawLog:
    user_codes, user_keys = _factorize(users)
    item_codes, item_keys = _factorize(items)
    if row_categories is None:
        return RawLog(user_codes, user_keys, item_codes, item_keys, timestamps)
    category_codes, category_keys = _factorize(row_categories)
    return RawLog(user_codes, user_keys, item_codes, item_keys, timestamps, item_codes, category_codes, category_keys)


def _with_meta_categories(log: RawLog, meta_items: list[Any], meta_categories: list[Any]) -> RawLog:
    lookup = pd.Index(log.item_keys)
    category_items = lookup.get_indexer(pd.Index(meta_items, dtype=object) if meta_items else pd.Index([]))
    category_codes, category_keys = _factorize(np.asarray(meta_categories, dtype=object))
    return RawLog(log.user_codes, log.user_keys, log.item_codes, log.item_keys, log.timestamps,
                  np.asarray(category_items, dtype=np.int64), category_codes, category_keys)


def _require_file(path: str | os.PathLike[str] | None, what: str) -> Path:
    if path is None:
        raise UsageError(f"--input is required: the {what}")
    file = Path(path)
    if file.is_dir():
        raise InputError(f"is a folder; --input takes the file itself ({what})", str(file))
    if not file.is_file():
        raise InputError(f"no such file ({what})", str(file))
    if file.stat().st_size == 0:
        raise InputError("the file is empty", str(file), 1)
    return file


def _locate_bad_line(path: Path, check: Callable[[list[str], int], str | None], skip_first: bool = False,
                     fallback: str = "could not be parsed") -> InputError:
    """Scan `path` in Python for the first line `check` rejects; the slow path, run only after a fast parse failed."""
    with open(path, "rb") as handle:
        for number, raw_line in enumerate(handle, start=1):
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError as error:
                return InputError(f"not UTF-8 text (byte 0x{raw_line[error.start]:02x} at column {error.start + 1}); "
                                  "save the file as UTF-8", str(path), number)
            if (skip_first and number == 1) or not line.strip():
                continue
            problem = check(line.rstrip("\r\n").split(","), number)
            if problem is not None:
                return InputError(problem, str(path), number)
    return InputError(fallback, str(path))


def _is_int(text: str) -> bool:
    try:
        int(text)
        return True
    except ValueError:
        return False


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def read_taobao(path: str | os.PathLike[str] | None) -> RawLog:
    """`UserBehavior.csv`: uid,iid,cid,behavior,ts without header; keep `pv` rows (re-clicks kept), category = cid."""
    file = _require_file(path, "Taobao UserBehavior.csv (uid,iid,cid,behavior,ts)")

    def check(fields: list[str], _: int) -> str | None:
        if len(fields) != 5:
            return f"expected 5 fields uid,iid,cid,behavior,ts, found {len(fields)}"
        for label, value in zip(("uid", "iid", "cid", "ts"), (fields[0], fields[1], fields[2], fields[4])):
            if not _is_int(value):
                return f"{label} must be an integer, found {value!r}"
        return None

    columns = {"uid": np.int64, "iid": np.int64, "cid": np.int64, "behavior": "category", "ts": np.int64}
    parts: dict[str, list[np.ndarray]] = {key: [] for key in ("uid", "iid", "cid", "ts")}
    try:
        for chunk in pd.read_csv(file, header=None, names=list(columns), dtype=columns, chunksize=5_000_000,
                                 engine="c"):
            pv = (chunk["behavior"] == "pv").to_numpy()
            for key in parts:
                parts[key].append(chunk[key].to_numpy()[pv])
    except (ValueError, pd.errors.ParserError) as error:
        raise _locate_bad_line(file, check, fallback=f"could not be parsed ({error})") from None
    uid, iid, cid, ts = (np.concatenate(parts[key]) if parts[key] else np.zeros(0, np.int64)
                         for key in ("uid", "iid", "cid", "ts"))
    if len(uid) == 0:
        raise InputError("no 'pv' rows", str(file))
    return _log_from_columns(uid, iid, ts, cid)


def read_csv_log(path: str | os.PathLike[str] | None) -> RawLog:
    """`user,item,timestamp[,category]`, header optional. Ids are opaque tokens; timestamps numbers."""
    file = _require_file(path, "CSV log user,item,timestamp[,category]")
    with open(file, encoding="utf-8", errors="replace") as handle:
        first_line = next((line for line in handle if line.strip()), "")
    first_fields = first_line.rstrip("\r\n").split(",")
    n_fields = len(first_fields)
    if n_fields not in (3, 4):
        raise InputError(f"expected 3 or 4 fields user,item,timestamp[,category], found {n_fields}", str(file), 1)
    has_header = not _is_number(first_fields[2])
    try:
        frame = _read_csv_columns(file, n_fields, has_header)
    except pd.errors.EmptyDataError:
        raise InputError("no data rows after the header", str(file)) from None
    except (ValueError, pd.errors.ParserError) as error:
        raise _locate_bad_line(file, lambda fields, _: _csv_row_problem(fields, n_fields), skip_first=has_header,
                               fallback=f"could not be parsed ({error})") from None
    return _log_from_columns(_id_column(frame[0]), _id_column(frame[1]), frame[2].to_numpy(),
                             _id_column(frame[3]) if n_fields == 4 else None)


def _read_csv_columns(file: Path, n_fields: int, has_header: bool) -> pd.DataFrame:
    """The whole file through pandas' C parser; ValueError when any row is incomplete or a timestamp is not a
    finite number (the caller then finds the first bad line, row by row)."""
    frame = pd.read_csv(file, header=None, skiprows=1 if has_header else 0, engine="c",
                        keep_default_na=False, na_values=[""])
    if frame.shape[1] != n_fields or len(frame) == 0 or frame.isna().to_numpy().any():
        raise ValueError("missing fields")
    timestamps = frame[2].to_numpy()
    if timestamps.dtype.kind not in "iuf" or (timestamps.dtype.kind == "f" and not np.isfinite(timestamps).all()):
        raise ValueError("timestamp")
    return frame


def _csv_row_problem(fields: list[str], n_fields: int) -> str | None:
    if len(fields) != n_fields:
        return f"expected {n_fields} fields like the first line, found {len(fields)}"
    if not fields[0].strip() or not fields[1].strip():
        return "empty user or item id"
    if not _is_number(fields[2]):
        return f"timestamp must be a number, found {fields[2]!r}"
    if n_fields == 4 and not fields[3].strip():
        return "empty category"
    return None


def _id_column(column: pd.Series) -> np.ndarray:
    values = column.to_numpy()
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    return np.asarray([str(value).strip() for value in values], dtype=object)


def _json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each non-empty line as a dict: JSON, or a Python dict literal (Amazon 2014 metadata is written that way)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            try:
                record = json.loads(text)
            except ValueError:
                try:
                    record = ast.literal_eval(text)
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    raise InputError("not a JSON object or Python dict literal", str(path), number) from None
            if not isinstance(record, dict):
                raise InputError("expected one JSON object per line", str(path), number)
            yield number, record


def read_amazon(path: str | os.PathLike[str] | None, meta_path: str | os.PathLike[str] | None) -> RawLog:
    """Amazon reviews (reviewerID, asin, unixReviewTime), streamed; categories from `categories[0][-1]` of meta."""
    file = _require_file(path, "Amazon reviews JSON lines (reviewerID, asin, unixReviewTime)")
    users: list[str] = []
    items: list[str] = []
    times: list[float] = []
    for number, record in _json_lines(file):
        try:
            user, item, stamp = record["reviewerID"], record["asin"], float(record["unixReviewTime"])
        except KeyError as missing:
            raise InputError(f"missing field {missing}", str(file), number) from None
        except (TypeError, ValueError):
            raise InputError(f"unixReviewTime must be a number, found {record['unixReviewTime']!r}",
                             str(file), number) from None
        if not math.isfinite(stamp):
            raise InputError("unixReviewTime must be finite", str(file), number)
        users.append(str(user))
        items.append(str(item))
        times.append(stamp)
    if not users:
        raise InputError("no reviews", str(file))
    log = _log_from_columns(np.asarray(users, dtype=object), np.asarray(items, dtype=object),
                            np.asarray(times, dtype=np.float64))
    if meta_path is None:
        return log
    meta = _require_file(meta_path, "Amazon metadata (asin, categories)")
    meta_items: list[str] = []
    meta_categories: list[str] = []
    for number, record in _json_lines(meta):
        if "asin" not in record:
            raise InputError("missing field 'asin'", str(meta), number)
        category = _amazon_category(record)
        if category is not None:
            meta_items.append(str(record["asin"]))
            meta_categories.append(category)
    return _with_meta_categories(log, meta_items, meta_categories)


def _amazon_category(record: dict[str, Any]) -> str | None:
    """2014 meta: `categories[0][-1]` as the original; 2018 meta (`category`, a flat list): its last entry."""
    nested = record.get("categories")
    if isinstance(nested, list) and nested and isinstance(nested[0], list) and nested[0]:
        return str(nested[0][-1])
    flat = record.get("category")
    if isinstance(flat, list) and flat:
        return str(flat[-1])
    return None


def ml100k_folder() -> Path:
    """The MovieLens-100K files inside the recbole wheel, found without importing recbole (it pulls in torch)."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("ml-100k needs the recbole wheel's data: pip install --no-deps recbole==1.2.1")
    folder = Path(list(spec.submodule_search_locations)[0]) / "dataset_example" / "ml-100k"
    if not (folder / "ml-100k.inter").is_file():
        raise InputError("recbole is installed but ml-100k.inter is missing", str(folder))
    return folder


def _atomic_tsv(path: Path, wanted: tuple[str, ...]) -> pd.DataFrame:
    """A recbole atomic file (tab-separated, header `name:type`), with the `wanted` columns renamed to plain names."""
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, engine="c")
    except (ValueError, pd.errors.ParserError) as error:
        raise InputError(f"could not be parsed ({error})", str(path)) from None
    names = {column: column.split(":")[0] for column in frame.columns}
    frame = frame.rename(columns=names)
    missing = [column for column in wanted if column not in frame.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}", str(path), 1)
    return frame[list(wanted)]


def read_ml100k() -> RawLog:
    """Every rating is an interaction (ordered by timestamp); category = the movie's first genre."""
    folder = ml100k_folder()
    inter_path = folder / "ml-100k.inter"
    inter = _atomic_tsv(inter_path, ("user_id", "item_id", "timestamp"))
    stamps = pd.to_numeric(inter["timestamp"], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(stamps))
    if len(bad):
        raise InputError("timestamp must be a number", str(inter_path), int(bad[0]) + 2)
    log = _log_from_columns(inter["user_id"].to_numpy(dtype=object), inter["item_id"].to_numpy(dtype=object),
                            stamps)
    item_path = folder / "ml-100k.item"
    if not item_path.is_file():
        return log
    genres = _atomic_tsv(item_path, ("item_id", "class"))
    first_genre = genres["class"].str.split().str[0]
    has_genre = first_genre.notna().to_numpy()
    return _with_meta_categories(log, genres["item_id"].to_numpy(dtype=object)[has_genre].tolist(),
                                 first_genre.to_numpy(dtype=object)[has_genre].tolist())


# ---------------------------------------------------------------- entry point
def prepare_dataset(source: str, input_path: str | None = None, meta_path: str | None = None,
                    name: str | None = None, data_dir: str = DATA_DIR) -> Path:
    """Read a raw log, apply the original's rules, write `<data_dir>/<name>_data/`, print a summary, return it.

    The arguments are checked first, then a start line is printed (reading a large file takes minutes)."""
    if source not in SOURCES:
        raise UsageError(f"unknown --source {source!r}; choose one of {', '.join(SOURCES)}")
    chosen_name = name or _DEFAULT_NAMES.get(source)
    if not chosen_name:
        raise UsageError(f"--name is required for --source {source}")
    check_dataset_name(chosen_name)
    if meta_path is not None and source != "amazon":
        raise UsageError("--meta is only used with --source amazon")
    target = dataset_folder(data_dir, chosen_name)
    if target.exists():
        raise InputError("already exists; remove it or choose another --name", str(target))
    if source != "ml-100k" and input_path is None:
        raise UsageError(f"--source {source} needs --input (the raw file)")
    print(f"Preparing {source} data into {target}/ (reading, filtering and splitting; this can take minutes on a "
          "large file)...", flush=True)

    if source == "ml-100k":
        raw = read_ml100k()
        inputs = ["recbole/dataset_example/ml-100k/ml-100k.inter", "ml-100k.item"]
    elif source == "taobao":
        raw = read_taobao(input_path)
        inputs = [Path(str(input_path)).name]
    elif source == "csv":
        raw = read_csv_log(input_path)
        inputs = [Path(str(input_path)).name]
    else:
        raw = read_amazon(input_path, meta_path)
        inputs = [Path(str(p)).name for p in (input_path, meta_path) if p is not None]
    prepared = apply_rules(raw)
    if prepared.users == 0:
        raise InputError(f"no user has >= {FILTER_SIZE} interactions on items seen >= {FILTER_SIZE} times; "
                         "nothing to write", inputs[0])
    folder = write_prepared(prepared, Path(data_dir), chosen_name,
                            {"name": chosen_name, "source": source, "inputs": inputs,
                             "raw": {"users": len(raw.user_keys), "items": len(raw.item_keys),
                                     "interactions": len(raw.user_codes),
                                     "categories": 0 if raw.category_keys is None else len(raw.category_keys)}})
    print_summary(folder, prepared_stats(prepared))
    return folder


def check_dataset_name(name: str) -> None:
    if not name or any(ch in name for ch in "/\\:") or name.startswith("."):
        raise UsageError(f"--name must be a plain name (no path separators), got {name!r}")


def print_summary(folder: Path, stats: dict[str, Any]) -> None:
    splits = stats["splits"]
    print(f"wrote {folder}/")
    print(f"  users {stats['users']:,}  items {stats['items']:,} (item_count {stats['item_count']:,})  "
          f"interactions {stats['interactions']:,}  categories {stats['categories']:,}")
    print("  split users train/valid/test: " + " / ".join(f"{splits[s]['users']:,}" for s in ("train", "valid", "test"))
          + "   interactions: " + " / ".join(f"{splits[s]['interactions']:,}" for s in ("train", "valid", "test")))
    print(f"  evaluation users with duplicate targets: {stats['eval_users_with_duplicate_targets']:.1%}")
