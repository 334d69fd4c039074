"""What recdoc knows of each model type, read from the model's own file: its `SPEC = ModelSpec(...)`.

A model is one module under `recdoc/trainer/models/` (its class, TensorFlow) that declares, next to the class, a
`SPEC` built from literals: its name and aliases, single- or multi-interest, whether evaluation is stochastic, its
row in the paper's tables, its loss, its builder, and the tensor names by which a checkpoint shows it. Every list
of models (the trainer's builders, the bench table's rows, the doctor's loss models, rescore's stochastic models,
the aliases, the checkpoint family guess) is derived from these specs; adding a model is its file plus its
reference data.

The doctor reads specs without TensorFlow: the files are parsed (`ast`), not imported; only `load_builder` imports
a model's module, to build it. `SEARCH` lists the folders scanned (a test adds a folder of its own).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

# (folder, the package its modules import as); a folder outside a package: package "" (imported by path).
SEARCH: list[tuple[Path, str]] = [(Path(__file__).resolve().parent / "trainer" / "models", "recdoc.trainer.models")]
SPEC_NAME = "SPEC"
SAMPLED_SOFTMAX = "sampled_softmax"


@dataclass(frozen=True)
class ModelSpec:
    """One model type as its module declares it (literals only: the doctor parses it without importing TF).

    `name`: the original's `--model_type` spelling; `aliases`: other spellings (matched case-insensitively);
    `paper_row`: its row key in reference.json's paper tables (None: not in the paper); `loss`: the training loss
    (`sampled_softmax`, the original's; None: nothing is trained); `builder`: the function of the module that builds
    it, `(config, item_count) -> model`; `checkpoint_names`: parts of stored tensor names that show this model in a
    checkpoint (the family guess between models whose tensors have the same shapes); `checkpoint_tensors`:
    `(slot, shape)` of each weight besides the item table, shapes over d, K and T (maxlen), e.g. `("w", "K,d,d")`,
    for the loader of a model that the built-in shape rules do not know (matched by slot name in recdoc's own
    checkpoints).
    """

    name: str
    aliases: tuple[str, ...] = ()
    multi_interest: bool = False
    stochastic_evaluation: bool = False
    paper_row: str | None = None
    loss: str | None = SAMPLED_SOFTMAX
    builder: str | None = "build"
    checkpoint_names: tuple[str, ...] = ()
    checkpoint_tensors: tuple[tuple[str, str], ...] = ()
    order: int = 100  # its place in listings (--help, messages): the original's `--model_type` order for its own
    module: str = field(default="", compare=False)  # filled by the registry: the module that declares it

    def spellings(self) -> set[str]:
        return {self.name.lower(), *(alias.lower() for alias in self.aliases)}


def _literal(node: ast.expr, where: str) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise ValueError(f"{where}: {SPEC_NAME} = ModelSpec(...) takes literals only") from None


def read_spec(path: Path, module: str) -> ModelSpec | None:
    """The `SPEC = ModelSpec(...)` a module file declares at its top level, or None.

    Only the statement is parsed (from its line to the first line where it parses whole): 2.4 ms for every model on
    each start of the doctor, against 5.5 ms for parsing the files whole."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next((n for n, line in enumerate(lines) if line.startswith(f"{SPEC_NAME} = ModelSpec(")), None)
    if start is None:
        return None
    tree = None
    for end in range(start + 1, len(lines) + 1):
        try:
            tree = ast.parse("\n".join(lines[start:end]), str(path))
            break
        except SyntaxError:
            continue
    if tree is None:
        raise ValueError(f"{path}:{start + 1}: {SPEC_NAME} = ModelSpec(...) does not parse")
    for node in tree.body:
        if (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [SPEC_NAME]
                and isinstance(node.value, ast.Call) and getattr(node.value.func, "id", None) == "ModelSpec"):
            where = f"{path}:{start + node.lineno}"
            if node.value.args:
                raise ValueError(f"{where}: ModelSpec takes keyword arguments only")
            values = {kw.arg: _literal(kw.value, where) for kw in node.value.keywords if kw.arg}
            return ModelSpec(**values, module=module)
    return None


@lru_cache(maxsize=1)
def specs() -> tuple[ModelSpec, ...]:
    """Every declared model, by `order`, then by name."""
    found: dict[str, ModelSpec] = {}
    for folder, package in SEARCH:
        for path in sorted(folder.glob("*.py")):
            module = f"{package}.{path.stem}" if package else str(path)
            spec = read_spec(path, module)
            if spec is None:
                continue
            if spec.name in found:
                raise ValueError(f"model {spec.name} declared twice: {found[spec.name].module} and {module}")
            found[spec.name] = spec
    return tuple(sorted(found.values(), key=lambda s: (s.order, s.name)))


def refresh() -> None:
    """Read the specs again (after `SEARCH` changed)."""
    specs.cache_clear()
    _by_spelling.cache_clear()


@lru_cache(maxsize=1)
def _by_spelling() -> dict[str, ModelSpec]:
    return {spelling: spec for spec in specs() for spelling in spec.spellings()}


def spec_for(name: str | None) -> ModelSpec | None:
    """The spec of a model type in any known spelling ('comirec_dr', 'YouTube DNN'), or None."""
    return _by_spelling().get(name.strip().lower()) if name else None


def names() -> tuple[str, ...]:
    return tuple(spec.name for spec in specs())


def multi_interest_names() -> frozenset[str]:
    return frozenset(spec.name for spec in specs() if spec.multi_interest)


def stochastic_names() -> frozenset[str]:
    return frozenset(spec.name for spec in specs() if spec.stochastic_evaluation)


def loss_names(loss: str = SAMPLED_SOFTMAX) -> frozenset[str]:
    """The models trained with `loss` (the original's sampled softmax: the loss levels the doctor knows)."""
    return frozenset(spec.name for spec in specs() if spec.loss == loss)


def trained_names() -> tuple[str, ...]:
    """The models that a builder builds (not MostPopular, which counts items)."""
    return tuple(spec.name for spec in specs() if spec.builder)


def name_marks(name: str) -> tuple[str, ...]:
    spec = spec_for(name)
    return spec.checkpoint_names if spec is not None else ()


def named_by(tensor_names: str, among: tuple[str, ...]) -> str | None:
    """The first model of `among` whose checkpoint names appear in `tensor_names` (lower case), or None."""
    return next((name for name in among if any(mark in tensor_names for mark in name_marks(name))), None)


def load_builder(spec: ModelSpec) -> Callable[..., Any]:
    """The model's builder (imports its module, and with it TensorFlow)."""
    if not spec.builder:
        raise ValueError(f"{spec.name} has no builder: nothing is trained")
    if spec.module.endswith(".py"):
        module_name = f"recdoc_model_{Path(spec.module).stem}"
        module = sys.modules.get(module_name)
        if module is None:
            loader = importlib.util.spec_from_file_location(module_name, spec.module)
            assert loader is not None and loader.loader is not None
            module = importlib.util.module_from_spec(loader)
            sys.modules[module_name] = module
            loader.loader.exec_module(module)
    else:
        module = importlib.import_module(spec.module)
    return getattr(module, spec.builder)


__all__ = ["ModelSpec", "SEARCH", "load_builder", "loss_names", "multi_interest_names", "named_by", "names",
           "refresh", "spec_for", "specs", "stochastic_names", "trained_names"]
