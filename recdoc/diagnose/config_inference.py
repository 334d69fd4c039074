"""Infer a run's configuration from what its files show, every value with its source.

Precedence (first wins, later sources that disagree become `Setting.conflicts`):
`--set` overrides > values the format declares (run.json, port lines such as `interest_num: 4`) > the experiment
name (built by the training script from the values it used) > the argv line (what was typed) > checkpoint facts >
the tool's documented defaults (PyTorch port topN 20) > the original's defaults for the dataset.
The NDCG definition, when no source states it, is inferred from NDCG/HitRate at the same cut-off: paper, master or
standard by the bands of reference.json `ndcg_over_hitrate` for the run's dataset and cut-off, unknown in none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from recdoc import reference
from recdoc.config import NDCG_KINDS, RunConfig, dataset_defaults, parse_exp_name
from recdoc.diagnose.findings import Setting
from recdoc.diagnose.observed_run import Run, SourceRef
from recdoc.errors import UsageError

# Keys the doctor infers (RunConfig fields that shape a run's result). Paths and bookkeeping fields are left out.
INFERRED_KEYS = ("dataset", "paper_dataset", "model_type", "learning_rate", "max_iter", "patience", "topN", "embedding_dim",
                 "hidden_size", "num_interest", "random_seed", "batch_size", "maxlen", "test_iter", "neg_num",
                 "item_count", "ndcg", "coef", "exp")

# Other spellings of a key seen in argv lines and port logs.
KEY_ALIASES = {"lr": "learning_rate", "interest_num": "num_interest", "top_n": "topN", "topn": "topN",
               "batch": "batch_size", "seq_len": "maxlen", "max_len": "maxlen", "seed": "random_seed",
               "dataset_name": "dataset", "model": "model_type", "hidden": "hidden_size",
               "embedding_size": "embedding_dim",
               "ndcg_definition": "ndcg", "test_iter_num": "test_iter", "neg": "neg_num"}

# Checkpoint tensor facts (readers' --deep output) that determine a config key.
CHECKPOINT_KEYS = {"item_count": "item_count", "d": "embedding_dim", "embedding_dim": "embedding_dim",
                   "K": "num_interest", "num_interest": "num_interest", "maxlen": "maxlen"}

_FIELD_TYPES = {f.name: str(f.type) for f in fields(RunConfig)}


def canonical_key(key: str) -> str:
    key = key.strip().lstrip("-")
    if key in _FIELD_TYPES:
        return key
    return KEY_ALIASES.get(key.lower(), key)


def coerce(key: str, raw: Any) -> Any:
    """Convert `raw` to the type of RunConfig's field `key`; raise ValueError when it does not fit."""
    kind = _FIELD_TYPES.get(key, "str | None")
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in {"none", "null"} and "None" in kind):
        if "None" in kind:
            return None
        raise ValueError(f"{key} cannot be empty")
    if kind.startswith("tuple"):
        items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
        return tuple(int(x) for x in items if str(x).strip())
    if kind.startswith("int"):
        number = float(raw)
        if not number.is_integer():
            raise ValueError(f"{key} must be an integer, got {raw!r}")
        return int(number)
    if kind.startswith("float"):
        return float(raw)
    if kind.startswith("str"):
        text = str(raw).strip()
        if key == "model_type":
            return reference.canonical_model_type(text) or text
        if key == "ndcg" and text not in NDCG_KINDS:
            raise ValueError(f"ndcg must be one of {', '.join(NDCG_KINDS)}, got {text!r}")
        return text
    raise ValueError(f"{key} cannot be set")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


Candidate = tuple[Any, str, SourceRef | None]  # value, source label, where


def _from_overrides(overrides: dict[str, str]) -> dict[str, Candidate]:
    out: dict[str, Candidate] = {}
    for raw_key, raw_value in overrides.items():
        key = canonical_key(raw_key)
        if key not in INFERRED_KEYS:
            raise UsageError(f"--set {raw_key}: unknown setting; known: {', '.join(INFERRED_KEYS)}")
        try:
            value = coerce(key, raw_value)
        except ValueError as error:
            kind = _FIELD_TYPES.get(key, "str")
            expected = "an integer" if kind.startswith("int") else "a number" if kind.startswith("float") else None
            reason = f"expected {expected}" if expected and "convert" in str(error) else str(error)
            raise UsageError(f"--set {raw_key}={raw_value}: {reason}") from None
        problem = _override_problem(key, value)
        if problem:
            raise UsageError(f"--set {raw_key}={raw_value}: {problem}")
        out[key] = (value, "--set", None)
    return out


# Settings that only make sense as positive numbers (a user's --set is checked; logs are read as they are).
_POSITIVE_KEYS = {"learning_rate", "max_iter", "patience", "topN", "embedding_dim", "hidden_size", "num_interest",
                  "batch_size", "maxlen", "test_iter", "neg_num", "item_count"}


def _override_problem(key: str, value: Any) -> str | None:
    """Why a --set value cannot describe a run, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if key in _POSITIVE_KEYS and value is not None and value <= 0 and not (key == "patience" and value == 0):
        return "must be positive"
    if key == "model_type" and reference.canonical_model_type(value) is None:
        return f"unknown model type; known: {', '.join(reference.model_types())}"
    return None


def _from_declared(run: Run) -> dict[str, Candidate]:
    out: dict[str, Candidate] = {}
    for raw_key, fact in run.declared.items():
        key = canonical_key(raw_key)
        if key not in INFERRED_KEYS or key in out:
            continue
        try:
            value = coerce(key, fact.value)
        except (ValueError, TypeError):
            continue
        label = "run.json" if fact.ref.path.endswith("run.json") else "log"
        out[key] = (value, label, fact.ref)
    return out


def _from_exp_name(run: Run) -> dict[str, Candidate]:
    if run.exp_name is None:
        return {}
    parsed = parse_exp_name(str(run.exp_name.value))
    if parsed is None:
        # A fork's own pattern (`rocket_ComiRec-SA_dropout0.2_d64_in4_top20_e1`): the parts it does hold.
        from recdoc.diagnose.readers.headers import parse_exp_name_tokens

        tokens = parse_exp_name_tokens(str(run.exp_name.value)) or {}
        return {k: (v, "exp name", run.exp_name.ref) for k, v in tokens.items()}
    out: dict[str, Candidate] = {k: (v, "exp name", run.exp_name.ref) for k, v in parsed.settings().items()}
    if parsed.name:
        out["exp"] = (parsed.name, "exp name", run.exp_name.ref)
    return out


def parse_argv(argv: list[str]) -> dict[str, str]:
    """Flags of an argv list: `['src/train.py', '--dataset', 'book', '--learning_rate=0.005']` ->
    `{'dataset': 'book', 'learning_rate': '0.005'}`."""
    out: dict[str, str] = {}
    index = 0
    while index < len(argv):
        token = str(argv[index])
        if token.startswith("--"):
            name, sep, value = token[2:].partition("=")
            if not sep and index + 1 < len(argv) and not str(argv[index + 1]).startswith("--"):
                value, index = str(argv[index + 1]), index + 1
            out[name] = value
        index += 1
    return out


def _from_argv(run: Run) -> dict[str, Candidate]:
    if run.argv is None or not isinstance(run.argv.value, (list, tuple)):
        return {}
    out: dict[str, Candidate] = {}
    for raw_key, raw_value in parse_argv(list(run.argv.value)).items():
        key = canonical_key(raw_key)
        if key not in INFERRED_KEYS:
            continue
        try:
            out[key] = (coerce(key, raw_value), "argv", run.argv.ref)
        except (ValueError, TypeError):
            continue
    return out


def _from_checkpoints(run: Run) -> dict[str, Candidate]:
    out: dict[str, Candidate] = {}
    for checkpoint in run.checkpoints:
        for fact_key, key in CHECKPOINT_KEYS.items():
            value = (checkpoint.tensors or {}).get(fact_key)
            if value is None or key in out:
                continue
            try:
                out[key] = (coerce(key, value), "checkpoint", checkpoint.ref)
            except (ValueError, TypeError):
                continue
    return out


def _from_curve(run: Run) -> dict[str, Candidate]:
    """What the curve itself shows: the evaluation interval (`test_iter`), `patience` when early stopping ended a
    run whose curve is shown from its first evaluation, and `max_iter` when the cap did.

    The original evaluates when `iter % test_iter == 0`, stops at the (patience + 1)-th evaluation without a new
    best, and after `max_iter * 1000` iterations, so a log that states none of them (an edited test_iter, a port
    that prints no argv line) still shows them.
    """
    if not run.has_curve:
        return {}
    # Evaluations are the rows with a recall; rows without one count only from a log, whose `iter:` lines are
    # printed at evaluations even when evaluation failed (TensorBoard may log the loss at other steps).
    rows = run.curve[run.curve["recall"].notna()]
    if len(rows) < 2 and "tensorboard" not in run.format.split("+"):
        rows = run.curve
    if len(rows) < 2:
        return {}
    iterations = rows["iter"].to_numpy(dtype=float)
    steps = iterations[1:] - iterations[:-1]
    out: dict[str, Candidate] = {}
    first_ref = _curve_ref(rows, 1)
    step = float(steps[0]) if len(steps) else 0.0
    # Every step equal (a resumed run may repeat or skip evaluations: then nothing is inferred).
    if step > 0 and step.is_integer() and bool((steps == step).all()) and iterations[0] % step == 0:
        out["test_iter"] = (int(step), f"inferred (evaluations every {int(step)} iterations)", first_ref)
    # A curve whose first evaluation comes later than one interval after the start is an excerpt (or a resumed
    # run): its best may lie before what is shown, so the evaluations since the shown best are no count of the
    # patience the code used.
    from_start = iterations[0] <= float(steps[steps > 0].min()) if bool((steps > 0).any()) else False
    if run.stop_reason == "early_stop" and from_start:
        from recdoc.diagnose.curve import evaluations_since_best

        # The original stops at the (patience + 1)-th evaluation in a row without a strict improvement.
        since_best = evaluations_since_best(run.curve)
        if since_best >= 1:
            out["patience"] = (since_best - 1, f"inferred (early stop {since_best} evaluations after the best)",
                               run.stop_ref)
    last = float(iterations[-1])
    if run.stop_reason == "max_iter" and last > 0 and last % 1000 == 0:
        out["max_iter"] = (int(last // 1000), f"inferred (stopped at the cap, iter {int(last)})", run.stop_ref)
    return out


def _curve_ref(rows: Any, row: int) -> SourceRef | None:
    file, line = rows["file"].iloc[row], rows["line"].iloc[row]
    if not isinstance(file, str):
        return None
    return SourceRef(file, None if line != line else int(line))


def _from_tool_defaults(run: Run) -> dict[str, Candidate]:
    ports = reference.load()["original_defaults"].get("ports", {})
    out: dict[str, Candidate] = {}
    for port, values in ports.items():
        if port in run.format.split("+"):
            out.update({k: (coerce(k, v), f"default ({port})", None) for k, v in values.items()})
    return out


def _from_dataset_defaults(dataset: str | None) -> dict[str, Candidate]:
    known = dataset in reference.load()["original_defaults"]["datasets"] and dataset != "other"
    label = f"default ({dataset})" if known else "default (other)"
    out: dict[str, Candidate] = {}
    for key, value in dataset_defaults(dataset if known else None).items():
        key = canonical_key(key)
        # The original's master code uses the master NDCG; recdoc's own default is no evidence of what a
        # foreign run used, so the definition is never taken from defaults (it is inferred below).
        if key in INFERRED_KEYS and key != "ndcg" and value is not None:
            out[key] = (coerce(key, value), label, None)
    return out


def _from_identity(run: Run, stated: list[dict[str, Candidate]], dataset: str | None) -> dict[str, Candidate]:
    """`paper_dataset`: the paper's dataset the run's data is, when its name is another or none (identity.py)."""
    from recdoc.diagnose.identity import identify_dataset

    if dataset in reference.load()["paper"]["table3"]:
        return {}
    # No name at all: the counts a run prints (`Train items: 367964`, users per split) may still say which data it
    # is; identify_dataset needs a count, never magnitude alone, to name a dataset without a name.
    model = _resolve(stated, "model_type")
    topn = _resolve(stated + [_from_tool_defaults(run)], "topN")
    items = _resolve(stated, "item_count")
    identity = identify_dataset(run, dataset, model.value if model else None,
                                topn.value if topn else 50, items.value if items else None)
    if identity.paper_dataset is None:
        return {}
    facts = "; ".join(text for text, _ in identity.evidence)
    return {"paper_dataset": (identity.paper_dataset,
                              f"identified ({facts}; confidence {identity.confidence:.2f})",
                              next((ref for _, ref in identity.evidence if ref is not None), None))}


MAX_ITER_UNIT = "x1000 iterations"


def _resolve(layers: list[dict[str, Candidate]], key: str) -> Setting | None:
    chosen: Candidate | None = None
    conflicts: list[tuple[Any, str]] = []
    for layer in layers:
        if key not in layer:
            continue
        value, source, ref = layer[key]
        if chosen is None:
            chosen = (value, source, ref)
        elif not source.startswith("default") and not _same(value, chosen[0]):
            conflicts.append((value, source))
    if chosen is None:
        return None
    # One unit for iterations wherever a number is shown: the original's max_iter counts thousands.
    source = f"{chosen[1]}; {MAX_ITER_UNIT}" if key == "max_iter" else chosen[1]
    return Setting(value=chosen[0], source=source, ref=chosen[2], conflicts=tuple(conflicts))


# The original's flags (reference section 4): absent from a printed `print(sys.argv)`, their default was used.
ORIGINAL_FLAGS = ("dataset", "random_seed", "embedding_dim", "hidden_size", "num_interest", "model_type",
                  "learning_rate", "max_iter", "patience", "coef", "topN")


def _mark_defaults_the_argv_confirms(run: Run, config: dict[str, Setting]) -> None:
    """A default whose flag the run's printed argv list omits was used, not merely assumed (the original prints
    its whole sys.argv); say so in its source."""
    from recdoc.diagnose.findings import NOT_IN_ARGV

    if run.argv is None or not isinstance(run.argv.value, list) or not str(run.argv.value[0]).endswith(".py"):
        return
    given = {canonical_key(k) for k in parse_argv(list(run.argv.value))}
    for key in ORIGINAL_FLAGS:
        setting = config.get(key)
        if setting is not None and setting.is_default and key not in given:
            config[key] = Setting(setting.value, setting.source + NOT_IN_ARGV, run.argv.ref, setting.conflicts)


@dataclass(frozen=True)
class NdcgBand:
    """NDCG/HitRate that one NDCG definition gives on one dataset at one cut-off (reference `ndcg_over_hitrate`)."""

    definition: str  # paper | master | standard
    dataset: str
    cutoff: int
    low: float
    high: float
    source: str

    def holds(self, ratio: float) -> bool:
        """Whether `ratio`, placed at the bands' precision (two decimals), lies in this band."""
        return self.low <= round(ratio, 2) <= self.high

    @property
    def label(self) -> str:
        return f"{self.definition} {self.low:.2f}-{self.high:.2f} ({self.dataset} @{self.cutoff})"


def ndcg_bands() -> list[NdcgBand]:
    """Every band of reference.json `ndcg_over_hitrate`, in file order."""
    return [NdcgBand(b["definition"], b["dataset"], int(b["cutoff"]), float(b["range"][0]), float(b["range"][1]),
                     b["source"]) for b in reference.load()["ndcg_over_hitrate"]["bands"]]


def bands_for(dataset: str | None, cutoff: int | None) -> dict[str, tuple[list[NdcgBand], bool]]:
    """Per definition, the bands that guide a run on `dataset` at `cutoff`, and whether they were measured there.

    A definition's bands at the run's dataset and cut-off; where it has none, its bands on the same dataset, then at
    the same cut-off, then anywhere (a weaker guide: measured elsewhere)."""
    out: dict[str, tuple[list[NdcgBand], bool]] = {}
    for definition in dict.fromkeys(b.definition for b in ndcg_bands()):
        own = [b for b in ndcg_bands() if b.definition == definition]
        for exact, test in ((True, lambda b: b.dataset == dataset and b.cutoff == cutoff),
                            (False, lambda b: b.dataset == dataset),
                            (False, lambda b: b.cutoff == cutoff),
                            (False, lambda b: True)):
            chosen = [b for b in own if test(b)]
            if chosen:
                out[definition] = (chosen, exact)
                break
    return out


@dataclass(frozen=True)
class NdcgReading:
    """What NDCG/HitRate says of a run's NDCG definition: one definition whose band holds the ratio, else unknown."""

    definition: str  # paper | master | standard | unknown
    ratio: float
    ref: SourceRef | None
    band: NdcgBand | None  # the band that holds the ratio (None: unknown)
    measured_here: bool  # the band was measured on the run's dataset at its cut-off
    guide: tuple[NdcgBand, ...]  # every band consulted

    def bands_text(self) -> str:
        return "; ".join(b.label for b in self.guide)


def read_ndcg_ratio(ratio: float, ref: SourceRef | None, dataset: str | None, cutoff: int | None) -> NdcgReading:
    """Place `ratio` among the definitions' bands for `dataset` at `cutoff`; in none or in two: unknown."""
    guide = bands_for(dataset, cutoff)
    holding = [(definition, next(b for b in bands if b.holds(ratio)), exact)
               for definition, (bands, exact) in guide.items() if any(b.holds(ratio) for b in bands)]
    consulted = tuple(b for bands, _ in guide.values() for b in bands)
    if len(holding) != 1:
        return NdcgReading(UNKNOWN_NDCG, ratio, ref, None, False, consulted)
    definition, band, exact = holding[0]
    return NdcgReading(definition, ratio, ref, band, exact, consulted)


UNKNOWN_NDCG = "unknown"


# Below this hit rate a handful of users hit at all: their NDCG/HitRate says nothing about the definition (a run
# stuck at recall 0.000007 has a ratio anywhere between 0 and 1).
MIN_HITRATE_FOR_RATIO = 0.005


def observed_ndcg(run: Run) -> tuple[float, SourceRef | None, int | None] | None:
    """NDCG/HitRate, its line and its cut-off when printed: the final test line, else the final valid line, else
    the best evaluation."""
    from recdoc.diagnose.rules.values import is_possible

    for split in ("test", "valid"):
        final = run.finals.get(split)
        if (final is not None and final.ndcg is not None and final.hitrate and final.hitrate >= MIN_HITRATE_FOR_RATIO
                and is_possible(final.ndcg) and is_possible(final.hitrate)):
            return final.ndcg / final.hitrate, final.ref, final.cutoff
    if run.has_curve:
        from recdoc.diagnose.curve import best_row

        row = best_row(run.curve)
        if (row is not None and row["hitrate"] == row["hitrate"] and row["hitrate"] >= MIN_HITRATE_FOR_RATIO
                and row["ndcg"] == row["ndcg"] and is_possible(row["hitrate"]) and is_possible(row["ndcg"])):
            line = None if row["line"] != row["line"] else int(row["line"])
            ref = SourceRef(str(row["file"]), line) if isinstance(row["file"], str) else None
            return float(row["ndcg"]) / float(row["hitrate"]), ref, None
    return None


def observed_ndcg_ratio(run: Run) -> tuple[float, SourceRef | None] | None:
    """NDCG/HitRate at the run's cut-off and its line (observed_ndcg without the cut-off)."""
    observed = observed_ndcg(run)
    return None if observed is None else (observed[0], observed[1])


def ndcg_reading(run: Run, config: dict[str, Setting]) -> NdcgReading | None:
    """The run's NDCG/HitRate placed among the bands of its dataset (the paper's it is, else its name) and cut-off
    (printed with the metrics, else topN); None when the run shows no usable ratio."""
    observed = observed_ndcg(run)
    if observed is None:
        return None
    ratio, ref, cutoff = observed
    dataset = next((config[k].value for k in ("paper_dataset", "dataset") if k in config), None)
    if cutoff is None and "topN" in config:
        cutoff = int(config["topN"].value)
    return read_ndcg_ratio(ratio, ref, dataset, cutoff)


def infer_ndcg_definition(run: Run, config: dict[str, Setting] | None = None) -> Setting | None:
    reading = ndcg_reading(run, config or {})
    if reading is None:
        return None
    if reading.band is None:
        source = (f"inferred (NDCG/HitRate = {reading.ratio:.2f} is in no known definition's band: "
                  f"{reading.bands_text()})")
    else:
        where = "" if reading.measured_here else f"; band measured on {reading.band.dataset} @{reading.band.cutoff}"
        source = f"inferred (NDCG/HitRate = {reading.ratio:.2f}{where})"
    return Setting(value=reading.definition, source=source, ref=reading.ref)


def infer_config(run: Run, overrides: dict[str, str] | None = None) -> dict[str, Setting]:
    """Every inferable setting of `run`, with its source and the other values seen for it."""
    stated = [_from_overrides(overrides or {}), _from_declared(run), _from_exp_name(run), _from_argv(run),
              _from_checkpoints(run)]
    dataset_setting = _resolve(stated, "dataset")
    dataset = dataset_setting.value if dataset_setting else None
    identity_layer = _from_identity(run, stated, dataset)
    stated.append(identity_layer)
    paper_dataset = identity_layer["paper_dataset"][0] if "paper_dataset" in identity_layer else None
    # The original keys its per-dataset settings on the name; a renamed paper dataset ran with a fork's settings
    # for it, which are the paper dataset's when its metrics match (the fork copied them), so those are assumed.
    defaults = _from_dataset_defaults(paper_dataset or dataset)
    from_curve = _from_curve(run)
    # A patience read off the curve replaces the default only when they disagree: when they agree the curve merely
    # confirms the default, and a port that counts patience differently could make an exact reading misleading.
    if "patience" in from_curve and "patience" in defaults and from_curve["patience"][0] == defaults["patience"][0]:
        del from_curve["patience"]
    layers = stated + [from_curve, _from_tool_defaults(run), defaults]
    config: dict[str, Setting] = {}
    for key in INFERRED_KEYS:
        setting = _resolve(layers, key)
        if setting is not None:
            config[key] = setting
    _mark_defaults_the_argv_confirms(run, config)
    if "ndcg" not in config:
        inferred = infer_ndcg_definition(run, config)
        if inferred is not None:
            config["ndcg"] = inferred
    return config
