"""Write a recdoc model's weights as other code bases store them (tests and benches only).

Proof that the loaders see the same model whatever wrote it needs checkpoints in every layout with known content;
these are built from recdoc models at test time, never committed. Layouts:
- `tf1`: the original's `tf.train.Saver` files (`best_model/<exp>/checkpoint`, `model.ckpt.index`,
  `model.ckpt.data-00000-of-00001`; no `.meta`) with the original's variable names, Adam slots and beta powers;
- `tf2`: a TF2/Keras port's `tf.train.CheckpointManager` folder (`best_model/<exp>/keras_ckpt/ckpt-1`) with object
  paths a port would have (`model/item_embedding/embeddings`, `model/capsule/bilinear_w`, ...);
- `torch`: the PyTorch port's `best_model/<exp>/model.pt` state dict (needs torch).
A new folder is required: nothing existing is overwritten.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recdoc.errors import UsageError
from recdoc.files import write_file

# recdoc weight slot -> the original's TF1 variable name (orig-runs/README.md).
TF1_NAMES: dict[str, dict[str, str]] = {
    "ComiRec-DR": {"bilinear_weights": "capsule_network/bilinear/weights"},
    "MIND": {"bilinear.kernel": "capsule_network/bilinear/dense/kernel",
             "bilinear.bias": "capsule_network/bilinear/dense/bias"},
    "ComiRec-SA": {"position_embedding": "position_embedding", "hidden_layer.kernel": "self_atten/dense/kernel",
                   "hidden_layer.bias": "self_atten/dense/bias", "score_layer.kernel": "self_atten/dense_1/kernel",
                   "score_layer.bias": "self_atten/dense_1/bias"},
    "DNN": {"user_layer.kernel": "dense/kernel", "user_layer.bias": "dense/bias"},
}
# The same slots as object paths of a TF2/Keras port (a plausible port, named its own way).
TF2_NAMES: dict[str, dict[str, str]] = {
    "ComiRec-DR": {"bilinear_weights": "capsule/bilinear_w"},
    "MIND": {"bilinear.kernel": "capsule/dense/kernel", "bilinear.bias": "capsule/dense/bias"},
    "ComiRec-SA": {"position_embedding": "attention/pos_emb", "hidden_layer.kernel": "attention/w1/kernel",
                   "hidden_layer.bias": "attention/w1/bias", "score_layer.kernel": "attention/w2/kernel",
                   "score_layer.bias": "attention/w2/bias"},
    "DNN": {"user_layer.kernel": "user_dense/kernel", "user_layer.bias": "user_dense/bias"},
}
# The PyTorch port's state-dict names (its Linear layers have no bias; weights [out, in]).
TORCH_NAMES: dict[str, dict[str, str]] = {
    "ComiRec-DR": {"bilinear_weights": "capsule_network.w"},
    "ComiRec-SA": {"position_embedding": "position_embedding", "hidden_layer.kernel": "linear1.0.weight",
                   "score_layer.kernel": "linear2.weight"},
    "MIND": {"bilinear.kernel": "capsule_network.linear.weight"},
}


def model_weights(model: Any, model_type: str, names: dict[str, dict[str, str]]) -> dict[str, np.ndarray]:
    if model_type not in names:
        raise UsageError(f"exporting {model_type} in this layout is not supported")
    out = {}
    for slot, name in names[model_type].items():
        variable = model
        for part in slot.split("."):
            variable = getattr(variable, part)
        out[name] = np.asarray(variable.numpy(), dtype=np.float32)
    return out


def _new_folder(folder: Path) -> Path:
    if folder.exists():
        raise UsageError(f"{folder} exists; exports go to a new folder")
    folder.mkdir(parents=True)
    return folder


def export_tf1(model: Any, model_type: str, folder: str | Path) -> Path:
    """The original's Saver checkpoint in `folder` (created); returns the prefix `folder/model.ckpt`."""
    from recdoc.tfimport import tf

    target = _new_folder(Path(folder))
    table = np.asarray(model.item_embeddings.numpy(), dtype=np.float32)
    tensors = {"mid_embedding_var": table, "bias_lookup_table": np.zeros(len(table), np.float32),
               **model_weights(model, model_type, TF1_NAMES)}
    # Adam's slots and beta powers, as the original's Saver stores them: the loader must skip them.
    for name, value in list(tensors.items()):
        tensors[f"{name}/Adam"] = np.zeros_like(value)
        tensors[f"{name}/Adam_1"] = np.zeros_like(value)
    tensors["beta1_power"] = np.float32(0.9)
    tensors["beta2_power"] = np.float32(0.999)
    prefix = target / "model.ckpt"
    names = sorted(tensors)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(tensors[n]) for n in names])
    write_file(target / "checkpoint", 'model_checkpoint_path: "model.ckpt"\nall_model_checkpoint_paths: "model.ckpt"\n')
    return prefix


def export_tf2_port(model: Any, model_type: str, folder: str | Path) -> Path:
    """A TF2 port's CheckpointManager folder (`folder/ckpt-1`, created); returns the prefix."""
    from recdoc.tfimport import tf

    target = _new_folder(Path(folder))
    root = tf.Module()
    port = tf.Module()
    root.model = port
    port.item_embedding = tf.Module()
    port.item_embedding.embeddings = tf.Variable(model.item_embeddings.numpy())
    for path, value in model_weights(model, model_type, TF2_NAMES).items():
        holder = port
        *parents, leaf = path.split("/")
        for part in parents:
            if not hasattr(holder, part):
                setattr(holder, part, tf.Module())
            holder = getattr(holder, part)
        setattr(holder, leaf, tf.Variable(value))
    checkpoint = tf.train.Checkpoint(model=port)
    manager = tf.train.CheckpointManager(checkpoint, str(target), max_to_keep=1)
    return Path(manager.save())


def export_torch(model: Any, model_type: str, path: str | Path) -> Path:
    """The PyTorch port's state dict at `path` (a new file); needs torch."""
    try:
        import torch
    except ImportError:
        raise UsageError("exporting a PyTorch state dict needs torch") from None
    target = Path(path)
    if target.exists():
        raise UsageError(f"{target} exists; exports go to a new file")
    target.parent.mkdir(parents=True, exist_ok=True)
    state = {"embeddings.weight": torch.from_numpy(np.asarray(model.item_embeddings.numpy(), np.float32))}
    for name, value in model_weights(model, model_type, TORCH_NAMES).items():
        state[name] = torch.from_numpy(value.T.copy() if name.endswith(".weight") else value)
    if model_type in ("ComiRec-DR", "MIND"):
        # The port builds its ReLU layer for every capsule model; DR never applies it.
        dim = model.embedding_dim
        state["capsule_network.relu.0.weight"] = torch.zeros(dim, dim)
    torch.save(state, str(target))
    return target
