"""`make demo`: the main job on bundled defaults, end to end, in a few minutes on a 2-core machine.

1. The doctor on the reconstructed incident run (fixtures/runs/test79): the report names the real causes.
2. MovieLens-100K prepared from the recbole wheel with the original's rules (once; kept under data/).
3. A short ComiRec-DR training run on it with recdoc's trainer (a new run folder every time, never overwritten).
4. The doctor on that fresh run.
Prints the paths of everything it wrote.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
RUNS_DIR = ROOT / "runs"
OUT_DIR = ROOT / "out"


def recdoc(*args: str, ok_codes: tuple[int, ...] = (0,)) -> int:
    command = [sys.executable, "-m", "recdoc", *args]
    print("$ recdoc " + " ".join(args), flush=True)
    code = subprocess.call(command, cwd=ROOT)
    if code not in ok_codes:
        sys.exit(f"demo: `recdoc {' '.join(args)}` exited with {code}")
    return code


def fresh_name(parent: Path, stem: str) -> str:
    """The first `stem<n>` with no existing folder ending in it under `parent` (nothing is overwritten)."""
    n = 1
    while any(parent.glob(f"*_{stem}{n}")) or (parent / f"{stem}{n}").exists():
        n += 1
    return f"{stem}{n}"


def main() -> None:
    OUT_DIR.mkdir(exist_ok=True)
    incident_out = OUT_DIR / fresh_name(OUT_DIR, "test79-report")
    recdoc("analyze", "fixtures/runs/test79", "--out", str(incident_out), ok_codes=(0, 1))

    if not (DATA_DIR / "ml100k_data" / "ml100k_train.txt").exists():
        recdoc("data", "prepare", "--source", "ml-100k", "--data_dir", str(DATA_DIR))

    exp = fresh_name(RUNS_DIR, "demo") if RUNS_DIR.exists() else "demo1"
    recdoc("train", "--dataset", "ml100k", "--data_dir", str(DATA_DIR), "--runs_dir", str(RUNS_DIR),
           "--model_type", "ComiRec-DR", "--learning_rate", "0.005", "--test_iter", "200", "--patience", "5",
           "--max_iter", "3", "--exp", exp)
    run_dir = next(RUNS_DIR.glob(f"ml100k_ComiRec-DR_*_{exp}"))
    run_out = OUT_DIR / f"{run_dir.name}-report"
    recdoc("analyze", str(run_dir), "--out", str(run_out), ok_codes=(0, 1))

    print("\nDemo finished.")
    print(f"  incident report:  {incident_out / 'report.md'}")
    print(f"  training run:     {run_dir}")
    print(f"  its report:       {run_out / 'report.md'}")


if __name__ == "__main__":
    main()
