"""One `recdoc.trainer.loop.train` process for tests/trainer/test_scale_out.py (not collected by pytest).

argv: a JSON RunConfig, `resume` or `new`, and the iteration cap. The cap replaces `max_iter * 1000` so that a
test trains a few hundred steps; TF_CONFIG (set by the test) makes this process one worker of a cluster.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    from recdoc.config import RunConfig
    from recdoc.trainer.loop import train

    config = RunConfig.from_dict(json.loads(sys.argv[1]))
    cap = int(sys.argv[3])
    RunConfig.max_iterations = property(lambda self: cap)  # type: ignore[method-assign,assignment]
    print(train(config, resume=sys.argv[2] == "resume"), flush=True)


if __name__ == "__main__":
    main()
