"""Model registry: `build_model(config, item_count)` for every model a module here declares (`SPEC`, `build`).

The registry is `recdoc.model_specs` (the specs, read without TensorFlow); this package's `__init__` imports no
TensorFlow either: a model's module, and TensorFlow with it, is imported when that model is built.
"""

from __future__ import annotations

from typing import Any

from recdoc import model_specs
from recdoc.config import RunConfig, validate_model_shape
from recdoc.errors import UsageError


def model_builders() -> dict[str, model_specs.ModelSpec]:
    """The models a builder builds, by name (derived from the specs)."""
    return {spec.name: spec for spec in model_specs.specs() if spec.builder}


def build_model(config: RunConfig, item_count: int) -> Any:
    """Seed tf/numpy/random from `config.random_seed` and build `config.model_type` over `item_count` items."""
    spec = model_specs.spec_for(config.model_type)
    if spec is None or not spec.builder:
        raise UsageError(f"model type {config.model_type!r} is not available; available: "
                         f"{', '.join(sorted(model_builders()))}")
    builder = model_specs.load_builder(spec)
    from recdoc.trainer.models.base import seed_everything

    validate_model_shape(config, item_count)
    seed_everything(config.random_seed)
    return builder(config, item_count)


def __getattr__(name: str) -> Any:
    # `MultiInterestModel` and `seed_everything` live in base.py (TensorFlow): imported when asked for.
    if name in ("MultiInterestModel", "seed_everything"):
        from recdoc.trainer.models import base

        return getattr(base, name)
    raise AttributeError(name)


__all__ = ["MultiInterestModel", "build_model", "model_builders", "seed_everything"]
