"""The one grammar of metric names, steps, losses and counts: a table, read by every reader through the lexer.

Forks print the same facts with many spellings. Spellings are data here, not code: a new synonym or split word is
a row in a table below, never a branch in a reader. The lexer (lexer.py) turns a line into tokens; `read_line`
walks them once, anchored on the words this table knows, and returns what the line states.

Cut-off notations understood after a metric name (all the same fact, K):
`recall@50`, `recall[@50]`, `recall_50`, `recall-50`, `recall50` (a bare K glued to the name), `recall(50)`,
`recall top-50` / `recall@top50`, `recall_at_50`; lists over several K: `recall[@10, @20]: [0.13, 0.19]`,
`recall@[10, 20]: [...]`; and a header line `TEST[@10,@20]` whose cut-offs the next lines' lists follow.

Values: a number after `:`, `=`, spaces or tabs, quotes around a key (`'recall@50': 0.1`), a tuple
`('recall@50', 0.1)`, a list `[0.13, 0.19]`; `%` after a value means percent. Nothing is needed between a value and
the next name (`recall_50: 0.1NDCG_50: 0.05`).

Every pattern here is a single pass over the line (the lexer's token regex consumes every character once), so a
line of any length reads in time linear in its length.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from recdoc.diagnose.readers.lexer import Token, tokenize

# ------------------------------------------------------------------ the tables
# Metric names (lower case; a multi-word name is its words joined by one space) -> canonical metric.
METRIC_SYNONYMS = {
    "recall": "recall", "rec": "recall", "r": "recall",
    "ndcg": "ndcg", "n": "ndcg",
    "hitrate": "hitrate", "hit rate": "hitrate", "hit": "hitrate", "hits": "hitrate", "hr": "hitrate",
    "hit ratio": "hitrate", "hitratio": "hitrate",
    "mrr": "mrr",
    "precision": "precision", "prec": "precision", "p": "precision",
    "auc": "auc", "gauc": "auc",
    "diversity": "diversity",
}
# One-letter names are too common as words to be metrics unless a cut-off follows (`R@50`, `N@20`).
NEEDS_CUTOFF = {"r", "n", "p", "rec", "prec"}
# Metrics whose values are fractions in [0, 1] (a value above 1 in a record or column is a percent).
FRACTION_METRICS = ("recall", "ndcg", "hitrate", "mrr", "precision", "auc", "diversity")
# Split words -> canonical split.
SPLIT_SYNONYMS = {"valid": "valid", "val": "valid", "validation": "valid", "eval": "valid", "dev": "valid",
                  "evaluation": "valid", "test": "test", "testing": "test"}
# A word joined to a metric name (`metrics/recall`, `avg_recall`) that leaves its meaning unchanged.
NEUTRAL_PREFIXES = {"metrics", "metric", "avg", "mean", "final", "result", "results"}
# Step words -> step kind ('iter' counts optimisation steps, 'epoch' passes over the data).
STEP_SYNONYMS = {"iter": "iter", "iters": "iter", "iteration": "iter", "iterations": "iter", "it": "iter",
                 "step": "iter", "steps": "iter", "global step": "iter", "globalstep": "iter",
                 "epoch": "epoch", "epochs": "epoch", "ep": "epoch"}
# Training-loss names: `loss`, optionally after one of these words.
LOSS_WORDS = {"loss"}
LOSS_PREFIXES = {"train", "training", "avg", "mean", "total", "batch"}
# Words naming a split-free cut-off list header (`TEST[@10,@20]`, `Valid@[10,20]`) or a metric's cut-off word.
TOP_WORDS = {"top", "at", "k"}
# Count facts: the counted thing -> declared key.
COUNT_NOUNS = {"item": "item_count", "items": "item_count",
               "user": "user_count", "users": "user_count",
               "interaction": "interaction_count", "interactions": "interaction_count", "inters": "interaction_count",
               "inter": "interaction_count", "ratings": "interaction_count", "actions": "interaction_count",
               "records": "interaction_count"}
# Words that make a number beside a count noun a count (`n_items`, `#users`, `The number of items`, `Train items`).
COUNT_QUALIFIERS = {"n", "num", "number", "count", "cnt", "total", "train", "all", "unique", "distinct", "#"}
# Split words of a count (`Train users`, `test_items`): the count is that split's, not the dataset's.
COUNT_SPLITS = {**SPLIT_SYNONYMS, "train": "train", "training": "train"}
# Words that make it something else (`Average actions of users`, `item_cate`, `max item id`).
COUNT_SPOILERS = {"average", "avg", "mean", "max", "min", "id", "ids", "per", "cate", "category", "sparsity",
                  "embedding", "emb", "dim", "len", "length", "seq", "batch", "neg", "top", "k"}
# Separators between a key and its value.
KEY_VALUE_SEPARATORS = {":", "=", "'", '"', "：", "->", "is"}
# Cut-off values a print can hold (an integer beyond this after a name is not a cut-off).
MAX_CUTOFF = 10_000
# A line is read in its first this many characters: an evaluation print is a few hundred, and a longer line (a
# dump, a minified blob) must not cost more than a bounded amount per line.
MAX_LINE_CHARS = 16_384
# How far into a line its split may be named (past a time stamp and a level, `Tue 07 Dec 2026 10:00:20 INFO`).
LEADING_SPLIT_TOKENS = 24
# Characters joining the words of one key (`val_recall`, `metrics/recall`, `test.ndcg`, `hit-rate`).
JOINERS = {"_", "/", ".", "-"}

# Words a step, a loss, a metric or a split starts with: the line walk reads from these and passes over others.
_ANCHOR_WORDS = frozenset({*STEP_SYNONYMS, "global", *LOSS_WORDS, *LOSS_PREFIXES, *METRIC_SYNONYMS, *SPLIT_SYNONYMS})

MetricKey = tuple[str | None, str, int | None]


@dataclass
class LineReading:
    """What one line states, assembled from its tokens.

    `metrics` maps (split or None, metric, cut-off or None) to the value as printed (a `%` sign already applied;
    `percent_signed` lists those keys); `pending_lists` are metrics printed as a list without their cut-offs
    (`recall:\t[0.12, 0.18]`), for a cut-off header before them to place; `header_cutoffs` are the cut-offs a header
    line states without values (`TEST[@10,@20]`), `header_split` its split.
    """

    step: int | None = None
    step_kind: str | None = None
    loss: float | None = None
    loss_token: str | None = None
    metrics: dict[MetricKey, float] = field(default_factory=dict)
    percent_signed: set[MetricKey] = field(default_factory=set)
    pending_lists: dict[tuple[str | None, str], list[float]] = field(default_factory=dict)
    header_cutoffs: tuple[int, ...] | None = None
    header_split: str | None = None
    split: str | None = None  # the split the line names before its keys (`valid metrics: {...}`, `Test:`)
    metric_words: int = 0  # metric names seen, whether or not a value followed


def to_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _is_int(token: Token) -> bool:
    # Bounded: a 5,000-digit run is a damaged line, and int() refuses (or takes quadratic time on) such strings.
    return token.kind == "num" and len(token.text) <= 18 and token.text.isdigit()


def _word(token: Token) -> str:
    return token.text.lower()


def _metric_at(tokens: list[Token], i: int) -> tuple[str, int, str] | None:
    """The metric whose name starts at token i: (canonical, index after the name, spelling), or None."""
    word = _word(tokens[i])
    nxt = tokens[i + 1] if i + 1 < len(tokens) else None
    # Two-word names: `hit rate`, `hit_rate`, `hit ratio`.
    if nxt is not None and word in ("hit", "hits"):
        j = i + 1
        if nxt.kind == "punct" and nxt.text in JOINERS and not nxt.gap and i + 2 < len(tokens):
            j = i + 2
        if j < len(tokens) and tokens[j].kind == "word" and _word(tokens[j]) in ("rate", "ratio") and \
                (j == i + 2 or tokens[j].gap <= 1):
            return "hitrate", j + 1, word + " " + _word(tokens[j])
    metric = METRIC_SYNONYMS.get(word)
    if metric is None:
        return None
    return metric, i + 1, word


def _split_before(tokens: list[Token], i: int) -> tuple[str | None, bool]:
    """The split named right before a metric name at i (`valid recall`, `val_recall`, `test/ndcg`), and whether a
    joined word before it disqualifies the name (`train_recall`, `best_recall`: not an evaluation we can place)."""
    j = i - 1
    joined = False
    if j >= 0 and tokens[j].kind == "punct" and tokens[j].text in JOINERS and not tokens[i].gap and not tokens[j].gap:
        joined = True
        j -= 1
    if j < 0 or tokens[j].kind != "word":
        return None, False
    if not joined and tokens[i].gap == 0:
        return None, True  # glued letters are one word; the lexer never splits words, so this is not reached
    word = _word(tokens[j])
    split = SPLIT_SYNONYMS.get(word)
    if split is not None:
        return split, False
    if joined:
        if word in NEUTRAL_PREFIXES:
            return _split_before(tokens, j)[0], False
        return None, True
    return None, False


def _cutoffs_after(tokens: list[Token], j: int) -> tuple[list[int], int]:
    """Cut-offs written right after a metric name from token j: ([K...], index after them); ([], j) when none."""
    if j >= len(tokens):
        return [], j
    t = tokens[j]
    if _is_int(t) and not t.gap:  # `hit50`, `NDCG20`
        return ([int(t.text)], j + 1) if int(t.text) <= MAX_CUTOFF else ([], j)
    found = None
    if t.kind == "punct" and not t.gap:
        notation = _CUTOFF_NOTATIONS.get(t.text)
        found = notation(tokens, j) if notation is not None else None
    elif t.kind == "word" and _word(t) == "top" and t.gap <= 1:
        found = _cutoff_after_top_word(tokens, j)
    return found if found is not None else ([], j)


def _past_joiner(tokens: list[Token], k: int, joiners: tuple[str, ...]) -> int:
    """k, or the index after a joiner at k that has a token after it (the `-` of `top-20`, the `_` of `at_50`)."""
    if k + 1 < len(tokens) and tokens[k].kind == "punct" and tokens[k].text in joiners:
        return k + 1
    return k


def _cutoff_after_mark(tokens: list[Token], j: int) -> tuple[list[int], int] | None:
    """`recall@50`, `recall_50`, `recall-50`, `recall@top50`, `recall_at_50`, `recall@[10, 20]` from the mark at j."""
    n = len(tokens)
    if j + 1 >= n:
        return None
    u = tokens[j + 1]
    if _is_int(u) and not u.gap:
        return [int(u.text)], j + 2
    if u.kind == "word" and _word(u) in TOP_WORDS and j + 2 < n:
        k = _past_joiner(tokens, j + 2, ("_", "-"))
        if _is_int(tokens[k]):
            return [int(tokens[k].text)], k + 1
    if tokens[j].text == "@" and u.kind == "punct" and u.text == "[":
        return _cutoff_list(tokens, j + 2)
    return None


def _cutoff_in_brackets(tokens: list[Token], j: int) -> tuple[list[int], int] | None:
    """`recall[@10]`, `recall[@10, @20]`, `recall(20)`, `recall[20]`, `recall(top-20)` from the bracket at j."""
    n = len(tokens)
    if j + 1 >= n:
        return None
    close = "]" if tokens[j].text == "[" else ")"
    u = tokens[j + 1]
    if u.kind == "punct" and u.text == "@":
        return _cutoff_list(tokens, j + 1, close)
    if _is_int(u) and j + 2 < n and tokens[j + 2].text == close:
        return [int(u.text)], j + 3
    if u.kind == "word" and _word(u) == "top":
        k = _past_joiner(tokens, j + 2, ("-", "_", "@"))
        if k + 1 < n and _is_int(tokens[k]) and tokens[k + 1].text == close:
            return [int(tokens[k].text)], k + 2
    return None


def _cutoff_after_top_word(tokens: list[Token], j: int) -> tuple[list[int], int] | None:
    """`recall top-20`, `recall top20` from the word `top` at j."""
    if j + 1 >= len(tokens):
        return None
    k = _past_joiner(tokens, j + 1, ("-", "_", "@"))
    if _is_int(tokens[k]) and not tokens[k].gap:
        return [int(tokens[k].text)], k + 1
    return None


# The mark right after a metric name -> the reader of the cut-off notation it opens.
_CUTOFF_NOTATIONS = {"@": _cutoff_after_mark, "_": _cutoff_after_mark, "-": _cutoff_after_mark,
                     "[": _cutoff_in_brackets, "(": _cutoff_in_brackets}


def _cutoff_list(tokens: list[Token], k: int, close: str = "]") -> tuple[list[int], int]:
    """`@10, @20]` or `10, 20]` from token k: the cut-offs and the index after the closing bracket."""
    out: list[int] = []
    n = len(tokens)
    while k < n:
        t = tokens[k]
        if t.kind == "punct" and t.text in ("@", ","):
            k += 1
            continue
        if _is_int(t):
            out.append(int(t.text))
            k += 1
            continue
        if t.kind == "punct" and t.text == close:
            return (out, k + 1) if out and all(c <= MAX_CUTOFF for c in out) else ([], k)
        break
    return [], k


PrintedValue = tuple[float, bool, str]  # (value, printed with `%`, the text as printed)


def _value_after(tokens: list[Token], j: int, tuple_key: bool) -> tuple[list[PrintedValue] | None, int]:
    """The value (or list of values) after a key from token j: ([(value, percent, text)...], index after)."""
    k, separated = _past_key_end(tokens, j, tuple_key)
    if k >= len(tokens):
        return None, j
    wrapped = _unwrap_call(tokens, k)
    if wrapped is not None:  # `tensor(0.1234)`, `np.float64(0.07)`: a number printed inside a call
        value_at, close_at = wrapped
        number = tokens[value_at]
        return [(to_float(number.text), False, number.text)], close_at + 1
    t = tokens[k]
    if t.kind == "punct" and t.text == "[":
        listed = _value_list(tokens, k + 1)
        return listed if listed is not None else (None, j)
    if t.kind != "num":
        return None, j
    if not separated and not (t.gap and ("." in t.text or t.text.lower() in ("nan", "inf", "-inf"))):
        return None, j  # `recall 20 users`: a bare integer after a space is not a value
    value = _number_at(tokens, k)
    return [value], k + (2 if value[1] else 1)


def _past_key_end(tokens: list[Token], j: int, tuple_key: bool) -> tuple[int, bool]:
    """Past what ends a key from token j (a closing quote or bracket, then separators; in a tuple `('recall@50',
    0.1)` the comma): the index where its value may start, and whether a separator stood before it."""
    n = len(tokens)
    k = j
    separated = False
    while k < n and tokens[k].kind == "punct" and tokens[k].text in ("'", '"', "]", ")") and k - j < 2:
        k += 1
    while k < n and ((tokens[k].kind == "punct" and tokens[k].text in KEY_VALUE_SEPARATORS)
                     or (tokens[k].kind == "word" and _word(tokens[k]) == "is")) and k - j < 4:
        separated = True
        k += 1
    if tuple_key and k < n and tokens[k].kind == "punct" and tokens[k].text == ",":
        separated = True
        k += 1
    return k, separated


def _number_at(tokens: list[Token], k: int) -> PrintedValue:
    """The number at token k, with whether a `%` follows it."""
    percent = k + 1 < len(tokens) and tokens[k + 1].text == "%"
    return to_float(tokens[k].text), percent, tokens[k].text


def _value_list(tokens: list[Token], k: int) -> tuple[list[PrintedValue] | None, int] | None:
    """A list of values from token k, after its `[`: (the values, index after the `]`); values None for `[]`, and
    None when the list is not one of numbers or is never closed."""
    values: list[PrintedValue] = []
    n = len(tokens)
    while k < n:
        u = tokens[k]
        if u.kind == "num":
            values.append(_number_at(tokens, k))
            k += 2 if values[-1][1] else 1
        elif u.kind == "punct" and u.text == ",":
            k += 1
        elif u.kind == "punct" and u.text == "]":
            return (values or None), k + 1  # a list, even of one value, is a list (see read_line)
        else:
            return None
    return None


def _unwrap_call(tokens: list[Token], k: int) -> tuple[int, int] | None:
    """`tensor(0.12)`, `np.float64(0.12)`, `tensor(0.12, device='cuda:0')` from token k: (the number's index, the
    closing parenthesis's index); None when the tokens are not a call wrapping one number."""
    n = len(tokens)
    j = k
    while j < n and j - k < 6 and (tokens[j].kind == "word" or (tokens[j].kind == "num" and j > k)
                                   or (tokens[j].text in (".", "_") and j > k)):
        j += 1  # the callee: `tensor`, `np.float64`, `torch.tensor`
    if j == k or j + 1 >= n or tokens[j].text != "(" or tokens[j + 1].kind != "num":
        return None
    close = j + 2
    while close < n and close - j < 24 and tokens[close].text != ")":
        close += 1  # keyword arguments after the number (`device='cuda:0'`, `dtype=torch.float32`)
    if close >= n or tokens[close].text != ")" or tokens[j + 2].text not in (")", ","):
        return None
    return j + 1, close


@dataclass
class _LineWalk:
    """One pass over a line's tokens: what it has read so far, and the context of the token it stands at."""

    tokens: list[Token]
    reading: LineReading
    # A step word in a sentence (`lr decay at epoch 10`) is a step only on a line that also states a value.
    step_in_prose: bool = False
    # A split naming a bracketed group (`dev=(HR@5:0.31,NDCG@5:0.21)`, `valid: {...}`): the split of the metrics
    # inside it, until the group closes.
    group_split: str | None = None
    group_close: str | None = None


def read_line(line: str, tokens: list[Token] | None = None) -> LineReading:
    """Everything `line` states by this grammar (an empty reading when nothing). Linear in the line's length."""
    tokens = tokenize(line[:MAX_LINE_CHARS]) if tokens is None else tokens
    walk = _LineWalk(tokens, LineReading(split=_leading_split(tokens)))
    i = 0
    n = len(tokens)
    while i < n:
        t = tokens[i]
        if t.kind != "word":
            if walk.group_close is not None and t.text == walk.group_close:
                walk.group_split = walk.group_close = None
            i += 1
        else:
            word = t.text.lower()
            # Most words of a line name nothing this grammar reads: one set lookup passes over them.
            i = _read_anchored(walk, i, word) if word in _ANCHOR_WORDS else i + 1
    reading = walk.reading
    # A header line (`TEST[@10,@20]`) ends the reading where it is found, before this check.
    if walk.step_in_prose and reading.header_cutoffs is None and not (
            reading.metrics or reading.loss is not None or reading.pending_lists):
        reading.step = reading.step_kind = None
    return reading


def _read_anchored(walk: _LineWalk, i: int, word: str) -> int:
    """Read what the word at token i starts: a step, a loss, a metric, a split's header or group. The index to go on
    from."""
    after = _read_step(walk, i, word)
    if after is None:
        after = _read_loss(walk, i, word)
    if after is None:
        found = _metric_at(walk.tokens, i)
        after = _read_split_word(walk, i, word) if found is None else _read_metric(walk, i, found)
    return after


def _read_step(walk: _LineWalk, i: int, word: str) -> int | None:
    """A step marker at token i (`iter: 1000`, `Epoch 3/10`, `[iter 1000]`, `global_step=200`): the index after what
    it used; None when token i starts no step marker."""
    tokens = walk.tokens
    global_step = word == "global" and i + 2 < len(tokens) and _word(tokens[i + 2]) == "step" and \
        tokens[i + 1].text in JOINERS
    step_kind, at = ("iter", i + 2) if global_step else (STEP_SYNONYMS.get(word), i)
    if step_kind is None:
        return None
    reading = walk.reading
    if reading.step is None and (global_step or not _joined_before(tokens, at)):
        value, after = _step_value(tokens, at + 1)
        if value is not None:
            reading.step, reading.step_kind = value, step_kind
            walk.step_in_prose = (tokens[at + 1].kind == "num" and at > 0 and tokens[at - 1].kind == "word"
                                  and tokens[at - 1].text.islower())
            return after
    # `global_step` without a step value is one name, none of whose words is a loss or a metric.
    return at + 1 if global_step else None


def _names_loss(tokens: list[Token], i: int, word: str) -> bool:
    """A training loss's name starts at token i: `loss`, `train_loss`, `train loss`, `avg loss`."""
    n = len(tokens)
    return word in LOSS_WORDS or (word in LOSS_PREFIXES and i + 2 < n and _word(tokens[i + 2]) == "loss"
                                  and tokens[i + 1].text in JOINERS | {" "}) or (
        word in LOSS_PREFIXES and i + 1 < n and _word(tokens[i + 1]) == "loss" and tokens[i + 1].gap)


def _read_loss(walk: _LineWalk, i: int, word: str) -> int | None:
    """A training loss named at token i: the index after its value (or its name, when no value is read); None when
    token i names no loss. A split's loss (`valid_loss`) and a second loss on a line are not the training loss."""
    tokens = walk.tokens
    if not _names_loss(tokens, i, word):
        return None
    at = i
    while at < len(tokens) and _word(tokens[at]) != "loss":
        at += 1
    prefix_split, _ = _split_before(tokens, i) if word == "loss" else (None, False)
    values, after = _value_after(tokens, at + 1, tuple_key=False)
    reading = walk.reading
    if values is not None and len(values) == 1 and prefix_split is None and reading.loss is None:
        reading.loss, reading.loss_token = values[0][0], values[0][2]
        return after
    return at + 1


def _read_split_word(walk: _LineWalk, i: int, word: str) -> int:
    """A split word that is no metric's prefix: a header of cut-offs for the lines after it (`TEST[@10,@20]`, which
    ends the line), or a bracketed group of that split's metrics (`dev=(...)`)."""
    split_word = SPLIT_SYNONYMS.get(word)
    if split_word is None:
        return i + 1
    tokens = walk.tokens
    cutoffs, after = _cutoffs_after(tokens, i + 1)
    if cutoffs and _rest_is_empty(tokens, after) and tokens[i + 1].text in ("[", "@"):
        walk.reading.header_cutoffs, walk.reading.header_split = tuple(cutoffs), split_word
        return len(tokens)
    opening = _group_opening(tokens, i + 1)
    if opening is None:
        return i + 1
    walk.group_split, walk.group_close = split_word, GROUP_CLOSE[tokens[opening].text]
    return opening + 1


def _read_metric(walk: _LineWalk, i: int, found: tuple[str, int, str]) -> int:
    """The metric named at token i (`found`, from `_metric_at`) with its split, cut-offs and value(s): the index
    after what it used."""
    metric, after_name, spelling = found
    tokens = walk.tokens
    if after_name < len(tokens) and tokens[after_name].kind == "word" and not tokens[after_name].gap:
        return after_name  # glued letters: `recallx` is another word
    split, disqualified = _split_before(tokens, i)
    if split is None:
        split = walk.group_split
    cutoffs, after = _cutoffs_after(tokens, after_name)
    if disqualified or (spelling in NEEDS_CUTOFF and not cutoffs):
        return after if cutoffs else after_name
    walk.reading.metric_words += 1
    tuple_key = i >= 2 and tokens[i - 1].text in ("'", '"') and tokens[i - 2].text == "("
    values, after_value = _value_after(tokens, after, tuple_key)
    if values is None:
        return after
    listed = tokens[after_value - 1].text == "]" and after_value - 1 > after
    _place_values(walk.reading, (split, metric), cutoffs, values, listed)
    return after_value


def _place_values(reading: LineReading, name: tuple[str | None, str], cutoffs: list[int],
                  values: list[PrintedValue], listed: bool) -> None:
    """A metric's printed values by its cut-offs: one per cut-off, one value at its cut-off (or none), or a list
    whose cut-offs a header before it states (`pending_lists`)."""
    split, metric = name
    if len(cutoffs) == len(values) and (len(values) > 1 or listed):
        for cutoff, (value, percent, _) in zip(cutoffs, values):
            _put(reading, (split, metric, cutoff), value, percent)
    elif len(values) == 1 and not (listed and not cutoffs):
        _put(reading, (split, metric, cutoffs[0] if len(cutoffs) == 1 else None), values[0][0], values[0][1])
    elif not cutoffs:
        reading.pending_lists.setdefault(name, [v for v, p, _ in values])


GROUP_CLOSE = {"(": ")", "{": "}", "[": "]"}


def _group_opening(tokens: list[Token], j: int) -> int | None:
    """The index of the bracket opening a split's group right after it (`dev=(`, `valid: {`, `test (`)."""
    k = j
    while k < len(tokens) and k - j < 3 and tokens[k].text in (":", "=", "'", '"', "-"):
        k += 1
    if k < len(tokens) and tokens[k].text in GROUP_CLOSE and (k > j or tokens[k].text != "["):
        return k
    return None


# The paper's cut-offs (Table 3: @20 and @50): a run that prints several is read at one the paper has.
PREFERRED_CUTOFFS = (50, 20)


def pick_cutoff(cutoffs: list[int | None], stated: int | None) -> int | None:
    """The cut-off a run's finals are read at: the one it names (topk/topN), else the paper's, else the first."""
    present = [c for c in dict.fromkeys(cutoffs)]
    if stated in present:
        return stated
    for preferred in PREFERRED_CUTOFFS:
        if preferred in present:
            return preferred
    return present[0] if present else None


def metric_label(key: tuple[str | None, str, int | None]) -> str:
    """('valid', 'recall', 20) -> 'valid/recall@20'; a key without a split or cut-off leaves that part out. The
    keys of `extra_metrics["evaluation_metrics"]`, every reader's record of all that each evaluation printed."""
    split, metric, cutoff = key
    return f"{split + '/' if split else ''}{metric}{'' if cutoff is None else f'@{cutoff}'}"


def curve_values(metrics: dict[tuple[str | None, str, int | None], float], cutoff: int | None) -> dict[str, float]:
    """A curve row's recall, NDCG and hit rate: the validation values (or values that name no split) at `cutoff`."""
    out: dict[str, float] = {}
    for metric in ("recall", "ndcg", "hitrate"):
        value = metrics.get(("valid", metric, cutoff), metrics.get((None, metric, cutoff)))
        if value is not None:
            out[metric] = value
    return out


def evaluation_record(step: int, metrics: dict[tuple[str | None, str, int | None], float]) -> dict[str, float]:
    """One entry of `extra_metrics["evaluation_metrics"]`: every metric an evaluation printed, by its label."""
    return {"iter": step, **{metric_label(key): value for key, value in metrics.items()}}


def from_percent(value: float) -> float:
    """A value printed in percent as a fraction, rounded to 12 decimals so that `8.012` gives 0.08012 exactly as a
    user reads it (a bare division leaves 0.08012000000000001, and values compared with the paper's drift)."""
    return round(value / 100.0, 12)


def _put(reading: LineReading, key: MetricKey, value: float, percent: bool) -> None:
    if key in reading.metrics:
        return  # the first print of a key on a line is its value (a later one is a repeat or another summary)
    reading.metrics[key] = from_percent(value) if percent else value
    if percent:
        reading.percent_signed.add(key)


def _joined_before(tokens: list[Token], i: int) -> bool:
    """`max_iter`, `test_iter`, `n_epochs`: a step word joined to a word before it names a setting, not a step."""
    return (i >= 2 and tokens[i - 1].kind == "punct" and tokens[i - 1].text in JOINERS and not tokens[i].gap
            and not tokens[i - 1].gap and tokens[i - 2].kind == "word")


def _step_value(tokens: list[Token], j: int) -> tuple[int | None, int]:
    """The step number after a step word: `: 1000`, `=1000`, ` 1000`, ` 3/10`; (None, j) otherwise."""
    n = len(tokens)
    k = j
    while k < n and tokens[k].kind == "punct" and tokens[k].text in (":", "=", "'", '"', "[", "#") and k - j < 3:
        k += 1
    if k < n and _is_int(tokens[k]) and (k > j or tokens[k].gap):
        if len(tokens[k].text) > 15:
            return None, j
        after = k + 1
        if after + 1 < n and tokens[after].text == "/" and _is_int(tokens[after + 1]):
            after += 2  # `iter 1000/500000`, `Epoch 3/10`
        # `step 0.5` or `epoch 3.5s`: a number with a fraction is not a step count.
        if after < n and tokens[after].kind == "punct" and tokens[after].text == "." and after + 1 < n and \
                _is_int(tokens[after + 1]) and not tokens[after + 1].gap:
            return None, j
        return int(tokens[k].text), after
    return None, j


def _leading_split(tokens: list[Token]) -> str | None:
    """The split a line names before its first metric name (`valid metrics: {...}`, `Test results:`, `[eval] ...`,
    `10:00:20 INFO  test result: OrderedDict([...])`): a time stamp or a level before it does not hide it."""
    for index, t in enumerate(tokens[:LEADING_SPLIT_TOKENS]):
        if t.kind != "word":
            continue
        word = _word(t)
        split = SPLIT_SYNONYMS.get(word)
        if split is not None and not _joined_after(tokens, index):
            return split
        if word in METRIC_SYNONYMS and word not in NEEDS_CUTOFF:
            return None
    return None


def _joined_after(tokens: list[Token], index: int) -> bool:
    """`valid_score`, `test_iter`: a split word joined to the word after it is part of another name."""
    return (index + 2 < len(tokens) and tokens[index + 1].text in JOINERS and not tokens[index + 1].gap
            and tokens[index + 2].kind == "word" and not tokens[index + 2].gap)


def _rest_is_empty(tokens: list[Token], k: int) -> bool:
    return all(t.kind == "punct" and t.text in (":", "-", "=", "|") for t in tokens[k:])


# ------------------------------------------------------------------ facts: counts and the evaluation protocol
@dataclass(frozen=True)
class CountFact:
    key: str  # 'item_count' | 'user_count' | 'interaction_count'
    value: int
    split: str | None = None  # 'train' | 'valid' | 'test' when the line counts one split (`Train items: 367964`)


def read_counts(line: str, tokens: list[Token] | None = None) -> list[CountFact]:
    """Item, user and interaction counts a line states, in any phrasing: `Train items: 367964`, `item_count =
    367983`, `n_items 1708531`, `#users: 603668`, `The number of items: 1683`, `user_num=1000`."""
    tokens = tokenize(line[:MAX_LINE_CHARS]) if tokens is None else tokens
    out: list[CountFact] = []
    for i, t in enumerate(tokens):
        if t.kind != "word":
            continue
        key = COUNT_NOUNS.get(_word(t))
        if key is None or any(f.key == key for f in out):
            continue
        fact = _count_at(tokens, i, key)
        if fact is not None:
            out.append(fact)
    return out


def _count_at(tokens: list[Token], i: int, key: str) -> CountFact | None:
    """The count of `key` a key phrase around the count noun at token i states, when its words make it one."""
    before = _count_words_before(tokens, i)
    after_words, k = _count_words_after(tokens, i)
    if k - 1 != i and tokens[k - 1].kind == "punct":
        return None  # the name ends in a joiner (`item_`): not a key phrase
    words = before + after_words
    if any(w in COUNT_SPOILERS for w in words):
        return None
    if not (any(w in COUNT_QUALIFIERS for w in words) or _word(tokens[i]).endswith("s")):
        return None
    value = _count_value(tokens, k)
    if value is None or value <= 0:
        return None
    return CountFact(key, value, next((COUNT_SPLITS[w] for w in words if w in COUNT_SPLITS), None))


def _count_words_before(tokens: list[Token], i: int) -> list[str]:
    """The words of a key phrase before token i, nearest first (back to the line start or the previous number or
    separator; at most five), `#` among them."""
    before: list[str] = []
    k = i - 1
    while k >= 0 and tokens[k].kind in ("word", "punct") and tokens[k].text not in (":", "=", ",", ";", "|"):
        if tokens[k].kind == "word":
            before.append(_word(tokens[k]))
        elif tokens[k].text == "#":
            before.append("#")
        k -= 1
        if len(before) > 4:
            break
    return before


def _count_words_after(tokens: list[Token], i: int) -> tuple[list[str], int]:
    """The words joined after token i (`item_count`, `user_num`) and the index after them."""
    after_words: list[str] = []
    n = len(tokens)
    k = i + 1
    while k < n and tokens[k].kind == "punct" and tokens[k].text in JOINERS:
        k += 1
        if k < n and tokens[k].kind == "word":
            after_words.append(_word(tokens[k]))
            k += 1
    return after_words, k


def _count_value(tokens: list[Token], k: int) -> int | None:
    """The count after a key phrase from token k (past `:`, `=`, quotes, `is`); None for a fraction, a percent or a
    ratio (`users: 0.5`, `items: 10%`, `users: 3/4`) or a number too far or too long to be a count."""
    n = len(tokens)
    while k < n and ((tokens[k].kind == "punct" and tokens[k].text in (":", "=", "'", '"', "："))
                     or (tokens[k].kind == "word" and _word(tokens[k]) == "is")):
        k += 1
    if not (k < n and _is_int(tokens[k]) and len(tokens[k].text) <= 12 and tokens[k].gap <= 8):
        return None
    nxt = tokens[k + 1] if k + 1 < n else None
    if nxt is not None and nxt.kind == "punct" and nxt.text in (".", "%", "/") and not nxt.gap:
        return None
    return int(tokens[k].text)


# Evaluation protocol: a sampled-candidate evaluation names its negatives or its mode.
SAMPLED_EVAL_WORDS = {"uni", "pop"}  # RecBole's `uni100` / `pop100` evaluation modes
EVAL_CONTEXT_WORDS = {"eval", "evaluation", "evaluate", "test", "testing", "valid", "validation", "rank", "ranking",
                      "candidates", "candidate", "sampled", "metric", "metrics", "full_sort", "mode"}
# Marks between a setting's key and its value (`test_all: False`, `eval_neg_num=99`, `'neg_sample': 99`).
_SETTING_MARKS = (":", "=", "'", '"')


def read_eval_protocol(line: str, tokens: list[Token] | None = None) -> int | str | None:
    """A sampled-candidate evaluation a line shows: the number of negatives per positive when stated (`99
    negatives`, `uni100`, `neg_sample: 99` in evaluation settings), `'sampled'` when only the mode is (`test_all 0`,
    `test_all: False`); None otherwise."""
    tokens = tokenize(line[:MAX_LINE_CHARS]) if tokens is None else tokens
    # Negatives count for the evaluation only on a line that speaks of evaluating (else they are the training loss's).
    in_evaluation = any(t.kind == "word" and _word(t) in EVAL_CONTEXT_WORDS for t in tokens)
    readers = _PROTOCOL_READERS_IN_EVALUATION if in_evaluation else _PROTOCOL_READERS
    for i, t in enumerate(tokens):
        if t.kind != "word":
            continue
        word = _word(t)
        reader = readers.get(word)
        found = reader(tokens, i, word) if reader is not None else None
        if found is not None:
            return found
    return None


def _sampled_mode(tokens: list[Token], i: int, word: str) -> int | None:
    """`uni100`, `pop100`: a sampled evaluation mode with its number of negatives."""
    if word in SAMPLED_EVAL_WORDS and i + 1 < len(tokens) and _is_int(tokens[i + 1]) and not tokens[i + 1].gap:
        return int(tokens[i + 1].text)
    return None


def _test_all_off(tokens: list[Token], i: int, word: str) -> str | None:
    """`test_all 0`, `test_all: False`: evaluation over sampled candidates, their number unstated."""
    if not (word == "all" and i >= 2 and _word(tokens[i - 2]) == "test" and tokens[i - 1].text == "_"):
        return None
    k = _past_marks(tokens, i + 1, _SETTING_MARKS)
    if k < len(tokens) and (tokens[k].text == "0" or _word(tokens[k]) == "false"):
        return "sampled"
    return None


def _evaluation_negatives(tokens: list[Token], i: int, word: str) -> int | None:
    """`99 negatives`, and `eval_neg_num: 99` / `test_neg_sample=100`: negatives of an evaluation, named so (a bare
    `neg_num` is the training loss's negatives)."""
    if word not in ("negatives", "negative", "neg") or i < 1:
        return None
    previous = tokens[i - 1]
    if word != "neg" and _is_int(previous) and 0 < int(previous.text) < 100_000:
        return int(previous.text)
    n = len(tokens)
    evaluation_key = i >= 2 and tokens[i - 1].text == "_" and _word(tokens[i - 2]) in (
        "eval", "test", "valid", "evaluation", "val")
    if word == "neg" and evaluation_key and i + 2 < n and tokens[i + 1].text == "_" and _word(tokens[i + 2]) in (
            "sample", "samples", "num", "number"):
        k = _past_marks(tokens, i + 3, _SETTING_MARKS)
        if k < n and _is_int(tokens[k]) and int(tokens[k].text) > 0:
            return int(tokens[k].text)
    return None


def _past_marks(tokens: list[Token], k: int, marks: tuple[str, ...]) -> int:
    """The index of the first token from k that is not one of `marks`."""
    while k < len(tokens) and tokens[k].kind == "punct" and tokens[k].text in marks:
        k += 1
    return k


_ProtocolReader = Callable[[list[Token], int, str], int | str | None]
# The word each way of showing a sampled evaluation turns on -> its reader: (tokens, index, lower-cased word) -> the
# protocol, or None.
_PROTOCOL_READERS: dict[str, _ProtocolReader] = {**dict.fromkeys(SAMPLED_EVAL_WORDS, _sampled_mode),
                                                 "all": _test_all_off}
_PROTOCOL_READERS_IN_EVALUATION: dict[str, _ProtocolReader] = {
    **_PROTOCOL_READERS, **dict.fromkeys(("negatives", "negative", "neg"), _evaluation_negatives)}
