"""Compose the corrected configuration of a run from its diagnosis: which fixes apply, in what order, and why.

Pure: a `Diagnosis` (and the names already taken in the runs folder) in, a `FixPlan` out. This module is the one
owner of the rerun command: it merges the fixes once, and renders one structured `Command` for recdoc and for the
tool that made the run. The engine's `rerun_commands` (report.md, diagnosis.json) calls `compose` too, so
`recdoc analyze` and `recdoc rerun --dry-run` print the same command, with the run's data and runs folders.

Policy:
- applicable findings are applied in rank order (the diagnosis is ranked, most important first); when two change
  one key, the higher-ranked one wins and the plan says so;
- findings whose fix no setting can make (`applicable=False`: wiring, broken evaluation, wrong data) are kept
  apart with their "what to check" text, never applied;
- `info` findings note a difference, not a fault: they are listed, not applied;
- user overrides (`--max_iter`, `--finetune_lr`) come last and win over every finding.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recdoc.config import RunConfig, per_dataset_defaults, sampling_that_fits, setting_problem
from recdoc.diagnose.config_inference import UNKNOWN_NDCG
from recdoc.diagnose.findings import Diagnosis, Finding, Fix, Setting
from recdoc.diagnose.observed_run import Run
from recdoc.errors import UsageError
from recdoc.trainer.data.dataset import data_needed

FIX_SUFFIX_RE = re.compile(r"_fix\d+$")
USER_OVERRIDE = "user"  # the `finding_id` of a change the user asked for on the command line
# Who set a value no finding asked for: batch_size or neg_num shrunk so that their product fits the catalogue.
FIT_TO_CATALOGUE = "fitted to the catalogue"
MAX_FIX_NUMBER = 10_000
_RUNCONFIG_FIELDS = {f.name for f in dataclasses.fields(RunConfig)}

# Flags the original src/train.py accepts (reference section 4); other settings are code edits there.
ORIGINAL_FLAGS = ("dataset", "model_type", "learning_rate", "max_iter", "patience", "topN", "embedding_dim",
                  "hidden_size", "num_interest", "random_seed", "coef")
# Settings `recdoc train` takes as flags and a rerun may change (recdoc/cli.py `train`).
RECDOC_FLAGS = ORIGINAL_FLAGS + ("batch_size", "maxlen", "test_iter", "neg_num", "ndcg")
ALWAYS_SHOWN = ("dataset", "model_type", "learning_rate")  # the command says what it trains even at defaults
# How a command's text (Diagnosis.rerun, diagnosis.json) marks a change the original has no flag for.
CODE_EDIT_PREFIX = "# code edit (no flag in the original): "
# How a recdoc command's text says what it needs before it can run here (the data, not on this machine).
NEEDS_PREFIX = "# needs first: "
# How to change, in the original's code, a setting it has no flag for.
ORIGINAL_CODE_EDITS = {
    "batch_size": "set batch_size = {value} in src/train.py (hard-coded per dataset: "
                  f"{per_dataset_defaults('batch_size')})",
    "maxlen": f"set maxlen = {{value}} in src/train.py (hard-coded per dataset: {per_dataset_defaults('maxlen')})",
    "test_iter": "set test_iter = {value} in src/train.py (iterations between evaluations; hard-coded per "
                 f"dataset: {per_dataset_defaults('test_iter')})",
    "neg_num": f"set neg_num = {{value}} in src/train.py (hard-coded {RunConfig().neg_num}; num_sampled = neg_num * "
               "batch_size)",
    "ndcg": "for the {value} NDCG evaluate with the `paper` branch (master computes the master NDCG)",
}


@dataclass(frozen=True)
class Command:
    """One command line, kept structured until it is shown: the program, its flags, and code edits it needs."""

    program: tuple[str, ...]
    flags: tuple[tuple[str, str], ...]
    code_edits: tuple[str, ...] = ()

    @property
    def shell(self) -> str:
        """The command alone, every argument shell-quoted: it can be pasted into a shell as is."""
        words = list(self.program) + [word for flag, value in self.flags for word in (f"--{flag}", value)]
        return shlex.join(words)

    def text(self) -> str:
        """The command, then its code edits as comment lines (the form Diagnosis.rerun and diagnosis.json keep)."""
        return self.shell + "".join(f"\n{CODE_EDIT_PREFIX}{edit}" for edit in self.code_edits)


def split_code_edits(command: str) -> tuple[str, list[str]]:
    """A command's `text()` -> (the command alone, the code edits it needs), for reports that show them apart."""
    lines = command.splitlines()
    edits = [line[len(CODE_EDIT_PREFIX):] for line in lines if line.startswith(CODE_EDIT_PREFIX)]
    return "\n".join(line for line in lines if not line.startswith(CODE_EDIT_PREFIX)), edits


@dataclass(frozen=True)
class ConfigChange:
    """One line of the diff: `key: old -> new`, and which finding (or the user) asked for it."""

    key: str
    old: Any
    new: Any
    finding_id: str

    def __str__(self) -> str:
        return f"{self.key}: {_show(self.old, self.key)} -> {_show(self.new, self.key)}  ({self.finding_id})"


@dataclass(frozen=True)
class OverruledChange:
    """A change a lower-ranked finding proposed for a key a higher-ranked one (or the user) already set."""

    key: str
    proposed: Any
    finding_id: str
    kept: Any
    kept_by: str

    def __str__(self) -> str:
        source = "the command line" if self.kept_by == USER_OVERRIDE else f"the higher-ranked {self.kept_by}"
        return (f"{self.key}: {self.finding_id} proposed {_show(self.proposed, self.key)}; kept "
                f"{_show(self.kept, self.key)} from {source}")


@dataclass(frozen=True)
class SetAside:
    """A finding that is not applied, why not, and what the user should check or do instead."""

    finding_id: str
    title: str
    reason: str
    what_to_check: str = ""

    def __str__(self) -> str:
        check = f": {self.what_to_check}" if self.what_to_check else ""
        return f"{self.finding_id} ({self.reason}){check}"


@dataclass(frozen=True)
class FixPlan:
    """What `recdoc rerun --apply-fixes` will do, before it does it."""

    source_format: str  # the producing tool: 'recdoc', 'original', 'tf2-port', 'pytorch-port', ...
    old_config: RunConfig
    new_config: RunConfig
    changes: tuple[ConfigChange, ...]
    overruled: tuple[OverruledChange, ...]
    set_aside: tuple[SetAside, ...]
    applied: tuple[str, ...]  # ids of the findings whose changes are in the new configuration
    recdoc_command: str
    tool_command: str | None  # the producing tool's corrected command, for runs not made by recdoc
    notes: tuple[str, ...] = ()

    @property
    def has_fix(self) -> bool:
        """True when at least one finding changes the configuration (user overrides alone are not a fix)."""
        return any(change.finding_id != USER_OVERRIDE for change in self.changes)

    @property
    def run_name(self) -> str:
        return self.new_config.exp_name

    def diff_lines(self) -> list[str]:
        return [str(change) for change in self.changes]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_format": self.source_format,
            "run_name": self.run_name,
            "old_config": self.old_config.to_dict(),
            "new_config": self.new_config.to_dict(),
            "changes": [dataclasses.asdict(c) for c in self.changes],
            "overruled": [dataclasses.asdict(c) for c in self.overruled],
            "set_aside": [dataclasses.asdict(c) for c in self.set_aside],
            "applied": list(self.applied),
            "recdoc_command": self.recdoc_command,
            "tool_command": self.tool_command,
            "notes": list(self.notes),
        }


def source_tool(diagnosis: Diagnosis) -> str:
    """The tool that produced the run: the first reader of a merged format ('recdoc+original+...' -> 'recdoc')."""
    return source_tool_of(diagnosis.run.format)


def source_tool_of(run_format: str) -> str:
    return run_format.split("+")[0]


def config_from_settings(settings: Mapping[str, Setting]) -> RunConfig:
    """The `RunConfig` the inferred settings describe (the dataset's defaults fill what no source stated)."""
    values = {key: setting.value for key, setting in settings.items() if key in _RUNCONFIG_FIELDS}
    if values.get("ndcg") == UNKNOWN_NDCG:
        # An NDCG definition the ratio could not name is no setting to repeat: the command keeps recdoc's own.
        del values["ndcg"]
    for key, value in values.items():  # a value of the wrong type or range is never copied into a command
        problem = setting_problem(key, value)
        if problem is not None:
            setting = settings[key]
            where = getattr(setting, "source", None) or getattr(getattr(setting, "ref", None), "path", None)
            raise UsageError(f"cannot compose a corrected run: {key} {problem}" + (f" ({where})" if where else "")
                             + f"; correct it there or analyze with --set {key}=VALUE")
    dataset = values.pop("dataset", None)
    if dataset is None:
        raise UsageError("cannot compose a corrected run: the dataset is not stated anywhere; "
                         "analyze it with --set dataset=NAME")
    if "metrics_at" in values:
        values["metrics_at"] = tuple(values["metrics_at"])
    return RunConfig.for_dataset(str(dataset), **values)


def run_folders(run: Run) -> dict[str, str]:
    """The data and runs folders a recdoc run used, as `recdoc rerun` takes them: run.json's `data_dir`, and the
    folder above the run folder. Empty for other tools' runs (their rerun reads ./data and writes ./runs)."""
    if source_tool_of(run.format) != "recdoc":
        return {}
    out: dict[str, str] = {}
    data_dir = run.declared.get("data_dir")
    if data_dir is not None and str(data_dir.value):
        out["data_dir"] = str(data_dir.value)
    run_json = next((Path(p) for p in run.paths if Path(p).name == "run.json"), None)
    if run_json is not None:
        out["runs_dir"] = str(run_json.parent.parent)
    return out


def taken_run_names(runs_dir: str | Path) -> list[str]:
    """The folder names under a runs folder: what a new run's name must avoid."""
    folder = Path(runs_dir)
    return [entry.name for entry in folder.iterdir()] if folder.is_dir() else []


def proposed_exp(command: str) -> str | None:
    """The `--exp` a rerun command names (None without one)."""
    try:
        words = shlex.split(command.splitlines()[0]) if command else []
    except ValueError:
        return None
    return next((words[i + 1] for i, word in enumerate(words[:-1]) if word == "--exp"), None)


def fix_run_exp(old_exp: str | None, taken_names: Collection[str]) -> str:
    """`<exp>_fix1`, `_fix2`, ...: the first whose experiment folder does not exist under the runs folder.

    A run that is itself a fix (`test79_fix1`) is numbered from its base (`test79_fix2`), never `test79_fix1_fix1`.
    A number counts as taken when any folder's name ends with `_<exp>_fixN`, whatever its learning rate or batch
    in the rest of the name, so that the numbers of one experiment stay unique.
    """
    base = FIX_SUFFIX_RE.sub("", old_exp or "") or "recdoc"
    for number in range(1, MAX_FIX_NUMBER):
        candidate = f"{base}_fix{number}"
        if not any(name == candidate or name.endswith(f"_{candidate}") for name in taken_names):
            return candidate
    raise UsageError(f"{MAX_FIX_NUMBER} fix runs of {base} already exist; pass another --runs_dir")


def compose_plan(diagnosis: Diagnosis, *, only: Iterable[str] | None = None, skip: Iterable[str] = (),
                 taken_names: Collection[str] = (), data_dir: str | None = None, runs_dir: str | None = None,
                 overrides: Mapping[str, Any] | None = None) -> FixPlan:
    """The corrected configuration of `diagnosis`'s run and the commands that train it (see `compose`)."""
    return compose(diagnosis.config, diagnosis.findings, source_tool(diagnosis), only=only, skip=skip,
                   taken_names=taken_names, data_dir=data_dir, runs_dir=runs_dir, overrides=overrides)


def compose(settings: Mapping[str, Setting], findings: Iterable[Finding], tool: str, *,
            only: Iterable[str] | None = None, skip: Iterable[str] = (), taken_names: Collection[str] = (),
            data_dir: str | None = None, runs_dir: str | None = None,
            overrides: Mapping[str, Any] | None = None) -> FixPlan:
    """The corrected configuration of a run (its inferred `settings`, its ranked `findings`) and its commands.

    `only`/`skip`: finding ids to restrict to / leave out (an id the diagnosis does not hold is a usage error).
    `taken_names`: folder names already under the runs folder (for the new run's name).
    `overrides`: user settings that win over every finding (e.g. a short `max_iter` budget, `finetune_lr`).
    """
    findings = list(findings)
    only_ids = None if only is None else set(only)
    skip_ids = set(skip)
    _require_known_ids(findings, (only_ids or set()) | skip_ids)
    old_config = config_from_settings(settings)
    merge = _FixMerge(old_config.to_dict())
    for finding in findings:
        merge.take_finding(finding, only_ids, skip_ids)
    merge.apply_overrides(overrides or {})
    merge.set_aside_overruled_by_user()
    notes = merge.fit_sampling_to_catalogue()

    exp = fix_run_exp(old_config.exp, taken_names)
    paths = {k: v for k, v in (("data_dir", data_dir), ("runs_dir", runs_dir)) if v is not None}
    new_config = dataclasses.replace(old_config, **merge.new_values, exp=exp, **paths)

    changed = set(merge.set_by)
    recdoc_command = recdoc_train_command(new_config, changed)
    tool_command = original_command(new_config, changed) if tool != "recdoc" else None
    # A command that cannot run here says what it needs first (the paper's data: where to get it, how to prepare).
    needs = data_needed(new_config.dataset, new_config.data_dir)
    recdoc_text = recdoc_command.text() + (f"\n{NEEDS_PREFIX}{needs}" if needs else "")
    return FixPlan(tool, old_config, new_config, tuple(merge.changes), tuple(merge.overruled),
                   tuple(merge.set_aside), tuple(f.id for f in merge.applied), recdoc_text,
                   tool_command.text() if tool_command is not None else None, notes=notes)


def _require_known_ids(findings: list[Finding], named: set[str]) -> None:
    """--only and --skip name findings of this diagnosis: a typo must not silently apply everything."""
    unknown = sorted(named - {finding.id for finding in findings})
    if unknown:
        raise UsageError(f"no finding {', '.join(unknown)} in this diagnosis; its findings: "
                         f"{', '.join(f.id for f in findings) or 'none'}")


@dataclass
class _FixMerge:
    """The settings the findings change, merged in rank order, with what was overruled or set aside and why."""

    old_values: dict[str, Any]
    new_values: dict[str, Any] = dataclasses.field(default_factory=dict)
    set_by: dict[str, str] = dataclasses.field(default_factory=dict)  # key -> the finding (or user) that set it
    changes: list[ConfigChange] = dataclasses.field(default_factory=list)
    overruled: list[OverruledChange] = dataclasses.field(default_factory=list)
    set_aside: list[SetAside] = dataclasses.field(default_factory=list)
    applied: list[Finding] = dataclasses.field(default_factory=list)

    def take_finding(self, finding: Finding, only_ids: set[str] | None, skip_ids: set[str]) -> None:
        """Apply `finding`'s changes where no higher-ranked finding set the key, else set it aside with why."""
        reason = _reason_not_applied(finding, only_ids, skip_ids)
        if reason is None:
            assert finding.fix is not None
            if self._contribute(finding.id, finding.fix):
                self.applied.append(finding)
                return
            reason = self._why_nothing_contributed(finding.id, finding.fix)
        self.set_aside.append(SetAside(finding.id, finding.title, reason, _what_to_check(finding.fix)))

    def _contribute(self, finding_id: str, fix: Fix) -> bool:
        contributed = False
        for key, value in fix.changes.items():
            if key not in _RUNCONFIG_FIELDS:
                continue  # a rule naming a setting recdoc does not have cannot change this run
            if key in self.set_by:
                if not _same(self.new_values[key], value):
                    self.overruled.append(OverruledChange(key, value, finding_id, self.new_values[key],
                                                          self.set_by[key]))
                continue
            if _same(self.old_values.get(key), value):
                continue
            self.new_values[key], self.set_by[key] = value, finding_id
            self.changes.append(ConfigChange(key, self.old_values.get(key), value, finding_id))
            contributed = True
        return contributed

    def _why_nothing_contributed(self, finding_id: str, fix: Fix) -> str:
        lost = [o for o in self.overruled if o.finding_id == finding_id]
        if lost:
            return "overruled: " + "; ".join(f"{o.key} kept from {o.kept_by}" for o in lost)
        if fix.changes:
            return "its settings already have the proposed values"
        return "nothing to change in the settings"

    def apply_overrides(self, overrides: Mapping[str, Any]) -> None:
        """The user's settings come last and win over every finding (a None is an option not given)."""
        for key, value in overrides.items():
            if value is None:
                continue
            if key not in _RUNCONFIG_FIELDS:
                raise UsageError(f"unknown setting {key}")
            if key in self.set_by and not _same(self.new_values[key], value):
                self.overruled.append(OverruledChange(key, self.new_values[key], self.set_by[key], value,
                                                      USER_OVERRIDE))
            self.changes = [c for c in self.changes if c.key != key]
            self.new_values[key], self.set_by[key] = value, USER_OVERRIDE
            if not _same(self.old_values.get(key), value):
                self.changes.append(ConfigChange(key, self.old_values.get(key), value, USER_OVERRIDE))

    def set_aside_overruled_by_user(self) -> None:
        """A finding every change of which the command line overruled no longer shapes the new run."""
        for finding in [f for f in self.applied if f.id not in self.set_by.values()]:
            self.applied.remove(finding)
            lost = [o for o in self.overruled if o.finding_id == finding.id]
            self.set_aside.append(SetAside(finding.id, finding.title, "overruled: " + "; ".join(
                f"{o.key} set on the command line" for o in lost), _what_to_check(finding.fix)))


    def fit_sampling_to_catalogue(self) -> tuple[str, ...]:
        """Each finding checks its own setting against the catalogue, but batch_size and neg_num draw the sampled
        negatives together (neg_num x batch_size ids): when the merged pair is more than the catalogue holds, the
        trainer would refuse the command, so the pair is fitted (`config.sampling_that_fits`) and the plan says so."""
        values = {**self.old_values, **self.new_values}
        items, batch, negatives = (values.get(key) for key in ("item_count", "batch_size", "neg_num"))
        if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (items, batch, negatives)):
            return ()
        fitted = dict(zip(("batch_size", "neg_num"), sampling_that_fits(items, batch, negatives)))
        if fitted == {"batch_size": batch, "neg_num": negatives}:
            return ()
        for key, value in fitted.items():
            if _same(values[key], value):
                continue
            self.new_values[key] = value
            self.set_by.setdefault(key, FIT_TO_CATALOGUE)
            self.changes = [c for c in self.changes if c.key != key]
            if not _same(self.old_values.get(key), value):
                self.changes.append(ConfigChange(key, self.old_values.get(key), value, self.set_by[key]))
        return (f"batch_size {batch} with neg_num {negatives} samples {batch * negatives:,} negatives per step, "
                f"more than the {items:,} items hold: the new run uses batch_size {fitted['batch_size']} and "
                f"neg_num {fitted['neg_num']}",)


def disagreement_notes(plan: FixPlan) -> list[str]:
    """One sentence per key two findings wanted differently (for a report, which has no "overruled" list)."""
    return [f"fixes disagree on {o.key}: using {_show(o.kept, o.key)} ({o.kept_by}), not "
            f"{_show(o.proposed, o.key)} ({o.finding_id})" for o in plan.overruled if o.kept_by != USER_OVERRIDE]


def _shown_keys(config: RunConfig, changed: Collection[str], keys: Iterable[str]) -> list[str]:
    """The keys a command states: what it trains, what the fixes changed, and what differs from the defaults."""
    defaults = RunConfig.for_dataset(config.dataset)
    return [key for key in keys if getattr(config, key) is not None and (
        key in ALWAYS_SHOWN or key in changed or getattr(config, key) != getattr(defaults, key))]


def recdoc_train_command(config: RunConfig, changed: Collection[str] = ()) -> Command:
    """`recdoc train` for `config`: its settings, then its name and the folders it reads and writes."""
    flags = [(key, _flag_value(getattr(config, key))) for key in _shown_keys(config, changed, RECDOC_FLAGS)]
    defaults = RunConfig()
    if config.exp is not None:
        flags.append(("exp", config.exp))
    # Without these a pasted command looks for the data in ./data and writes to ./runs.
    flags += [(key, getattr(config, key)) for key in ("data_dir", "runs_dir")
              if getattr(config, key) != getattr(defaults, key)]
    if config.finetune_lr is not None:
        flags.append(("finetune_lr", _flag_value(config.finetune_lr)))
    return Command(("recdoc", "train"), tuple(flags))


def original_command(config: RunConfig, changed: Collection[str] = ()) -> Command:
    """The original's `python src/train.py` for `config` (the TF2 and PyTorch ports keep its command line);
    settings it has no flag for become code edits."""
    flags = [(key, _flag_value(getattr(config, key))) for key in _shown_keys(config, changed, ORIGINAL_FLAGS)]
    # The ndcg edit only when a fix asks for another definition: a master-NDCG run is not a fault to repeat.
    edits = [ORIGINAL_CODE_EDITS[key].format(value=getattr(config, key))
             for key in _shown_keys(config, changed, ORIGINAL_CODE_EDITS) if key != "ndcg" or key in changed]
    return Command(("python", "src/train.py"), tuple(flags), tuple(edits))


def _flag_value(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _reason_not_applied(finding: Finding, only_ids: set[str] | None, skip_ids: set[str]) -> str | None:
    if finding.id in skip_ids:
        return "left out by --skip"
    if only_ids is not None and finding.id not in only_ids:
        return "not chosen by --only"
    if finding.fix is None:
        return "proposes no change"
    if not finding.fix.applicable:
        return "no setting fixes it"
    if finding.severity == "info":
        return "informational: a difference, not a fault"
    return None


def _what_to_check(fix: Fix | None) -> str:
    if fix is None:
        return ""
    return fix.how or ("" if fix.applicable else fix.expected_effect)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= 1e-12 * max(1.0, abs(float(a)), abs(float(b)))
    return a == b


def _show(value: Any, key: str | None = None) -> str:
    """A setting's value as a reader sees it; the original's max_iter with its unit (it counts thousands)."""
    if key == "max_iter" and isinstance(value, int) and not isinstance(value, bool):
        return f"{value} (x1000 iterations)"
    return repr(value) if isinstance(value, str) else str(value)
