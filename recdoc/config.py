"""Run configuration: the original's flags and per-dataset defaults, and the experiment-name pattern.

Shared by the trainer (to build a run) and the doctor (to infer what a run used). Numbers come from
`recdoc/reference/reference.json`; nothing here imports TensorFlow.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from recdoc import reference
from recdoc.errors import UsageError
from recdoc.jsonable import as_json_dict

# The NDCG definitions recdoc computes (recdoc/metrics.py); here so that reading a setting never loads numpy.
NDCG_KINDS = ("paper", "master", "standard")
# How training runs: one process, several local devices, or several workers (TF_CONFIG); see trainer/distribute.py.
STRATEGIES = ("none", "mirrored", "multi_worker")
# A dataset's three files, `<name>_<split>.txt`; the two that are evaluated.
SPLITS = ("train", "valid", "test")
EVAL_SPLITS = ("valid", "test")
# What a resumed run may change: its budget, the learning rate from now on, and how the steps are distributed (which
# does not change the numbers). Every other setting is the one run.json stored.
RESUME_MAY_CHANGE = ("max_iter", "patience", "finetune_lr", "strategy")


def dataset_defaults(dataset: str | None) -> dict[str, Any]:
    """The original's defaults for a dataset: common flags plus the dataset's own (book/taobao), else documented ones."""
    ref = reference.load()["original_defaults"]
    values = dict(ref["common"])
    per_dataset = ref["datasets"].get(dataset or "", ref["datasets"]["other"])
    values.update({k: v for k, v in per_dataset.items() if k in {"batch_size", "maxlen", "test_iter", "item_count"}})
    return values


def recommended_learning_rate(model_type: str | None) -> float | None:
    override = reference.load()["original_defaults"]["model_overrides"].get(reference.canonical_model_type(model_type) or "")
    return None if override is None else float(override["recommended_learning_rate"])


def advised_learning_rate(model_type: str | None) -> float:
    """The rate the original's README recommends for the model (ComiRec-DR 0.005), else the original's default."""
    recommended = recommended_learning_rate(model_type)
    return recommended if recommended is not None else float(dataset_defaults(None)["learning_rate"])


def per_dataset_defaults(key: str) -> str:
    """`book 128, taobao 256`: a per-dataset default of the original's, for help texts."""
    datasets = reference.load()["original_defaults"]["datasets"]
    return ", ".join(f"{name} {values[key]}" for name, values in datasets.items() if name != "other")


# recdoc's own defaults (not the original's flags): the dataset and model a bare `recdoc train` trains, where data
# is read from and where runs go. The original's flag defaults come from reference.json (`_ORIGINAL`).
DEFAULT_DATASET = "book"
DEFAULT_MODEL_TYPE = "ComiRec-DR"
DATA_DIR = "data"
RUNS_DIR = "runs"
METRICS_AT = reference.paper_cutoffs()  # the paper's cut-offs, computed for every run
_ORIGINAL = dataset_defaults(DEFAULT_DATASET)


@dataclass
class RunConfig:
    """Everything that determines a training run. Field names are the original's flag names; their defaults are
    the original's (reference.json), for the default dataset; `for_dataset` gives another dataset's."""

    dataset: str = DEFAULT_DATASET
    model_type: str = DEFAULT_MODEL_TYPE
    learning_rate: float = _ORIGINAL["learning_rate"]
    max_iter: int = _ORIGINAL["max_iter"]  # thousands of iterations, as the original
    patience: int = _ORIGINAL["patience"]
    topN: int = _ORIGINAL["topN"]
    embedding_dim: int = _ORIGINAL["embedding_dim"]
    hidden_size: int = _ORIGINAL["hidden_size"]
    num_interest: int = _ORIGINAL["num_interest"]
    random_seed: int = _ORIGINAL["random_seed"]
    batch_size: int = _ORIGINAL["batch_size"]
    maxlen: int = _ORIGINAL["maxlen"]
    test_iter: int = _ORIGINAL["test_iter"]
    neg_num: int = _ORIGINAL["neg_num"]
    item_count: int | None = None  # the data's largest id + 1, or the original's constant (for_dataset)
    ndcg: str = _ORIGINAL["ndcg"]
    coef: float | None = _ORIGINAL["coef"]
    metrics_at: tuple[int, ...] = METRICS_AT
    exp: str | None = None  # the free part of the experiment name (the original's prompt)
    data_dir: str = DATA_DIR
    runs_dir: str = RUNS_DIR
    finetune_lr: float | None = None
    # recdoc's own (not the original's): periodic validation on a fixed, seeded subset of this many users;
    # None = everyone, as the original. The final valid and test evaluations always use every user.
    eval_users: int | None = None
    # How training runs: "none" (one process), "mirrored" (several local devices), "multi_worker" (TF_CONFIG).
    strategy: str = "none"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_dataset(cls, dataset: str | None = None, **overrides: Any) -> "RunConfig":
        """The original's defaults for `dataset` (None: the default dataset), then `overrides` (None values are
        ignored: a flag not given)."""
        dataset = dataset or DEFAULT_DATASET
        values = {k: v for k, v in dataset_defaults(dataset).items() if k in {f.name for f in fields(cls)}}
        values["dataset"] = dataset
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def num_sampled(self) -> int:
        return self.neg_num * self.batch_size

    @property
    def max_iterations(self) -> int:
        return self.max_iter * 1000

    @property
    def exp_name(self) -> str:
        return format_exp_name(self.dataset, self.model_type, self.batch_size, self.learning_rate,
                               self.embedding_dim, self.maxlen, self.exp or "recdoc")

    def to_dict(self) -> dict[str, Any]:
        return as_json_dict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "RunConfig":
        """The inverse of `to_dict` (as run.json stores it); keys RunConfig does not know are ignored. TypeError
        when `values` is not a mapping."""
        if not isinstance(values, Mapping):
            raise TypeError(f"a configuration is an object of settings, got {type(values).__name__}")
        names = {f.name for f in fields(cls)}
        kept = {key: value for key, value in values.items() if key in names}
        if isinstance(kept.get("metrics_at"), list):
            kept["metrics_at"] = tuple(kept["metrics_at"])
        return cls(**kept)

    def resumed(self, **changes: Any) -> "RunConfig":
        """This (stored) configuration with what a resume may change (`RESUME_MAY_CHANGE`); any other key is a
        ValueError."""
        refused = sorted(set(changes) - set(RESUME_MAY_CHANGE))
        if refused:
            raise ValueError(f"{', '.join(refused)} cannot change on resume")
        return replace(self, **changes)


# ---------------------------------------------------------------- validation: the one place a configuration is checked
def validate(config: RunConfig) -> None:
    """Refuse settings that cannot work, before anything is read or written: the flags alone."""
    _refuse_choices_and_budget(config)
    validate_model_shape(config)
    _refuse_sizes_and_rates(config)
    for item in fields(RunConfig):  # types, and what the checks above leave (a dataset name, a seed)
        problem = setting_problem(item.name, getattr(config, item.name)) if item.name != "extra" else None
        if problem is not None:
            raise UsageError(f"--{item.name} {problem}")


def _refuse_choices_and_budget(config: RunConfig) -> None:
    if config.ndcg not in NDCG_KINDS:
        raise UsageError(f"--ndcg must be one of {', '.join(NDCG_KINDS)}, got {config.ndcg!r}")
    if config.strategy not in STRATEGIES:
        raise UsageError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {config.strategy!r}")
    if config.topN < 1 or any(int(c) < 1 for c in config.metrics_at):
        raise UsageError(f"cut-offs must be positive: topN {config.topN}, metrics_at {list(config.metrics_at)}")
    if config.max_iter < 1 or config.patience < 0:
        raise UsageError(f"max_iter must be positive and patience non-negative, got {config.max_iter} "
                         f"and {config.patience}")
    if reference.canonical_model_type(config.model_type) is None:
        raise UsageError(f"unknown --model_type {config.model_type!r}; choose one of "
                         f"{', '.join(reference.model_types())}")


def _refuse_sizes_and_rates(config: RunConfig) -> None:
    if min(config.batch_size, config.test_iter, config.neg_num) < 1:
        raise UsageError(f"batch_size, test_iter and neg_num must be positive, got {config.batch_size}, "
                         f"{config.test_iter} and {config.neg_num}")
    if config.eval_users is not None and config.eval_users < 1:
        raise UsageError(f"--eval_users must be positive (or left out for every validation user), got "
                         f"{config.eval_users}")
    if not config.learning_rate > 0 or (config.finetune_lr is not None and not config.finetune_lr > 0):
        raise UsageError(f"--learning_rate and --finetune_lr must be positive, got {config.learning_rate} and "
                         f"{config.finetune_lr}")


# The type and range of every setting a run.json (or a log) may state: a value outside them is reported where it was
# read and never used (in particular never copied into a proposed command). `validate` checks a whole RunConfig.
_POSITIVE_INTS = ("max_iter", "topN", "embedding_dim", "hidden_size", "num_interest", "batch_size", "maxlen",
                  "test_iter", "neg_num", "eval_users")
_NULLABLE = ("item_count", "coef", "exp", "finetune_lr", "eval_users")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
SettingCheck = Callable[[Any], str | None]


def setting_problem(key: str, value: Any) -> str | None:
    """Why `value` cannot be the setting `key` (its type or range), in words; None when it can (or the key is not
    one of RunConfig's settings)."""
    if value is None:
        return None if key in _NULLABLE else "is null"
    check = _SETTING_CHECKS.get(key)
    return None if check is None else check(value)


def _whole(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and value.is_integer())


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def _must_be(wants: str, ok: Callable[[Any], bool]) -> SettingCheck:
    return lambda value: None if ok(value) else f"must be {wants}, got {value!r}"


def _dataset_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a dataset name (text), got {type(value).__name__} {value!r}"
    return None if _NAME_RE.match(value) else f"is not a dataset name (letters, digits, _ . -): {value!r}"


def _model_type_problem(value: Any) -> str | None:
    if not isinstance(value, str) or reference.canonical_model_type(value) is None:
        return f"must be one of {', '.join(reference.model_types())}, got {value!r}"
    return None


def _text_problem(value: Any) -> str | None:
    return None if isinstance(value, str) else f"must be text, got {type(value).__name__} {value!r}"


_SETTING_CHECKS: dict[str, SettingCheck] = {
    "dataset": _dataset_problem,
    "model_type": _model_type_problem,
    **dict.fromkeys(_POSITIVE_INTS, _must_be("a positive integer", lambda v: _whole(v) and v >= 1)),
    "patience": _must_be("a non-negative integer", lambda v: _whole(v) and v >= 0),
    "random_seed": _must_be("an integer", _whole),
    "item_count": _must_be("an integer of at least 2", lambda v: _whole(v) and v >= 2),
    **dict.fromkeys(("learning_rate", "finetune_lr"), _must_be("a positive number", lambda v: _number(v) and v > 0)),
    "coef": _must_be("a non-negative number", lambda v: _number(v) and v >= 0),
    "ndcg": _must_be(f"one of {', '.join(NDCG_KINDS)}", lambda v: v in NDCG_KINDS),
    "strategy": _must_be(f"one of {', '.join(STRATEGIES)}", lambda v: v in STRATEGIES),
    **dict.fromkeys(("exp", "data_dir", "runs_dir"), _text_problem),
    "metrics_at": _must_be("a list of positive integers", lambda v: isinstance(v, (list, tuple)) and bool(v)
                           and all(_whole(c) and c >= 1 for c in v)),
}


def clean_settings(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """`values` without the settings `setting_problem` refuses, and key -> problem for those."""
    problems = {key: problem for key, value in values.items()
                if (problem := setting_problem(str(key), value)) is not None}
    return {k: v for k, v in values.items() if k not in problems}, problems


def validate_model_shape(config: RunConfig, item_count: int | None = None) -> None:
    """The sizes a model is built from (also checked when a model is built from a run.json or a checkpoint)."""
    if config.embedding_dim != config.hidden_size:
        # The original's models assume it: user interests (hidden_size) are scored against item embeddings
        # (embedding_dim), and the item table doubles as the softmax weights.
        raise UsageError(f"--embedding_dim ({config.embedding_dim}) must equal --hidden_size "
                         f"({config.hidden_size}): user interests are scored against item embeddings")
    if min(config.embedding_dim, config.num_interest, config.maxlen) < 1:
        raise UsageError(f"embedding_dim, num_interest and maxlen must be positive, got {config.embedding_dim}, "
                         f"{config.num_interest} and {config.maxlen}")
    if item_count is not None and item_count < 2:
        raise UsageError(f"item_count must be at least 2 (padding id 0 plus one item), got {item_count}")


def validate_with_data(config: RunConfig, item_count: int, has_categories: bool, data_path: str) -> None:
    """What only the data can refute: the sampled negatives fit the catalogue, `--coef` has categories."""
    validate_model_shape(config, item_count)
    if config.coef is not None and not has_categories:
        raise UsageError(f"--coef needs item categories; {data_path} has no {config.dataset}_item_cate.txt")
    if config.num_sampled > item_count:  # TensorFlow's unique sampler cannot draw more distinct ids than exist
        raise UsageError(f"sampled softmax needs at most as many negatives as items: neg_num x batch_size = "
                         f"{config.num_sampled} but item_count = {item_count}; lower --neg_num or --batch_size")


def sampling_that_fits(item_count: int, batch_size: int, neg_num: int) -> tuple[int, int]:
    """(batch_size, neg_num) whose neg_num x batch_size sampled negatives a catalogue of `item_count` ids holds
    (`validate_with_data` refuses more): unchanged when they fit; else the largest power-of-two batch that fits,
    down to 16, then fewer negatives per example."""
    room = max(item_count - 1, 1)  # id 0 is padding
    if neg_num * batch_size <= room:
        return batch_size, neg_num
    batch = batch_size
    while batch > 16 and neg_num * batch > room:
        batch //= 2
    negatives = max(1, min(neg_num, room // batch))
    return min(batch, max(1, room // negatives)), negatives


def format_lr(lr: float) -> str:
    """Python's str(float), as the original writes `'lr' + str(lr)` into the experiment name."""
    return str(float(lr))


def format_exp_name(dataset: str, model_type: str, batch_size: int, learning_rate: float,
                    embedding_dim: int, maxlen: int, name: str) -> str:
    """`{dataset}_{model_type}_b{batch}_lr{lr}_d{embedding_dim}_len{maxlen}_{name}` (reference section 4)."""
    return f"{dataset}_{model_type}_b{batch_size}_lr{format_lr(learning_rate)}_d{embedding_dim}_len{maxlen}_{name}"


_EXP_RE = re.compile(
    r"^(?P<dataset>.+?)_(?P<model_type>[A-Za-z][A-Za-z0-9\-]*)"
    r"_b(?P<batch_size>\d+)_lr(?P<learning_rate>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
    r"_d(?P<embedding_dim>\d+)_len(?P<maxlen>\d+)"
    r"(?:_in(?P<num_interest>\d+)_top(?P<topN>\d+))?"
    r"(?:_(?P<name>.*))?$"
)


@dataclass(frozen=True)
class ExpName:
    """The parts of an experiment name. `num_interest`/`topN` only in the PyTorch port's pattern."""

    dataset: str
    model_type: str
    batch_size: int
    learning_rate: float
    embedding_dim: int
    maxlen: int
    name: str | None
    num_interest: int | None = None
    topN: int | None = None

    def settings(self) -> dict[str, Any]:
        """The configuration keys this name determines."""
        out: dict[str, Any] = {k: getattr(self, k) for k in
                               ("dataset", "model_type", "batch_size", "learning_rate", "embedding_dim", "maxlen")}
        if self.num_interest is not None:
            out["num_interest"] = self.num_interest
        if self.topN is not None:
            out["topN"] = self.topN
        return out


def parse_exp_name(text: str) -> ExpName | None:
    """Parse `book_ComiRec-DR_b128_lr0.001_d64_len20_test79` (and the PyTorch port's `_in4_top20` variant)."""
    match = _EXP_RE.match(text.strip())
    if match is None:
        return None
    g = match.groupdict()
    try:
        lr = float(g["learning_rate"])
    except ValueError:
        return None
    return ExpName(
        dataset=g["dataset"],
        model_type=reference.canonical_model_type(g["model_type"]) or g["model_type"],
        batch_size=int(g["batch_size"]),
        learning_rate=lr,
        embedding_dim=int(g["embedding_dim"]),
        maxlen=int(g["maxlen"]),
        name=g["name"],
        num_interest=int(g["num_interest"]) if g["num_interest"] else None,
        topN=int(g["topN"]) if g["topN"] else None,
    )
