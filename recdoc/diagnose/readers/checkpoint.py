"""Checkpoint folders as found on disk, read as plain files; tensors only with `--deep` (TensorFlow, lazily).

- TF1 `tf.train.Saver` (the original): `best_model/<exp>/checkpoint` names `model.ckpt`, beside `model.ckpt.index`,
  `model.ckpt.data-00000-of-00001`, `model.ckpt.meta`.
- TF2 `tf.train.CheckpointManager` (the TF2 port's `keras_ckpt/`, recdoc's `ckpt/best`, `ckpt/last`): the
  `checkpoint` file names `ckpt-N`. **N is the manager's save counter**: the number of saves so far (for a best-model
  manager, the number of improvements), not an iteration count. The incident misread ckpt-130 as 130,000 iterations.
- The PyTorch port: `best_model/<exp>/model.pt` (not opened: reading it needs torch; its size and presence are facts).

The `checkpoint` file is a text protobuf: `model_checkpoint_path: "ckpt-130"` and `all_model_checkpoint_paths: "..."`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from recdoc.checkpoint_state import TORCH_SUFFIXES, prefix_candidates
from recdoc.diagnose.observed_run import CheckpointInfo, Run, SourceRef
from recdoc.diagnose.readers.lines import iter_lines
from recdoc.errors import InputError
from recdoc.thresholds import InterestThresholds

FORMAT = "checkpoint"
STATE_FILE = "checkpoint"
_PATH_LINE_RE = re.compile(r'^\s*(model_checkpoint_path|all_model_checkpoint_paths)\s*:\s*"(.*)"\s*$')
# Other CheckpointState fields TF2's CheckpointManager writes: numbers, not paths.
_TIMESTAMP_LINE_RE = re.compile(r"^\s*(all_model_checkpoint_timestamps|last_preserved_timestamp)\s*:\s*[-+0-9.eE]+\s*$")
_MANAGER_RE = re.compile(r"^ckpt-(\d{1,18})$")
_SAVER_STEP_RE = re.compile(r"^.+\.ckpt-(\d+)$")
# A `checkpoint` state file is a few lines; a bigger file by that name is something else.
MAX_STATE_LINES = 10_000


def sniff(head: str) -> float:
    return 0.95 if head.lstrip().startswith("model_checkpoint_path:") else 0.0


def read(path: str | Path, deep: bool = False) -> Run:
    """A checkpoint folder, its `checkpoint` file, or a PyTorch `.pt`/`.pth` file."""
    try:
        return _read(Path(path), deep)
    except OSError as exc:
        raise InputError(f"cannot read checkpoint: {exc.strerror or exc}", str(path)) from None


def _read(path: Path, deep: bool) -> Run:
    target = path
    if not target.exists():
        raise InputError("no such checkpoint file or folder", str(path))
    if target.is_file() and target.suffix in TORCH_SUFFIXES:
        info = torch_checkpoint(target)
    else:
        folder = target if target.is_dir() else target.parent
        state = folder / STATE_FILE
        if state.is_file():
            info = state_checkpoint(state, deep=deep)
        else:
            torch_files = sorted(p for p in folder.iterdir() if p.suffix in TORCH_SUFFIXES) if folder.is_dir() else []
            if torch_files:
                info = torch_checkpoint(torch_files[0])
            else:
                info = bare_checkpoint(folder, deep=deep)
    run = Run(format=FORMAT, paths=[str(path)], checkpoints=[info])
    return run


def checkpoint_kind(folder: Path, latest: str | None) -> str:
    parts = [p.lower() for p in folder.parts]
    if len(parts) >= 2 and parts[-2] == "ckpt" and parts[-1] in ("best", "last"):
        return "recdoc"
    name = Path(latest).name if latest else ""
    if _MANAGER_RE.match(name) or "keras_ckpt" in parts:
        return "tf2-manager"
    if name:
        return "tf1-saver"
    return "unknown"


def state_checkpoint(state: Path, deep: bool = False) -> CheckpointInfo:
    folder = state.parent
    problems: list[str] = []
    latest, latest_line = _latest_path(state, problems)
    prefix = resolve_prefix(folder, latest, problems) if latest else None
    files_ok = prefix is not None and checkpoint_files_exist(prefix)
    if latest and prefix is not None and not files_ok:
        problems.append(f"{state}:{latest_line}: {Path(latest).name}.index or its .data-* file is missing")
    name = Path(latest).name if latest else None
    kind = checkpoint_kind(folder, latest)
    save_counter, iteration = _name_number(kind, name)
    if name and kind not in ("tf2-manager", "recdoc") and _SAVER_STEP_RE.match(name):
        problems.append(f"{state}:{latest_line}: a TF1 Saver path with a global step ({name}); the number is a step")
    tensors = None
    if deep and files_ok and prefix is not None:
        tensors = deep_tensors(prefix, problems)
    return CheckpointInfo(path=str(folder), kind=kind, latest=name, save_counter=save_counter,  # type: ignore[arg-type]
                          files_ok=files_ok, ref=SourceRef(str(state), latest_line), problems=tuple(problems),
                          tensors=tensors, iteration=iteration)


def _latest_path(state: Path, problems: list[str]) -> tuple[str | None, int | None]:
    """The checkpoint a state file names as the latest (`model_checkpoint_path`, else its last
    `all_model_checkpoint_paths`), with its line; what is wrong with the file goes to `problems`."""
    latest: str | None = None
    latest_line: int | None = None
    all_paths: list[str] = []
    for number, text in iter_lines(state):
        if number > MAX_STATE_LINES:
            problems.append(f"{state}: more than {MAX_STATE_LINES} lines; not a checkpoint state file")
            break
        match = _PATH_LINE_RE.match(text)
        if match is None:
            if text.strip() and not _TIMESTAMP_LINE_RE.match(text):
                problems.append(f"{state}:{number}: unexpected line {text.strip()[:80]!r}")
            continue
        if match.group(1) == "model_checkpoint_path":
            latest, latest_line = match.group(2), number
        else:
            all_paths.append(match.group(2))
    if latest is None and all_paths:
        latest = all_paths[-1]
    if latest is None:
        problems.append(f"{state}: names no model_checkpoint_path")
    return latest, latest_line


def _name_number(kind: str, name: str | None) -> tuple[int | None, int | None]:
    """(save counter, iteration) from a `ckpt-N` name. The same `ckpt-N` means different things per writer: recdoc
    passes the iteration as the checkpoint number; a port's CheckpointManager counts saves (see `number_meaning`)."""
    if not name or kind not in ("tf2-manager", "recdoc"):
        return None, None
    match = _MANAGER_RE.match(name)
    number = int(match.group(1)) if match else None
    return (None, number) if kind == "recdoc" else (number, None)


def number_meaning(info: CheckpointInfo, improvements: int | None, best_iter: int | None) -> str | None:
    """What the number in a checkpoint's name means, by its writer (the one place that says it):
    recdoc names a checkpoint by the iteration it holds; a TF2 port's CheckpointManager by its save counter (the
    number of improvements); the original's TF1 Saver (`model.ckpt`) carries no number."""
    name = info.latest
    if info.kind == "recdoc" and info.iteration is not None:
        text = f"{name} = the model saved at iteration {info.iteration:,} (recdoc numbers checkpoints by iteration)"
        if best_iter is not None and info.path.replace("\\", "/").endswith("best"):
            text += (" (the curve's best evaluation, as expected)" if best_iter == info.iteration
                     else f" (the curve's best is at iteration {best_iter:,}: the folder may hold another run)")
        return text
    if info.kind == "tf2-manager" and info.save_counter is not None:
        n = info.save_counter
        text = f"{name or f'ckpt-{n}'} = {n} saves = {n} improvements, not iteration {n * 1000:,}"
        if improvements:
            agrees = "agrees with" if n == improvements else "differs from"
            text += f" ({agrees} the {improvements} improvements counted in the curve)"
        return text
    if info.kind == "tf1-saver" and name:
        return f"{name}: the original's TF1 Saver keeps only the latest best model; its name carries no iteration"
    return None


def resolve_prefix(folder: Path, latest: str, problems: list[str]) -> Path | None:
    """The checkpoint prefix on this machine: relative to the folder, else absolute, else the basename here."""
    given = Path(latest)
    candidates = prefix_candidates(folder, latest)
    for candidate in candidates:
        if checkpoint_files_exist(candidate):
            if given.is_absolute() and candidate != given:
                problems.append(f"the checkpoint file names an absolute path from another machine: {latest}")
            return candidate
    return candidates[0]


def checkpoint_files_exist(prefix: Path) -> bool:
    # A `checkpoint` file may name any string: too long, bad characters, a folder we may not read. Not there, then.
    try:
        if not (prefix.parent / (prefix.name + ".index")).is_file():
            return False
        return any(p.name.startswith(prefix.name + ".data-") for p in prefix.parent.iterdir())
    except (OSError, ValueError):
        return False


def bare_checkpoint(folder: Path, deep: bool = False) -> CheckpointInfo:
    """A folder of `.index`/`.data-*` files without a `checkpoint` state file (copied by hand, or recdoc's)."""
    problems = [f"{folder}: no `checkpoint` state file"]
    try:
        indexes = sorted(folder.glob("*.index"))
    except OSError:
        indexes = []
    prefix = indexes[-1].with_suffix("") if indexes else None
    latest = prefix.name if prefix else None
    if len(indexes) > 1:
        # ckpt-9 sorts after ckpt-10 as text; pick the highest counter when the names carry one.
        numbered = [(int(m.group(1)), p) for p in indexes if (m := _MANAGER_RE.match(p.with_suffix("").name))]
        if numbered:
            prefix = max(numbered)[1].with_suffix("")
            latest = prefix.name
    files_ok = prefix is not None and checkpoint_files_exist(prefix)
    kind = checkpoint_kind(folder, latest)
    match = _MANAGER_RE.match(latest or "")
    tensors = deep_tensors(prefix, problems) if deep and files_ok and prefix is not None else None
    return CheckpointInfo(path=str(folder), kind=kind if latest else "unknown", latest=latest,  # type: ignore[arg-type]
                          save_counter=int(match.group(1)) if match and kind != "tf1-saver" else None,
                          files_ok=files_ok, ref=SourceRef(str(folder)), problems=tuple(problems), tensors=tensors)


def torch_checkpoint(path: Path) -> CheckpointInfo:
    problems: list[str] = []
    try:
        size = path.stat().st_size
    except OSError as exc:
        size = 0
        problems.append(f"{path}: cannot stat ({exc.strerror or exc})")
    if size == 0:
        problems.append(f"{path}: empty file")
    else:
        problems.append(f"{path}: PyTorch tensors are not read (recdoc does not depend on torch)")
    return CheckpointInfo(path=str(path.parent), kind="torch", latest=path.name, save_counter=None,
                          files_ok=size > 0, ref=SourceRef(str(path)), problems=tuple(problems))


# ---------------------------------------------------------------- --deep: tensors (TensorFlow, imported here only)


def deep_tensors(prefix: Path, problems: list[str]) -> dict[str, Any] | None:
    """item_count, d, K, maxlen, NaN/Inf counts, embedding norms and a model-family guess from the variables."""
    try:
        from recdoc.tfimport import tf  # the only TensorFlow import of the doctor, behind --deep

        variables = tf.train.list_variables(str(prefix))
        reader = tf.train.load_checkpoint(str(prefix))
    except Exception as exc:  # noqa: BLE001 (any TF failure is a corrupt checkpoint to the user)
        problems.append(f"{prefix}: cannot read tensors ({str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__})")
        return None
    from recdoc.instruments.checkpoints.mapping import is_bookkeeping  # the loader's: optimizer slots, counters

    shapes = {name: list(shape) for name, shape in variables if not is_bookkeeping(name)}
    facts = shape_facts(shapes)
    nan_count = inf_count = 0
    for name in shapes:
        try:
            value = reader.get_tensor(name)
        except Exception:  # noqa: BLE001
            problems.append(f"{prefix}: tensor {name} cannot be read")
            continue
        if getattr(value, "dtype", None) is not None and value.dtype.kind == "f":
            import numpy as np

            nan_count += int(np.isnan(value).sum())
            inf_count += int(np.isinf(value).sum())
            if name == facts.get("embedding_name"):
                facts.update(embedding_stats(value))
            if name == facts.get("interest_weights_name") and facts.get("K"):
                facts.update(interest_health(value, int(facts["K"]), facts.get("family")))
    facts["nan_count"], facts["inf_count"] = nan_count, inf_count
    facts["variables"] = {name: shape for name, shape in sorted(shapes.items())}
    return facts


def shape_facts(shapes: dict[str, list[int]]) -> dict[str, Any]:
    """Pure: what the variable names and shapes tell (no tensor values). See reference section 3."""
    facts: dict[str, Any] = {}
    matrices = {n: s for n, s in shapes.items() if len(s) == 2}
    named = {n: s for n, s in matrices.items() if "emb" in n.lower() and "position" not in n.lower()}
    pool = named or matrices
    if pool:
        name = max(pool, key=lambda n: (pool[n][0], n))
        facts["embedding_name"] = name
        facts["item_count"], facts["d"] = pool[name][0], pool[name][1]
    d = facts.get("d")
    if not d:
        return facts
    # The family by the checkpoint loader's own rules (one guesser: recdoc.instruments.checkpoints.mapping);
    # imported here, under --deep only: the package brings numpy.
    from recdoc.instruments.checkpoints.mapping import dr_maps, guess_family, position_embeddings

    others = {n: tuple(s) for n, s in shapes.items() if n != facts["embedding_name"]}
    family = guess_family(others, d)
    if family is None and any(s == (d, d) for s in others.values()):
        family = "DNN"  # one [d, d] layer, names silent: MIND or YouTube DNN; the plainer reading
    if family is not None:
        facts["family"] = family
    if family == "ComiRec-DR":
        name = dr_maps(others, d)[0]
        shape = others[name]
        facts["maxlen"], facts["K"] = (shape[1], shape[2] // d) if len(shape) == 4 else (shape[0], shape[1] // d)
        facts["interest_weights_name"] = name
    elif family == "ComiRec-SA":
        facts["maxlen"] = others[position_embeddings(others, d)[0]][1]
        # The attention's second Dense maps 4d hidden units to K interests: kernel [4d, K].
        kernels = [n for n, s in shapes.items() if len(s) == 2 and s[0] == 4 * d and s[1] < d]
        if kernels:
            facts["K"] = shapes[kernels[0]][1]
            facts["interest_weights_name"] = kernels[0]
    return facts


def embedding_stats(value: Any) -> dict[str, float]:
    import numpy as np

    rows = np.asarray(value, dtype=np.float64)
    finite = rows[np.isfinite(rows).all(axis=1)] if rows.ndim == 2 else rows
    if finite.size == 0:
        return {}
    norms = np.linalg.norm(finite, axis=1)
    return {"embedding_norm_mean": float(norms.mean()), "embedding_norm_median": float(np.median(norms)),
            "embedding_norm_max": float(norms.max()), "embedding_abs_max": float(np.abs(finite).max()),
            "embedding_zero_rows": int((norms == 0).sum()), "embedding_norm_std": float(norms.std())
            if math.isfinite(float(norms.std())) else float("nan")}


def interest_health(value: Any, num_interest: int, family: str | None) -> dict[str, Any]:
    """Per-interest weight norms; how many interests are dead (near-zero) or collapsed onto another one.

    DR: the bilinear map [1, T, K*d, d] split into K blocks along axis 2. SA: the attention kernel [4d, K], column k.
    """
    import numpy as np

    array = np.asarray(value, dtype=np.float64)
    if family == "ComiRec-DR" and array.ndim == 4:
        per_interest = np.stack(np.split(array[0], num_interest, axis=1)).reshape(num_interest, -1)
    elif array.ndim == 2 and array.shape[1] == num_interest:
        per_interest = array.T
    else:
        return {}
    if not np.isfinite(per_interest).all():
        return {}
    norms = np.linalg.norm(per_interest, axis=1)
    median = float(np.median(norms))
    dead = int((norms < InterestThresholds.DEAD_WEIGHT_NORM_RATIO * median).sum()) if median > 0 else num_interest
    unit = per_interest / np.where(norms > 0, norms, 1.0)[:, None]
    cosine = unit @ unit.T
    collapsed = {j for i in range(num_interest) for j in range(i + 1, num_interest)
                 if cosine[i, j] > InterestThresholds.WEIGHT_COLLAPSE_COSINE and norms[i] > 0 and norms[j] > 0}
    return {"interest_weight_norms": [float(n) for n in norms], "dead_interests": dead,
            "collapsed_interests": len(collapsed)}
