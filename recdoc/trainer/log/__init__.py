"""The run folder and its records, one module per job.

Layout of `<runs_dir>/<exp_name>/` (`folder.py`):
- `train.log`: exactly the lines the original `src/train.py` prints (reference section 7), so every reader of
  original logs reads recdoc's too (`lines.py`); the same lines go to stdout, or above a progress bar on a terminal
  (`progress.py`);
- `metrics.jsonl`: one JSON record per evaluation, every metric at every cut-off; `run.json`: configuration,
  versions, data fingerprint, times, stop reason, best iteration, final metrics (`records.py`);
- TensorBoard event files (`train/loss`, `eval/recall`, `eval/ndcg`, `eval/hitrate` at step = iteration) in the
  folder itself, as the original's `runs/<exp>/` (`tensorboard.py`, the only module here that imports TensorFlow,
  when its writer is created);
- `ckpt/best/` and `ckpt/last/` (written by the loop).
"""
