"""Settings a run printed about itself, wherever it printed them: headers, argv in every form, exp names.

- Headers: `DataSet: book14 (20)` (a fork prints the dataset and, in parentheses, topN), `model_type: MIND`,
  `learning_rate = 0.005`, `batch size: 256`.
- argv: the original's `print(sys.argv)` list (parsed in stdout_log.py), a shell line
  (`python3 -u ./src/train.py --model_type MIND --dataset taobao 2>&1 | tee log`), argparse's
  `Namespace(dataset='book', learning_rate=0.001, ...)`.
- Exp names beyond the original's pattern: `rocket_ComiRec-SA_dropout0.2_wdc0_d64_in4_top20_e1` holds the dataset
  (its first part), the model, `d64`, `in4`, `top20`, `b128`, `lr0.005`, `len20`.

Pure functions over one line each; the caller records where the line was.
"""

from __future__ import annotations

import ast
import re
import shlex
from typing import Any

from recdoc import reference

# Keys a header line may state, by their spellings (lower case, spaces as '_') -> RunConfig field.
HEADER_KEYS = {
    "dataset": "dataset", "data_set": "dataset", "dataset_name": "dataset",
    "model_type": "model_type", "model": "model_type", "model_name": "model_type",
    "learning_rate": "learning_rate", "lr": "learning_rate",
    "batch_size": "batch_size", "batch": "batch_size",
    "topn": "topN", "top_n": "topN", "topk": "topN", "top_k": "topN",
    "num_interest": "num_interest", "interest_num": "num_interest", "k": "num_interest",
    "embedding_dim": "embedding_dim", "hidden_size": "hidden_size", "emb_dim": "embedding_dim",
    "maxlen": "maxlen", "max_len": "maxlen", "seq_len": "maxlen",
    "patience": "patience", "max_iter": "max_iter", "test_iter": "test_iter", "neg_num": "neg_num",
    "item_count": "item_count", "n_items": "item_count", "num_items": "item_count", "item_num": "item_count",
    "items": "item_count", "total_items": "item_count", "total_item": "item_count",
    "user_count": "user_count", "n_users": "user_count", "num_users": "user_count", "user_num": "user_count",
    "users": "user_count", "total_user": "user_count", "total_users": "user_count",
}
_HEADER_RE = re.compile(r"^\W{0,3}([A-Za-z][A-Za-z _]{0,20}?)\s*[:=]\s*([^\s,;]+)(?:\s*\((\d{1,4})\))?\s*$")
_SHELL_START_RE = re.compile(r"(?:^|[\s;&|$!%>])(?:python[\d.]*|python3)\s")
_EXP_TOKEN_RE = re.compile(r"^(b|lr|d|len|in|top|k)(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)$")
_EXP_TOKEN_KEYS = {"b": "batch_size", "lr": "learning_rate", "d": "embedding_dim", "len": "maxlen",
                   "in": "num_interest", "k": "num_interest", "top": "topN"}


def parse_header(line: str) -> dict[str, str] | None:
    """`DataSet: book14 (20)` -> {'dataset': 'book14', 'topN': '20'}; a line of another shape -> None."""
    match = _HEADER_RE.match(line.strip())
    if match is None:
        return None
    key = HEADER_KEYS.get(match.group(1).strip().lower().replace(" ", "_"))
    if key is None:
        return None
    value = match.group(2).strip("'\"")
    if value.startswith("[") and value.endswith("]") and "," not in value:
        value = value[1:-1].strip("'\"")  # `topk = [10]`: a list of one value is that value
    if key == "model_type" and reference.canonical_model_type(value) is None:
        return None  # `model: <object at 0x..>` or a fork's own model name is not a setting we can use
    out = {key: value}
    if key == "dataset" and match.group(3):
        out["topN"] = match.group(3)  # the fork prints `DataSet: %s (%d)` % (dataset, topN)
    return out


def parse_shell_argv(line: str) -> list[str] | None:
    """The arguments of a `python ... script.py --flag value` line, from the script on; None if not such a line."""
    if ".py" not in line or "--" not in line:
        return None
    match = _SHELL_START_RE.search(line)
    if match is None:
        return None
    text = line[match.end():]
    for cut in ("|", "&&", ";"):
        text = text.split(cut, 1)[0]
    try:
        tokens = shlex.split(text)
    except ValueError:
        tokens = text.split()
    # Redirections (`2>&1`, `> log`) end the command's arguments.
    end = next((i for i, token in enumerate(tokens) if ">" in token or "<" in token), len(tokens))
    tokens = _command_words(tokens[:end])
    script = next((i for i, token in enumerate(tokens) if token.endswith(".py")), None)
    if script is None or not any(t.startswith("--") for t in tokens[script + 1:]):
        return None
    return tokens[script:]


# A command quoted inside a sentence (`... --model_type ComiRec-SA, 得到的效果为`): the sentence's punctuation is not
# part of the last value, and the prose after it is not arguments.
_SENTENCE_PUNCTUATION = ",;:，。；：、"
_CJK_RE = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def _command_words(tokens: list[str]) -> list[str]:
    words: list[str] = []
    for token in tokens:
        if _CJK_RE.search(token):
            cut = _CJK_RE.search(token).start()  # type: ignore[union-attr]
            head = token[:cut].rstrip(_SENTENCE_PUNCTUATION)
            if head:
                words.append(head)
            break
        stripped = token.rstrip(_SENTENCE_PUNCTUATION)
        if stripped != token:
            if stripped:
                words.append(stripped)
            break  # the sentence goes on after its punctuation
        words.append(token)
    return words


def parse_namespace(line: str) -> list[str] | None:
    """argparse's `Namespace(dataset='book', lr=0.001)` -> ['Namespace', '--dataset', 'book', '--lr', '0.001']."""
    text = line.strip()
    start = text.find("Namespace(")
    if start < 0 or not text.endswith(")"):
        return None
    try:
        call = ast.parse(text[start:], mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if not isinstance(call, ast.Call):
        return None
    argv = ["Namespace"]
    for keyword in call.keywords:
        try:
            value: Any = ast.literal_eval(keyword.value)
        except (ValueError, SyntaxError, TypeError):
            continue
        if keyword.arg is None or value is None or isinstance(value, (list, tuple, dict)):
            continue
        argv.extend([f"--{keyword.arg}", str(value)])
    return argv if len(argv) > 1 else None


def parse_exp_name_tokens(text: str) -> dict[str, Any] | None:
    """Settings in an exp name of any fork: `<dataset>_<model>_..._d64_in4_top20_...`.

    Needs a known model type among its parts (that is what makes a word an exp name), the dataset being what comes
    before it. Returns None for anything else.
    """
    name = text.strip()
    if not name or " " in name or "_" not in name or len(name) > 200:
        return None
    parts = name.split("_")
    model_index = next((i for i, part in enumerate(parts) if reference.canonical_model_type(part)), None)
    if model_index is None or model_index == 0:
        return None
    dataset = "_".join(parts[:model_index])
    if not re.fullmatch(r"[A-Za-z0-9][\w.\-]*", dataset):
        return None
    out: dict[str, Any] = {"dataset": dataset, "model_type": reference.canonical_model_type(parts[model_index])}
    for part in parts[model_index + 1:]:
        match = _EXP_TOKEN_RE.match(part)
        if match is None:
            continue
        key = _EXP_TOKEN_KEYS[match.group(1)]
        raw = match.group(2)
        try:
            out.setdefault(key, float(raw) if key == "learning_rate" else int(raw))
        except ValueError:
            continue
    return out
