"""The doctor's outputs: report.md with its plots, diagnosis.json, and the console summary.

Every output reads only a `Diagnosis`. `write_reports` decides where files go and never replaces an existing
report: the first free number n is taken for the whole set (report.md / diagnosis.json / report_loss.png, then
report-2.md / diagnosis-2.json / report-2_loss.png, ...), so the files of one analysis always share a number.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from recdoc.errors import UsageError
from recdoc.files import free_set_number

if TYPE_CHECKING:  # importing this package stays light: `chart_process` must start before numpy does
    from recdoc.diagnose.findings import Diagnosis

REPORT_STEM = "report"
JSON_STEM = "diagnosis"
PLOT_KINDS = ("loss", "recall")
FORMATS = ("md", "json")
MAX_REPORTS = 1000


def output_folder(diagnosis: Diagnosis, out_dir: str | Path | None) -> Path:
    """`--out` when given; else the run folder: the first path if it is a folder, else the folder of that file."""
    if out_dir is not None:
        folder = Path(out_dir)
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"--out must be a folder, got the file {folder}")
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    if not diagnosis.run.paths:
        return Path.cwd()
    first = Path(diagnosis.run.paths[0])
    return first if first.is_dir() else first.parent


def report_names(number: int) -> dict[str, str]:
    """The file names of report set `number` (1 = no suffix)."""
    suffix = "" if number == 1 else f"-{number}"
    names = {"md": f"{REPORT_STEM}{suffix}.md", "json": f"{JSON_STEM}{suffix}.json"}
    names.update({kind: f"{REPORT_STEM}{suffix}_{kind}.png" for kind in PLOT_KINDS})
    return names


def free_report_number(folder: Path) -> int:
    """The smallest n whose whole report set is absent from `folder`."""
    return free_set_number(folder, report_names, MAX_REPORTS, "reports")


def last_report_number(folder: Path) -> int | None:
    """The largest n whose report set has a file in `folder`; None when there is none."""
    taken = [n for n in range(1, MAX_REPORTS + 1) if any((folder / name).exists() for name in report_names(n).values())]
    return max(taken) if taken else None


def write_reports(diagnosis: Diagnosis, out_dir: str | Path | None = None,
                  formats: Iterable[str] = ("md", "json"), plots: bool = True, force: bool = False) -> list[Path]:
    """Write the chosen formats (and the plots the Markdown embeds); return the paths written, report first.

    `force` (the user's explicit `--force`) replaces the last report set instead of adding the next number: its
    old files are removed first, so no stale plot of the replaced set remains beside the new report.
    """
    chosen = tuple(formats)
    unknown = sorted(set(chosen) - set(FORMATS))
    if unknown or not chosen:
        raise UsageError(f"report formats are {', '.join(FORMATS)}; got {', '.join(chosen) or 'none'}")
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
    from recdoc.files import write_file

    last = last_report_number(folder) if force else None
    number = last if last is not None else free_report_number(folder)
    names = report_names(number)
    if last is not None:
        for name in names.values():
            (folder / name).unlink(missing_ok=True)
    written: list[Path] = []
    images: dict[str, Path] = {}
    if plots and "md" in chosen:
        from recdoc.reports.plots import write_plots

        images = write_plots(diagnosis, folder, Path(names["md"]).stem)
    if "md" in chosen:
        from recdoc.reports.markdown import render_markdown

        path = folder / names["md"]
        relative = {caption: image.name for caption, image in images.items()}
        write_file(path, render_markdown(diagnosis, relative))
        written.append(path)
    written.extend(images.values())
    if "json" in chosen:
        from recdoc.reports.jsonreport import render_json

        path = folder / names["json"]
        write_file(path, render_json(diagnosis))
        written.append(path)
    return written
