"""Proof that recdoc loads, probes and rescores checkpoints it did not write.

1. Every checkpoint of the original TF1 code in ../shared/reference/orig-runs: loader, mapped variables, probe
   verdict, rescored test recall@50 against the one in its train.log (on the split written by
   ../shared/tools/ml100k_original_split.py). MIND draws its routing logits at random on every pass, as the
   original's evaluation did: it is rescored over several passes and the logged value must lie in their spread.
2. recdoc's ComiRec-DR trained on that split normally and with the testing-only readout fault (item 0 fed to the
   readout), each exported in the original's TF1 layout, a TF2 port's layout, recdoc's own run folder (and a
   PyTorch state dict when torch is installed): the probe's verdict through every loader.
3. `recdoc analyze RUN --deep --data_dir DIR` (a fresh process; target under 30 s) on an original run and on both
   DR runs laid out as the original leaves a run (train.log beside best_model/<exp>/ in TF1 layout).

Usage: .venv/bin/python bench/deep_check.py [--work /tmp/recdoc_deep_check] [--iters 2] [--seed 19] [--reuse H,F]
(`--iters` in thousands of iterations per DR training.) Checkpoints and data go to the work folder only.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
ORIG_RUNS = SHARED / "reference" / "orig-runs"
SPLIT_TOOL = SHARED / "tools" / "ml100k_original_split.py"
TOLERANCE = 0.002
MIND_PASSES = 8


def prepare_split(work: Path) -> Path:
    data_dir = work / "orig_split"
    from recdoc.trainer.data.dataset import split_file

    if not split_file(data_dir, "ml100k", "test").is_file():
        subprocess.run([sys.executable, str(SPLIT_TOOL), str(data_dir)], check=True)
    return data_dir


def original_runs(data_dir: Path) -> list[dict]:
    from recdoc.diagnose.deep_checks import read_logged
    from recdoc.diagnose.rules.interests import judge_probe
    from recdoc.instruments.checkpoints import open_with_data
    from recdoc.instruments.probe.measure import probe_loaded
    from recdoc.instruments.rescore import rescore_loaded

    rows = []
    for run in sorted(p for p in ORIG_RUNS.iterdir() if p.is_dir()):
        started = time.monotonic()
        loaded, data = open_with_data(run, data_dir)
        passes = MIND_PASSES if loaded.mapping.model_type == "MIND" else 1
        rescore = rescore_loaded(loaded, data, data_dir, passes=passes, logged=read_logged(loaded.located))
        probe = probe_loaded(loaded, data) if loaded.mapping.num_interest > 1 else None
        verdict = verdict_of(judge_probe(probe)) if probe else "n/a"
        test = rescore["ours"]["test"]
        spread = (test.get("spread") or {}).get("recall@50")
        logged = rescore["logged"]["test"]["recall"]
        inside = (spread[0] - 5e-7 <= logged <= spread[1] + 5e-7) if spread else abs(test["recall@50"] - logged) <= TOLERANCE
        rows.append({"run": run.name, "layout": loaded.source.layout, "model": loaded.mapping.model_type,
                     "mapped": len(loaded.mapping.assignments), "probe": verdict,
                     "cosine": probe["cosine"]["mean"] if probe else None,
                     "rescored": spread or test["recall@50"], "logged": logged, "ok": inside,
                     "verdict": rescore["verdict"], "seconds": time.monotonic() - started,
                     "mapping": loaded.describe()})
    return rows


def verdict_of(outcomes: list) -> str:
    found = [o.id for o in outcomes if hasattr(o, "severity") and o.severity != "info"]
    return "FAULTY (" + ", ".join(found) + ")" if found else "healthy"


def train_pair(work: Path, data_dir: Path, iters: int, seed: int) -> dict[str, Path]:
    from bench.probe_proof import FAULT_KEY, readout_fed_item_zero
    from recdoc.config import RunConfig
    from recdoc.trainer.loop import train

    stamp = time.strftime("%H%M%S")
    base = RunConfig.for_dataset("ml100k", model_type="ComiRec-DR", learning_rate=0.005, max_iter=iters,
                                 patience=50, test_iter=200, random_seed=seed, data_dir=str(data_dir),
                                 runs_dir=str(work / "runs"))
    runs = {"healthy": train(dataclasses.replace(base, exp=f"healthy{stamp}"))}
    with readout_fed_item_zero():
        runs["readout fed item 0"] = train(dataclasses.replace(base, exp=f"item0{stamp}", extra={FAULT_KEY: True}))
    return runs


def export_all(run_dir: Path, work: Path, label: str) -> dict[str, Path]:
    """The run's best model in every layout: recdoc's own folder, TF1 (the original's), TF2 port, PyTorch."""
    from recdoc.instruments.checkpoints import load
    from support.export import export_tf1, export_tf2_port, export_torch

    loaded = load(run_dir)
    exp = f"ml100k_ComiRec-DR_b128_lr0.005_d64_len20_{label.replace(' ', '_')}"
    base = work / "exports" / f"{label.replace(' ', '_')}_{time.strftime('%H%M%S')}"
    out = {"recdoc": run_dir,
           "tf1": export_tf1(loaded.model, "ComiRec-DR", base / "tf1" / "best_model" / exp).parent,
           "tf2": export_tf2_port(loaded.model, "ComiRec-DR", base / "tf2" / "best_model" / exp / "keras_ckpt").parent}
    try:
        out["torch"] = export_torch(loaded.model, "ComiRec-DR", base / "torch" / "best_model" / exp / "model.pt")
    except Exception as error:  # noqa: BLE001 (torch is optional)
        print(f"  (no PyTorch export: {error})")
    return out


def time_analyze(run: Path, data_dir: Path, work: Path) -> tuple[float, float, int, dict]:
    """`recdoc analyze RUN --deep --data_dir DIR` in a fresh process: wall and CPU seconds, exit code, diagnosis."""
    import json

    out = work / f"analyze_{run.name}_{time.strftime('%H%M%S')}"
    started = time.monotonic()
    before = _children_cpu()
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "recdoc"), "analyze", str(run), "--deep", "--data_dir",
                           str(data_dir), "--out", str(out), "--no-plots"], capture_output=True, text=True)
    wall, cpu = time.monotonic() - started, _children_cpu() - before
    diagnosis = json.loads((out / "diagnosis.json").read_text()) if (out / "diagnosis.json").is_file() else {}
    return wall, cpu, done.returncode, diagnosis


def original_layout(run_dir: Path, work: Path, label: str) -> Path:
    """A recdoc run re-laid out as the original leaves one: its train.log (the original's lines) beside
    best_model/<exp>/ in the original's TF1 Saver layout."""
    from recdoc.instruments.checkpoints import load
    from support.export import export_tf1

    root = work / "original_layout" / f"{label.replace(' ', '_')}_{time.strftime('%H%M%S')}"
    export_tf1(load(run_dir).model, "ComiRec-DR", root / "best_model" / run_dir.name)
    (root / "train.log").write_text((run_dir / "train.log").read_text())
    return root


def doctor_line(diagnosis: dict) -> str:
    findings = [f"{f['id']} ({f['severity']})" for f in diagnosis.get("findings", [])]
    cleared = [n["id"] for n in diagnosis.get("not_causes", [])
               if n["id"] in ("interest-collapse", "dead-interest", "evaluation-differs")]
    return f"findings: {', '.join(findings) or 'none'}; checked and cleared: {', '.join(cleared) or 'none'}"


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/recdoc_deep_check")
    parser.add_argument("--iters", type=int, default=2)
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--reuse", help="HEALTHY_RUN,FAULTY_RUN: recdoc run folders trained before (skip training)")
    args = parser.parse_args()
    if not ORIG_RUNS.is_dir():
        sys.exit(f"deep_check: {ORIG_RUNS} is absent (the original's runs live in ../shared)")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))  # support.export: the checkpoints written in other layouts
    data_dir = prepare_split(work)

    print("== 1. checkpoints of the original TF1 code (../shared/reference/orig-runs)")
    print("| run | loader | model | mapped tensors | probe | mean cosine | rescored test R@50 | logged | within |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in original_runs(data_dir):
        rescored = (f"{row['rescored'][0]:.6f}-{row['rescored'][1]:.6f} ({MIND_PASSES} passes)"
                    if isinstance(row["rescored"], list) else f"{row['rescored']:.6f}")
        cosine = "n/a" if row["cosine"] is None else f"{row['cosine']:.3f}"
        print(f"| {row['run']} | {row['layout']} | {row['model']} | {row['mapped']} | {row['probe']} | {cosine} | "
              f"{rescored} | {row['logged']:.6f} | {'yes' if row['ok'] else 'NO'} ({row['verdict']}) |")
        for line in row["mapping"][1:]:
            print(f"    {line}")

    print(f"\n== 2. recdoc ComiRec-DR, healthy and readout fed item 0 ({args.iters}k iterations, seed {args.seed})")
    started = time.monotonic()
    if args.reuse:
        healthy, faulty = args.reuse.split(",")
        runs = {"healthy": Path(healthy), "readout fed item 0": Path(faulty)}
    else:
        runs = train_pair(work, data_dir, args.iters, args.seed)
        print(f"training: {time.monotonic() - started:.0f} s for both")
    from recdoc.diagnose.rules.interests import judge_probe
    from recdoc.instruments.probe.measure import probe_checkpoint

    print("| model | loader | mean cosine | mean top-50 overlap | probe verdict |")
    print("|---|---|---|---|---|")
    told_apart = True
    for label, run_dir in runs.items():
        for loader, path in export_all(run_dir, work, label).items():
            probe = probe_checkpoint(path, data_dir)
            verdict = verdict_of(judge_probe(probe))
            told_apart &= (verdict == "healthy") == (label == "healthy")
            print(f"| {label} | {loader} ({probe['loaded_as']['layout']}) | {probe['cosine']['mean']:.3f} | "
                  f"{100 * probe['overlap']['mean']:.1f}% | {verdict} |")
    print(f"healthy and faulty told apart through every loader: {'yes' if told_apart else 'NO'}")

    print("\n== 3. recdoc analyze RUN --deep --data_dir DIR (fresh process each; ../shared's run, then the two DR runs "
          "laid out as the original leaves a run: train.log + best_model/<exp>/ in TF1 layout)")
    targets = {"original a_dr_lr0.005_p20_s20": ORIG_RUNS / "a_dr_lr0.005_p20_s20"}
    targets.update({f"original layout, {label}": original_layout(run_dir, work, label) for label, run_dir in runs.items()})
    for label, run in targets.items():
        wall, cpu, code, diagnosis = time_analyze(run, data_dir, work)
        print(f"{label}: wall {wall:.1f} s, CPU {cpu:.1f} s (target: under 30 s), exit {code}; "
              f"{doctor_line(diagnosis)}")
    print(f"load average while measuring: {' '.join(f'{v:.1f}' for v in __import__('os').getloadavg())}")


if __name__ == "__main__":
    main()
