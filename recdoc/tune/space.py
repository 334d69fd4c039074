"""The search space of `recdoc tune`: which settings vary, over what range, and why (from the diagnosis).

A setting a finding names is searched, centred where the finding points (a learning-rate finding: log-uniform
around the recommended rate); a setting the doctor checked and cleared stays fixed unless `--space` names it; the
rest of the configuration is the corrected run's. Without a diagnosis (`recdoc tune --dataset D --model_type M`),
every tunable setting is searched around the dataset's defaults.

Pure: no Optuna import here except in `suggest`, which receives the trial.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from recdoc import reference
from recdoc.config import RunConfig
from recdoc.errors import UsageError
from recdoc.jsonable import as_json_dict

# Settings `recdoc tune` can search, in the order they are suggested (batch_size before neg_num: the catalogue
# bounds their product).
TUNABLE = ("learning_rate", "patience", "batch_size", "neg_num", "num_interest", "maxlen")
SINGLE_INTEREST = {"DNN", "GRU4REC"}
# A learning rate is searched over [centre / 10, centre x 10], log-uniform: the README rate is the paper's setting's,
# and a smaller model or catalogue can want another; at x 5 the best rate found lay at the edge on MovieLens-100K
# (0.0228 of 0.025) and beyond it on bench/tune.py's synthetic task (0.020-0.041).
LR_SPAN = 10.0


@dataclass(frozen=True)
class Param:
    """One searched setting. `kind`: 'log_float' (low..high, log-uniform), 'int' (low..high, log scale when
    `log`), 'choice' (one of `choices`). `why` says where its centre came from."""

    name: str
    kind: str
    centre: float
    why: str
    low: float | None = None
    high: float | None = None
    log: bool = True
    choices: tuple[int, ...] = ()

    def describe(self) -> str:
        if self.kind == "choice":
            values = ", ".join(str(c) for c in self.choices)
            return f"{self.name} in {{{values}}}"
        scale = "log-uniform" if self.log else "uniform"
        return f"{self.name} {scale} in [{_num(self.low)}, {_num(self.high)}]"

    def to_dict(self) -> dict[str, Any]:
        return as_json_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Param":
        values = dict(data)
        values["choices"] = tuple(values.get("choices") or ())
        return cls(**values)


@dataclass(frozen=True)
class Space:
    params: tuple[Param, ...]
    fixed: dict[str, str]  # setting -> why it stays fixed (cleared by the doctor, not named by any finding)
    item_count: int | None = None  # bounds neg_num x batch_size (the sampled softmax draws distinct items)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Ask the trial for every searched setting (define-by-run); neg_num's upper bound follows the batch."""
        values: dict[str, Any] = {}
        for param in self.params:
            if param.kind == "log_float":
                values[param.name] = trial.suggest_float(param.name, param.low, param.high, log=True)
            elif param.kind == "choice":
                values[param.name] = trial.suggest_categorical(param.name, list(param.choices))
            else:
                low, high = int(param.low), int(param.high)
                if param.name == "neg_num" and self.item_count is not None:
                    batch = values.get("batch_size", trial.params.get("batch_size"))
                    if batch is not None:
                        high = max(1, min(high, (self.item_count - 1) // int(batch)))
                        low = min(low, high)
                values[param.name] = trial.suggest_int(param.name, low, high, log=param.log and low >= 1)
        return values

    def enqueueable(self, config: RunConfig) -> dict[str, Any]:
        """The searched settings of `config` as a trial's params (patience capped at the budget's evaluations)."""
        return {p.name: clamp_patience(p, getattr(config, p.name)) for p in self.params}

    def to_dict(self) -> dict[str, Any]:
        return {"params": [p.to_dict() for p in self.params], "fixed": dict(self.fixed),
                "item_count": self.item_count}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Space":
        return cls(tuple(Param.from_dict(p) for p in data["params"]), dict(data.get("fixed") or {}),
                   data.get("item_count"))


def tunable_for(model_type: str) -> tuple[str, ...]:
    single = (reference.canonical_model_type(model_type) or model_type).upper() in SINGLE_INTEREST
    return tuple(name for name in TUNABLE if not (single and name == "num_interest"))


def param_around(name: str, centre: Any, why: str, item_count: int | None = None,
                 bounds: tuple[float, float] | None = None) -> Param:
    """The default range of `name` around `centre` (or the explicit `bounds` from `--space name=low:high`)."""
    if name == "learning_rate":
        low, high = bounds or (float(centre) / LR_SPAN, float(centre) * LR_SPAN)
        return Param(name, "log_float", float(centre), why, low, high)
    if name in ("batch_size", "num_interest", "maxlen"):
        c = int(centre)
        if bounds is not None:
            low_b, high_b = int(bounds[0]), int(bounds[1])
            choices = [v for v in _powers_of_two(low_b, high_b)] or [low_b]
        elif name == "batch_size":
            choices = [b for b in (c // 4, c // 2, c, c * 2) if b >= 8]
        elif name == "num_interest":
            choices = sorted({2, 4, 8, c})
        else:
            choices = sorted({max(2, c // 2), c, c * 2})
        if name == "batch_size" and item_count is not None:
            choices = [b for b in choices if b <= item_count - 1] or [min(choices)]
        return Param(name, "choice", float(c), why, choices=tuple(sorted(set(choices))))
    if name == "patience":
        c = max(1, int(centre))
        low, high = bounds or (max(1, c // 4), max(4, c * 4))
        return Param(name, "int", float(c), why, float(int(low)), float(int(high)))
    if name == "neg_num":
        c = max(1, int(centre))
        low, high = bounds or (1, max(2, c * 2))
        return Param(name, "int", float(c), why, float(int(low)), float(int(high)))
    raise UsageError(f"--space: {name} is not a setting recdoc tune searches; choose from {', '.join(TUNABLE)}")


def parse_space(text: str | None) -> dict[str, tuple[float, float] | None]:
    """`--space learning_rate,patience=2:40` -> {'learning_rate': None, 'patience': (2.0, 40.0)}."""
    out: dict[str, tuple[float, float] | None] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, rng = item.partition("=")
        name = name.strip()
        if name not in TUNABLE:
            raise UsageError(f"--space: unknown setting {name!r}; choose from {', '.join(TUNABLE)}")
        if not sep:
            out[name] = None
            continue
        low, colon, high = rng.partition(":")
        try:
            bounds = (float(low), float(high))
        except ValueError:
            raise UsageError(f"--space {item}: a range is LOW:HIGH, e.g. learning_rate=0.001:0.02") from None
        if not colon or not 0 < bounds[0] < bounds[1]:
            raise UsageError(f"--space {item}: a range is LOW:HIGH with 0 < LOW < HIGH")
        out[name] = bounds
    return out


def space_from_diagnosis(base: RunConfig, start: RunConfig, changes: Iterable[tuple[str, str]],
                         cleared: Mapping[str, str], named: Mapping[str, tuple[float, float] | None],
                         item_count: int | None) -> Space:
    """The space a diagnosis points to. `changes`: (setting, finding id) the corrected run changed; `cleared`:
    setting -> the not-a-cause that cleared it; `named`: `--space`. Centres are the corrected run's values."""
    allowed = tunable_for(base.model_type)
    finding_of = {key: fid for key, fid in changes if key in allowed}
    params: list[Param] = []
    fixed: dict[str, str] = {}
    for name in allowed:
        if name in named:
            params.append(param_around(name, getattr(base, name), "named by --space", item_count, named[name]))
        elif name in finding_of:
            old = getattr(start, name)
            why = f"{finding_of[name]}: {_num(old)} -> {_num(getattr(base, name))}"
            params.append(param_around(name, getattr(base, name), why, item_count))
        elif name in cleared:
            fixed[name] = f"checked and cleared by the doctor ({cleared[name]})"
        elif (original := unvouched_deviation(name, start)) is not None:
            # Nobody vouched for it: not the original's, and no rule checked it on this run. A run that did not
            # show its effect (a patience of 1 that never stopped the slow start) may well show it once the
            # corrected settings change the curve, so it is searched between the start's value and the original's.
            params.append(param_around(name, original, f"{_num(getattr(start, name))} is not the original's "
                                       f"{_num(original)} and no rule checked it", item_count))
        else:
            fixed[name] = "no finding names it" + (" (the original's value)" if name != "learning_rate" else "")
    params = fit_sampling_to_catalogue([_cap_patience(p, base) for p in params], base, item_count)
    params = [including(p, *(clamp_patience(p, getattr(c, p.name)) for c in (base, start))) for p in params]
    if not params:  # nothing to search: the learning rate is the setting that matters most for this family
        params.append(param_around("learning_rate", base.learning_rate,
                                   "no finding names a tunable setting; the learning rate is searched", item_count))
        fixed.pop("learning_rate", None)
    for name in named:
        if name not in allowed:
            raise UsageError(f"--space: {base.model_type} has no {name} to search")
    return Space(tuple(params), fixed, item_count)


def unvouched_deviation(name: str, start: RunConfig) -> Any:
    """The original's value of `name` on the start's data, where the start's differs from it (as trained: a patience
    past the evaluations the budget holds never stops a run, like the original's); else None. Not for the learning
    rate, which the lr-model-mismatch rule always checks against the README's advice."""
    if name == "learning_rate":
        return None
    original = getattr(RunConfig.for_dataset(start.dataset, model_type=start.model_type), name)
    value = getattr(start, name)
    if name == "patience":
        evaluations = max(2, start.max_iterations // max(1, start.test_iter))
        return original if min(int(value), evaluations) != min(int(original), evaluations) else None
    return original if value != original else None


def full_space(base: RunConfig, named: Mapping[str, tuple[float, float] | None], item_count: int | None) -> Space:
    """Without a starting run: every tunable setting (or those `--space` names) around the base values."""
    allowed = tunable_for(base.model_type)
    names = [n for n in allowed if n in named] if named else list(allowed)
    params = [param_around(n, getattr(base, n), "named by --space" if n in named else "full space",
                           item_count, named.get(n)) for n in names]
    fixed = {n: "not named by --space" for n in allowed if n not in names}
    return Space(tuple(fit_sampling_to_catalogue([_cap_patience(p, base) for p in params], base, item_count)),
                 fixed, item_count)


def fit_sampling_to_catalogue(params: list[Param], base: RunConfig, item_count: int | None) -> list[Param]:
    """batch_size and neg_num draw neg_num x batch_size distinct items together. With both searched, neg_num's bound
    follows the trial's batch (`Space.suggest`); with one searched and the other fixed at the base's value, the
    searched one's range is cut to what the catalogue holds beside it, so that no trial asks for more."""
    names = {p.name for p in params}
    if item_count is None or len(names & {"batch_size", "neg_num"}) != 1:
        return params
    room = max(item_count - 1, 1)
    fitted = []
    for param in params:
        if param.name == "batch_size" and param.kind == "choice":
            choices = [c for c in param.choices if c * base.neg_num <= room] or [min(param.choices)]
            param = replace(param, choices=tuple(choices))
        elif param.name == "neg_num" and param.high is not None:
            high = float(max(1, min(int(param.high), room // max(1, base.batch_size))))
            param = replace(param, low=min(param.low or 1.0, high), high=high)
        fitted.append(param)
    return fitted


def _cap_patience(param: Param, base: RunConfig) -> Param:
    """Patience beyond the evaluations the budget holds changes nothing: cap the range there."""
    if param.name != "patience" or param.kind != "int" or param.high is None:
        return param
    evaluations = max(2, base.max_iterations // max(1, base.test_iter))
    if param.high <= evaluations:
        return param
    high = float(evaluations)
    low = max(1.0, min(param.low or 1.0, float(evaluations // 4)))
    return Param(param.name, param.kind, min(param.centre, high), param.why + f"; capped at the {evaluations} "
                 "evaluations the budget holds", low, high, param.log)


def clamp_patience(param: Param | None, value: Any) -> Any:
    """A patience beyond the evaluations the budget holds never stops a run: the same run as the cap's."""
    if param is None or param.name != "patience" or param.high is None or value is None:
        return value
    return min(int(value), int(param.high))


def including(param: Param, *values: Any) -> Param:
    """The range widened (or the choices extended) so that the enqueued trials' values lie inside it."""
    present = [v for v in values if v is not None]
    if not present:
        return param
    if param.kind == "choice":
        return replace(param, choices=tuple(sorted({*param.choices, *(int(v) for v in present)})))
    low = min([param.low or math.inf, *(float(v) for v in present)])
    high = max([param.high or -math.inf, *(float(v) for v in present)])
    return replace(param, low=low, high=high)


def _powers_of_two(low: int, high: int) -> list[int]:
    out, value = [], 1
    while value <= high:
        if value >= low:
            out.append(value)
        value *= 2
    return out


def _num(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3g}"
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value))
    return str(value)
