"""Which stored tensor is which of recdoc's weights: inferred from shapes first, names only to break ties.

Pure (names and shapes in, a `Mapping` out; no TensorFlow), so that every layout is testable on hand-written
shape lists. The layouts met in practice (reference section 3 and orig-runs/README.md):

- the original's TF1 Saver: `mid_embedding_var [n, d]`, `bias_lookup_table [n]`, DR
  `capsule_network/bilinear/weights [1, T, K*d, d]`, MIND `capsule_network/bilinear/dense/{kernel [d, d], bias}`,
  SA `position_embedding [1, T, d]`, `self_atten/dense/{kernel [d, 4d], bias}`,
  `self_atten/dense_1/{kernel [4d, K], bias}`, DNN `dense/{kernel [d, d], bias}`, GRU4REC TF1 `GRUCell`
  (`gates/kernel [2d, 2d]`, `candidate/kernel [2d, d]`); plus Adam slots, which are skipped;
- TF2 object-graph checkpoints (ports, recdoc's own): object paths ending in `/.ATTRIBUTES/VARIABLE_VALUE`;
- PyTorch state dicts (the PyTorch port): `embeddings.weight [n, d]`, `capsule_network.w [1, T, K*d, d]`,
  `nn.Linear` weights stored `[out, in]` (transposed here), Linear layers without biases, and a ReLU layer the port
  always builds but applies only where the original does (MIND on book).

The item table is the 2-D tensor with the most rows; its columns are d. A 4-D `[1, T, K*d, d]` (or 3-D
`[T, K*d, d]`) tensor is ComiRec-DR's bilinear map (K, maxlen); a `[1, T, d]` tensor is ComiRec-SA's position
embedding (maxlen; K from the attention's `[4d, K]` kernel); `[2d, 2d]` + `[2d, d]` kernels are TF1's GRU cell; one
`[d, d]` layer is MIND's shared bilinear map or YouTube DNN's user layer, which only names (or the experiment
name) can tell apart. A tensor that fits no role, two tensors that fit one role, or a role without its tensor is
refused with a message naming them: evaluating a model with a weight silently left out would be evaluating
another model.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field

from recdoc import model_specs
from recdoc.config import dataset_defaults
from recdoc.errors import InputError

Shape = tuple[int, ...]

TF2_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
# Optimizer state and bookkeeping: never model weights.
_SKIPPED_PARTS = (".OPTIMIZER_SLOT", "/Adam", "Adam_1", "beta1_power", "beta2_power", "save_counter",
                  "_CHECKPOINTABLE_OBJECT_GRAPH", "global_step", "num_batches_tracked")
_SKIPPED_PREFIXES = ("optimizer/", "optimizer.", "trainer/")
# The models whose tensors are one [d, d] layer: only names (their specs' `checkpoint_names`) tell them apart.
DENSE_MODELS = ("MIND", "DNN")
# The models the shape rules below know (`_Builder`'s per-family methods); any other model is mapped by its spec.
SHAPE_RULED = frozenset({"ComiRec-DR", "ComiRec-SA", "GRU4REC", *DENSE_MODELS})
PROJECTION_NAME_MARKS = ("relu", "proj")
EMBEDDING_NAME_MARKS = ("emb", "mid_embedding")


class MappingError(InputError):
    """The tensors do not determine a recdoc model unambiguously (exit 2, one line)."""


@dataclass(frozen=True)
class Stored:
    """One tensor as stored: its name, shape and dtype kind ('f' float, 'i' int, ...)."""

    name: str
    shape: Shape
    kind: str = "f"


@dataclass(frozen=True)
class Assignment:
    """recdoc weight `slot` (an attribute path such as `hidden_layer.kernel`) <- stored `source`.

    `source` None: the layout has no such tensor by design (a Linear layer without bias); the slot is filled with
    zeros, which is what that layer computes. `transpose`: a PyTorch `[out, in]` Linear weight.
    """

    slot: str
    shape: Shape
    source: str | None
    transpose: bool = False
    note: str = ""

    def describe(self) -> str:
        if self.source is None:
            return f"{self.slot} {list(self.shape)} <- zeros ({self.note})"
        extra = " (transposed)" if self.transpose else ""
        return f"{self.slot} {list(self.shape)} <- {self.source}{extra}" + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class Hints:
    """What the run states besides its tensors (experiment name, run.json, flags); tensors win over hints."""

    model_type: str | None = None
    maxlen: int | None = None
    num_interest: int | None = None
    dataset: str | None = None
    source: str = ""


@dataclass(frozen=True)
class Mapping:
    """A recdoc model determined by a checkpoint: its type and sizes, where each came from, and every tensor."""

    layout: str
    model_type: str
    item_count: int
    embedding_dim: int
    num_interest: int
    maxlen: int
    assignments: tuple[Assignment, ...]
    ignored: tuple[tuple[str, str], ...] = ()
    origins: dict[str, str] = field(default_factory=dict)  # e.g. {"maxlen": "tensor capsule_network/..."}
    notes: tuple[str, ...] = ()

    def describe(self) -> list[str]:
        lines = [f"{self.layout} checkpoint -> {self.model_type}: item_count {self.item_count}, "
                 f"d {self.embedding_dim}, K {self.num_interest}, maxlen {self.maxlen}"]
        lines += [f"  {key} from {origin}" for key, origin in self.origins.items()]
        lines += [f"  {a.describe()}" for a in self.assignments]
        lines += [f"  not used: {name} ({why})" for name, why in self.ignored]
        lines += [f"  note: {note}" for note in self.notes]
        return lines

    def to_dict(self) -> dict[str, object]:
        return {"layout": self.layout, "model_type": self.model_type, "item_count": self.item_count,
                "embedding_dim": self.embedding_dim, "num_interest": self.num_interest, "maxlen": self.maxlen,
                "origins": dict(self.origins),
                "mapped": {a.slot: (a.source if a.source is not None else f"zeros ({a.note})") for a in self.assignments},
                "transposed": [a.slot for a in self.assignments if a.transpose],
                "ignored": {name: why for name, why in self.ignored}, "notes": list(self.notes)}


def clean_name(name: str) -> str:
    """A stored name without TF2's object-graph suffix."""
    return name[: -len(TF2_SUFFIX)] if name.endswith(TF2_SUFFIX) else name


def is_bookkeeping(name: str) -> bool:
    """Optimizer slots, step counters and the object graph: stored beside the weights, never weights."""
    return any(part in name for part in _SKIPPED_PARTS) or name.startswith(_SKIPPED_PREFIXES)


def infer_mapping(stored: Iterable[Stored], layout: str, hints: Hints = Hints()) -> Mapping:
    """The recdoc model these tensors are, or a `MappingError` naming what is ambiguous or missing."""
    tensors = [t for t in stored if not is_bookkeeping(t.name)]
    ignored: list[tuple[str, str]] = []
    weights: dict[str, Shape] = {}
    for tensor in tensors:
        if tensor.kind != "f":
            ignored.append((tensor.name, f"{tensor.kind}-typed state, not a weight (e.g. a random generator)"))
        else:
            weights[tensor.name] = tuple(int(s) for s in tensor.shape)
    if not weights:
        raise MappingError("holds no float tensors: not a model checkpoint")
    torch = layout == "torch"
    table_name, (item_count, dim) = _item_table(weights)
    rest = {n: s for n, s in weights.items() if n != table_name}
    # PyTorch Linear weights are [out, in]; recdoc's kernels are [in, out].
    transposed = {n for n, s in rest.items() if torch and len(s) == 2 and n.endswith(".weight")}
    shapes = {n: (s[::-1] if n in transposed else s) for n, s in rest.items()}
    for name, shape in list(shapes.items()):
        if shape == (item_count,):
            ignored.append((name, "the sampled softmax's bias over items: zeros, not trained, not used in retrieval"))
            del shapes[name]
    builder = _Builder(layout, table_name, item_count, dim, shapes, transposed, ignored, hints)
    return builder.build()


def _item_table(weights: MappingABC[str, Shape]) -> tuple[str, tuple[int, int]]:
    matrices = {n: s for n, s in weights.items() if len(s) == 2}
    if not matrices:
        raise MappingError("no 2-D tensor: no item embedding table [items, d] to map")
    most = max(s[0] for s in matrices.values())
    candidates = [n for n, s in matrices.items() if s[0] == most]
    if len(candidates) > 1:
        named = [n for n in candidates if any(m in n.lower() for m in EMBEDDING_NAME_MARKS)
                 and "position" not in n.lower()]
        if len(named) != 1:
            raise MappingError(f"ambiguous item table: {', '.join(sorted(candidates))} all have {most} rows")
        candidates = named
    shape = matrices[candidates[0]]
    return candidates[0], (int(shape[0]), int(shape[1]))


def dr_maps(shapes: MappingABC[str, Shape], d: int) -> list[str]:
    """ComiRec-DR's bilinear map: `[1, T, K*d, d]`, or `[T, K*d, d]` stored without the leading axis."""
    return [n for n, s in shapes.items() if (len(s) == 4 and s[0] == 1 and s[3] == d and s[2] % d == 0)
            or (len(s) == 3 and s[0] != 1 and s[2] == d and s[1] % d == 0 and s[1] >= d)]


def position_embeddings(shapes: MappingABC[str, Shape], d: int) -> list[str]:
    """ComiRec-SA's position embedding `[1, T, d]`."""
    return [n for n, s in shapes.items() if len(s) == 3 and s[0] == 1 and s[2] == d]


def gru_kernels(shapes: MappingABC[str, Shape], d: int) -> list[str]:
    """TF1's GRU cell's gate kernel `[2d, 2d]`."""
    return [n for n, s in shapes.items() if s == (2 * d, 2 * d)]


def guess_family(shapes: MappingABC[str, Shape], d: int) -> str | None:
    """The model type the tensors besides the item table show, by the loader's shape rules (names only between
    MIND and YouTube DNN, from their specs); None where nothing fits or the names do not tell. Lenient: the
    loader (`infer_mapping`) refuses ambiguity and missing tensors, this guess does not."""
    if dr_maps(shapes, d):
        return "ComiRec-DR"
    if position_embeddings(shapes, d):
        return "ComiRec-SA"
    if gru_kernels(shapes, d):
        return "GRU4REC"
    if any(s == (d, d) for s in shapes.values()):
        return model_specs.named_by(" ".join(shapes).lower(), DENSE_MODELS)
    return None


def _size(part: str, sizes: dict[str, int]) -> int:
    """One axis of a spec's shape: a number, d, K or T, or a product of them (`4*d`)."""
    value = 1
    for factor in part.strip().split("*"):
        factor = factor.strip()
        value *= int(factor) if factor.isdigit() else sizes[factor]
    return value


@dataclass
class _Builder:
    layout: str
    table_name: str
    item_count: int
    dim: int
    shapes: dict[str, Shape]
    transposed: set[str]
    ignored: list[tuple[str, str]]
    hints: Hints
    origins: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def build(self) -> Mapping:
        d = self.dim
        table = Assignment("item_embeddings", (self.item_count, d), self.table_name)
        self.origins["item_count, d"] = f"tensor {self.table_name} {[self.item_count, d]}"
        dr, positions = dr_maps(self.shapes, d), position_embeddings(self.shapes, d)
        declared = model_specs.spec_for(self.hints.model_type)
        if declared is not None and declared.name not in SHAPE_RULED and declared.checkpoint_tensors:
            model_type, k, maxlen, own = self._declared(declared)
            self._refuse_leftovers(model_type, {a.source for a in own if a.source})
            return Mapping(self.layout, model_type, self.item_count, d, k, maxlen, (table, *own), tuple(self.ignored),
                           dict(self.origins), tuple(self.notes))
        if len(dr) > 1:
            raise MappingError(f"ambiguous ComiRec-DR bilinear map: {', '.join(sorted(dr))}")
        if len(positions) > 1:
            raise MappingError(f"ambiguous position embedding: {', '.join(sorted(positions))}")
        if dr and positions:
            raise MappingError(f"both a DR bilinear map ({dr[0]}) and an SA position embedding ({positions[0]}): "
                               "not one of recdoc's models")
        if dr:
            model_type, k, maxlen, own = self._dr(dr[0])
        elif positions:
            model_type, k, maxlen, own = self._sa(positions[0])
        elif gru_kernels(self.shapes, d):
            model_type, k, maxlen, own = self._gru()
        else:
            model_type, k, maxlen, own = self._dense_family()
        self._refuse_leftovers(model_type, {a.source for a in own if a.source})
        hinted = self.hints.model_type
        if hinted and hinted != model_type:
            self.notes.append(f"the tensors are those of {model_type}, not of {hinted} as {self.hints.source or 'the run'} "
                              "says")
        return Mapping(self.layout, model_type, self.item_count, d, k, maxlen, (table, *own), tuple(self.ignored),
                       dict(self.origins), tuple(self.notes))

    # ---- per family
    def _dr(self, name: str) -> tuple[str, int, int, list[Assignment]]:
        shape = self.shapes[name]
        maxlen, width = (shape[1], shape[2]) if len(shape) == 4 else (shape[0], shape[1])
        k = width // self.dim
        self.origins["K, maxlen"] = f"tensor {name} {list(shape)}"
        note = "" if len(shape) == 4 else "stored without the leading axis of 1"
        return "ComiRec-DR", k, maxlen, [Assignment("bilinear_weights", (1, maxlen, k * self.dim, self.dim), name,
                                                    note=note)]

    def _sa(self, name: str) -> tuple[str, int, int, list[Assignment]]:
        d = self.dim
        maxlen = self.shapes[name][1]
        hidden = 4 * d
        kernels = self._one(lambda s: s == (d, hidden), f"attention hidden kernel [{d}, {hidden}]", required=True)
        scores = self._one(lambda s: len(s) == 2 and s[0] == hidden and s[1] != hidden,
                           f"attention score kernel [{hidden}, K]", required=True)
        k = self.shapes[scores][1]
        hidden_bias = self._one(lambda s: s == (hidden,), f"attention hidden bias [{hidden}]")
        score_bias = self._one(lambda s: s == (k,), f"attention score bias [{k}]")
        self.origins["maxlen"] = f"tensor {name} {list(self.shapes[name])}"
        self.origins["K"] = f"tensor {scores} {list(self.shapes[scores])}"
        return "ComiRec-SA", k, maxlen, [
            Assignment("position_embedding", (1, maxlen, d), name),
            self._assign("hidden_layer.kernel", kernels),
            self._bias("hidden_layer.bias", (hidden,), hidden_bias),
            self._assign("score_layer.kernel", scores),
            self._bias("score_layer.bias", (k,), score_bias),
        ]

    def _gru(self) -> tuple[str, int, int, list[Assignment]]:
        d = self.dim
        gates = self._one(lambda s: s == (2 * d, 2 * d), f"GRU gate kernel [{2 * d}, {2 * d}]", required=True)
        candidate = self._one(lambda s: s == (2 * d, d), f"GRU candidate kernel [{2 * d}, {d}]", required=True)
        gate_bias = self._one(lambda s: s == (2 * d,), f"GRU gate bias [{2 * d}]", required=True)
        candidate_bias = self._one(lambda s: s == (d,), f"GRU candidate bias [{d}]", required=True)
        maxlen = self._maxlen()
        return "GRU4REC", 1, maxlen, [self._assign("cell.gates.kernel", gates),
                                      self._assign("cell.gates.bias", gate_bias),
                                      self._assign("cell.candidate.kernel", candidate),
                                      self._assign("cell.candidate.bias", candidate_bias)]

    def _dense_family(self) -> tuple[str, int, int, list[Assignment]]:
        d = self.dim
        squares = sorted(n for n, s in self.shapes.items() if s == (d, d))
        if not squares:
            left = ", ".join(f"{n} {list(s)}" for n, s in sorted(self.shapes.items())) or "nothing besides the table"
            raise MappingError(f"no interest extractor found next to the item table {self.table_name} (found: {left}); "
                               "expected a DR bilinear map [1, T, K*d, d], an SA position embedding [1, T, d], a "
                               "[d, d] layer (MIND, YouTube DNN) or a TF1 GRU cell")
        by_name = model_specs.named_by(" ".join(self.shapes).lower(), DENSE_MODELS)
        model_type = by_name or (self.hints.model_type if self.hints.model_type in DENSE_MODELS else None)
        if model_type is None:
            raise MappingError(f"a [{d}, {d}] layer ({', '.join(squares)}) fits both MIND and YouTube DNN and neither "
                               "the tensor names nor the experiment name say which")
        self.origins["model type"] = ("tensor names" if by_name else f"{self.hints.source or 'the run'} "
                                      "(MIND and YouTube DNN have the same tensors)")
        projection = [n for n in squares if any(m in n.lower() for m in PROJECTION_NAME_MARKS)]
        main = [n for n in squares if n not in projection]
        if len(main) != 1 or len(projection) > 1 or (model_type == "DNN" and projection):
            raise MappingError(f"ambiguous {model_type} layers: {', '.join(squares)} are all [{d}, {d}]")
        biases = sorted(n for n, s in self.shapes.items() if s == (d,))
        main_bias = self._bias_for(main[0], biases)
        own = [self._assign("bilinear.kernel" if model_type == "MIND" else "user_layer.kernel", main[0]),
               self._bias("bilinear.bias" if model_type == "MIND" else "user_layer.bias", (d,), main_bias)]
        k = 1
        if model_type == "MIND":
            k, origin = ((self.hints.num_interest, self.hints.source) if self.hints.num_interest
                         else (4, "the original's default (MIND's tensors do not depend on K)"))
            self.origins["K"] = origin
            if projection:
                # The original builds MIND's ReLU projection on book only (`relu_layer = dataset == 'book'`); the
                # PyTorch port builds the layer always and applies it under the same rule.
                used = self.hints.dataset == "book"
                if used:
                    proj_bias = self._bias_for(projection[0], [b for b in biases if b != main_bias])
                    own += [self._assign("projection.kernel", projection[0]),
                            self._bias("projection.bias", (d,), proj_bias)]
                else:
                    self.ignored.append((projection[0], "the ReLU projection, applied on book only, as the original"))
                    self.shapes.pop(projection[0])
        maxlen = self._maxlen()
        return model_type, k, maxlen, own

    def _declared(self, spec: model_specs.ModelSpec) -> tuple[str, int, int, list[Assignment]]:
        """A model the shape rules above do not know, by its spec's `checkpoint_tensors` `(slot, shape)`: each slot
        found by its name (recdoc's object paths end in the slot's attribute path), its shape checked against the
        spec's over d, K and maxlen (from the run, which names the model)."""
        k = self.hints.num_interest if spec.multi_interest and self.hints.num_interest else 1
        maxlen = self._maxlen()
        sizes = {"d": self.dim, "K": k, "T": maxlen}
        self.origins["model type"] = f"{self.hints.source or 'the run'} ({spec.name}'s spec names its tensors)"
        if spec.multi_interest:
            self.origins["K"] = self.hints.source or "the run"
        own = []
        for slot, shape_text in spec.checkpoint_tensors:
            path = "/" + slot.replace(".", "/")
            found = [n for n in self.shapes if ("/" + n).endswith(path) or n == slot]
            if len(found) != 1:
                what = "missing" if not found else f"ambiguous ({', '.join(sorted(found))})"
                raise MappingError(f"{spec.name}: tensor for {slot} {what}")
            want = tuple(_size(part, sizes) for part in shape_text.split(","))
            if self.shapes[found[0]] != want:
                raise MappingError(f"{spec.name}: {found[0]} has shape {list(self.shapes[found[0]])}, {slot} needs "
                                   f"{list(want)} ({shape_text})")
            own.append(self._assign(slot, found[0]))
        return spec.name, k, maxlen, own

    # ---- helpers
    def _maxlen(self) -> int:
        if self.hints.maxlen:
            self.origins["maxlen"] = f"{self.hints.source} (the tensors do not depend on it)"
            return self.hints.maxlen

        value = int(dataset_defaults(self.hints.dataset)["maxlen"])
        self.origins["maxlen"] = f"the original's default for {self.hints.dataset or 'this dataset'} (not in the tensors)"
        return value

    def _one(self, fits: object, what: str, required: bool = False) -> str | None:
        found = sorted(n for n, s in self.shapes.items() if fits(s))  # type: ignore[operator]
        if len(found) > 1:
            raise MappingError(f"ambiguous {what}: {', '.join(found)}")
        if not found and required:
            raise MappingError(f"missing tensor: {what}")
        return found[0] if found else None

    def _bias_for(self, kernel: str, biases: list[str]) -> str | None:
        """The bias stored beside `kernel` (same scope), if any."""
        scope = kernel.rsplit("/", 1)[0].rsplit(".", 1)[0] if ("/" in kernel or "." in kernel) else ""
        same_scope = [b for b in biases if scope and b.startswith(scope) and b != kernel]
        if len(same_scope) == 1:
            return same_scope[0]
        if len(biases) == 1 and not same_scope:
            return biases[0]
        if len(same_scope) > 1:
            raise MappingError(f"ambiguous bias for {kernel}: {', '.join(same_scope)}")
        return None

    def _assign(self, slot: str, name: str | None) -> Assignment:
        assert name is not None
        return Assignment(slot, self.shapes[name], name, transpose=name in self.transposed)

    def _bias(self, slot: str, shape: Shape, name: str | None) -> Assignment:
        if name is None:
            return Assignment(slot, shape, None, note="the layer stores no bias")
        return self._assign(slot, name)

    def _refuse_leftovers(self, model_type: str, used: set[str]) -> None:
        left = {n: s for n, s in self.shapes.items() if n not in used}
        if model_type == "ComiRec-DR":
            # The PyTorch port's CapsuleNetwork builds a ReLU layer for every model and applies it for MIND on book
            # only; the original's DR has none.
            for name in [n for n, s in left.items() if s == (self.dim, self.dim)
                         and any(m in n.lower() for m in PROJECTION_NAME_MARKS)]:
                self.ignored.append((name, "a ReLU layer the port builds but ComiRec-DR never applies"))
                left.pop(name)
        if left:
            listed = ", ".join(f"{n} {list(s)}" for n, s in sorted(left.items()))
            raise MappingError(f"tensors that fit no part of {model_type}: {listed} (an extra layer would change "
                               "the model; refusing rather than leaving it out)")
