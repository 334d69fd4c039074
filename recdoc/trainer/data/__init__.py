"""The trainer's data layer (numpy/pandas only, never TensorFlow): prepare raw logs by the original's rules,
synthesize planted-structure data, load prepared folders, and draw batches as the original's DataIterator."""

from recdoc.trainer.data.dataset import Dataset, Split, load_dataset
from recdoc.trainer.data.prepare import prepare_dataset
from recdoc.trainer.data.sampling import TrainSampler, eval_batches
from recdoc.trainer.data.synth import synthesize

__all__ = ["Dataset", "Split", "TrainSampler", "eval_batches", "load_dataset", "prepare_dataset", "synthesize"]
