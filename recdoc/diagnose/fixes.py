"""Compose the corrected configuration of a run from its diagnosis: which fixes apply, in what order, and why.

Pure: a `Diagnosis` (and the names already taken in the runs folder) in, a `FixPlan` out. The commands come
from the engine's `rerun_commands`, so `recdoc analyze` and `recdoc rerun` never disagree on what to run.

Policy (the same as the engine's commands):
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
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from recdoc.config import RunConfig
from recdoc.diagnose.engine import rerun_commands
from recdoc.diagnose.findings import Diagnosis, Finding, Fix, Setting
from recdoc.errors import UsageError

FIX_SUFFIX_RE = re.compile(r"_fix\d+$")
USER_OVERRIDE = "user"  # the `finding_id` of a change the user asked for on the command line
MAX_FIX_NUMBER = 10_000
_RUNCONFIG_FIELDS = {f.name for f in dataclasses.fields(RunConfig)}


@dataclass(frozen=True)
class ConfigChange:
    """One line of the diff: `key: old -> new`, and which finding (or the user) asked for it."""

    key: str
    old: Any
    new: Any
    finding_id: str

    def __str__(self) -> str:
        return f"{self.key}: {_show(self.old)} -> {_show(self.new)}  ({self.finding_id})"


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
        return f"{self.key}: {self.finding_id} proposed {_show(self.proposed)}; kept {_show(self.kept)} from {source}"


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
    return diagnosis.run.format.split("+")[0]


def config_from_settings(settings: Mapping[str, Setting]) -> RunConfig:
    """The `RunConfig` the inferred settings describe (the dataset's defaults fill what no source stated)."""
    values = {key: setting.value for key, setting in settings.items() if key in _RUNCONFIG_FIELDS}
    dataset = values.pop("dataset", None)
    if dataset is None:
        raise UsageError("cannot compose a corrected run: the dataset is not stated anywhere; "
                         "analyze it with --set dataset=NAME")
    if "metrics_at" in values:
        values["metrics_at"] = tuple(values["metrics_at"])
    return RunConfig.for_dataset(str(dataset), **values)


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
    """The corrected configuration of `diagnosis`'s run and the commands that train it.

    `only`/`skip`: finding ids to restrict to / leave out (an id the diagnosis does not hold is a usage error).
    `taken_names`: folder names already under the runs folder (for the new run's name).
    `overrides`: user settings that win over every finding (e.g. a short `max_iter` budget, `finetune_lr`).
    """
    only_ids = None if only is None else set(only)
    skip_ids = set(skip)
    known = {finding.id for finding in diagnosis.findings}
    unknown = sorted(((only_ids or set()) | skip_ids) - known)
    if unknown:
        raise UsageError(f"no finding {', '.join(unknown)} in this diagnosis; its findings: "
                         f"{', '.join(f.id for f in diagnosis.findings) or 'none'}")
    old_config = config_from_settings(diagnosis.config)
    old_values = old_config.to_dict()

    new_values: dict[str, Any] = {}
    set_by: dict[str, str] = {}
    changes: list[ConfigChange] = []
    overruled: list[OverruledChange] = []
    set_aside: list[SetAside] = []
    applied: list[Finding] = []
    for finding in diagnosis.findings:
        reason = _reason_not_applied(finding, only_ids, skip_ids)
        if reason is not None:
            set_aside.append(SetAside(finding.id, finding.title, reason, _what_to_check(finding.fix)))
            continue
        assert finding.fix is not None
        contributed = False
        for key, value in finding.fix.changes.items():
            if key not in _RUNCONFIG_FIELDS:
                continue  # a rule naming a setting recdoc does not have cannot change this run
            if key in set_by:
                if not _same(new_values[key], value):
                    overruled.append(OverruledChange(key, value, finding.id, new_values[key], set_by[key]))
                continue
            if _same(old_values.get(key), value):
                continue
            new_values[key], set_by[key] = value, finding.id
            changes.append(ConfigChange(key, old_values.get(key), value, finding.id))
            contributed = True
        if contributed:
            applied.append(finding)
            continue
        lost = [o for o in overruled if o.finding_id == finding.id]
        if lost:
            reason = "overruled: " + "; ".join(f"{o.key} kept from {o.kept_by}" for o in lost)
        elif finding.fix.changes:
            reason = "its settings already have the proposed values"
        else:
            reason = "nothing to change in the settings"
        set_aside.append(SetAside(finding.id, finding.title, reason, _what_to_check(finding.fix)))

    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key not in _RUNCONFIG_FIELDS:
            raise UsageError(f"unknown setting {key}")
        if key in set_by and not _same(new_values[key], value):
            overruled.append(OverruledChange(key, new_values[key], set_by[key], value, USER_OVERRIDE))
        changes = [c for c in changes if c.key != key]
        new_values[key], set_by[key] = value, USER_OVERRIDE
        if not _same(old_values.get(key), value):
            changes.append(ConfigChange(key, old_values.get(key), value, USER_OVERRIDE))

    for finding in [f for f in applied if f.id not in set_by.values()]:
        # Every change of this finding was overruled by the command line: it no longer shapes the new run.
        applied.remove(finding)
        lost = [o for o in overruled if o.finding_id == finding.id]
        set_aside.append(SetAside(finding.id, finding.title, "overruled: " + "; ".join(
            f"{o.key} set on the command line" for o in lost), _what_to_check(finding.fix)))

    exp = fix_run_exp(old_config.exp, taken_names)
    paths = {k: v for k, v in (("data_dir", data_dir), ("runs_dir", runs_dir)) if v is not None}
    new_config = dataclasses.replace(old_config, **new_values, exp=exp, **paths)

    notes: list[str] = []
    user_keys = {key for key, value in (overrides or {}).items() if value is not None}
    commands = rerun_commands(diagnosis.run, _with_overrides(diagnosis.config, new_values, set_by),
                              _command_findings(applied, user_keys), notes)
    recdoc_command = _with_run_flags(commands.get("recdoc") or _plain_recdoc_command(new_config), new_config)
    tool = source_tool(diagnosis)
    tool_command = commands.get("original") if tool != "recdoc" else None
    return FixPlan(tool, old_config, new_config, tuple(changes), tuple(overruled), tuple(set_aside),
                   tuple(f.id for f in applied), recdoc_command, tool_command, tuple(notes))


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


def _command_findings(applied: list[Finding], user_keys: set[str]) -> list[Finding]:
    """The applied findings for the engine's command builder (it re-applies their changes in the same order),
    without the keys the user set: those come from the settings, so the command matches the new configuration."""
    out = []
    for finding in applied:
        assert finding.fix is not None
        kept = {k: v for k, v in finding.fix.changes.items() if k not in user_keys}
        out.append(dataclasses.replace(finding, fix=dataclasses.replace(finding.fix, changes=kept)))
    return out


def _with_overrides(config: Mapping[str, Setting], new_values: Mapping[str, Any],
                    set_by: Mapping[str, str]) -> dict[str, Setting]:
    """The inferred settings with the user's overrides in place, so the engine's commands carry them too."""
    out = dict(config)
    for key, value in new_values.items():
        if set_by[key] == USER_OVERRIDE:
            out[key] = Setting(value, "command line")
    return out


def _with_run_flags(command: str, config: RunConfig) -> str:
    """The engine's `recdoc train` command plus where the new run reads and writes, and its name."""
    flags = [f"--exp {config.exp}"]
    defaults = RunConfig()
    if config.data_dir != defaults.data_dir:
        flags.append(f"--data_dir {config.data_dir}")
    if config.runs_dir != defaults.runs_dir:
        flags.append(f"--runs_dir {config.runs_dir}")
    if config.finetune_lr is not None:
        flags.append(f"--finetune_lr {config.finetune_lr!r}")
    return " ".join([command, *flags])


def _plain_recdoc_command(config: RunConfig) -> str:
    return (f"recdoc train --dataset {config.dataset} --model_type {config.model_type} "
            f"--learning_rate {config.learning_rate!r}")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= 1e-12 * max(1.0, abs(float(a)), abs(float(b)))
    return a == b


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)
