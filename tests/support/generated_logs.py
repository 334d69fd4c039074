"""Generated training logs of known curves in several shapes, and deletions of their parts (the mutation test).

Shapes: the original src/train.py's stdout (argv, exp name, `iter: N, train loss: L, valid recall: ...`, its early
stop, restore and final lines), an epoch-style script (`epoch: N, batch: M:` step lines, then metric lines with
`@K` cut-offs), and a framework-style table row per epoch (`Epoch 3 | loss 0.51 | recall@20 0.1 | ...`). Curves:
a run still rising at its cap, a healthy plateau stopped early, one that peaks and decays, a noisy plateau.

A deletion removes what a reader could have used (loss values, stop lines, the test block, metric lines, the header,
the step word); the doctor may then know less, never find a fault it did not find before.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass


def rising(n: int, level: float = 0.08) -> list[float]:
    """Still climbing at the last evaluation (an iteration cap reached mid-climb)."""
    return [level * (1 - math.exp(-2.5 * (i + 1) / n)) for i in range(n)]


def plateau(n: int, level: float = 0.08, rise: int = 20, noise: float = 0.01) -> list[float]:
    """A climb, then a plateau with deterministic noise of +-`noise` of the level."""
    out = []
    for i in range(1, n + 1):
        base = level * (1 - math.exp(-4 * min(i, rise) / rise))
        wobble = noise * ((i * 7919) % 11 - 5) / 5
        out.append(base * (1 + wobble))
    return out


def peak_and_decay(n: int, level: float = 0.08) -> list[float]:
    """Peaks at a third of the run, then falls by a third (overfitting)."""
    top = n // 3
    return [level * (i + 1) / top if i < top else level * (1 - 0.35 * (i - top) / (n - top)) for i in range(n)]


def losses_for(n: int) -> list[float]:
    return [8.0 - 3.0 * (1 - math.exp(-(i + 1) / (n / 3))) for i in range(n)]


@dataclass(frozen=True)
class GeneratedLog:
    name: str
    text: str


def original_log(recalls: Sequence[float], *, dataset: str = "book", model: str = "ComiRec-SA", lr: float = 0.001,
                 ending: str = "early_stop", test_iter: int = 1000, losses: Sequence[float] | None = None,
                 hitrate_over_recall: float = 2.1, ndcg_over_hitrate: float = 0.78, first_evaluation: int = 1,
                 header: bool = True) -> str:
    """The original src/train.py's stdout: early_stop (restore and finals after the last `iter:` line),
    max_iter (the same after `time interval`), unfinished (nothing after the last evaluation). `losses` replaces
    the falling default; `first_evaluation` > 1 and no `header` make an excerpt pasted from the middle of a run."""
    exp = f"{dataset}_{model}_b128_lr{lr}_d64_len20_gen"
    argv = str(["src/train.py", "--dataset", dataset, "--model_type", model, "--learning_rate", str(lr)])
    lines = [argv, "training begin"] if header else []
    losses = losses_for(len(recalls)) if losses is None else losses
    for index, (recall, loss) in enumerate(zip(recalls, losses), start=first_evaluation):
        hitrate = recall * hitrate_over_recall
        lines += [exp, f"iter: {index * test_iter}, train loss: {loss:.4f}, valid recall: {recall:.6f}, "
                       f"valid ndcg: {hitrate * ndcg_over_hitrate:.6f}, valid hitrate: {hitrate:.6f}",
                  f"time interval: {index * test_iter / 3000:.4f} min"]
    if ending == "unfinished":
        return "\n".join(lines) + "\n"
    if ending == "early_stop":
        lines.pop()
    best = max(recalls)
    lines += [f"model restored from best_model/{exp}/",
              f"valid recall: {best:.6f}, valid ndcg: {best * 1.6:.6f}, valid hitrate: {best * 2.1:.6f}, "
              "valid diversity: 0.221500",
              f"test recall: {best * 0.98:.6f}, test ndcg: {best * 1.58:.6f}, test hitrate: {best * 2.06:.6f}, "
              "test diversity: 0.221000"]
    return "\n".join(lines) + "\n"


def epoch_log(recalls: Sequence[float], *, batches: int = 6506, with_test: bool = True) -> str:
    """An epoch-style script: a step line that carries the loss, then metric lines, then a closing test block."""
    lines = ["Namespace(dataset='book', model='ComiRec-SA', lr=0.001, topN=20)"]
    for epoch, (recall, loss) in enumerate(zip(recalls, losses_for(len(recalls)))):
        lines += [f"epoch: {epoch}, batch: {batches}: loss = {loss:.4f}",
                  f"recall@20: {recall:.4f}, ndcg@20: {recall * 0.6:.4f}, hitrate@20: {recall * 2:.4f}"]
    if with_test:
        best = max(recalls)
        lines += ["Test:", f"recall@20: {best:.4f}, ndcg@20: {best * 0.6:.4f}, hitrate@20: {best * 2:.4f}"]
    return "\n".join(lines) + "\n"


def table_log(recalls: Sequence[float]) -> str:
    """A framework-style table row per epoch, then a closing test row."""
    lines = ["model: SASRec  dataset: ml-1m  learning_rate: 0.001"]
    for epoch, (recall, loss) in enumerate(zip(recalls, losses_for(len(recalls))), start=1):
        lines.append(f"Epoch {epoch:3d} | train_loss {loss:.4f} | recall@20 {recall:.4f} | "
                     f"ndcg@20 {recall * 0.55:.4f}")
    best = max(recalls)
    lines.append(f"Test | recall@20 {best:.4f} | ndcg@20 {best * 0.55:.4f}")
    return "\n".join(lines) + "\n"


def generated_logs() -> list[GeneratedLog]:
    """A small fixed family: every shape with the curves that exercise each trend-based rule."""
    logs = [
        GeneratedLog("original-rising-max-iter", original_log(rising(40), ending="max_iter")),
        GeneratedLog("original-plateau-early-stop", original_log(plateau(90, rise=30), ending="early_stop")),
        GeneratedLog("original-decay-early-stop", original_log(peak_and_decay(60), ending="early_stop")),
        GeneratedLog("original-rising-unfinished", original_log(rising(30), ending="unfinished")),
        GeneratedLog("original-dr-book", original_log(plateau(80), model="ComiRec-DR", ending="max_iter")),
        GeneratedLog("epoch-rising", epoch_log(rising(25))),
        GeneratedLog("epoch-plateau", epoch_log(plateau(40, rise=10))),
        GeneratedLog("table-plateau", table_log(plateau(30, rise=10))),
        GeneratedLog("table-rising", table_log(rising(20))),
    ]
    return logs


_NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)"


def _drop_lines(pattern: str) -> Callable[[str], str]:
    regex = re.compile(pattern, re.IGNORECASE)
    return lambda text: "".join(line for line in text.splitlines(keepends=True) if not regex.search(line))


def _strip(pattern: str) -> Callable[[str], str]:
    regex = re.compile(pattern, re.IGNORECASE)
    return lambda text: regex.sub("", text)


# Each deletion takes away something a reader could have used; none adds a printed token.
MUTATIONS: dict[str, Callable[[str], str]] = {
    "no-loss": _strip(rf"(?:train[ _]?)?loss\s*(?:[:=]\s*|\s+){_NUMBER}\s*[,|]?\s*"),
    "no-stop-lines": _drop_lines(r"restored|early stop|exiting from training|^-{20,}|^test\b|^Test"),
    "no-test-block": _drop_lines(r"\btest\b"),
    "no-metric-lines": _drop_lines(r"^(?!iter|epoch|Epoch).*(?:recall|ndcg|hit)"),
    "no-metric-values": _strip(rf",?\s*(?:valid |test )?(?:recall|ndcg|hitrate|hit)(?:@\d+)?\s*[:=]?\s*{_NUMBER}"),
    "no-header": _drop_lines(r"^\[|^Namespace|^model:|training begin|_b\d+_lr"),
    "step-word": lambda text: re.sub(r"(?mi)^(iter|epoch)(s?)\b", lambda m: "step" + m.group(2), text),
    "no-time": _drop_lines(r"time interval"),
    "truncated-tail": lambda text: text[: max(0, len(text) * 2 // 3)],
    "nul-bytes": lambda text: "".join(("\0" * 8 + line[8:]) if i % 9 == 4 else line
                                      for i, line in enumerate(text.splitlines(keepends=True))),
}
