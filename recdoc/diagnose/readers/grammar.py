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
    n = len(tokens)
    t = tokens[j] if j < n else None
    if t is None:
        return [], j
    if _is_int(t) and not t.gap:  # `hit50`, `NDCG20`
        return ([int(t.text)], j + 1) if int(t.text) <= MAX_CUTOFF else ([], j)
    if t.kind == "punct" and not t.gap:
        if t.text in ("@", "_", "-") and j + 1 < n:
            u = tokens[j + 1]
            if _is_int(u) and not u.gap:
                return [int(u.text)], j + 2
            if u.kind == "word" and _word(u) in TOP_WORDS and j + 2 < n:  # `recall@top50`, `recall_at_50`
                k = j + 2
                if tokens[k].kind == "punct" and tokens[k].text in ("_", "-") and k + 1 < n:
                    k += 1
                if _is_int(tokens[k]):
                    return [int(tokens[k].text)], k + 1
            if t.text == "@" and u.kind == "punct" and u.text == "[":  # `recall@[10, 20]`
                return _cutoff_list(tokens, j + 2)
        if t.text in ("[", "(") and j + 1 < n:
            close = "]" if t.text == "[" else ")"
            u = tokens[j + 1]
            if u.kind == "punct" and u.text == "@":  # `recall[@10]`, `recall[@10, @20]`
                return _cutoff_list(tokens, j + 1, close)
            if _is_int(u) and j + 2 < n and tokens[j + 2].text == close:  # `recall(20)`, `recall[20]`
                return [int(u.text)], j + 3
            if u.kind == "word" and _word(u) == "top":  # `recall(top-20)`
                k = j + 2
                if k < n and tokens[k].kind == "punct" and tokens[k].text in ("-", "_", "@"):
                    k += 1
                if k + 1 < n and _is_int(tokens[k]) and tokens[k + 1].text == close:
                    return [int(tokens[k].text)], k + 2
    if t.kind == "word" and _word(t) == "top" and t.gap <= 1 and j + 1 < n:  # `recall top-20`, `recall top20`
        k = j + 1
        if tokens[k].kind == "punct" and tokens[k].text in ("-", "_", "@") and k + 1 < n:
            k += 1
        if _is_int(tokens[k]) and not tokens[k].gap:
            return [int(tokens[k].text)], k + 1
    return [], j


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


def _value_after(tokens: list[Token], j: int, tuple_key: bool) -> tuple[list[tuple[float, bool, str]] | None, int]:
    """The value (or list of values) after a key from token j: ([(value, percent, text)...], index after)."""
    n = len(tokens)
    k = j
    separated = False
    # A closing quote or bracket of the key, then separators.
    while k < n and tokens[k].kind == "punct" and tokens[k].text in ("'", '"', "]", ")") and k - j < 2:
        k += 1
    while k < n and ((tokens[k].kind == "punct" and tokens[k].text in KEY_VALUE_SEPARATORS)
                     or (tokens[k].kind == "word" and _word(tokens[k]) == "is")) and k - j < 4:
        separated = True
        k += 1
    if tuple_key and k < n and tokens[k].kind == "punct" and tokens[k].text == ",":
        separated = True
        k += 1
    if k >= n:
        return None, j
    wrapped = _unwrap_call(tokens, k)
    if wrapped is not None:  # `tensor(0.1234)`, `np.float64(0.07)`: a number printed inside a call
        value_at, close_at = wrapped
        number = tokens[value_at]
        return [(to_float(number.text), False, number.text)], close_at + 1
    t = tokens[k]
    if t.kind == "punct" and t.text == "[":  # a list of values
        values: list[tuple[float, bool, str]] = []
        k += 1
        while k < n:
            u = tokens[k]
            if u.kind == "num":
                percent = k + 1 < n and tokens[k + 1].text == "%"
                values.append((to_float(u.text), percent, u.text))
                k += 2 if percent else 1
            elif u.kind == "punct" and u.text == ",":
                k += 1
            elif u.kind == "punct" and u.text == "]":
                return (values or None), k + 1  # a list, even of one value, is a list (see read_line)
            else:
                return None, j
        return None, j
    if t.kind != "num":
        return None, j
    if not separated and not (t.gap and ("." in t.text or t.text.lower() in ("nan", "inf", "-inf"))):
        return None, j  # `recall 20 users`: a bare integer after a space is not a value
    percent = k + 1 < n and tokens[k + 1].text == "%"
    return [(to_float(t.text), percent, t.text)], k + (2 if percent else 1)


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


def read_line(line: str, tokens: list[Token] | None = None) -> LineReading:
    """Everything `line` states by this grammar (an empty reading when nothing). Linear in the line's length."""
    tokens = tokenize(line[:MAX_LINE_CHARS]) if tokens is None else tokens
    reading = LineReading()
    n = len(tokens)
    reading.split = _leading_split(tokens)
    in_prose = False
    # A split naming a bracketed group (`dev=(HR@5:0.31,NDCG@5:0.21)`, `valid: {...}`): the split of the metrics
    # inside it, until the group closes.
    group_split: str | None = None
    group_close: str | None = None
    i = 0
    while i < n:
        t = tokens[i]
        if t.kind != "word":
            if group_close is not None and t.text == group_close:
                group_split = group_close = None
            i += 1
            continue
        word = _word(t)
        # Step markers: `iter: 1000`, `Epoch 3/10`, `[iter 1000]`, `global_step=200`.
        step_kind = STEP_SYNONYMS.get(word)
        global_step = word == "global" and i + 2 < n and _word(tokens[i + 2]) == "step" and tokens[i + 1].text in JOINERS
        if global_step:
            step_kind, i = "iter", i + 2
        if step_kind is not None and reading.step is None and (global_step or not _joined_before(tokens, i)):
            value, after = _step_value(tokens, i + 1)
            if value is not None:
                reading.step, reading.step_kind = value, step_kind
                # `lr decay at epoch 10`: a step word in a sentence, with no separator, is a step only on a line
                # that also states a value (decided at the end of the line).
                in_prose = (tokens[i + 1].kind == "num" and i > 0 and tokens[i - 1].kind == "word"
                            and tokens[i - 1].text.islower())
                i = after
                continue
        if word in LOSS_WORDS or (word in LOSS_PREFIXES and i + 2 < n and _word(tokens[i + 2]) == "loss"
                                  and tokens[i + 1].text in JOINERS | {" "}) or (
                word in LOSS_PREFIXES and i + 1 < n and _word(tokens[i + 1]) == "loss" and tokens[i + 1].gap):
            at = i
            while at < n and _word(tokens[at]) != "loss":
                at += 1
            prefix_split, _ = _split_before(tokens, i) if word == "loss" else (None, False)
            values, after = _value_after(tokens, at + 1, tuple_key=False)
            if values is not None and len(values) == 1 and prefix_split is None and reading.loss is None:
                reading.loss, reading.loss_token = values[0][0], values[0][2]
                i = after
                continue
            i = at + 1
            continue
        found = _metric_at(tokens, i)
        if found is None:
            split_word = SPLIT_SYNONYMS.get(word)
            if split_word is not None:  # `TEST[@10,@20]`: a header of cut-offs for the lines after it
                cutoffs, after = _cutoffs_after(tokens, i + 1)
                if cutoffs and _rest_is_empty(tokens, after) and tokens[i + 1].text in ("[", "@"):
                    reading.header_cutoffs, reading.header_split = tuple(cutoffs), split_word
                    return reading
                opening = _group_opening(tokens, i + 1)
                if opening is not None:
                    group_split, group_close = split_word, GROUP_CLOSE[tokens[opening].text]
                    i = opening + 1
                    continue
            i += 1
            continue
        metric, after_name, spelling = found
        if after_name < n and tokens[after_name].kind == "word" and not tokens[after_name].gap:
            i = after_name  # glued letters: `recallx` is another word
            continue
        split, disqualified = _split_before(tokens, i)
        if split is None:
            split = group_split
        cutoffs, after = _cutoffs_after(tokens, after_name)
        if disqualified or (spelling in NEEDS_CUTOFF and not cutoffs):
            i = after if cutoffs else after_name
            continue
        reading.metric_words += 1
        tuple_key = i >= 2 and tokens[i - 1].text in ("'", '"') and tokens[i - 2].text == "("
        values, after_value = _value_after(tokens, after, tuple_key)
        if values is None:
            i = after
            continue
        listed = tokens[after_value - 1].text == "]" and after_value - 1 > after
        if len(cutoffs) == len(values) and (len(values) > 1 or listed):
            for cutoff, (value, percent, _) in zip(cutoffs, values):
                _put(reading, (split, metric, cutoff), value, percent)
        elif len(values) == 1 and not (listed and not cutoffs):
            _put(reading, (split, metric, cutoffs[0] if len(cutoffs) == 1 else None), values[0][0], values[0][1])
        elif not cutoffs:
            reading.pending_lists.setdefault((split, metric), [v for v, p, _ in values])
        i = after_value
    if in_prose and not (reading.metrics or reading.loss is not None or reading.pending_lists):
        reading.step = reading.step_kind = None
    return reading


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
    n = len(tokens)
    for i, t in enumerate(tokens):
        if t.kind != "word":
            continue
        key = COUNT_NOUNS.get(_word(t))
        if key is None or any(f.key == key for f in out):
            continue
        # The words of this key phrase (back to the line start or the previous number/separator).
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
        after_words: list[str] = []
        k = i + 1
        while k < n and tokens[k].kind == "punct" and tokens[k].text in JOINERS:
            k += 1
            if k < n and tokens[k].kind == "word":
                after_words.append(_word(tokens[k]))
                k += 1
        if k > 0 and k - 1 != i and tokens[k - 1].kind == "punct":
            continue
        if any(w in COUNT_SPOILERS for w in before + after_words):
            continue
        qualified = any(w in COUNT_QUALIFIERS for w in before + after_words) or _word(t).endswith("s")
        if not qualified:
            continue
        while k < n and ((tokens[k].kind == "punct" and tokens[k].text in (":", "=", "'", '"', "："))
                         or (tokens[k].kind == "word" and _word(tokens[k]) == "is")):
            k += 1
        if k < n and _is_int(tokens[k]) and len(tokens[k].text) <= 12 and tokens[k].gap <= 8:
            nxt = tokens[k + 1] if k + 1 < n else None
            if nxt is not None and nxt.kind == "punct" and nxt.text in (".", "%", "/") and not nxt.gap:
                continue  # `users: 0.5`, `items: 10%`, `users: 3/4`: not a count
            value = int(tokens[k].text)
            split = next((COUNT_SPLITS[w] for w in before + after_words if w in COUNT_SPLITS), None)
            if value > 0:
                out.append(CountFact(key, value, split))
    return out


# Evaluation protocol: a sampled-candidate evaluation names its negatives or its mode.
SAMPLED_EVAL_WORDS = {"uni", "pop"}  # RecBole's `uni100` / `pop100` evaluation modes
EVAL_CONTEXT_WORDS = {"eval", "evaluation", "evaluate", "test", "testing", "valid", "validation", "rank", "ranking",
                      "candidates", "candidate", "sampled", "metric", "metrics", "full_sort", "mode"}


def read_eval_protocol(line: str, tokens: list[Token] | None = None) -> int | str | None:
    """A sampled-candidate evaluation a line shows: the number of negatives per positive when stated (`99
    negatives`, `uni100`, `neg_sample: 99` in evaluation settings), `'sampled'` when only the mode is (`test_all 0`,
    `test_all: False`); None otherwise."""
    tokens = tokenize(line[:MAX_LINE_CHARS]) if tokens is None else tokens
    words = [_word(t) for t in tokens if t.kind == "word"]
    context = any(w in EVAL_CONTEXT_WORDS for w in words)
    n = len(tokens)
    for i, t in enumerate(tokens):
        if t.kind != "word":
            continue
        word = _word(t)
        if word in SAMPLED_EVAL_WORDS and i + 1 < n and _is_int(tokens[i + 1]) and not tokens[i + 1].gap:
            return int(tokens[i + 1].text)
        if word == "all" and i >= 2 and _word(tokens[i - 2]) == "test" and tokens[i - 1].text == "_":
            k = i + 1
            while k < n and tokens[k].kind == "punct" and tokens[k].text in (":", "=", "'", '"'):
                k += 1
            if k < n and (tokens[k].text == "0" or _word(tokens[k]) == "false"):
                return "sampled"
        if word in ("negatives", "negative", "neg") and context and i >= 1:
            previous = tokens[i - 1]
            if word != "neg" and _is_int(previous) and 0 < int(previous.text) < 100_000:
                return int(previous.text)
            # `eval_neg_num: 99`, `test_neg_sample=100`: negatives of an evaluation, named so (a bare `neg_num` is
            # the training loss's negatives).
            evaluation_key = i >= 2 and tokens[i - 1].text == "_" and _word(tokens[i - 2]) in (
                "eval", "test", "valid", "evaluation", "val")
            if word == "neg" and evaluation_key and i + 2 < n and tokens[i + 1].text == "_" and _word(tokens[i + 2]) in (
                    "sample", "samples", "num", "number"):
                k = i + 3
                while k < n and tokens[k].kind == "punct" and tokens[k].text in (":", "=", "'", '"'):
                    k += 1
                if k < n and _is_int(tokens[k]) and int(tokens[k].text) > 0:
                    return int(tokens[k].text)
    return None
