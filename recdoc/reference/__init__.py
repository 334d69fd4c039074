"""The one data file of reference numbers: the original's defaults and the paper's tables."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any


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


def paper_k_value(dataset: str, model_type: str, num_interest: int, metric: str) -> float | None:
    """Table 4 (K sensitivity), percent at cut-off 50, or None."""
    row = load()["paper"]["table4"].get(dataset, {}).get(canonical_model_type(model_type) or "", {})
    return row.get(str(num_interest), {}).get(f"{metric}@50")


_MODEL_ALIASES = {
    "dnn": "DNN", "youtubednn": "DNN", "youtube-dnn": "DNN", "youtube_dnn": "DNN", "youtube dnn": "DNN",
    "gru4rec": "GRU4REC", "mind": "MIND", "comirec-dr": "ComiRec-DR", "comirec_dr": "ComiRec-DR",
    "comirec-sa": "ComiRec-SA", "comirec_sa": "ComiRec-SA", "mostpopular": "MostPopular", "pop": "MostPopular",
}


def canonical_model_type(name: str | None) -> str | None:
    """The original's spelling of a model type ('comirec_dr' -> 'ComiRec-DR'); None when unknown."""
    if not name:
        return None
    return _MODEL_ALIASES.get(name.strip().lower())


def is_multi_interest(model_type: str | None) -> bool:
    return canonical_model_type(model_type) in load()["multi_interest_models"]
