"""Print the figures of recdoc/reference/reference.json's `reference_runs` section from the original-code logs.

Usage: python bench/reference_runs.py [SHARED]   (SHARED: the third-party data folder, default ../shared)

The section holds, per run of the original TF1 code (or a lightly modified fork of it) on a known setting, the
training loss at a handful of iterations and the final valid/test metrics: figures with their citation, never log
lines, and never the logs themselves (they are third-party data and stay in SHARED). This script is how the figures
were taken, so they can be checked and re-taken; it prints JSON to paste, and with `--check` compares what it reads
with the section already stored (exit 1 on a difference). The settings, labels and citations of each run are
written below by hand from the runs' SOURCE.txt / README.md (they cannot be read from the logs alone).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ITER = re.compile(r"iter: (\d+), train loss: ([0-9.]+)(?:, valid recall: ([0-9.]+), valid ndcg: ([0-9.]+), "
                  r"valid hitrate: ([0-9.]+))?")
FINAL = re.compile(r"^(valid|test) recall: ([0-9.]+), \1 ndcg: ([0-9.]+), \1 hitrate: ([0-9.]+)")

# Iterations kept (the last evaluation is always kept): enough for log-iteration interpolation to follow the curve.
KEEP_BOOK = (1000, 2000, 3000, 5000, 7000, 10000, 15000, 20000, 25000, 30000, 40000, 50000, 70000, 100000, 150000,
             200000, 250000, 300000, 350000, 400000, 450000, 500000, 550000, 600000, 700000, 800000)
KEEP_TAOBAO = (500, 1000, 1500, 2000, 3000, 5000, 7500, 10000, 15000, 25000, 50000, 75000, 100000, 150000, 200000,
               250000, 300000, 350000, 400000, 450000, 500000)
KEEP_SMALL = (200, 400, 600, 800, 1000, 1400, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10000)

BOOK = dict(dataset="book", batch_size=128, neg_num=10, maxlen=20, embedding_dim=64, num_interest=4, test_iter=1000)
TAOBAO = dict(dataset="taobao", batch_size=256, neg_num=10, maxlen=50, embedding_dim=64, num_interest=4,
              test_iter=500)
ML100K = dict(dataset="ml100k", batch_size=128, neg_num=10, maxlen=20, embedding_dim=64, num_interest=4,
              test_iter=200)
LUQY = "github.com/luqy671/Grad-Project @00748c3b7e959820304d2a527dc319dd8ca5ab68"
LUQY_CODE = "a lightly modified fork of the THUDM TF1 code (master branch)"
ORIG_RUNS = ("the THUDM TF1 code itself (master branch) under TensorFlow 2.21 compat.v1 on a 2-core CPU, "
             "MovieLens-100K split by the original's rules")

# name -> (folder under SHARED, settings, keep, cut-off of the final lines, citation, what code ran, variant)
RUNS: dict[str, tuple[str, dict[str, Any], tuple[int, ...], int, str, str, str | None]] = {
    "luqy-dr-book-lr0001": (
        "real-runs/luqy-dr-book-lr0001", dict(BOOK, model_type="ComiRec-DR", learning_rate=0.001), KEEP_BOOK, 50,
        f"{LUQY} log/book/baseline/ComiRec-DR (shared/real-runs/luqy-dr-book-lr0001)", LUQY_CODE, None),
    "lun2hang-sa-book-29k": (
        "real-runs/lun2hang-sa-book-29k", dict(BOOK, model_type="ComiRec-SA", learning_rate=0.001), KEEP_BOOK, 50,
        "github.com/lun2hang/ComiRec @72240f35d579f00c3a61120111d7c90735371521 'src/2022.5.4 book sa训练日志.txt' "
        "(shared/real-runs/lun2hang-sa-book-29k)", "the THUDM TF1 code (master branch); stopped by hand at 29k",
        None),
    "luqy-dnn-book-top20": (
        "real-runs/luqy-dnn-book-top20", dict(BOOK, model_type="DNN", learning_rate=0.001), KEEP_BOOK, 20,
        f"{LUQY} log/book/book(20)/DNN_book14 (shared/real-runs/luqy-dnn-book-top20)", LUQY_CODE + ", topN 20",
        None),
    "luqy-sa-taobao": (
        "real-runs/luqy-sa-taobao", dict(TAOBAO, model_type="ComiRec-SA", learning_rate=0.001), KEEP_TAOBAO, 50,
        f"{LUQY} log/taobao/ComiRec_SA (shared/real-runs/luqy-sa-taobao)", LUQY_CODE, None),
    "luqy-mind-book14-norelu": (
        "real-runs/luqy-mind-book14-norelu", dict(BOOK, model_type="MIND", learning_rate=0.001), KEEP_BOOK, 50,
        f"{LUQY} log/log0/book14/MIND_book14 (shared/real-runs/luqy-mind-book14-norelu)", LUQY_CODE,
        "MIND without its ReLU projection (the fork turns it on only for the dataset string 'book'; this ran on "
        "'book14'): not the paper's MIND"),
    "orig-ml100k-dr-lr0005": (
        "reference/orig-runs/a_dr_lr0.005_p20_s20", dict(ML100K, model_type="ComiRec-DR", learning_rate=0.005),
        KEEP_SMALL, 50, "shared/reference/orig-runs/a_dr_lr0.005_p20_s20/train.log (seed 20, patience 20)",
        ORIG_RUNS, None),
    "orig-ml100k-sa-lr0001": (
        "reference/orig-runs/e_sa_lr0.001_p20_s19", dict(ML100K, model_type="ComiRec-SA", learning_rate=0.001),
        KEEP_SMALL, 50, "shared/reference/orig-runs/e_sa_lr0.001_p20_s19/train.log (seed 19, patience 20)",
        ORIG_RUNS, None),
    "orig-ml100k-mind-lr0001": (
        "reference/orig-runs/f_mind_lr0.001_p20_s19", dict(ML100K, model_type="MIND", learning_rate=0.001),
        KEEP_SMALL, 50, "shared/reference/orig-runs/f_mind_lr0.001_p20_s19/train.log (seed 19, patience 20)",
        ORIG_RUNS, None),
}


def read_log(path: Path) -> tuple[list[tuple[int, float, float | None, float | None]], dict[str, dict[str, float]]]:
    rows: list[tuple[int, float, float | None, float | None]] = []
    finals: dict[str, dict[str, float]] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = ITER.search(line)
        if match:
            recall = float(match.group(3)) if match.group(3) else None
            hitrate = float(match.group(5)) if match.group(5) else None
            rows.append((int(match.group(1)), float(match.group(2)), recall, hitrate))
            continue
        match = FINAL.match(line.strip())
        if match:
            finals[match.group(1)] = {"recall": float(match.group(2)), "ndcg": float(match.group(3)),
                                      "hitrate": float(match.group(4))}
    return rows, finals


def entry(shared: Path, name: str) -> dict[str, Any]:
    folder, settings, keep, cutoff, source, code, variant = RUNS[name]
    rows, finals = read_log(shared / folder / "train.log")
    last = rows[-1][0]
    loss = [[it, round(value, 4)] for it, value, _, _ in rows if it in keep or it == last]
    scored = [(it, recall) for it, _, recall, _ in rows if recall is not None]
    best_iter, best_recall = max(scored, key=lambda pair: (pair[1], -pair[0])) if scored else (None, None)
    out: dict[str, Any] = {"code": code, "variant": variant, **settings, "loss": loss,
                           "best_valid_recall": [best_iter, best_recall], "last_iter": last}
    if finals:
        out["final"] = {"cutoff": cutoff, "ndcg": "master", **finals}
    out["source"] = source
    return out


def main(argv: list[str]) -> int:
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    shared = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "shared"
    section = {name: entry(shared, name) for name in RUNS}
    if not check:
        print(json.dumps(section, ensure_ascii=False, indent=1))
        return 0
    from recdoc import reference

    stored = {k: v for k, v in reference.load()["reference_runs"].items() if not k.startswith("_")}
    differ = [name for name in section if json.loads(json.dumps(section[name])) != stored.get(name)]
    print("reference_runs: " + ("matches the logs" if not differ else "differs for " + ", ".join(differ)))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
