"""The one data file of reference numbers: the original's defaults and the paper's tables."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from recdoc import model_specs


@lru_cache(maxsize=1)
def load() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath("reference.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class PaperValue:
    """One cell of the paper's Table 3, in percent, with whether two sources confirm it."""

    dataset: str
    model_type: str
    metric: str  # recall | ndcg | hitrate
    cutoff: int
    percent: float
    confirmed: bool

    @property
    def fraction(self) -> float:
        return self.percent / 100.0


def paper_value(dataset: str, model_type: str, metric: str, cutoff: int) -> PaperValue | None:
    table = load()["paper"]["table3"].get(dataset, {}).get(canonical_model_type(model_type) or "", {})
    cell = table.get(f"{metric}@{cutoff}")
    if cell is None:
        return None
    percent, confirmed = cell
    return PaperValue(dataset, canonical_model_type(model_type) or model_type, metric, cutoff, float(percent), bool(confirmed))


@lru_cache(maxsize=1)
def paper_cutoffs() -> tuple[int, ...]:
    """The cut-offs of the paper's Table 3, ascending (20 and 50)."""
    cells = (key for rows in load()["paper"]["table3"].values() for row in rows.values() for key in row)
    return tuple(sorted({int(key.rsplit("@", 1)[1]) for key in cells}))


def paper_k_value(dataset: str, model_type: str, num_interest: int, metric: str) -> float | None:
    """Table 4 (K sensitivity), percent at cut-off 50, or None."""
    row = load()["paper"]["table4"].get(dataset, {}).get(canonical_model_type(model_type) or "", {})
    return row.get(str(num_interest), {}).get(f"{metric}@50")


def canonical_model_type(name: str | None) -> str | None:
    """The original's spelling of a model type ('comirec_dr' -> 'ComiRec-DR'); None when unknown.

    The names and aliases are the models' own (`SPEC` in each model's module, read by `recdoc.model_specs`)."""
    spec = model_specs.spec_for(name)
    return spec.name if spec is not None else None


def is_multi_interest(model_type: str | None) -> bool:
    return canonical_model_type(model_type) in model_specs.multi_interest_names()


def model_types() -> tuple[str, ...]:
    """Every model type recdoc knows, in listing order (the original's `--model_type` order for its own)."""
    return model_specs.names()


def paper_order() -> tuple[str, ...]:
    """The models of the paper's tables, in the paper's row order (reference.json `paper_model_names`)."""
    rows = list(load()["paper_model_names"])
    in_paper = [spec for spec in model_specs.specs() if spec.paper_row in rows]
    return tuple(spec.name for spec in sorted(in_paper, key=lambda s: rows.index(s.paper_row or "")))


@dataclass(frozen=True)
class ReferenceRun:
    """A run of the original code at a known setting: its training loss at some iterations and its final metrics.

    From reference.json's `reference_runs` (figures with their `source`; bench/reference_runs.py took them).
    """

    name: str
    code: str
    variant: str | None  # set where the model is not the paper's (e.g. MIND without its ReLU projection)
    dataset: str
    model_type: str
    learning_rate: float
    batch_size: int
    neg_num: int
    maxlen: int
    embedding_dim: int
    num_interest: int
    test_iter: int
    loss: tuple[tuple[int, float], ...]
    best_valid_recall: tuple[int, float] | None
    last_iter: int
    final: dict[str, Any] | None
    source: str

    @property
    def first_iter(self) -> int:
        return self.loss[0][0]

    @property
    def loss_last_iter(self) -> int:
        return self.loss[-1][0]

    def loss_at(self, iteration: float) -> float | None:
        """The loss at `iteration`, linear in log(iteration) between the stored points; None outside them."""
        import math

        points = self.loss
        if not points or iteration < points[0][0] or iteration > points[-1][0]:
            return None
        for (i0, l0), (i1, l1) in zip(points, points[1:]):
            if i0 <= iteration <= i1:
                if i1 == i0:
                    return l0
                share = (math.log(iteration) - math.log(i0)) / (math.log(i1) - math.log(i0))
                return l0 + share * (l1 - l0)
        return points[-1][1] if iteration == points[-1][0] else None

    def final_value(self, split: str, metric: str, cutoff: int) -> float | None:
        """The final `split` metric after restoring the best model, at `cutoff`; None where not recorded."""
        if not self.final or int(self.final.get("cutoff", 0)) != int(cutoff):
            return None
        value = (self.final.get(split) or {}).get(metric)
        return None if value is None else float(value)

    @property
    def setting(self) -> str:
        return (f"{self.model_type} on {self.dataset} at learning_rate {self.learning_rate:g}, "
                f"batch {self.batch_size}, neg_num {self.neg_num}")


def reference_runs() -> list[ReferenceRun]:
    """Every stored reference run, in file order."""
    out: list[ReferenceRun] = []
    for name, entry in load().get("reference_runs", {}).items():
        if name.startswith("_"):
            continue
        best = entry.get("best_valid_recall")
        out.append(ReferenceRun(
            name=name, code=entry["code"], variant=entry.get("variant"), dataset=entry["dataset"],
            model_type=entry["model_type"], learning_rate=float(entry["learning_rate"]),
            batch_size=int(entry["batch_size"]), neg_num=int(entry["neg_num"]), maxlen=int(entry["maxlen"]),
            embedding_dim=int(entry["embedding_dim"]), num_interest=int(entry["num_interest"]),
            test_iter=int(entry["test_iter"]), loss=tuple((int(i), float(v)) for i, v in entry["loss"]),
            best_valid_recall=(int(best[0]), float(best[1])) if best and best[0] is not None else None,
            last_iter=int(entry["last_iter"]), final=entry.get("final"), source=entry["source"]))
    return out


def reference_runs_for(dataset: str | None, model_type: str | None, learning_rate: float | None,
                       batch_size: int | None, neg_num: int | None, *, maxlen: int | None = None,
                       embedding_dim: int | None = None, num_interest: int | None = None,
                       include_variants: bool = False) -> list[ReferenceRun]:
    """Reference runs at exactly this setting (the longest trajectory first); variants of a model only on request.

    maxlen, embedding_dim and num_interest are matched when given (num_interest only for multi-interest models).
    """
    model = canonical_model_type(model_type)
    if None in (dataset, model, learning_rate, batch_size, neg_num):
        return []
    found = []
    for run in reference_runs():
        if run.variant and not include_variants:
            continue
        if (run.dataset, run.model_type, run.batch_size, run.neg_num) != (dataset, model, int(batch_size),
                                                                          int(neg_num)):
            continue
        if abs(run.learning_rate - float(learning_rate)) > 1e-9 * max(1.0, run.learning_rate):
            continue
        if maxlen is not None and run.maxlen != int(maxlen):
            continue
        if embedding_dim is not None and run.embedding_dim != int(embedding_dim):
            continue
        if num_interest is not None and is_multi_interest(model) and run.num_interest != int(num_interest):
            continue
        found.append(run)
    return sorted(found, key=lambda r: -r.loss_last_iter)
