"""Model registry: `build_model(config, item_count)` for the model types implemented so far."""

from __future__ import annotations

from typing import Callable

from recdoc import reference
from recdoc.config import RunConfig, validate_model_shape
from recdoc.errors import UsageError
from recdoc.trainer.models.base import MultiInterestModel, seed_everything
from recdoc.trainer.models.comirec_dr import ComiRecDR
from recdoc.trainer.models.comirec_sa import ComiRecSA
from recdoc.trainer.models.gru4rec import GRU4Rec
from recdoc.trainer.models.mind import MIND
from recdoc.trainer.models.youtube_dnn import YouTubeDNN


def _build_comirec_dr(config: RunConfig, item_count: int) -> MultiInterestModel:
    return ComiRecDR(item_count=item_count, embedding_dim=config.embedding_dim, maxlen=config.maxlen,
                     num_interest=config.num_interest, initializer_seed=config.random_seed)


def _build_comirec_sa(config: RunConfig, item_count: int) -> MultiInterestModel:
    return ComiRecSA(item_count=item_count, embedding_dim=config.embedding_dim, maxlen=config.maxlen,
                     num_interest=config.num_interest, initializer_seed=config.random_seed)


def _build_mind(config: RunConfig, item_count: int) -> MultiInterestModel:
    # The original's get_model: `relu_layer = True if dataset == 'book' else False`.
    return MIND(item_count=item_count, embedding_dim=config.embedding_dim, maxlen=config.maxlen,
                num_interest=config.num_interest, initializer_seed=config.random_seed,
                relu_projection=config.dataset == "book")


def _build_youtube_dnn(config: RunConfig, item_count: int) -> MultiInterestModel:
    return YouTubeDNN(item_count=item_count, embedding_dim=config.embedding_dim, maxlen=config.maxlen,
                      initializer_seed=config.random_seed)


def _build_gru4rec(config: RunConfig, item_count: int) -> MultiInterestModel:
    return GRU4Rec(item_count=item_count, embedding_dim=config.embedding_dim, maxlen=config.maxlen,
                   initializer_seed=config.random_seed)


MODEL_BUILDERS: dict[str, Callable[[RunConfig, int], MultiInterestModel]] = {
    "ComiRec-DR": _build_comirec_dr,
    "ComiRec-SA": _build_comirec_sa,
    "MIND": _build_mind,
    "DNN": _build_youtube_dnn,
    "GRU4REC": _build_gru4rec,
}


def build_model(config: RunConfig, item_count: int) -> MultiInterestModel:
    """Seed tf/numpy/random from `config.random_seed` and build `config.model_type` over `item_count` items."""
    model_type = reference.canonical_model_type(config.model_type) or config.model_type
    builder = MODEL_BUILDERS.get(model_type)
    if builder is None:
        raise UsageError(f"model type {config.model_type!r} is not available; available: "
                         f"{', '.join(sorted(MODEL_BUILDERS))}")
    validate_model_shape(config, item_count)
    seed_everything(config.random_seed)
    return builder(config, item_count)


__all__ = ["MODEL_BUILDERS", "MultiInterestModel", "build_model", "seed_everything"]
