"""The `recdoc` command line. Thin: parse flags, call one function per command, map errors to exit codes.

Heavy modules (TensorFlow, faiss) are imported inside the commands that need them, so that
`recdoc analyze` never pays for TensorFlow.
"""

from __future__ import annotations

import os
import shlex
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NoReturn, Optional

import typer

from recdoc import reference
from recdoc.config import NDCG_KINDS, STRATEGIES, RunConfig, advised_learning_rate, per_dataset_defaults
from recdoc.errors import RecdocError

if TYPE_CHECKING:
    from pathlib import Path


class Level(StrEnum):
    """`--fail-on`: the lowest finding level that makes the exit code 1 (recdoc.reports.console.LEVELS)."""

    info = "info"
    low = "low"
    medium = "medium"
    high = "high"


def _choices(name: str, values: tuple[str, ...] | list[str]) -> type[StrEnum]:
    """A typer choice whose values come from their one owner (so `--help` lists them and cannot drift)."""
    return StrEnum(name, {value.lower().replace("-", "_"): value for value in values})  # type: ignore[return-value]


# The model types (each model's SPEC, recdoc.model_specs), the NDCG kinds and the run strategies (recdoc.config).
ModelType = _choices("ModelType", reference.model_types())
Ndcg = _choices("Ndcg", NDCG_KINDS)
Strategy = _choices("Strategy", STRATEGIES)


class Source(StrEnum):
    """recdoc.trainer.data.prepare.SOURCES."""

    ml_100k = "ml-100k"
    csv = "csv"
    amazon = "amazon"
    taobao = "taobao"


class Split(StrEnum):
    valid = "valid"
    test = "test"


# Panels of `recdoc train --help`: 24 options read better in groups.
DATA_PANEL, MODEL_PANEL, OPTIM_PANEL, SCHEDULE_PANEL = "Data and run folder", "Model", "Optimisation", \
    "Schedule and evaluation"

# What `recdoc train` uses for an option left out on the default dataset (shown by --help; the config fills it).
_DEFAULT = RunConfig()

FAIL_ON_HELP = ("exit 1 only for a finding at or above this level (a finding's level is the lower of its severity "
                "and its confidence); lower ones are reported, not failed")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Train ComiRec faithfully, and diagnose why a run falls short of the paper.")


def _version(value: bool) -> None:
    if value:
        import recdoc

        typer.echo(f"recdoc {recdoc.__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print recdoc's version and exit")) -> None:
    """Train ComiRec faithfully, and diagnose why a run falls short of the paper."""


data_app = typer.Typer(no_args_is_help=True, help="Prepare datasets in the original ComiRec format.")
app.add_typer(data_app, name="data")


# ---------------------------------------------------------------- data
def _dataset_folder_option() -> Any:
    return typer.Option(_DEFAULT.data_dir, "--data_dir", help="folder that holds <name>_data/")


@data_app.command("prepare")
def data_prepare(
    source: Source = typer.Option(..., "--source", help="the raw data's format"),
    input_path: Optional[str] = typer.Option(None, "--input", help="raw file (not needed for ml-100k)"),
    meta: Optional[str] = typer.Option(None, "--meta", help="Amazon metadata file with categories"),
    name: Optional[str] = typer.Option(None, "--name", help="dataset name (ml-100k: ml100k)"),
    data_dir: str = _dataset_folder_option(),
) -> None:
    """Apply the original's preprocessing rules and write <data_dir>/<name>_data/."""
    from recdoc.trainer.data.prepare import prepare_dataset

    _refuse_file_as_folder(data_dir, "--data_dir")
    folder = prepare_dataset(source=source.value, input_path=input_path, meta_path=meta, name=name,
                             data_dir=data_dir)
    _next_train(folder)


@data_app.command("synth")
def data_synth(
    name: str = typer.Option(..., "--name", help="dataset name: writes <data_dir>/<name>_data/"),
    items: int = typer.Option(..., "--items", help="number of items (at least 10)"),
    users: int = typer.Option(..., "--users", help="number of users (at least 10), split 80/10/10 train/valid/test"),
    interests: int = typer.Option(4, "--interests", help="latent interests mixed per user (at most)"),
    seed: int = typer.Option(0, "--seed", help="the same seed gives the same files"),
    data_dir: str = _dataset_folder_option(),
) -> None:
    """A synthetic dataset with planted multi-interest structure, deterministic by seed."""
    from recdoc.trainer.data.synth import synthesize

    _refuse_file_as_folder(data_dir, "--data_dir")
    _next_train(synthesize(name=name, items=items, users=users, interests=interests, seed=seed, data_dir=data_dir))


def _next_train(folder: "Path") -> None:
    """After a dataset is written: a command that trains on it (on a small catalogue, with a batch and a number of
    negatives the catalogue can sample; the defaults need neg_num x batch_size = 1,280 items)."""
    from recdoc.config import sampling_that_fits
    from recdoc.trainer.data.dataset import dataset_name, recorded_item_count
    from recdoc.trainer.data.estimate import training_estimate

    name = dataset_name(folder) or folder.name
    defaults = RunConfig.for_dataset(name)
    # The recommended settings (the original's README: ComiRec-DR at 0.005), not the default the doctor flags.
    advised = advised_learning_rate(defaults.model_type)
    command = ["recdoc", "train", "--dataset", name, "--data_dir", str(folder.parent), "--model_type",
               defaults.model_type, "--learning_rate", f"{advised:g}"]
    item_count = recorded_item_count(folder)
    if item_count is not None:
        batch, negatives = sampling_that_fits(item_count, defaults.batch_size, defaults.neg_num)
        if batch != defaults.batch_size:
            command += ["--batch_size", str(batch)]
        if negatives != defaults.neg_num:
            command += ["--neg_num", str(negatives)]
    typer.echo(f"Next: {shlex.join(command)}")
    estimate = training_estimate(defaults.model_type, defaults.max_iter, defaults.patience, defaults.test_iter)
    if estimate is not None:
        typer.echo(f"  ({estimate})")


def _setting(flag: str, panel: str, help: str, **more: Any) -> Any:
    """A `recdoc train` option left out as None: RunConfig.for_dataset then fills it for the chosen dataset."""
    return typer.Option(None, flag, help=help, rich_help_panel=panel, **more)


def _per_dataset_setting(flag: str, panel: str) -> Any:
    """A `_setting` whose default is the dataset's own: --help lists them."""
    return _setting(flag, panel, f"default: the dataset's ({per_dataset_defaults(flag.removeprefix('--'))})")


def _shown_setting(flag: str, panel: str, help: str) -> Any:
    """A `_setting` whose --help shows RunConfig's default (the default dataset's)."""
    return _setting(flag, panel, help, show_default=str(getattr(_DEFAULT, flag.removeprefix("--"))))


# ---------------------------------------------------------------- train
@app.command("train")
def train(
    ctx: typer.Context,
    # Data and run folder. Every default is RunConfig's (`_DEFAULT`; the original's from reference.json): an option
    # left out is None, and RunConfig.for_dataset fills it for the chosen dataset.
    dataset: Optional[str] = _shown_setting("--dataset", DATA_PANEL, "reads <data_dir>/<dataset>_data/"),
    data_dir: Optional[str] = _shown_setting("--data_dir", DATA_PANEL, "folder that holds <dataset>_data/"),
    runs_dir: Optional[str] = _shown_setting("--runs_dir", DATA_PANEL,
                                             "the run goes to a new folder <runs_dir>/<exp name>/"),
    exp: Optional[str] = _setting("--exp", DATA_PANEL, "the free part of the experiment name"),
    item_count: Optional[int] = _setting("--item_count", DATA_PANEL,
                                         f"ids are 0..item_count-1 (default: {per_dataset_defaults('item_count')}, "
                                         "else the largest item id + 1)"),
    resume: Optional[str] = _setting("--resume", DATA_PANEL,
                                     "continue this run folder from its last checkpoint; its run.json supplies every "
                                     "setting (--max_iter, --patience, --finetune_lr and --strategy may change)",
                                     metavar="RUN_FOLDER"),
    # Model
    model_type: Optional[ModelType] = _shown_setting("--model_type", MODEL_PANEL, "the model to train"),
    embedding_dim: Optional[int] = _shown_setting("--embedding_dim", MODEL_PANEL,
                                                  "item embedding size (must equal --hidden_size)"),
    hidden_size: Optional[int] = _shown_setting("--hidden_size", MODEL_PANEL,
                                                "interest vector size (must equal --embedding_dim)"),
    num_interest: Optional[int] = _shown_setting("--num_interest", MODEL_PANEL,
                                                 "interests per user (multi-interest models)"),
    maxlen: Optional[int] = _per_dataset_setting("--maxlen", MODEL_PANEL),
    # Optimisation
    learning_rate: Optional[float] = _shown_setting("--learning_rate", OPTIM_PANEL,
                                                    "Adam's learning rate (the original's README: "
                                                    f"{advised_learning_rate('ComiRec-DR')} for ComiRec-DR)"),
    finetune_lr: Optional[float] = _setting("--finetune_lr", OPTIM_PANEL,
                                            "learning rate from now on (default: --learning_rate)"),
    batch_size: Optional[int] = _per_dataset_setting("--batch_size", OPTIM_PANEL),
    neg_num: Optional[int] = _shown_setting("--neg_num", OPTIM_PANEL,
                                            "sampled softmax draws neg_num * batch_size items"),
    random_seed: Optional[int] = _shown_setting("--random_seed", OPTIM_PANEL,
                                                "seeds TensorFlow, numpy and the batch sampler"),
    # Schedule and evaluation
    max_iter: Optional[int] = _shown_setting("--max_iter", SCHEDULE_PANEL,
                                             "in thousands of iterations, as the original"),
    patience: Optional[int] = _shown_setting("--patience", SCHEDULE_PANEL,
                                             "stop after this many evaluations without a better recall"),
    test_iter: Optional[int] = _per_dataset_setting("--test_iter", SCHEDULE_PANEL),
    topN: Optional[int] = _shown_setting("--topN", SCHEDULE_PANEL, "the cut-off of recall/ndcg/hitrate in train.log"),
    ndcg: Optional[Ndcg] = _shown_setting("--ndcg", SCHEDULE_PANEL,
                                          "NDCG shown in train.log (all three go to metrics.jsonl)"),
    metrics_at: Optional[str] = _setting("--metrics_at", SCHEDULE_PANEL,
                                         "cut-offs also computed for metrics.jsonl, comma-separated",
                                         show_default=",".join(map(str, _DEFAULT.metrics_at))),
    coef: Optional[float] = _setting("--coef", SCHEDULE_PANEL, "controllable aggregation lambda"),
    eval_users: Optional[int] = _setting("--eval_users", SCHEDULE_PANEL,
                                         "early-stopping evaluations on a fixed seeded subset of this many "
                                         "validation users (a recorded deviation; final valid/test use everyone)"),
    strategy: Optional[Strategy] = _shown_setting("--strategy", SCHEDULE_PANEL,
                                                  "mirrored: local devices; multi_worker: machines from TF_CONFIG "
                                                  "(tf.distribute, the same numbers)"),
) -> None:
    """Train a model exactly as the original src/train.py does, and write a run folder."""
    from recdoc.errors import UsageError

    if resume is not None:
        config = resume_config(ctx, resume, max_iter=max_iter, patience=patience, finetune_lr=finetune_lr,
                               strategy=strategy)
    else:
        _refuse_file_as_folder(runs_dir, "--runs_dir")
        try:
            cutoffs = None if metrics_at is None else tuple(sorted({int(x) for x in metrics_at.split(",")
                                                                    if x.strip()}))
        except ValueError:
            raise UsageError(f"--metrics_at must be comma-separated integers, got {metrics_at!r}") from None
        config = RunConfig.for_dataset(
            dataset, model_type=_value(model_type), learning_rate=learning_rate, max_iter=max_iter,
            patience=patience, topN=topN, embedding_dim=embedding_dim, hidden_size=hidden_size,
            num_interest=num_interest, random_seed=random_seed, batch_size=batch_size, maxlen=maxlen,
            test_iter=test_iter, neg_num=neg_num, item_count=item_count, exp=exp, data_dir=data_dir,
            runs_dir=runs_dir, finetune_lr=finetune_lr, ndcg=_value(ndcg), coef=coef, metrics_at=cutoffs,
            eval_users=eval_users, strategy=_value(strategy),
        )
    from recdoc.trainer.loop import train as run_training

    # Advice on stdout (stderr stays one line per failure), printed once the flags and the data have passed their
    # checks; not on --resume, where the learning rate cannot change.
    note = lr_note(config.model_type, config.learning_rate) if resume is None else None
    folder = run_training(config, resume=resume is not None, advice=[f"note: {note}"] if note else [])
    typer.echo(f"Run folder: {folder}")
    typer.echo(f"Next: {shlex.join(['recdoc', 'analyze', str(folder)])}")


def resume_config(ctx: typer.Context, folder: str, **may_change: object) -> RunConfig:
    """The configuration of the run in `folder` (its run.json), with the settings a resume may change where given.

    Any other setting on the command line is refused: it would silently be ignored (the stored one wins).
    """
    from pathlib import Path

    from recdoc.config import RESUME_MAY_CHANGE
    from recdoc.errors import UsageError
    from recdoc.trainer.log.folder import RunPaths, resumed_config

    record = RunPaths(Path(folder)).run_json
    if not record.is_file():
        raise UsageError(f"--resume {folder}: no run.json there; pass the run folder `recdoc train` created "
                         "(runs/<experiment name>)")
    given = sorted(name for name in ctx.params if name not in ("resume", *RESUME_MAY_CHANGE)
                   and _on_command_line(ctx, name))
    if given:
        flags = ", ".join(f"--{name}" for name in given)
        raise UsageError(f"--resume takes the run's settings from {record}; {flags} cannot change on resume "
                         f"(only {', '.join('--' + k for k in RESUME_MAY_CHANGE)} can)")
    return resumed_config(Path(folder), **{key: _value(value) for key, value in may_change.items()
                                           if _on_command_line(ctx, key)})


def _value(choice: Any) -> Any:
    """A choice option's text (an enum member's value); anything else as it is."""
    return getattr(choice, "value", choice)


def _on_command_line(ctx: typer.Context, name: str) -> bool:
    """Whether the user typed this option (not its default). typer vendors click: compare by name."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def lr_note(model_type: str, learning_rate: float) -> str | None:
    """The README's advice when a model trains away from its recommended learning rate (ComiRec-DR at the
    original's default 0.001, kept for fidelity, is the very setting the doctor flags as lr-model-mismatch)."""
    from recdoc.config import recommended_learning_rate

    advised = recommended_learning_rate(model_type)
    if advised is None or abs(learning_rate - advised) <= 1e-12 * advised:
        return None
    return (f"{model_type} at learning rate {learning_rate:g}; the original's README advises --learning_rate "
            f"{advised:g} for {model_type} (the doctor flags this as lr-model-mismatch)")


# ---------------------------------------------------------------- doctor
@app.command("analyze")
def analyze(
    paths: list[str] = typer.Argument(..., metavar="PATH", help="run folder(s) or log file(s) of one run"),
    out: Optional[str] = typer.Option(None, "--out", help="folder for report.md (default: the run folder)"),
    formats: str = typer.Option("md,json", "--format", metavar="md,json",
                                help="what to write: md, json, or both comma-separated"),
    plots: bool = typer.Option(True, "--plots/--no_plots", help="draw loss and recall charts beside the report"),
    deep: bool = typer.Option(False, "--deep", help="read checkpoint tensors (imports TensorFlow)"),
    data_dir: Optional[str] = typer.Option(None, "--data_dir", help="with --deep: the data folder (<dataset>_data/) "
                                           "to probe and rescore the checkpoint on"),
    set_: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="override an inferred setting "
                                   "(repeatable)"),
    compare_with: list[str] = typer.Option([], "--baseline", metavar="RUN",
                                           help="a single-interest run on the same data"),
    fail_on: Level = typer.Option(Level.medium, "--fail_on", help=FAIL_ON_HELP),
    force: bool = typer.Option(False, "--force", help="replace the last report in the folder instead of writing "
                                                      "the next numbered one (report-2.md, ...)"),
) -> None:
    """Diagnose a run: compare with the paper like for like, name the causes with evidence, write a report.

    A folder or log holding several runs gives one diagnosis per run and a summary table."""
    chosen_formats = _parse_formats(formats)  # flags first: a typo should not cost a whole analysis
    _refuse_file_as_folder(out, "--out")
    if plots and "md" in chosen_formats:
        from recdoc.reports import chart_process

        # Before anything imports numpy (its thread pool makes forking unsafe): matplotlib's import then overlaps
        # the reading and the rules.
        chart_process.start()
    from recdoc.diagnose.engine import analyze_all
    from recdoc.reports import write_reports
    from recdoc.reports.console import analyze_exit_code, print_summary

    overrides = _parse_sets(set_)
    _refuse_file_as_folder(out, "--out")
    diagnoses = analyze_all(paths, overrides=overrides, deep=deep, baselines=compare_with, data_dir=data_dir)
    if len(diagnoses) > 1:
        from recdoc.reports.multi import run_title, write_multi_reports

        written = write_multi_reports(diagnoses, paths, out_dir=out, formats=chosen_formats, plots=plots,
                                      force=force)
        for index, diagnosis in enumerate(diagnoses, 1):
            title, where = run_title(diagnosis), diagnosis.run.paths[0] if diagnosis.run.paths else ""
            typer.echo(f"--- run {index} of {len(diagnoses)}: {title}" + (f" ({where})" if where not in title else ""))
            print_summary(diagnosis, [], fail_on=fail_on.value)
        typer.echo("Written: " + ", ".join(str(p) for p in written))
        _say_where_written(written, out, force, "the folder holding the runs")
        raise typer.Exit(code=max(analyze_exit_code(d, fail_on.value) for d in diagnoses))
    diagnosis = diagnoses[0]
    written = write_reports(diagnosis, out_dir=out, formats=chosen_formats, plots=plots, force=force)
    print_summary(diagnosis, written, fail_on=fail_on.value)
    _say_where_written(written, out, force, "the run folder")
    raise typer.Exit(code=analyze_exit_code(diagnosis, fail_on.value))


def _say_where_written(written: list, out: str | None, force: bool, place: str) -> None:
    """Without --out, say which folder the report went to and how to replace it or write elsewhere."""
    if out is not None or not written:
        return
    if force:
        what = "it replaced the last report recdoc wrote there"
    elif written[0].name != "report.md":
        what = "earlier reports are kept; --force replaces the last one instead"
    else:
        what = "--out DIR writes elsewhere"
    typer.echo(f"Report written in {place} {written[0].parent} ({what})")


@app.command("explain")
def explain(rule_id: str = typer.Argument(..., help="a rule id, e.g. lr-model-mismatch; 'all' lists them")) -> None:
    """Print a rule's statement, why it matters, the evidence it looks for, and its fix."""
    import shutil

    from recdoc.diagnose.rules import explain_rule

    typer.echo(explain_rule(rule_id, width=min(shutil.get_terminal_size().columns, 100)))


def _parse_sets(items: list[str]) -> dict[str, str]:
    from recdoc.errors import UsageError

    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _parse_formats(text: str) -> tuple[str, ...]:
    from recdoc.errors import UsageError
    from recdoc.reports import FORMATS  # a light package: nothing of numpy before the chart helper starts

    chosen = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise UsageError(f"--format takes {' and/or '.join(FORMATS)}, got {text!r}")
    return chosen


# ---------------------------------------------------------------- close the loop
@app.command("rerun")
def rerun(
    paths: list[str] = typer.Argument(..., metavar="PATH", help="the run folder(s) or log file(s) of one run"),
    apply_fixes: bool = typer.Option(False, "--apply_fixes",
                                     help="apply the diagnosis' fixes and train the corrected run"),
    only: Optional[str] = typer.Option(None, "--only", help="apply only these finding ids (comma-separated)"),
    skip: Optional[str] = typer.Option(None, "--skip", help="leave out these finding ids (comma-separated)"),
    dry_run: bool = typer.Option(False, "--dry_run",
                                 help="print the diff and the commands; train nothing"),
    data_dir: Optional[str] = typer.Option(None, "--data_dir", help="folder holding <dataset>_data/"),
    runs_dir: Optional[str] = typer.Option(None, "--runs_dir", help="default: the old recdoc run's folder, else runs"),
    resume_best: bool = typer.Option(False, "--resume_best",
                                     help="continue from the old recdoc run's best checkpoint"),
    finetune_lr: Optional[float] = typer.Option(None, "--finetune_lr", help="learning rate with --resume_best"),
    max_iter: Optional[int] = typer.Option(None, "--max_iter", help="budget of the new run, in thousands"),
    run: Optional[int] = typer.Option(None, "--run", metavar="N", help="when PATH holds several runs: the N-th "
                                      "(1-based; they are listed when it is missing)"),
) -> None:
    """Re-analyse a run, apply its fixes, train the corrected run with recdoc, and compare the two."""
    from recdoc.apply_fixes import rerun as run_rerun
    from recdoc.errors import UsageError

    if not apply_fixes and not dry_run:
        raise UsageError("rerun needs --apply-fixes (train the corrected run) or --dry-run (print it, train nothing)")
    _refuse_file_as_folder(runs_dir, "--runs_dir")  # before the analysis, not after it
    outcome = run_rerun(paths, only=_parse_ids(only), skip=_parse_ids(skip) or (), dry_run=dry_run,
                        data_dir=data_dir, runs_dir=runs_dir, resume_best=resume_best, finetune_lr=finetune_lr,
                        max_iter=max_iter, run=run)
    raise typer.Exit(code=outcome.exit_code)


@app.command("compare")
def compare(
    runs: list[str] = typer.Argument(..., metavar="RUN",
                                     help="two or more run folders or log files, the reference first"),
    out: Optional[str] = typer.Option(None, "--out", help="folder for compare.md (default: the last run's folder)"),
    run: list[int] = typer.Option([], "--run", metavar="N", help="for a RUN file or folder holding several runs: "
                                  "which one (1-based; repeat it for each such RUN, in order)"),
) -> None:
    """Set runs side by side: curves, final metrics against the paper, findings cleared/appeared/remained."""
    from pathlib import Path

    from recdoc.apply_fixes import choose_diagnosis
    from recdoc.diagnose.engine import analyze_all
    from recdoc.errors import UsageError
    from recdoc.reports import output_folder
    from recdoc.reports.compare import write_comparison

    if len(runs) < 2:
        raise UsageError("compare needs at least two runs")
    _refuse_file_as_folder(out, "--out")
    choices = list(run)
    diagnoses = []
    for path in runs:
        found = analyze_all([path])
        if len(found) == 1:
            diagnoses.append(found[0])
            continue
        # Listed, never picked silently: without a --run left for this RUN, the error names its runs.
        diagnoses.append(choose_diagnosis(found, [path], choices.pop(0) if choices else None, "compare"))
    if choices:
        raise UsageError(f"--run given {len(run)} times but only {len(run) - len(choices)} RUN holds several runs")
    folder = Path(out) if out is not None else output_folder(diagnoses[-1], None)
    written = write_comparison(diagnoses, folder)
    typer.echo(f"Comparison: {written[0]}")
    if len(written) > 1:
        typer.echo("Plots: " + ", ".join(str(p) for p in written[1:]))


# ---------------------------------------------------------------- tune
@app.command("tune")
def tune(
    run: list[str] = typer.Argument(None, metavar="[RUN]", help="the run to start from: the doctor analyses it first "
                                    "(leave out with --dataset and --model_type)"),
    data_dir: Optional[str] = typer.Option(None, "--data_dir", help="folder holding <dataset>_data/ (default: the "
                                           "run's, else data)"),
    trials: int = typer.Option(20, "--trials", help="finished trials (complete or pruned) the study holds"),
    seeds: int = typer.Option(3, "--seeds", help="fresh seeds on which the best and the start are repeated"),
    space: Optional[str] = typer.Option(None, "--space", metavar="NAME[=LOW:HIGH],...",
                                        help="also search these settings (the doctor's cleared ones stay fixed "
                                             "otherwise): learning_rate, patience, batch_size, neg_num, "
                                             "num_interest, maxlen"),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="without RUN: the dataset to tune on"),
    model_type: Optional[ModelType] = typer.Option(None, "--model_type", help="without RUN: the model"),
    max_iter: Optional[int] = typer.Option(None, "--max_iter", help="each trial's budget, in thousands "
                                           "(default: the run's)"),
    test_iter: Optional[int] = typer.Option(None, "--test_iter", help="evaluate (and maybe prune) every N "
                                            "iterations (default: the run's)"),
    storage: Optional[str] = typer.Option(None, "--storage", metavar="URL",
                                          help="an Optuna RDB storage shared by several processes or machines, "
                                               "e.g. postgresql://user:pw@host/db (default: SQLite in the study "
                                               "folder)"),
    study: Optional[str] = typer.Option(None, "--study", help="the study's name (default: tune<N>, new); with "
                                        "--storage an existing name is joined"),
    out: str = typer.Option("tunes", "--out", help="the study folder goes to <out>/<study>/"),
    resume: Optional[str] = typer.Option(None, "--resume", metavar="STUDY",
                                         help="continue a study after a kill: its folder (or its name with "
                                              "--storage)"),
    sampler: str = typer.Option("tpe", "--sampler", help="tpe (Optuna's TPE) or random"),
    seed: Optional[int] = typer.Option(None, "--seed", help="the sampler's seed"),
    jobs: int = typer.Option(1, "--jobs", help="processes on this machine working the study at once (each "
                             "trains one trial, then one seed repeat, at a time; about the number of cores / 2 "
                             "or more)"),
) -> None:
    """Tune from the diagnosis with Optuna: the fix first, a space centred where the findings point, a pruner on the
    validation curve, then best and start repeated over seeds and a verdict against the seed noise."""
    from recdoc.tune.tuner import TuneRequest
    from recdoc.tune.tuner import tune as run_tune

    _refuse_file_as_folder(out, "--out")
    request = TuneRequest(run=list(run or []), data_dir=data_dir, dataset=dataset,
                          model_type=model_type.value if model_type is not None else None, trials=trials,
                          seeds=seeds, space=space, storage=storage, study=study, out=out, resume=resume,
                          max_iter=max_iter, test_iter=test_iter, sampler=sampler, tuner_seed=seed, jobs=jobs)
    run_tune(request, echo=typer.echo)


def _refuse_file_as_folder(folder: Optional[str], flag: str) -> None:
    """Fail before any work when a folder flag names an existing file (the work would be lost at the end)."""
    from pathlib import Path

    from recdoc.errors import UsageError
    from recdoc.reports import check_out_folder

    if folder is not None and Path(folder).exists() and not Path(folder).is_dir():
        raise UsageError(f"{flag} must be a folder, got the file {folder}")
    check_out_folder(folder, flag)


def _parse_ids(text: Optional[str]) -> Optional[list[str]]:
    if text is None:
        return None
    return [item.strip() for item in text.split(",") if item.strip()]


# ---------------------------------------------------------------- bench
bench_app = typer.Typer(no_args_is_help=True, help="Reproduce the paper's tables with recdoc's trainer.")
app.add_typer(bench_app, name="bench")


@bench_app.command("table")
def bench_table(
    dataset: str = typer.Option(..., "--dataset", help="a prepared dataset name (<data_dir>/<name>_data/)"),
    data_dir: str = typer.Option(_DEFAULT.data_dir, "--data_dir", help="folder that holds <dataset>_data/"),
    seeds: int = typer.Option(3, "--seeds", help=f"runs per model, seeds {_DEFAULT.random_seed}, "
                                                          f"{_DEFAULT.random_seed + 1}, ..."),
    max_iter: Optional[int] = typer.Option(None, "--max_iter", help="in thousands of iterations (default "
                                           f"{_DEFAULT.max_iter})"),
    test_iter: Optional[int] = typer.Option(None, "--test_iter", help="default: the dataset's"),
    patience: Optional[int] = typer.Option(None, "--patience", help=f"default: {_DEFAULT.patience}"),
    runs_dir: str = typer.Option(_DEFAULT.runs_dir, "--runs_dir", help="where each run's folder goes"),
    out: str = typer.Option("out", "--out", help="the table goes to a new folder <out>/table3_<dataset>_<n>/"),
    models: list[str] = typer.Option([], "--models", metavar="MODELS",
                                     help="comma-separated or repeated (default: all six)"),
    learning_rate: Optional[float] = typer.Option(
        None, "--learning_rate", help=f"for every model (default: {_DEFAULT.learning_rate}, ComiRec-DR "
                                       f"{advised_learning_rate('ComiRec-DR')} as the README)"),
    batch_size: Optional[int] = typer.Option(None, "--batch_size", help="default: the dataset's"),
    maxlen: Optional[int] = typer.Option(None, "--maxlen", help="default: the dataset's"),
    embedding_dim: Optional[int] = typer.Option(None, "--embedding_dim", help="also the hidden size (default "
                                                f"{_DEFAULT.embedding_dim})"),
) -> None:
    """Train all six models over seeds and write the paper's Table 3 layout (Markdown and CSV)."""
    import shlex

    from recdoc.trainer.bench_table import PAPER_ORDER, BenchSpec
    from recdoc.trainer.bench_table import bench_table as run_bench_table
    from recdoc.trainer.data.dataset import require_dataset_folder

    _refuse_file_as_folder(out, "--out")
    _refuse_file_as_folder(runs_dir, "--runs_dir")
    require_dataset_folder(data_dir, dataset)  # once, rather than once per model and seed
    chosen = tuple(name.strip() for item in models for name in item.split(",") if name.strip()) or PAPER_ORDER
    overrides = {key: value for key, value in dict(
        batch_size=batch_size, maxlen=maxlen, embedding_dim=embedding_dim, hidden_size=embedding_dim).items()
        if value is not None}
    spec = BenchSpec(dataset=dataset, data_dir=data_dir, seeds=seeds, max_iter=max_iter, test_iter=test_iter,
                     patience=patience, runs_dir=runs_dir, out_dir=out, models=chosen,
                     learning_rate=learning_rate, overrides=overrides)
    command = "recdoc " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])
    folder = run_bench_table(spec, command=command, report=typer.echo)
    typer.echo(f"table written to {folder}/table3.md (and table3.csv, runs.csv)")


# ---------------------------------------------------------------- look inside a checkpoint
@app.command("probe")
def probe(
    run: str = typer.Argument(..., help="a recdoc run folder, or any ComiRec checkpoint: the original's TF1 "
                                        "best_model/<exp>/, a TF2 port's keras_ckpt/, a PyTorch model.pt"),
    split: Split = typer.Option(Split.valid, "--split", help="the users to probe"),
    out: Optional[str] = typer.Option(None, "--out", help="folder for probe.json (default: the run folder)"),
    data_dir: Optional[str] = typer.Option(None, "--data_dir", help="folder holding <dataset>_data/ "
                                                                   "(default: run.json's data_dir)"),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="the <dataset>_data/ to use (default: the run's)"),
    max_users: Optional[int] = typer.Option(None, "--max_users", help="probe only the split's first N users"),
    fail_on: Level = typer.Option(Level.medium, "--fail_on", help=FAIL_ON_HELP),
) -> None:
    """Look inside the best checkpoint: interests that collapse into one, interests that never retrieve or win."""
    from recdoc.diagnose.findings import Finding
    from recdoc.diagnose.rules.interests import judge_probe
    from recdoc.errors import InputError
    from recdoc.files import path_problem
    from recdoc.instruments.probe.files import default_out_dir, write_probe
    from recdoc.instruments.probe.measure import probe_any
    from recdoc.instruments.probe.render import print_probe
    from recdoc.reports.console import below_threshold_line, failing

    _refuse_file_as_folder(out, "--out")
    problem = path_problem(run)  # a FIFO, a device or a symlink loop is named, never opened
    if problem is not None:
        raise InputError(problem if problem.startswith("no such") else f"{problem}, not read", run)
    typer.echo(f"Probing {run} on its {split.value} users: loading the data, restoring the best checkpoint, scoring...")
    result = probe_any(run, split=split.value, data_dir=data_dir, dataset=dataset, max_users=max_users)
    written = write_probe(result, default_out_dir(result, out))
    outcomes = judge_probe(result, str(written))
    findings = [o for o in outcomes if isinstance(o, Finding)]
    print_probe(result, outcomes, written)
    below = below_threshold_line(findings, fail_on.value)
    if below is not None:
        typer.echo(below)
    raise typer.Exit(code=1 if failing(findings, fail_on.value) else 0)


@app.command("rescore")
def rescore(
    path: str = typer.Argument(..., help="a run folder or checkpoint (the original's, a port's, recdoc's)"),
    data_dir: str = typer.Option(..., "--data_dir", help="folder holding <dataset>_data/ (ComiRec's format)"),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="the <dataset>_data/ to use (default: the run's)"),
    out: Optional[str] = typer.Option(None, "--out", help="folder for rescore.json (default: the run folder)"),
) -> None:
    """Evaluate a checkpoint with the reference evaluation and set the numbers beside what the run logged."""
    from recdoc.diagnose.deep_checks import logged_finals
    from recdoc.instruments.probe.files import default_out_dir
    from recdoc.instruments.rescore import print_rescore, rescore_checkpoint, write_rescore

    _refuse_file_as_folder(out, "--out")
    result = rescore_checkpoint(path, data_dir, dataset, logged=logged_finals(path))
    written = write_rescore(result, default_out_dir(result, out))
    print_rescore(result, written)
    raise typer.Exit(code=1 if result["verdict"] == "differs" else 0)


INTERRUPTED_EXIT = 130  # what typer returns for a Ctrl-C that no command handled itself (128 + SIGINT)
INTERNAL_ERROR_EXIT = 3  # distinct from analyze's 0 healthy / 1 findings / 2 unusable
TRACEBACK_ENV = "RECDOC_TRACEBACK"


def main(argv: Optional[list[str]] = None) -> None:
    """Run the CLI; every failure becomes one `recdoc: ...` line on stderr and a non-zero exit, never a traceback.

    typer runs non-standalone so that its usage errors (bad flag values, unknown options) come back here and are
    printed on one line like recdoc's own errors, instead of as a multi-line box.
    """
    _printable_streams()
    try:
        command = typer.main.get_command(app)
        _tidy_help(command)
        args = _normalise_spelling(list(sys.argv[1:] if argv is None else argv), _option_spellings(command))
        exit_code = command.main(args=args, prog_name="recdoc", standalone_mode=False)
    except RecdocError as error:
        _fail(str(error), error.exit_code)
    except typer.TyperException as error:  # the vendored click's UsageError/BadParameter/NoSuchOption/...
        message = error.format_message().replace("Value error, ", "")  # typer's enum check, said once
        if not message:  # a group called with no sub-command: its help is the answer
            error.show()  # type: ignore[attr-defined]
            sys.exit(error.exit_code)
        command = getattr(getattr(error, "ctx", None), "command_path", None) or "recdoc"
        _fail(f"{message} (see `{command} --help`)", error.exit_code)
    except typer.Abort:
        _fail("aborted", 1)
    except OSError as error:  # the file system refused: a folder not writable, a disk full, a path in the way
        where = f"{error.filename}: " if error.filename is not None else ""
        _fail(f"{where}{error.strerror or error}", 2)
    except Exception as error:  # a bug: one line, and the traceback on request
        if os.environ.get(TRACEBACK_ENV):
            raise
        _fail(f"internal error: {type(error).__name__}: {error} (set {TRACEBACK_ENV}=1 to see the traceback)",
              INTERNAL_ERROR_EXIT)
    if exit_code == INTERRUPTED_EXIT:
        _fail("interrupted", INTERRUPTED_EXIT)
    sys.exit(exit_code if isinstance(exit_code, int) else 0)


# ---------------------------------------------------------------- option spelling and help
# Options are declared in snake_case, as the original's flags (--learning_rate); the kebab-case spelling of any
# option (--data-dir, --no-plots, --fail-on) is accepted too, so no command mixes styles a user must remember.
LONG_CHOICES = 24  # a choice list longer than this reads better in the help text than in the narrow type column


def _spelling_key(option: str) -> str:
    return option.replace("-", "_")


def _option_spellings(command: Any) -> dict[str, str]:
    """Every long option's declared name, keyed by its spelling-free form (`__fail_on`)."""
    names: dict[str, str] = {}
    for cmd in _commands(command):
        for param in cmd.params:
            for option in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
                if option.startswith("--"):
                    names.setdefault(_spelling_key(option), option)
    return names


def _normalise_spelling(args: list[str], names: dict[str, str]) -> list[str]:
    """`--data-dir x` -> `--data_dir x` (and `--no-plots` -> `--no_plots`): the declared spelling of each option."""
    out: list[str] = []
    for index, arg in enumerate(args):
        if arg == "--":  # everything after it is positional
            return out + args[index:]
        if arg.startswith("--"):
            name, equals, value = arg.partition("=")
            arg = names.get(_spelling_key(name), name) + equals + value
        out.append(arg)
    return out


def _tidy_help(command: Any) -> None:
    """A flag takes no value, so its help shows none (typer prints `<bool>`); a long choice list goes into the
    help text, where it wraps between words, instead of being cut mid-word in the type column."""
    for cmd in _commands(command):
        for param in cmd.params:
            if getattr(param, "is_flag", False):
                param.metavar = ""
                continue
            descriptor = getattr(param, "type_descriptor", None)
            choices = descriptor.choices if descriptor is not None and descriptor.is_choice else None
            if choices and len("|".join(map(str, choices))) > LONG_CHOICES and param.metavar is None:
                param.metavar = f"<{param.name.upper()}>"
                param.help = f"{param.help or ''} (one of: {', '.join(map(str, choices))})".strip()


def _commands(command: Any) -> list[Any]:
    found = [command]
    for sub in getattr(command, "commands", {}).values():
        found.extend(_commands(sub))
    return found


def _printable_streams() -> None:
    """A path from a folder whose name is not UTF-8 holds surrogate escapes; printed as `\\udcff`, not a crash
    after the reports were written."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass


def _fail(message: str, exit_code: int) -> NoReturn:
    one_line = " ".join(message.split()) or "failed"
    typer.echo(f"recdoc: {one_line}", err=True)
    sys.exit(exit_code)
