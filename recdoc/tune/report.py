"""`tune.md`, `tune.json` and the PNGs of a finished study, in the study folder (a set numbered like the doctor's
reports, `tune.md`, `tune-2.md`, ..., never replacing one).

Verdict first (with the seed noise it was judged against), then the best configuration as a `recdoc train`
command and in the original's flags, the trials, which settings mattered (Optuna's PED-ANOVA importance, with each
setting's effect beside the seed noise), the optimisation history, the slices, the top trials' curves, and the
best run against the paper when the data is the paper's.
"""

from __future__ import annotations

import io
import json
import math
import statistics
from pathlib import Path
from typing import Any

from recdoc.files import free_set_number, write_file
from recdoc.tune.objective import ATTR_PID, ATTR_RETRY_OF, ATTR_ROLE, ATTR_RUN, read_run, trial_config
from recdoc.tune.seeds import Arm, judge, pooled_sd

PAPER_DATASETS = ("book", "taobao")
TOP_CURVES = 5
PLOTS = ("history", "slices", "curves", "seeds")
DPI = 90


def names_of(number: int) -> dict[str, str]:
    suffix = "" if number == 1 else f"-{number}"
    names = {"md": f"tune{suffix}.md", "json": f"tune{suffix}.json"}
    names.update({plot: f"tune{suffix}_{plot}.png" for plot in PLOTS})
    return names


def write_report(study: Any, spec: Any, folder: Path, seed_trials: list[Any], best: Any, storage: str,
                 search_s: float) -> tuple[list[Path], dict[str, Any]]:
    names = names_of(free_set_number(folder, names_of, 1000, "tuning reports"))
    facts = collect(study, spec, seed_trials, best, storage, search_s)
    written: list[Path] = []
    images: dict[str, str] = {}
    for plot, draw in (("history", _history), ("slices", _slices), ("curves", _curves), ("seeds", _seeds)):
        figure = draw(facts)
        if figure is None:
            continue
        path = write_file(folder / names[plot], _png(figure))
        images[plot] = path.name
        written.append(path)
    md = write_file(folder / names["md"], render_markdown(facts, images))
    js = write_file(folder / names["json"], json.dumps(_finite(facts), indent=1) + "\n")
    return [md, js, *written], facts["verdict"]


# ---------------------------------------------------------------- facts
def collect(study: Any, spec: Any, seed_trials: list[Any], best: Any, storage: str, search_s: float
            ) -> dict[str, Any]:
    from recdoc.diagnose.fixes import original_command, recdoc_train_command
    from recdoc.trainer.log.lines import early_stop_key

    base = spec.base_config
    space = spec.space_obj
    metric_key = early_stop_key(base)
    trials = []
    for t in study.get_trials(deepcopy=False):
        run = t.user_attrs.get(ATTR_RUN)
        curve = []
        if run and Path(run, "metrics.jsonl").is_file():
            try:
                curve = read_run(Path(run), metric_key)["curve"]
            except (OSError, ValueError):
                curve = []
        trials.append({"number": t.number, "state": t.state.name.lower(), "role": t.user_attrs.get(ATTR_ROLE),
                       "params": as_run(t.params), "value": t.value if t.state.name == "COMPLETE" else None,
                       "best_seen": max((v for v in t.intermediate_values.values()), default=None),
                       "iterations": t.user_attrs.get("iterations"), "pruned_at": t.user_attrs.get("pruned_at"),
                       "stop_reason": t.user_attrs.get("stop_reason"), "final_test": t.user_attrs.get("final_test"),
                       "retry_of": t.user_attrs.get(ATTR_RETRY_OF), "run": run, "curve": curve,
                       "seconds": (t.datetime_complete - t.datetime_start).total_seconds()
                       if t.datetime_complete and t.datetime_start else None})
    arms: dict[str, dict[str, list]] = {}
    for t in sorted(seed_trials, key=lambda t: (t.user_attrs["arm"], t.user_attrs["seed"])):
        arm = arms.setdefault(t.user_attrs["arm"], {"seeds": [], "test": [], "valid": [], "runs": []})
        arm["seeds"].append(int(t.user_attrs["seed"]))
        arm["test"].append(float(t.user_attrs.get("final_test") or 0.0))
        arm["valid"].append(float(t.user_attrs.get("best_metric") or 0.0))
        arm["runs"].append(t.user_attrs.get(ATTR_RUN))
    verdict = None
    valid_sd = math.nan
    if "best" in arms and "start" in arms:
        cutoff = metric_key.split("@")[-1]
        verdict = judge(Arm("tuned", tuple(arms["best"]["test"]), tuple(arms["best"]["seeds"])),
                        Arm("start", tuple(arms["start"]["test"]), tuple(arms["start"]["seeds"])),
                        f"test Recall@{cutoff}").to_dict()
        valid_sd = pooled_sd([Arm("b", tuple(arms["best"]["valid"])), Arm("s", tuple(arms["start"]["valid"]))])
        verdict["valid_seed_sd"] = valid_sd
        valid = judge(Arm("tuned", tuple(arms["best"]["valid"])), Arm("start", tuple(arms["start"]["valid"])),
                      f"best validation Recall@{cutoff}")
        verdict["valid"] = valid.to_dict()
    elif not seed_trials:
        verdict = {"winner": None, "sentence": "No seed repeats were run (--seeds 0): the search's best is one draw "
                   "of a noisy measurement, so no winner is declared.", "metric": None}
    else:
        verdict = {"winner": None, "sentence": "No start configuration to compare with: the best is reported "
                   "without a verdict.", "metric": None}
    best_config = trial_config(base, dict(best.params), f"{spec.name}_best", Path(base.runs_dir))
    changed = space.names
    best_config_show = best_config
    facts: dict[str, Any] = {
        "schema": "recdoc-tune/1", "study": spec.name, "storage": storage, "spec": spec.to_dict(),
        "metric": metric_key, "search_seconds": search_s, "trials": trials, "best_trial": best.number,
        # Processes that ran trials (`--jobs`, or several machines on one storage), told by the pids they recorded.
        "processes": len({t.user_attrs[ATTR_PID] for t in study.get_trials(deepcopy=False)
                          if ATTR_PID in t.user_attrs}) or 1,
        "best_value": best.value, "best_params": as_run(best.params),
        "best_command": recdoc_train_command(best_config_show, changed).shell,
        "best_original": original_command(best_config_show, changed).text(),
        "seed_runs": arms, "verdict": verdict, "importance": _importance(study, space, trials, valid_sd),
        "paper": _paper(base, arms),
    }
    return facts


def as_run(params: dict[str, Any]) -> dict[str, Any]:
    """A trial's settings as its run used them (the learning rate at 3 significant digits, `trial_config`)."""
    out = dict(params)
    if "learning_rate" in out:
        out["learning_rate"] = float(f"{float(out['learning_rate']):.3g}")
    return out


def _importance(study: Any, space: Any, trials: list[dict], valid_sd: float) -> list[dict[str, Any]]:
    complete = [t for t in trials if t["value"] is not None]
    rows = []
    try:
        import optuna

        scores = optuna.importance.get_param_importances(study) if len(complete) >= 3 and space.names else {}
        method = "PED-ANOVA (Optuna's default evaluator)"
    except (ValueError, RuntimeError, ImportError) as error:
        scores, method = {}, f"not computed ({error})"
    for name in space.names:
        effect = _slice_effect(complete, name)
        beyond = None if effect is None or not math.isfinite(valid_sd) else abs(effect) > 2 * valid_sd
        rows.append({"param": name, "importance": scores.get(name), "method": method, "effect": effect,
                     "seed_sd": valid_sd if math.isfinite(valid_sd) else None, "beyond_noise": beyond})
    rows.sort(key=lambda r: -(r["importance"] or 0.0))
    return rows


def _slice_effect(complete: list[dict], name: str) -> float | None:
    """The setting's effect on the objective across complete trials: the mean of the trials in its upper half
    minus the lower half's (by value), a rough effect size to set beside the seed noise."""
    pairs = sorted((t["params"][name], t["value"]) for t in complete if name in t["params"])
    if len(pairs) < 2 or pairs[0][0] == pairs[-1][0]:
        return None
    half = len(pairs) // 2
    return statistics.fmean(v for _, v in pairs[-half:]) - statistics.fmean(v for _, v in pairs[:half])


def _paper(base: Any, arms: dict) -> dict[str, Any]:
    if base.dataset not in PAPER_DATASETS:
        return {"comparable": False, "note": f"{base.dataset} is not one of the paper's datasets (Book, Taobao): "
                                             "no paper figure to compare with."}
    runs = (arms.get("best") or {}).get("runs") or []
    if not runs:
        return {"comparable": False, "note": "no seed repeat of the best configuration to compare"}
    from recdoc.diagnose.engine import analyze_paths

    diagnosis = analyze_paths([runs[0]])
    rows = [{"metric": c.metric, "cutoff": c.cutoff, "split": c.split, "run": c.run_value, "paper": c.paper_value,
             "comparable": c.comparable, "note": c.note} for c in diagnosis.comparisons
            if c.paper_value is not None and not c.model_unknown]
    return {"comparable": True, "run": runs[0], "rows": rows}


# ---------------------------------------------------------------- markdown
def render_markdown(facts: dict[str, Any], images: dict[str, str]) -> str:
    lines = [f"# recdoc tune: {facts['study']}", ""]
    lines += _verdict_lines(facts)
    lines += _best_lines(facts)
    lines += _start_lines(facts["spec"])
    lines += _trial_lines(facts["spec"], facts["trials"])
    lines += _importance_lines(facts["importance"])
    lines += _image_lines(images)
    lines += _paper_lines(facts["paper"])
    return "\n".join(lines)


def _verdict_lines(facts: dict[str, Any]) -> list[str]:
    """The verdict on fresh seeds, the seed noise it is read against, and the search's budget."""
    spec, verdict = facts["spec"], facts["verdict"]
    states = [t["state"] for t in facts["trials"]]
    lines = [f"**Verdict.** {verdict['sentence']}", ""]
    if verdict.get("valid"):
        lines += [f"On validation (the searched metric, fresh seeds): {verdict['valid']['sentence']}", ""]
    if verdict.get("metric"):
        best_arm, start_arm = verdict["best"], verdict["start"]
        lines += [f"Seed noise measured: sd {_n(best_arm['sd'])} (tuned) and {_n(start_arm['sd'])} (start) on "
                  f"{verdict['metric']} over seeds {', '.join(str(s) for s in best_arm['seeds'])}; validation sd "
                  f"{_n(verdict.get('valid_seed_sd'))}. The search's own best ({_n(facts['best_value'])}, trial "
                  f"{facts['best_trial']}) is the maximum of noisy draws; the verdict uses fresh seeds only.", ""]
    lines += [f"Budget: {spec['trials']} trials ({states.count('complete')} complete, {states.count('pruned')} "
              f"pruned, {states.count('fail')} failed and rerun), sampler {spec['sampler']}, "
              f"{spec['base']['max_iter']}k iterations each at most, test_iter {spec['base']['test_iter']}; search "
              f"{facts['search_seconds']:.0f} s in this process"
              + (f", trials run by {facts['processes']} processes" if facts.get("processes", 1) > 1 else "")
              + f"; storage {facts['storage']}.", ""]
    return lines


def _best_lines(facts: dict[str, Any]) -> list[str]:
    return ["## Best configuration", "", f"Trial {facts['best_trial']}, best validation {facts['metric']} "
            f"{_n(facts['best_value'])}: " + ", ".join(f"{k} = {_v(v)}" for k, v in facts["best_params"].items()),
            "", "```", facts["best_command"], "```", "", "In the original's flags (`src/train.py`):", "", "```",
            facts["best_original"], "```", ""]


def _start_lines(spec: dict[str, Any]) -> list[str]:
    """The run the search started from (the doctor's findings on it) and the space it searched."""
    from recdoc.tune.space import Param

    source = spec["source"]
    lines = ["## Where the search started", ""]
    if source.get("run"):
        lines.append(f"The doctor on `{', '.join(source['run'])}`: {source['verdict']}.")
        lines += [f"- `{f['id']}` ({f['level']}): {f['title']}" for f in source["findings"]]
        if source.get("rerun_command"):
            lines += ["", f"Its corrected run (trial 0, enqueued first): `{source['rerun_command'].splitlines()[0]}`"]
    else:
        lines.append("No starting run: the dataset's defaults, full space.")
    lines += ["", "Searched:"]
    lines += [f"- {Param.from_dict(p).describe()} ({p['why']})" for p in spec["space"]["params"]]
    lines += [f"- fixed: {name} = {_v(spec['base'].get(name))} ({why})" for name, why in spec["space"]["fixed"].items()]
    return lines


def _trial_lines(spec: dict[str, Any], trials: list[dict[str, Any]]) -> list[str]:
    names = spec_names(spec)
    lines = ["", "## Trials", "", "| # | role | state | " + " | ".join(names) +
             " | best valid recall | iterations | pruned at | test recall | run |", "|" + "---|" * (9 + len(names))]
    for t in trials:
        params = " | ".join(_v(t["params"].get(n)) for n in names)
        value = t["value"] if t["value"] is not None else t["best_seen"]
        role = (t["role"] or "") + (f" (rerun of {t['retry_of']})" if t["retry_of"] is not None else "")
        lines.append(f"| {t['number']} | {role} | {t['state']} | {params} | {_n(value)} | {t['iterations'] or ''} | "
                     f"{t['pruned_at'] or ''} | {_n(t['final_test'])} | `{Path(t['run']).name if t['run'] else ''}` |")
    lines += ["", "A pruned trial's value is its best validation recall when it was stopped; its run folder is kept "
              "(`recdoc analyze` reads it).", ""]
    return lines


def _importance_lines(importance: list[dict[str, Any]]) -> list[str]:
    """Each searched setting's importance and effect, read beside the seed noise."""
    lines = ["## Which settings mattered", ""]
    if not importance:
        return lines + ["Nothing to rank: no searched setting.", ""]
    lines += ["| setting | importance | effect on best valid recall (upper half - lower half) | seed sd | "
              "beyond 2 sd? |", "|---|---|---|---|---|"]
    for row in importance:
        beyond = "" if row["beyond_noise"] is None else "yes" if row["beyond_noise"] else "no (inside noise)"
        lines.append(f"| {row['param']} | {_n(row['importance'], 3)} | {_n(row['effect'], 4, sign=True)} | "
                     f"{_n(row['seed_sd'])} | {beyond} |")
    lines += ["", f"Importance: {importance[0]['method']}; with few trials it ranks more than it measures. The "
              "effect is read beside the seed noise: inside 2 sd, a setting's apparent effect could be seed luck.", ""]
    return lines


def _image_lines(images: dict[str, str]) -> list[str]:
    captions = {"history": "Optimisation history (seed noise band around the start)",
                "slices": "Each setting against the objective", "curves": f"The top {TOP_CURVES} trials' curves",
                "seeds": "Seed repeats: best vs start"}
    return [line for key, caption in captions.items() if key in images
            for line in (f"![{caption}]({images[key]})", "")]


def _paper_lines(paper: dict[str, Any]) -> list[str]:
    lines = ["## Against the paper", "", paper.get("note") or ""]
    lines += [f"- {row['metric']}@{row['cutoff']} ({row['split']}): {_n(row['run'])} vs paper "
              f"{_n(row['paper'])}{'' if row['comparable'] else ' (not like for like: ' + row['note'] + ')'}"
              for row in paper.get("rows", [])]
    return lines + [""]


def spec_names(spec: dict[str, Any]) -> list[str]:
    return [p["name"] for p in spec["space"]["params"]]


def _n(value: Any, digits: int = 4, sign: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _v(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


# ---------------------------------------------------------------- plots
def _figure(width: int = 640, height: int = 360, cols: int = 1) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    axes = [figure.add_subplot(1, cols, i + 1) for i in range(cols)]
    for ax in axes:
        ax.grid(True, color="#e1e1e1", linewidth=0.6)
        ax.tick_params(labelsize=8)
    figure.subplots_adjust(left=0.1, right=0.97, bottom=0.15, top=0.88, wspace=0.35)
    return figure, axes


def _png(figure: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    stream = io.BytesIO()
    FigureCanvasAgg(figure).print_png(stream)
    return stream.getvalue()


def _noise(facts: dict[str, Any]) -> tuple[float | None, float | None]:
    """(start's mean validation recall over seeds, the validation seed sd) when measured."""
    arm = (facts["seed_runs"] or {}).get("start")
    sd = (facts["verdict"] or {}).get("valid_seed_sd")
    if not arm or sd is None or not math.isfinite(sd):
        return None, None
    return statistics.fmean(arm["valid"]), sd


def _history(facts: dict[str, Any]) -> Any:
    trials = [t for t in facts["trials"] if t["state"] in ("complete", "pruned")]
    if not trials:
        return None
    figure, (ax,) = _figure()
    xs = [t["number"] for t in trials]
    ys = [t["value"] if t["value"] is not None else (t["best_seen"] or 0.0) for t in trials]
    colors = ["#1f77b4" if t["state"] == "complete" else "#bbbbbb" for t in trials]
    ax.scatter(xs, ys, c=colors, s=22, zorder=3, label="trial (grey: pruned)")
    best, running = -math.inf, []
    for t, y in zip(trials, ys):
        if t["state"] == "complete":
            best = max(best, y)
        running.append(best if math.isfinite(best) else None)
    ax.step(xs, [r if r is not None else math.nan for r in running], where="post", color="#d62728",
            label="best so far")
    mean, sd = _noise(facts)
    if mean is not None:
        ax.axhspan(mean - sd, mean + sd, color="#2ca02c", alpha=0.15, label=f"start over seeds, ±1 sd ({sd:.4f})")
        ax.axhline(mean, color="#2ca02c", linewidth=1)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Optimisation history", fontsize=10)
    ax.set_xlabel("trial", fontsize=9)
    ax.set_ylabel(f"best validation {facts['metric']}", fontsize=9)
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    return figure


def _slices(facts: dict[str, Any]) -> Any:
    names = spec_names(facts["spec"])
    complete = [t for t in facts["trials"] if t["value"] is not None]
    if not names or not complete:
        return None
    figure, axes = _figure(width=max(320, 260 * len(names)), height=300, cols=len(names))
    mean, sd = _noise(facts)
    for ax, name in zip(axes, names):
        points = [(t["params"][name], t["value"]) for t in complete if name in t["params"]]
        if not points:
            continue
        ax.scatter([p[0] for p in points], [p[1] for p in points], s=18, color="#1f77b4")
        if name in ("learning_rate",) or (name in ("batch_size", "neg_num", "patience") and
                                          max(p[0] for p in points) > 4 * max(1e-12, min(p[0] for p in points))):
            ax.set_xscale("log")
        if mean is not None:
            ax.axhspan(mean - sd, mean + sd, color="#2ca02c", alpha=0.15)
        ax.set_title(name, fontsize=9)
    axes[0].set_ylabel("best validation recall", fontsize=9)
    return figure


def _curves(facts: dict[str, Any]) -> Any:
    ranked = sorted([t for t in facts["trials"] if t["curve"]],
                    key=lambda t: -(t["value"] if t["value"] is not None else (t["best_seen"] or 0.0)))[:TOP_CURVES]
    if not ranked:
        return None
    figure, (ax,) = _figure()
    for t in ranked:
        xs, ys = zip(*t["curve"])
        ax.plot(xs, ys, linewidth=1.2, label=f"trial {t['number']} ({t['state']})")
    mean, sd = _noise(facts)
    if mean is not None:
        ax.axhspan(mean - sd, mean + sd, color="#2ca02c", alpha=0.15, label="start's best over seeds, ±1 sd")
    ax.set_title(f"Validation curves of the top {len(ranked)} trials", fontsize=10)
    ax.set_xlabel("iteration", fontsize=9)
    ax.set_ylabel(f"validation {facts['metric']}", fontsize=9)
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    return figure


def _seeds(facts: dict[str, Any]) -> Any:
    arms = facts["seed_runs"]
    if not arms:
        return None
    figure, (ax,) = _figure(width=480, height=340)
    for position, (_, arm) in enumerate(sorted(arms.items())):
        values = arm["test"]
        ax.scatter([position] * len(values), values, s=22, color="#1f77b4", zorder=3)
        if len(values) > 1:
            m, s = statistics.fmean(values), statistics.stdev(values)
            ax.errorbar([position + 0.12], [m], yerr=[s], fmt="s", color="#d62728", capsize=4)
    ax.set_xticks(range(len(arms)), [("tuned (best)" if n == "best" else n) for n in sorted(arms)])
    ax.set_xlim(-0.5, len(arms) - 0.5)
    verdict = facts["verdict"]
    if verdict.get("interval"):
        low, high = verdict["interval"]
        ax.set_title(f"Test recall over seeds (mean ± sd); difference 95% CI [{_n(low, 4, True)}, "
                     f"{_n(high, 4, True)}]", fontsize=9)
    ax.set_ylabel("final test recall", fontsize=9)
    return figure


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
