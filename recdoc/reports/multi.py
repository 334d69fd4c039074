"""Reports for several runs analysed at once (a folder of runs, a log holding several): a summary table, then each
run's full diagnosis. Runs are never merged: each has its own verdict, findings and plots.

Files: `report.md` (the table, then one section per run), `diagnosis.json` (`{"schema_version", "verdict",
"summary": [...], "runs": [<one diagnosis each, as for a single run>]}`) and per-run plots `report_run<i>_*.png`,
numbered as a set like a single run's report (report-2.md, ...), never replacing an existing file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

from recdoc.diagnose.findings import SCHEMA_VERSION, Diagnosis
from recdoc.diagnose.readers.detect import run_label
from recdoc.errors import UsageError
from recdoc.files import StagedSet, write_file
from recdoc.reports import FORMATS, chosen_formats, claim_report_set, multi_output_folder, report_names
from recdoc.reports.jsonreport import _finite
from recdoc.reports.sweep import sweep_facts

VERDICT_ORDER = ("healthy", "findings", "unusable")


def worst_verdict(diagnoses: list[Diagnosis]) -> str:
    return max((d.verdict for d in diagnoses), key=VERDICT_ORDER.index)


def run_title(diagnosis: Diagnosis) -> str:
    return run_label(diagnosis.run)


def _setting_value(config: dict[str, Any], key: str) -> Any:
    return config[key].value if key in config else None


def summary_rows(diagnoses: list[Diagnosis]) -> list[dict[str, Any]]:
    """One row per run: what it is, how it ended, its headline numbers and its top finding."""
    rows = []
    for index, diagnosis in enumerate(diagnoses, 1):
        config = diagnosis.config
        value = partial(_setting_value, config)
        final = diagnosis.run.finals.get("test") or diagnosis.run.finals.get("valid")
        best = diagnosis.metrics.get("best_valid") or {}
        top = next((f for f in diagnosis.findings if f.severity != "info"), None)
        repeats = diagnosis.metrics.get("repeats") or {}
        spread = (repeats.get("splits", {}).get(final.split if final else "", {}) or {}).get("recall")
        rows.append({
            "run": index, "name": run_title(diagnosis), "format": diagnosis.run.format,
            "dataset": value("paper_dataset") or value("dataset"), "model_type": value("model_type"),
            "learning_rate": value("learning_rate"), "topN": value("topN"),
            "stop": diagnosis.run.stop_reason, "best_valid_recall": best.get("recall"),
            "final_split": final.split if final else None, "final_recall": final.recall if final else None,
            "final_hitrate": final.hitrate if final else None,
            "repeats": repeats.get("count"), "recall_sd": spread.get("std") if spread else None,
            "verdict": diagnosis.verdict, "top_finding": top.id if top else None,
        })
    return rows


def render_summary(diagnoses: list[Diagnosis]) -> str:
    def num(value: Any, digits: int = 6) -> str:
        return "" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    lines = [f"# recdoc diagnosis of {len(diagnoses)} runs", "",
             f"Each run is diagnosed on its own below (never merged with another). Overall: **{worst_verdict(diagnoses)}**.",
             "", "| # | Run | Data | Model | lr | Stop | Best valid recall | Final recall | Final hit rate | Verdict | "
             "Top finding |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in summary_rows(diagnoses):
        final = num(row["final_recall"])
        if row["final_recall"] is not None:
            final = f"{final} ({row['final_split']})"
        if row["repeats"]:
            final += f", mean of {row['repeats']} repeats, sd {num(row['recall_sd'])}"
        lines.append(f"| {row['run']} | `{row['name']}` | {row['dataset'] or '?'} | {row['model_type'] or '?'} | "
                     f"{num(row['learning_rate'], 4) if row['learning_rate'] is not None else '?'} | {row['stop']} | "
                     f"{num(row['best_valid_recall'])} | {final} | {num(row['final_hitrate'])} | {row['verdict']} | "
                     f"{row['top_finding'] or ''} |")
    return "\n".join(lines)


def demote_headings(markdown: str, levels: int = 1) -> str:
    """Every Markdown heading one level deeper (outside code blocks), so a run's report nests under the summary."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        out.append("#" * levels + line if not fenced and line.startswith("#") else line)
    return "\n".join(out)


def render_multi_json(diagnoses: list[Diagnosis]) -> str:
    data = {"schema_version": SCHEMA_VERSION, "verdict": worst_verdict(diagnoses),
            "summary": summary_rows(diagnoses), "sweep": sweep_facts(diagnoses),
            "runs": [d.to_dict() for d in diagnoses]}
    return json.dumps(_finite(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_multi_reports(diagnoses: list[Diagnosis], paths: Iterable[str], out_dir: str | Path | None = None,
                        formats: Iterable[str] = FORMATS, plots: bool = True,
                        force: bool = False) -> list[Path]:
    """Write the summary report of the several runs read from `paths`; return the paths written, report first.

    The folder is `out_dir`, else the folder holding every path given (`multi_output_folder`); `force` replaces
    the last report set there, as for one run."""
    chosen = chosen_formats(formats)
    folder = multi_output_folder(paths, out_dir)
    written: list[Path] = []
    try:
        number, replacing = claim_report_set(folder, force)
        names = report_names(number)
        stem = Path(names["md"]).stem
        with StagedSet(folder) as stage:  # written aside, then moved into place whole
            if "md" in chosen:
                from recdoc.reports.markdown import render_markdown
                from recdoc.reports.sweep import sweep_section

                sections = [render_summary(diagnoses), *filter(None, [sweep_section(diagnoses)])]
                images_written: list[Path] = []
                for index, diagnosis in enumerate(diagnoses, 1):
                    images: dict[str, Path] = {}
                    if plots:
                        from recdoc.reports.plots import write_plots

                        images = write_plots(diagnosis, stage.aside, f"{stem}_run{index}")
                        images_written.extend(folder / image.name for image in images.values())
                    relative = {caption: image.name for caption, image in images.items()}
                    report = render_markdown(diagnosis, relative)
                    if report.startswith("# "):
                        report = report.split("\n", 1)[1].lstrip("\n")  # the section heading names the run already
                    sections.append(f"## Run {index}: `{run_title(diagnosis)}`\n\n" + demote_headings(report))
                write_file(stage.path(names["md"]), "\n\n".join(s.rstrip() for s in sections) + "\n")
                written.append(folder / names["md"])
                written.extend(images_written)
            if "json" in chosen:
                write_file(stage.path(names["json"]), render_multi_json(diagnoses))
                written.append(folder / names["json"])
            stage.publish(replacing)
    except FileExistsError:
        raise UsageError(f"another analysis wrote a report in {folder} at the same time; run again") from None
    except PermissionError as error:
        raise UsageError(f"cannot write the report in {folder} ({error.strerror}); pass --out DIR") from None
    return written
