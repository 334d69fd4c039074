"""`recdoc train --model_type MostPopular`: the original's `src/mostpop.py` as a run folder.

There is nothing to train: the model is the top-N most frequent training items, the same list for every user.
The run folder still has what the doctor reads for any run: `run.json` (configuration, data fingerprint, final
valid and test metrics at every cut-off) and `train.log` with the original's final lines. No checkpoint, no
evaluation curve (`metrics.jsonl` stays empty), and the stop reason is `unknown` because no training loop ran.
"""

from __future__ import annotations

from pathlib import Path

from recdoc import reference
from recdoc.config import RunConfig
from recdoc.model_specs import ModelSpec
from recdoc.trainer.evaluate import cutoffs_for, evaluate_most_popular
from recdoc.trainer.log.folder import open_run_folder
from recdoc.trainer.log.lines import TrainLog, format_final_line, log_metrics
from recdoc.trainer.log.progress import Console
from recdoc.trainer.log.records import RunRecord, utc_now

SPEC = ModelSpec(name="MostPopular", aliases=("mostpopular", "pop"), paper_row="MostPopular", loss=None, builder=None,
                 order=6)
MODEL_TYPE = SPEC.name


def is_most_popular(model_type: str) -> bool:
    return (reference.canonical_model_type(model_type) or model_type) == MODEL_TYPE


def train_most_popular(config: RunConfig) -> Path:
    """Count training items, evaluate valid and test as every other model, write the run folder; return it."""
    from recdoc.trainer.data.dataset import load_dataset

    dataset = load_dataset(config.data_dir, config.dataset, config.item_count)
    data_files = [dataset.train.path, dataset.valid.path, dataset.test.path]
    config, paths = open_run_folder(config)
    record = RunRecord.start(paths.run_json, config, paths.exp_name, data_files, {})
    record.update(training="none: MostPopular ranks items by their frequency in the training split")
    paths.metrics_jsonl.touch()
    console = Console(0, fancy=False)
    log = TrainLog(paths.train_log, console)
    try:
        log.line("training begin")
        final: dict[str, dict[str, float]] = {}
        for split_name, split in (("valid", dataset.valid), ("test", dataset.test)):
            metrics = evaluate_most_popular(dataset.train, split, cutoffs_for(config),
                                            item_cate=dataset.item_cate or None)
            final[split_name] = metrics
            log.line(format_final_line(split_name, log_metrics(metrics, config, True)))
        record.update(stop_reason="unknown", iterations=0, best_iter=None, final=final, ended=utc_now())
    except BaseException:
        record.update(stop_reason="crashed", ended=utc_now())
        raise
    finally:
        log.close()
    return paths.root
