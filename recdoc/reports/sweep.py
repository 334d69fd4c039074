"""A hand sweep read back: runs that differ in one or two settings (learning rates, patience, K...), each setting's
effect set against the seed noise, and a warning when the runs are too short to compare.

`recdoc analyze FOLDER` on such runs (`reports/multi.py`) adds this section to its summary. The seed noise is the
pooled spread of runs that repeat one configuration (the engine pools repeats: `metrics.repeats`); without repeats
the view says that the noise is unknown, and how to measure it. A run stopped by its iteration cap with validation
recall still rising (the doctor's `undertrained`) is an undertrained probe: no evidence about a setting.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from recdoc.diagnose.findings import Diagnosis

# The settings a sweep varies (the engine's repeat signature without what must stay equal to compare runs).
SWEEP_KEYS = ("learning_rate", "patience", "neg_num", "batch_size", "num_interest", "maxlen", "embedding_dim",
              "max_iter")
SAME_KEYS = ("dataset", "model_type", "topN")
MAX_VARIED = 2
NOISE_FACTOR = 2.0  # an effect counts as beyond the noise when it exceeds 2 seed standard deviations


def _value(diagnosis: Diagnosis, key: str) -> Any:
    setting = diagnosis.config.get(key)
    return None if setting is None else setting.value


def _recall(diagnosis: Diagnosis) -> tuple[float | None, str]:
    for split in ("test", "valid"):
        final = diagnosis.run.finals.get(split)
        if final is not None and final.recall is not None:
            return float(final.recall), split
    best = (diagnosis.metrics.get("best_valid") or {}).get("recall")
    return (float(best), "best valid") if best is not None else (None, "")


def _repeat_sd(diagnosis: Diagnosis, split: str) -> tuple[float, int] | None:
    repeats = diagnosis.metrics.get("repeats") or {}
    spread = ((repeats.get("splits") or {}).get(split) or {}).get("recall")
    count = int(repeats.get("count") or 0)
    if not spread or count < 2 or spread.get("std") is None:
        return None
    return float(spread["std"]), count


def sweep_facts(diagnoses: Sequence[Diagnosis]) -> dict[str, Any] | None:
    """The sweep view's facts, or None when these runs are not a sweep (other data or model, or more than two
    settings varied, or fewer than two distinct configurations)."""
    varied = _varied_settings(diagnoses)
    if varied is None:
        return None
    rows = [_sweep_row(index, diagnosis, varied) for index, diagnosis in enumerate(diagnoses, 1)]
    pooled = _pooled([(r["sd"], r["repeats"]) for r in rows if r["sd"] is not None])
    effects = [effect for key in varied if (effect := _effect(key, rows, pooled)) is not None]
    return {"varied": varied, "rows": rows, "seed_sd": pooled, "effects": effects,
            "warnings": _warnings(rows, pooled), "factor": NOISE_FACTOR}


def _varied_settings(diagnoses: Sequence[Diagnosis]) -> list[str] | None:
    """The one or two settings the runs differ in, or None when they are not a sweep of the same data and model."""
    if len(diagnoses) < 2:
        return None
    if any(len({repr(_value(d, k)) for d in diagnoses}) > 1 for k in SAME_KEYS):
        return None
    varied = [k for k in SWEEP_KEYS if len({repr(_value(d, k)) for d in diagnoses}) > 1]
    if not varied or len(varied) > MAX_VARIED:
        return None
    return varied


def _sweep_row(index: int, diagnosis: Diagnosis, varied: list[str]) -> dict[str, Any]:
    recall, split = _recall(diagnosis)
    repeats = _repeat_sd(diagnosis, split) if split in ("test", "valid") else None
    return {"run": index, "settings": {k: _value(diagnosis, k) for k in varied}, "recall": recall,
            "split": split, "repeats": repeats[1] if repeats else 1, "sd": repeats[0] if repeats else None,
            "undertrained": diagnosis.finding("undertrained") is not None, "stop": diagnosis.run.stop_reason}


def _effect(key: str, rows: list[dict[str, Any]], pooled: float | None) -> dict[str, Any] | None:
    """The spread of mean recall across `key`'s values (best mean minus worst), None with fewer than two values."""
    groups: dict[str, list[float]] = {}
    labels: dict[str, Any] = {}
    for row in rows:
        if row["recall"] is None:
            continue
        label = repr(row["settings"][key])
        groups.setdefault(label, []).append(row["recall"])
        labels[label] = row["settings"][key]
    means = {label: statistics.fmean(values) for label, values in groups.items()}
    if len(means) < 2:
        return None
    best_label = max(means, key=means.__getitem__)
    worst_label = min(means, key=means.__getitem__)
    effect = means[best_label] - means[worst_label]
    beyond = None if pooled is None else effect > NOISE_FACTOR * pooled
    return {"setting": key, "best": labels[best_label], "worst": labels[worst_label], "effect": effect,
            "means": {str(labels[k]): v for k, v in means.items()}, "beyond_noise": beyond}


def _warnings(rows: list[dict[str, Any]], pooled: float | None) -> list[str]:
    short = [r["run"] for r in rows if r["undertrained"]]
    warnings = []
    if short:
        warnings.append(f"{len(short)} of {len(rows)} runs (run {', '.join(map(str, short))}) stopped at their "
                        "iteration cap with validation recall still rising: an undertrained probe is no evidence "
                        "about a setting; rerun them with a larger --max_iter before comparing.")
    if pooled is None:
        warnings.append("Seed noise unknown: no configuration was repeated. Repeat one on 2 or more seeds "
                        "(`--random_seed`) so each effect can be set against the noise.")
    return warnings


def _pooled(items: list[tuple[float, int]]) -> float | None:
    num = sum((n - 1) * sd * sd for sd, n in items if n > 1)
    den = sum(n - 1 for sd, n in items if n > 1)
    return math.sqrt(num / den) if den else None


def render_sweep(facts: dict[str, Any]) -> str:
    varied = facts["varied"]
    lines = [f"## Sweep: {' and '.join(varied)}", ""]
    lines += [f"**Warning.** {w}" for w in facts["warnings"]]
    if facts["warnings"]:
        lines.append("")
    noise = facts["seed_sd"]
    noise_text = f"seed sd {noise:.4f} (pooled over repeated configurations)" if noise is not None else \
        "seed noise not measured"
    lines += [f"Each setting's effect on final recall against the seed noise: {noise_text}; an effect counts "
              f"beyond the noise above {facts['factor']:g} sd.", "",
              "| setting | best value | worst value | effect (best - worst mean) | beyond the noise? |",
              "|---|---|---|---|---|"]
    for e in facts["effects"]:
        beyond = "unknown" if e["beyond_noise"] is None else "yes" if e["beyond_noise"] else "no (inside noise)"
        lines.append(f"| {e['setting']} | {e['best']} | {e['worst']} | {e['effect']:+.4f} | {beyond} |")
    lines += ["", "| run | " + " | ".join(varied) + " | recall | repeats (sd) | stop | undertrained |",
              "|---|" + "---|" * (len(varied) + 4)]
    for r in facts["rows"]:
        sd = f"{r['repeats']} ({r['sd']:.4f})" if r["sd"] is not None else str(r["repeats"])
        recall = f"{r['recall']:.4f} ({r['split']})" if r["recall"] is not None else ""
        lines.append(f"| {r['run']} | " + " | ".join(str(r["settings"][k]) for k in varied) +
                     f" | {recall} | {sd} | {r['stop']} | {'yes' if r['undertrained'] else ''} |")
    return "\n".join(lines)


def sweep_section(diagnoses: Sequence[Diagnosis]) -> str | None:
    facts = sweep_facts(diagnoses)
    return None if facts is None else render_sweep(facts)
