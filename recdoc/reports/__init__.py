"""The doctor's outputs: report.md with its plots, diagnosis.json, and the console summary.

Every output reads only a `Diagnosis`. `write_reports` decides where files go and never replaces an existing
report: the first free number n is taken for the whole set (report.md / diagnosis.json / report_loss.png, then
report-2.md / diagnosis-2.json / report-2_loss.png, ...), so the files of one analysis always share a number.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from recdoc.errors import UsageError
from recdoc.files import StagedSet, path_problem, refuse_foreign, write_file

if TYPE_CHECKING:  # importing this package stays light: `chart_process` must start before numpy does
    from recdoc.diagnose.findings import Diagnosis

REPORT_STEM = "report"
JSON_STEM = "diagnosis"
PLOT_KINDS = ("loss", "recall")
FORMATS = ("md", "json")
MAX_REPORTS = 1000


def chosen_formats(formats: Iterable[str]) -> tuple[str, ...]:
    """The report formats asked for, or a `UsageError` naming the known ones."""
    chosen = tuple(formats)
    unknown = sorted(set(chosen) - set(FORMATS))
    if unknown or not chosen:
        raise UsageError(f"report formats are {', '.join(FORMATS)}; got {', '.join(chosen) or 'none'}")
    return chosen


def output_folder(diagnosis: Diagnosis, out_dir: str | Path | None) -> Path:
    """`--out` when given; else the run folder: the first path if it is a folder, else the folder of that file."""
    if out_dir is not None:
        return _out_folder(Path(out_dir))
    if not diagnosis.run.paths:
        return Path.cwd()
    first = Path(diagnosis.run.paths[0])
    return first if first.is_dir() else first.parent


def _out_folder(folder: Path) -> Path:
    check_out_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def check_out_folder(folder: str | Path | None, flag: str = "--out") -> None:
    """UsageError naming `flag` when `folder` is, or lies under, something that is not a folder (a file, a FIFO):
    checked before any analysis, so that a typo does not cost one."""
    if folder is None:
        return
    path = Path(folder)
    for place in [path, *path.parents]:
        if os.path.lexists(place) or place.exists():
            problem = path_problem(place)
            if problem is None and place.is_dir():
                return
            what = problem or "the file"
            if place == path:
                raise UsageError(f"{flag} must be a folder, got {what} {folder}")
            raise UsageError(f"{flag} {folder} cannot be created: {place} is {problem or 'a file'}, not a folder")


def report_names(number: int) -> dict[str, str]:
    """The file names of report set `number` (1 = no suffix)."""
    suffix = "" if number == 1 else f"-{number}"
    names = {"md": f"{REPORT_STEM}{suffix}.md", "json": f"{JSON_STEM}{suffix}.json"}
    names.update({kind: f"{REPORT_STEM}{suffix}_{kind}.png" for kind in PLOT_KINDS})
    return names


def report_set_files(folder: Path, number: int) -> list[Path]:
    """The files of report set `number` present in `folder`: a single run's, and a several-run report's per-run
    plots (`report_run<i>_*.png`)."""
    names = report_names(number)
    found = [folder / name for name in names.values() if (folder / name).exists()]
    return found + sorted(folder.glob(f"{Path(names['md']).stem}_run*_*.png"))


# report.md / report-2.md, diagnosis-2.json, report-2_loss.png, report-2_run1_recall.png, ...: the set's number.
_SET_FILE_RE = re.compile(rf"^(?:{REPORT_STEM}|{JSON_STEM})(?:-(\d+))?(?:\.md|\.json|_.+\.png)$")


def taken_report_numbers(folder: Path) -> set[int]:
    """The numbers of the report sets with a file in `folder`, from one listing of it."""
    try:
        names = os.listdir(folder)
    except OSError:
        return set()
    return {int(match.group(1) or 1) for match in map(_SET_FILE_RE.match, names) if match}


def free_report_number(folder: Path) -> int:
    """The smallest n whose whole report set is absent from `folder`."""
    taken = taken_report_numbers(folder)
    number = next((n for n in range(1, MAX_REPORTS + 1) if n not in taken), None)
    if number is None:
        raise UsageError(f"{folder} already holds {MAX_REPORTS} reports; pass --out to write elsewhere")
    return number


def last_report_number(folder: Path) -> int | None:
    """The largest n whose report set has a file in `folder`; None when there is none."""
    taken = taken_report_numbers(folder)
    return max(taken) if taken else None


def claim_report_set(folder: Path, force: bool) -> tuple[int, list[Path]]:
    """The set number to write and the files it replaces: the next free number and none; with `force` (the user's
    explicit `--force`) the last set and all its files, so no stale plot of the replaced set remains beside the
    new report. `--force` refuses (UsageError naming the file) when a file of that set is not one recdoc wrote."""
    last = last_report_number(folder) if force else None
    if last is None:
        return free_report_number(folder), []
    replacing = report_set_files(folder, last)
    refuse_foreign(replacing)
    return last, replacing


def multi_output_folder(paths: Iterable[str], out_dir: str | Path | None) -> Path:
    """Where a report of several runs goes: `--out`; else the folder given, or the folder holding every path given
    (never inside one of the runs, whose own reports are numbered there)."""
    if out_dir is not None:
        return _out_folder(Path(out_dir))
    folders = [Path(p).resolve() if Path(p).is_dir() else Path(p).resolve().parent for p in paths]
    common = Path(os.path.commonpath([str(f) for f in folders])) if folders else Path.cwd()
    if common == Path(common.anchor):
        raise UsageError("the runs given share no folder but the file system's root; pass --out DIR for the report")
    return common


def write_reports(diagnosis: Diagnosis, out_dir: str | Path | None = None,
                  formats: Iterable[str] = FORMATS, plots: bool = True, force: bool = False) -> list[Path]:
    """Write the chosen formats (and the plots the Markdown embeds); return the paths written, report first.

    `force` (the user's explicit `--force`) replaces the last report set instead of adding the next number: its
    old files are removed first, so no stale plot of the replaced set remains beside the new report.
    """
    chosen = chosen_formats(formats)
    folder: Path | None = None
    try:
        folder = output_folder(diagnosis, out_dir)
        return _write_all(diagnosis, folder, chosen, plots, force)
    except FileExistsError:
        raise UsageError(f"another analysis wrote a report in {folder} at the same time; run again") from None
    except PermissionError as error:
        where = folder or out_dir or "the run folder"
        raise UsageError(f"cannot write the report in {where} ({error.strerror}); pass --out DIR") from None


def _write_all(diagnosis: Diagnosis, folder: Path, chosen: tuple[str, ...], plots: bool,
               force: bool = False) -> list[Path]:
    """The whole set is written aside first, then moved into place: a failure leaves no part of it behind."""
    number, replacing = claim_report_set(folder, force)
    names = report_names(number)
    order: list[str] = []
    with StagedSet(folder) as stage:
        images: dict[str, Path] = {}
        if plots and "md" in chosen:
            from recdoc.reports.plots import write_plots

            images = write_plots(diagnosis, stage.aside, Path(names["md"]).stem)
        if "md" in chosen:
            from recdoc.reports.markdown import render_markdown

            relative = {caption: image.name for caption, image in images.items()}
            _write_staged(stage, names["md"], render_markdown(diagnosis, relative))
            order.append(names["md"])
        order.extend(image.name for image in images.values())
        if "json" in chosen:
            from recdoc.reports.jsonreport import render_json

            _write_staged(stage, names["json"], render_json(diagnosis))
            order.append(names["json"])
        stage.publish(replacing)
    return [folder / name for name in order]


def _write_staged(stage: object, name: str, text: str) -> None:
    write_file(stage.path(name), text)  # type: ignore[attr-defined]
