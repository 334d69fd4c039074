#!/usr/bin/env bash
# For whoever next has a GPU: ComiRec-DR on Book-scale synthetic data (367,983 items, batch 128, maxlen 20, d 64,
# K 4), printing steps/s, evaluation users/s and peak memory per device. Never run on the machine it was written
# on (no GPU there); nothing in it has been measured yet.
#
#   bash bench/gpu_check.sh [STEPS]         # from the repository root, after `make install`
#
# What it does: reports the GPUs TensorFlow and faiss see; makes the Book-scale synthetic set once (40,000 users
# before the >= 5 filter, ~4,000 validation users; the full 367,983-row table, as bench/scale_out.py); then runs
# bench/scale_out.py's worker once with --strategy none (one GPU) and, with two or more GPUs, once with
# --strategy mirrored (every visible GPU, one process). Each run: a sharded-ready evaluation, 10 compile steps,
# STEPS timed steps, a timed evaluation; it prints the JSON report (steps_per_s, users_per_s, gpu_peak_bytes per
# device, peak host RSS, which Adam path and which faiss search ran).
#
# Notes for reading the figures: recdoc's fused sparse-Adam kernel is CPU-only, so with the variables on a GPU
# the item table's TF1 Adam update runs as TensorFlow ops (report field sparse_adam); evaluation searches with
# faiss GpuIndexFlatIP only when a faiss GPU build is installed (`pip install faiss-gpu-cu12` in .venv, if the
# machine can reach PyPI), else exact faiss on the CPU (report field eval_search).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
STEPS=${1:-200}
DATA=${RECDOC_GPU_CHECK_DATA:-/tmp/recdoc_gpu_check}
OUT=${OUT:-/tmp}
mkdir -p "$DATA"

echo "== devices"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "nvidia-smi not found"
$PY - <<'PY'
import os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
print("TensorFlow", tf.__version__, "GPUs:", tf.config.list_physical_devices("GPU"),
      "built with CUDA:", tf.test.is_built_with_cuda())
from recdoc.trainer.evaluate import search_backend
print("evaluation search:", search_backend())
PY

echo "== data"
if [ ! -f "$DATA/scaleout_book_data/scaleout_book_train.txt" ]; then
  $PY -m recdoc data synth --name scaleout_book --items 367983 --users 40000 --data_dir "$DATA" > /dev/null
fi

GPUS=$($PY -c 'import os; os.environ["TF_CPP_MIN_LOG_LEVEL"]="2"; import tensorflow as tf; print(len(tf.config.list_physical_devices("GPU")))')
STRATEGIES="none"
if [ "$GPUS" -ge 2 ]; then STRATEGIES="none mirrored"; fi
for strategy in $STRATEGIES; do
  echo "== ComiRec-DR, Book scale, --strategy $strategy, $STEPS timed steps"
  report="$OUT/recdoc_gpu_check_$strategy.json"
  spec=$(printf '{"strategy": "%s", "dataset": "scaleout_book", "data_dir": "%s", "steps": %d, "report": "%s", "item_count": 367983, "batch_size": 128, "maxlen": 20}' \
    "$strategy" "$DATA" "$STEPS" "$report")
  TIMER=""
  if [ -x /usr/bin/time ]; then TIMER="/usr/bin/time -v"; fi  # host peak RSS again, as the kernel counts it
  $TIMER $PY bench/scale_out.py --child "$spec" 2> "$OUT/recdoc_gpu_check_$strategy.log" || {
    tail -20 "$OUT/recdoc_gpu_check_$strategy.log"; exit 1; }
  $PY - "$report" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
gib = 1024 ** 3
print(f"steps/s {r['steps_per_s']:.1f} ({r['steps']} steps in {r['train_s']:.1f} s); evaluation "
      f"{r['users_per_s']:,.0f} users/s ({r['valid_users']:,} users in {r['eval_s']:.1f} s)")
print("peak memory per device:", {k: f"{v / gib:.2f} GiB" for k, v in r["gpu_peak_bytes"].items()} or "no GPU",
      f"host RSS {r['peak_rss'] / gib:.2f} GiB")
print(f"Adam update of the item table: {r['sparse_adam']}; search: {r['eval_search']}")
print(f"valid recall@50 after training: {r['trained']['recall@50']:.6f}; last loss {r['last_loss']:.4f}")
PY
done
