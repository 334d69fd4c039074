"""What the doctor concludes: settings with sources, comparisons, findings, and the diagnosis that holds them.

Every report (Markdown, JSON, console, compare) reads only a `Diagnosis`. `Diagnosis.to_dict()` is the
`diagnosis.json` schema (documented in docs/diagnosis-schema.md; bump SCHEMA_VERSION on any breaking change).
"""

from __future__ import annotations

from dataclasses import dataclass, field, is_dataclass
from typing import Any, Literal

from recdoc.diagnose.observed_run import Run, SourceRef

SCHEMA_VERSION = 1

Verdict = Literal["healthy", "findings", "unusable"]
Severity = Literal["high", "medium", "low", "info"]
Basis = Literal["prior", "evidence", "both"]


# Appended to a default's source when the run printed its whole command line without that flag.
NOT_IN_ARGV = "; flag absent from the printed argv"


@dataclass(frozen=True)
class Setting:
    """One configuration value as inferred, with where it came from.

    `source` is a short label: 'exp name', 'argv', 'run.json', 'log', 'checkpoint', 'default (book)',
    'default (other)', '--set'. `conflicts` lists other values seen for the same key, with their sources.
    """

    value: Any
    source: str
    ref: SourceRef | None = None
    conflicts: tuple[tuple[Any, str], ...] = ()

    @property
    def is_default(self) -> bool:
        return self.source.startswith("default")

    @property
    def known_default(self) -> bool:
        """A default the run's printed command line confirms: the flag is absent from a complete argv, so the
        code's default was used (the original's, unless a fork changed it)."""
        return self.is_default and self.source.endswith(NOT_IN_ARGV)


@dataclass(frozen=True)
class Evidence:
    """A fact a finding rests on: a sentence, where it was read, and the values involved."""

    text: str
    ref: SourceRef | None = None
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fix:
    """The configuration change a finding proposes. `changes` maps RunConfig keys to new values.

    `applicable` is False for causes no setting can repair (wiring, broken evaluation, wrong data); then
    `changes` is empty and `how` says what to check instead.
    """

    changes: dict[str, Any]
    expected_effect: str
    how: str = ""
    applicable: bool = True


# Finding levels, lowest first (`Finding.level`, `recdoc analyze --fail-on`).
LEVELS = ("info", "low", "medium", "high")


@dataclass(frozen=True)
class Finding:
    id: str
    title: str  # the one-line statement for this run
    severity: Severity
    confidence: float  # 0..1
    basis: Basis  # does it rest on a prior, on the run's own evidence, or on both
    evidence: tuple[Evidence, ...]
    fix: Fix | None = None
    explanation: str = ""  # why it matters here, in a sentence or two

    @property
    def confidence_label(self) -> str:
        return "high" if self.confidence >= 0.75 else "medium" if self.confidence >= 0.45 else "low"

    @property
    def level(self) -> str:
        """The lower of its severity and its confidence label (one of LEVELS): a high-severity prior at confidence
        0.14 is a low-level finding. `--fail-on` and the ranking read it."""
        confidence = self.confidence_label if self.severity != "info" else "info"
        return min(self.severity, confidence, key=LEVELS.index)


@dataclass(frozen=True)
class NotACause:
    """A suspected cause that was checked and is not one (e.g. 1280 negatives equal the original's setting)."""

    id: str
    title: str
    reason: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class Comparison:
    """The run's metric against the paper's, like for like or with the reason it is not comparable."""

    metric: str  # recall | ndcg | hitrate
    cutoff: int
    split: str  # test | valid | best-valid
    run_value: float | None
    paper_value: float | None  # fraction, not percent
    paper_confirmed: bool
    comparable: bool
    note: str = ""
    ndcg_definition: str | None = None  # for ndcg rows: the run's definition (stated or inferred)
    # The paper row's model (Table 3's key, e.g. `DNN`); None where no paper row was found.
    model: str | None = None
    # True when the run's model is not stated: the row places the run against one of the paper's models on the
    # data, so its gap is not this run's model's gap and no rule may read it as one (RuleContext keeps these rows
    # apart, in `placements`).
    model_unknown: bool = False

    @property
    def abs_gap(self) -> float | None:
        if self.run_value is None or self.paper_value is None:
            return None
        return self.run_value - self.paper_value

    @property
    def rel_gap(self) -> float | None:
        if self.abs_gap is None or not self.paper_value:
            return None
        return self.abs_gap / self.paper_value


@dataclass
class Diagnosis:
    verdict: Verdict
    run: Run
    config: dict[str, Setting]
    metrics: dict[str, Any]  # summary: best valid (iter, values), finals, stop iteration and reason
    comparisons: list[Comparison]
    findings: list[Finding]  # ranked, most important first
    not_causes: list[NotACause]
    rerun: dict[str, str]  # tool -> command ('recdoc', 'original', 'pytorch-port', ...)
    notes: list[str] = field(default_factory=list)  # limits of the analysis (unreadable parts, assumptions)
    schema_version: int = SCHEMA_VERSION

    def finding(self, finding_id: str) -> Finding | None:
        return next((f for f in self.findings if f.id == finding_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "verdict": self.verdict,
            "run": {"format": self.run.format, "paths": list(self.run.paths),
                    "exp_name": self.run.exp_name.value if self.run.exp_name else None,
                    "stop_reason": self.run.stop_reason,
                    "unreadable": list(self.run.unreadable),
                    "coverage": coverage_dict(self.run)},
            "config": {k: _plain(s) for k, s in self.config.items()},
            "metrics": _plain(self.metrics),
            "comparisons": [dict(_plain(c), abs_gap=c.abs_gap, rel_gap=c.rel_gap) for c in self.comparisons],
            "findings": [dict(_plain(f), confidence_label=f.confidence_label) for f in self.findings],
            "not_causes": [_plain(n) for n in self.not_causes],
            "rerun": dict(self.rerun),
            "notes": list(self.notes),
        }


def coverage_dict(run: Run) -> dict[str, Any]:
    """How much of its input the readers understood (`Run.coverage`), for diagnosis.json and the reports."""
    coverage = run.coverage
    return {"lines_with_numbers": coverage.lines_with_numbers, "lines_used": coverage.lines_used,
            "fraction_used": coverage.fraction_used, "unread_metric_count": coverage.unread_metric_count,
            "unread_metric_lines": [{"ref": str(ref), "text": text} for ref, text in coverage.unread_metric_lines]}


def _plain(value: Any) -> Any:
    """JSON-ready copy: dataclasses to dicts, SourceRef to 'file:line', tuples to lists, NaN to None."""
    if isinstance(value, SourceRef):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(getattr(value, k)) for k in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _plain(value.item())
    return value
