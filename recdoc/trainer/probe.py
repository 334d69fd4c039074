"""`recdoc probe RUN`: look inside a multi-interest checkpoint and measure the health of its K interests.

A multi-interest model can fail in ways no log shows: interests that collapse into one vector, interests that never
win the readout and so never learn. The probe restores a recdoc run's best checkpoint, computes the interests of the
validation (or test) users exactly as evaluation does, and measures, per interest:

- its share of the retrieved items: after the K-interest merge (reference section 5), each item of a user's top-N
  is credited to the interest that scores it highest (that interest's own top-N is what put it in the merge);
- its share of the hits (retrieved items that are among the user's targets);
- how often it wins the readout for a true target (argmax_k <v_k, e_target>, the training readout's choice);
- its norm, and how often it is near zero next to the user's strongest interest;

and, over pairs of a user's interests, the cosine similarity (mean, per pair, and the share of users with every
pair above `COLLAPSE_COSINE`) and the overlap of the two interests' own top-N lists (the share of one list that the
other retrieves too). The numbers go to `probe.json`; the rules `interest-collapse` and `dead-interest`
(recdoc/diagnose/rules/interests.py) judge them.

`InterestTally` is pure numpy (the statistics, testable on hand-built vectors); TensorFlow and faiss are imported
only by the functions that restore a checkpoint and retrieve (`probe_run`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recdoc import metrics, reference
from recdoc.config import RunConfig
from recdoc.errors import InputError, UsageError
from recdoc.files import write_numbered

PROBE_FILE = "probe.json"
PIPE_WIDTH = 160  # columns of the probe table when stdout is not a terminal
PROBE_SCHEMA = "recdoc-probe/1"
# Two interest vectors with cosine above this share over 90% of their direction (cos^2 > 0.9): they retrieve almost
# the same items. Random directions in d = 64 have |cos| around 0.13, so chance never gets near it.
COLLAPSE_COSINE = 0.95
# An interest below 1% of the norm of the user's strongest interest has inner products about 100x smaller: it cannot
# win the merge or the readout unless every other interest points away from the item.
NEAR_ZERO_NORM_RATIO = 0.01
# `recdoc analyze --deep` probes at most this many users when the run has no probe.json: enough to estimate shares of
# 1/K to about a percent, and bounded time on Book/Taobao-sized validation sets.
DOCTOR_MAX_USERS = 5_000
SPLITS = ("valid", "test")


# ---------------------------------------------------------------- statistics (pure numpy)
@dataclass
class InterestTally:
    """Accumulates the probe's counts over batches of users; `result()` turns them into shares.

    `add(interests [B, K, d], item_table [items, d], own_ids [B, K, N], own_scores [B, K, N], targets)`: each
    interest's own top-N (item ids, -1 for an empty slot, best first, with their scores) as exact inner-product
    search returns them, and one array of target item ids per user. The merged list is computed here exactly as
    evaluation merges (`recdoc.metrics.merge_interests`).
    """

    num_interest: int
    top_n: int
    users: int = 0
    retrieved: np.ndarray = field(init=False)
    hits: np.ndarray = field(init=False)
    readout_wins: np.ndarray = field(init=False)
    near_zero: np.ndarray = field(init=False)
    norm_sum: np.ndarray = field(init=False)
    pair_cosine_sum: np.ndarray = field(init=False)
    pair_above: np.ndarray = field(init=False)
    pair_overlap_sum: np.ndarray = field(init=False)
    all_pairs_above: int = 0

    def __post_init__(self) -> None:
        k = self.num_interest
        if k < 2:
            raise UsageError(f"the probe looks inside multi-interest models; this one has {k} interest")
        self.retrieved = np.zeros(k, dtype=np.int64)
        self.hits = np.zeros(k, dtype=np.int64)
        self.readout_wins = np.zeros(k, dtype=np.int64)
        self.near_zero = np.zeros(k, dtype=np.int64)
        self.norm_sum = np.zeros(k, dtype=np.float64)
        self.pair_cosine_sum = np.zeros((k, k), dtype=np.float64)
        self.pair_above = np.zeros((k, k), dtype=np.int64)
        self.pair_overlap_sum = np.zeros((k, k), dtype=np.float64)

    def add(self, interests: np.ndarray, item_table: np.ndarray, own_ids: np.ndarray, own_scores: np.ndarray,
            targets: Sequence[np.ndarray]) -> None:
        vectors = np.asarray(interests, dtype=np.float64)
        table = np.asarray(item_table, dtype=np.float64)
        own_ids = np.asarray(own_ids, dtype=np.int64)
        if vectors.ndim != 3 or vectors.shape[1] != self.num_interest:
            raise ValueError(f"interests must be [B, {self.num_interest}, d], got {vectors.shape}")
        batch = len(vectors)
        if own_ids.shape[:2] != vectors.shape[:2] or np.shape(own_scores) != own_ids.shape or len(targets) != batch:
            raise ValueError(f"interests {vectors.shape}, own lists {own_ids.shape}, scores {np.shape(own_scores)} "
                             f"and {len(targets)} target lists do not match")
        self.users += batch
        ranked = metrics.merge_interests(own_ids, np.asarray(own_scores, dtype=np.float64), self.top_n)
        self._add_retrieval(vectors, table, ranked, targets)
        self._add_overlap(own_ids[:, :, :self.top_n])
        self._add_readout(vectors, table, targets)
        self._add_geometry(vectors)

    def _add_retrieval(self, vectors: np.ndarray, table: np.ndarray, ranked: np.ndarray,
                       targets: Sequence[np.ndarray]) -> None:
        filled = ranked >= 0
        items = table[np.where(filled, ranked, 0)]  # [B, N, d]
        # The interest that scores a retrieved item highest is the one whose own top-N brought it into the merge;
        # ties (identical interests) go to the lower index, so a duplicate interest is credited nothing.
        owner = np.argmax(np.einsum("bkd,bnd->bnk", vectors, items), axis=2)
        is_hit = np.stack([np.isin(row, np.asarray(user_targets)) for row, user_targets in zip(ranked, targets)]) \
            if len(ranked) else np.zeros_like(filled)
        is_hit &= filled
        self.retrieved += np.bincount(owner[filled], minlength=self.num_interest)
        self.hits += np.bincount(owner[is_hit], minlength=self.num_interest)

    def _add_overlap(self, own_ids: np.ndarray) -> None:
        """Per pair (i, j): the share of interest i's top-N that interest j's top-N holds too."""
        batch, k, n = own_ids.shape
        # One sorted pool per (user, interest), made disjoint across users by an offset, so membership for a whole
        # batch is one searchsorted per pair.
        span = int(own_ids.max(initial=0)) + 2
        keyed = own_ids + (np.arange(batch, dtype=np.int64) * span)[:, None, None]
        pools = np.sort(keyed, axis=2)
        filled = own_ids >= 0
        for i in range(k):
            for j in range(k):
                if i == j:
                    continue
                pool = pools[:, j, :].reshape(-1)
                position = np.minimum(np.searchsorted(pool, keyed[:, i, :].reshape(-1)), pool.size - 1)
                shared = (pool[position] == keyed[:, i, :].reshape(-1)).reshape(batch, n) & filled[:, i, :]
                self.pair_overlap_sum[i, j] += (shared.sum(axis=1) / n).sum()

    def _add_readout(self, vectors: np.ndarray, table: np.ndarray, targets: Sequence[np.ndarray]) -> None:
        lengths = np.fromiter((len(t) for t in targets), dtype=np.int64, count=len(targets))
        if lengths.sum() == 0:
            return
        flat = np.concatenate([np.asarray(t, dtype=np.int64) for t in targets])
        user_of_target = np.repeat(np.arange(len(targets)), lengths)
        scores = np.einsum("tkd,td->tk", vectors[user_of_target], table[flat])
        self.readout_wins += np.bincount(np.argmax(scores, axis=1), minlength=self.num_interest)

    def _add_geometry(self, vectors: np.ndarray) -> None:
        norms = np.linalg.norm(vectors, axis=2)  # [B, K]
        self.norm_sum += norms.sum(axis=0)
        strongest = norms.max(axis=1, keepdims=True)
        self.near_zero += (norms <= NEAR_ZERO_NORM_RATIO * strongest).sum(axis=0)
        # A zero vector has no direction: its cosine with anything counts as 0 (never "collapsed").
        unit = vectors / np.where(norms > 0, norms, 1.0)[:, :, None]
        cosine = np.einsum("bkd,bjd->bkj", unit, unit)
        self.pair_cosine_sum += cosine.sum(axis=0)
        above = cosine > COLLAPSE_COSINE
        self.pair_above += above.sum(axis=0)
        upper = np.triu_indices(self.num_interest, k=1)
        self.all_pairs_above += int(above[:, upper[0], upper[1]].all(axis=1).sum())

    def result(self) -> dict[str, Any]:
        """The statistics as plain data (the `probe.json` fields below `interests` and `cosine`)."""
        k = self.num_interest
        users = max(self.users, 1)
        upper = np.triu_indices(k, k=1)
        pair_mean = self.pair_cosine_sum / users
        pair_above_share = self.pair_above / users
        pair_overlap = self.pair_overlap_sum / users
        for matrix in (pair_mean, pair_above_share, pair_overlap):
            np.fill_diagonal(matrix, 1.0)  # an interest with itself; never read
        return {
            "users": self.users,
            "top_n": self.top_n,
            "num_interest": k,
            "retrieved_items": int(self.retrieved.sum()),
            "hits": int(self.hits.sum()),
            "targets": int(self.readout_wins.sum()),
            "interests": [{
                "index": i,
                "retrieved_share": _share(self.retrieved, i),
                "hit_share": _share(self.hits, i),
                "readout_win_share": _share(self.readout_wins, i),
                "norm_mean": float(self.norm_sum[i] / users),
                "near_zero_share": float(self.near_zero[i] / users),
            } for i in range(k)],
            "cosine": {
                "threshold": COLLAPSE_COSINE,
                "mean": float(pair_mean[upper].mean()),
                "all_pairs_above_share": self.all_pairs_above / users,
                "pair_mean": _rounded(pair_mean),
                "pair_above_share": _rounded(pair_above_share),
            },
            "overlap": {
                "mean": float(((pair_overlap + pair_overlap.T) / 2)[upper].mean()),
                "pair_mean": _rounded(pair_overlap),
            },
            "near_zero_norm_ratio": NEAR_ZERO_NORM_RATIO,
        }


def _share(counts: np.ndarray, index: int) -> float | None:
    total = int(counts.sum())
    return None if total == 0 else float(counts[index] / total)


def _rounded(matrix: np.ndarray) -> list[list[float]]:
    return [[round(float(v), 6) for v in row] for row in matrix]


# ---------------------------------------------------------------- the run folder
@dataclass(frozen=True)
class ProbeTarget:
    """What a probe reads: the run's configuration, its best checkpoint prefix and its data folder."""

    run_dir: Path
    exp_name: str
    config: RunConfig
    checkpoint: Path
    data_dir: Path


def locate(run_dir: str | Path, data_dir: str | None = None) -> ProbeTarget:
    """Read `run.json`, find `ckpt/best`'s latest checkpoint and the data folder; no TensorFlow needed."""
    root = Path(run_dir)
    run_json = root / "run.json"
    if not run_json.is_file():
        raise InputError("not a recdoc run folder (no run.json)", str(root))
    try:
        record = json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read run.json ({exc})", str(run_json)) from None
    stored = record.get("config") if isinstance(record, dict) else None
    if not isinstance(stored, dict):
        raise InputError("run.json has no config object", str(run_json))
    names = {f.name for f in dataclasses.fields(RunConfig)}
    values = {key: value for key, value in stored.items() if key in names}
    if isinstance(values.get("metrics_at"), list):
        values["metrics_at"] = tuple(values["metrics_at"])
    try:
        config = RunConfig(**values)
    except TypeError as exc:
        raise InputError(f"run.json config is not a recdoc configuration ({exc})", str(run_json)) from None
    checkpoint = best_checkpoint(root / "ckpt" / "best")
    folder = find_data_dir(root, data_dir if data_dir is not None else config.data_dir, config.dataset)
    return ProbeTarget(root, str(record.get("exp_name") or root.name), config, checkpoint, folder)


def best_checkpoint(best_dir: Path) -> Path:
    """The prefix named by `ckpt/best/checkpoint` (read as text, as the doctor's checkpoint reader does)."""
    state = best_dir / "checkpoint"
    if not state.is_file():
        raise InputError("no best checkpoint (the run never improved, or ckpt/best was removed)", str(best_dir))
    for number, line in enumerate(state.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        key, _, value = line.partition(":")
        if key.strip() == "model_checkpoint_path":
            name = Path(value.strip().strip('"'))
            prefix = name if name.is_absolute() and name.with_name(name.name + ".index").is_file() \
                else best_dir / name.name
            if not prefix.with_name(prefix.name + ".index").is_file():
                raise InputError(f"{prefix.name}.index is missing", str(state), number)
            return prefix
    raise InputError("names no model_checkpoint_path", str(state))


def find_data_dir(run_dir: Path, data_dir: str, dataset: str) -> Path:
    """`data_dir` as run.json states it: absolute, else relative to the working folder, else to a folder above
    the run (runs are usually trained from the folder that holds both `data/` and `runs/`)."""
    given = Path(data_dir)
    candidates = [given] if given.is_absolute() else [given, *(parent / given for parent in run_dir.resolve().parents)]
    for candidate in candidates:
        if (candidate / f"{dataset}_data").is_dir():
            return candidate
    raise InputError(f"cannot find {dataset}_data/ under data_dir {data_dir!r} (tried the working folder and the "
                     "folders above the run); pass --data_dir", str(run_dir))


# ---------------------------------------------------------------- probing (TensorFlow, faiss)
def probe_run(run_dir: str | Path, split: str = "valid", data_dir: str | None = None,
              max_users: int | None = None) -> dict[str, Any]:
    """Restore the run's best checkpoint and probe its interests on `split`'s users; the `probe.json` content."""
    if split not in SPLITS:
        raise UsageError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    if max_users is not None and max_users < 1:
        raise UsageError(f"--max_users must be positive, got {max_users}")
    target = locate(run_dir, data_dir)
    if not reference.is_multi_interest(target.config.model_type) or target.config.num_interest < 2:
        raise UsageError(f"{target.exp_name}: {target.config.model_type} with {target.config.num_interest} "
                         "interest(s) is not a multi-interest model: there is nothing to probe")
    from recdoc.trainer.data.dataset import load_dataset

    dataset = load_dataset(str(target.data_dir), target.config.dataset, target.config.item_count)
    model = restore_model(target, dataset.item_count)
    all_users = dataset.valid if split == "valid" else dataset.test
    return {
        "schema": PROBE_SCHEMA,
        "run": str(target.run_dir),
        "exp_name": target.exp_name,
        "model_type": target.config.model_type,
        "dataset": target.config.dataset,
        "checkpoint": str(target.checkpoint),
        "split": split,
        "users_in_split": len(all_users),
        **probe_interests(model, all_users, target.config, max_users),
    }


def probe_interests(model: Any, users: Any, config: RunConfig, max_users: int | None = None) -> dict[str, Any]:
    """The tally of `model`'s interests over `users` (a `Split`; its first `max_users`), as evaluation sees them."""
    from recdoc.trainer.data.dataset import Split
    from recdoc.trainer.data.sampling import eval_batches
    from recdoc.trainer.evaluate import ItemIndex

    if max_users is not None and max_users < len(users):
        users = Split(users.path, users.users[:max_users], users.sequences[:max_users])
    table = np.asarray(model.item_embeddings.numpy())
    index = ItemIndex(table)
    tally = InterestTally(model.num_interest, config.topN)
    for hist, mask, targets in eval_batches(users, config.batch_size, config.maxlen):
        interests = np.asarray(model.interests(hist, mask))
        own_ids, own_scores = own_top_n(index, interests, config.topN)
        tally.add(interests, table, own_ids, own_scores, targets)
    return tally.result()


def probe_checkpoint(path: str | Path, data_dir: str | Path, dataset: str | None = None, split: str = "valid",
                     max_users: int | None = None) -> dict[str, Any]:
    """The probe of any ComiRec checkpoint (the original's, a TF2 or PyTorch port's, recdoc's), loaded by
    `recdoc.trainer.checkpoints`; the result also says what mapped to what (`loaded_as`)."""
    if split not in SPLITS:
        raise UsageError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    if max_users is not None and max_users < 1:
        raise UsageError(f"--max_users must be positive, got {max_users}")
    from recdoc.trainer.checkpoints import open_with_data

    loaded, data = open_with_data(path, data_dir, dataset)
    return probe_loaded(loaded, data, split, max_users)


def probe_loaded(loaded: Any, data: Any, split: str = "valid", max_users: int | None = None) -> dict[str, Any]:
    """The probe of a checkpoint already loaded (`recdoc.trainer.checkpoints.Loaded`) on `data`'s users."""
    mapping = loaded.mapping
    if not reference.is_multi_interest(mapping.model_type) or mapping.num_interest < 2:
        raise UsageError(f"{loaded.located.target}: {mapping.model_type} with {mapping.num_interest} interest(s) is "
                         "not a multi-interest model: there is nothing to probe")
    all_users = data.valid if split == "valid" else data.test
    located = loaded.located
    return {
        "schema": PROBE_SCHEMA,
        "run": str(located.run_root) if located.run_root is not None else None,
        "exp_name": located.exp_name or located.target.parent.name,
        "model_type": mapping.model_type,
        "dataset": data.name,
        "checkpoint": str(located.target),
        "loaded_as": {"layout": loaded.source.layout, **mapping.to_dict()},
        "split": split,
        "users_in_split": len(all_users),
        **probe_interests(loaded.model, all_users, loaded.config, max_users),
    }


def probe_any(path: str | Path, split: str = "valid", data_dir: str | None = None, dataset: str | None = None,
              max_users: int | None = None) -> dict[str, Any]:
    """`recdoc probe PATH`: a recdoc run folder as before (its data folder from run.json unless given), any
    other checkpoint through the foreign loaders (which need the data folder)."""
    folder = Path(path)
    if folder.is_dir() and (folder / "run.json").is_file() and dataset is None:
        return probe_run(folder, split=split, data_dir=data_dir, max_users=max_users)
    if data_dir is None:
        raise UsageError("probing a checkpoint that is not a recdoc run folder needs --data_dir (the folder "
                         "holding <dataset>_data/ in ComiRec's format)")
    return probe_checkpoint(path, data_dir, dataset, split, max_users)


def default_out_dir(probe: dict[str, Any], given: str | None) -> Path:
    """Where probe/rescore results go: `--out`, else the run folder when it can be written, else here."""
    if given is not None:
        return Path(given)
    run = probe.get("run")
    if run and os.access(run, os.W_OK):
        return Path(run)
    return Path.cwd()


def own_top_n(index: Any, interests: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each interest's own exact top-`n` over the whole table (row 0 included), as evaluation searches:
    ids and scores `[B, K, n]`. `index` is a `recdoc.trainer.evaluate.ItemIndex`."""
    batch, k, dim = interests.shape
    ids, scores = index.search(interests.reshape(batch * k, dim), n)
    return ids.reshape(batch, k, n), scores.reshape(batch, k, n)


def restore_model(target: ProbeTarget, item_count: int) -> Any:
    """Build the run's model and restore its weights from the best checkpoint (the optimizer's are skipped)."""
    from recdoc.trainer.tfimport import import_tensorflow

    tf = import_tensorflow()  # quietly: the model import below would otherwise bring TensorFlow's start-up lines

    from recdoc.trainer.models import build_model

    model = build_model(target.config, item_count)
    try:
        status = tf.train.Checkpoint(model=model).restore(str(target.checkpoint)).expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise InputError(f"checkpoint does not match a {target.config.model_type} model with "
                         f"item_count {item_count} ({first})", str(target.checkpoint)) from None
    return model


# ---------------------------------------------------------------- probe.json
def write_probe(probe: dict[str, Any], out_dir: str | Path) -> Path:
    """Write `probe.json` in `out_dir`, or `probe-2.json`, `probe-3.json`... : an existing file is never replaced."""
    return write_numbered(Path(out_dir), lambda n: PROBE_FILE if n == 1 else f"probe-{n}.json",
                          json.dumps(probe, indent=1) + "\n")


def latest_probe_file(run_dir: Path) -> Path | None:
    """The most recently written `probe*.json` of a run folder, if any."""
    found = [p for p in run_dir.glob("probe*.json") if p.is_file()]
    return max(found, key=lambda p: (p.stat().st_mtime, p.name)) if found else None


def read_probe(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read probe results ({exc})", str(path)) from None
    if not isinstance(data, dict) or data.get("schema") != PROBE_SCHEMA:
        raise InputError(f"not a {PROBE_SCHEMA} file", str(path))
    return data


def probe_for_doctor(run_dir: Path) -> tuple[dict[str, Any], Path | None]:
    """For `recdoc analyze --deep`: the run's latest probe file, else a probe computed now (not written).

    Returns the probe and the file it came from (None when computed now).
    """
    existing = latest_probe_file(run_dir)
    if existing is not None:
        return read_probe(existing), existing
    return probe_run(run_dir, max_users=DOCTOR_MAX_USERS), None


# ---------------------------------------------------------------- console
def probe_table(probe: dict[str, Any]) -> Any:
    """A rich table: one row per interest, its shares, norm and closest sibling."""
    from rich.table import Table

    cosine = probe["cosine"]
    table = Table(title=f"interest health: {probe.get('exp_name', '')} ({probe['split']}, "
                        f"{probe['users']} users, top {probe['top_n']})")
    overlap = probe["overlap"]
    for header in ("interest", "retrieved", "hits", "readout wins", "mean norm", "near-zero users",
                   "closest (cos, overlap)"):
        table.add_column(header, justify="right")
    for row in probe["interests"]:
        i = row["index"]
        others = [(cosine["pair_mean"][i][j], j) for j in range(probe["num_interest"]) if j != i]
        closest_cos, closest = max(others)
        table.add_row(str(i), _percent(row["retrieved_share"]), _percent(row["hit_share"]),
                      _percent(row["readout_win_share"]), f"{row['norm_mean']:.4f}",
                      _percent(row["near_zero_share"]),
                      f"{closest} ({closest_cos:.2f}, {_percent(overlap['pair_mean'][i][closest])})")
    table.caption = (f"mean pairwise cosine {cosine['mean']:.3f}; mean top-{probe['top_n']} overlap "
                     f"{_percent(overlap['mean'])}; users with every pair above {cosine['threshold']}: "
                     f"{_percent(cosine['all_pairs_above_share'])}; {probe['retrieved_items']} retrieved items, "
                     f"{probe['hits']} hits, {probe['targets']} targets")
    return table


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def print_probe(probe: dict[str, Any], outcomes: Sequence[Any], written: Path | None, stream: Any = None) -> None:
    """The table, then each finding (id, severity, title, evidence) and each check that came out clean."""
    from rich.console import Console

    # Off a terminal rich assumes 80 columns and wraps every row of the 7-column table; a pipe or a log file
    # has no width, so give the table the room it needs there.
    target = stream if stream is not None else sys.stdout
    console = Console(file=stream, soft_wrap=False, width=None if target.isatty() else PIPE_WIDTH)
    loaded = probe.get("loaded_as")
    if isinstance(loaded, dict):
        console.print(f"{probe['checkpoint']}: {loaded['layout']} -> {loaded['model_type']} (K "
                      f"{loaded['num_interest']}, d {loaded['embedding_dim']}, maxlen {loaded['maxlen']}, "
                      f"{loaded['item_count']} items)", markup=False, highlight=False)
        for slot, source in loaded["mapped"].items():
            console.print(f"  {slot} <- {source}", markup=False, highlight=False)
        for name, why in loaded.get("ignored", {}).items():
            console.print(f"  not used: {name} ({why})", markup=False, highlight=False)
    console.print(probe_table(probe))
    for outcome in outcomes:
        if hasattr(outcome, "severity"):
            console.print(f"[bold red]{outcome.id}[/bold red] ({outcome.severity}, confidence "
                          f"{outcome.confidence:.2f}): {outcome.title}", highlight=False)
            for evidence in outcome.evidence:
                console.print(f"  - {evidence.text}", markup=False, highlight=False)
            if outcome.fix is not None and outcome.fix.how:
                console.print(f"  fix: {outcome.fix.how}", markup=False, highlight=False)
        else:
            console.print(f"[green]{outcome.id}[/green]: not found. {outcome.reason}", highlight=False)
    if written is not None:
        console.print(f"Probe: {written}", markup=False, highlight=False)

