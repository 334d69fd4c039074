"""How long a training run will take, estimated from rates measured on this project's machine (README, Speed).

Used by the `Next:` line of `recdoc data prepare` / `data synth`, so that the suggested command says what it costs.
Always labelled an estimate: the rates were measured with 100,000 items (bench/train_speed.py, a quiet 2-core CPU,
2026-12-03); a larger catalogue is slower (TF1's Adam moves every row of the table every step) and evaluation time
(an exact pass over the validation users every test_iter steps) comes on top.
"""

from __future__ import annotations

# Training steps per second, bench/train_speed.py (README "Speed"): 100k items, batch 128, maxlen 20, K 4, d 64.
MEASURED_STEPS_PER_S = {"ComiRec-DR": 122.1, "ComiRec-SA": 122.0, "MIND": 153.7, "DNN": 198.4, "GRU4REC": 80.4}
MEASURED_ITEMS = 100_000


def duration_text(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def training_estimate(model_type: str, max_iter: int, patience: int, test_iter: int) -> str | None:
    """One sentence: the training time at most (the max_iter cap), labelled as an estimate; None for a model
    without a measured rate."""
    rate = MEASURED_STEPS_PER_S.get(model_type)
    if rate is None:
        return None
    steps = max_iter * 1000
    return (f"estimate: at most {steps:,} iterations (max_iter {max_iter} x1000) at about {rate:g} steps/s, "
            f"the rate measured for {model_type} with {MEASURED_ITEMS:,} items on a 2-core CPU, i.e. up to "
            f"{duration_text(steps / rate)} of training plus an evaluation every {test_iter:,} iterations; early "
            f"stopping (patience {patience} evaluations) usually ends it sooner")
