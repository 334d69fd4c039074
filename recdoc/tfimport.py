"""Import TensorFlow without its start-up noise, keeping every real error.

TensorFlow 2.21 logs through absl before `absl::InitializeLog()`, so `TF_CPP_MIN_LOG_LEVEL` alone does not silence
its start-up lines: oneDNN and CPU-feature notices, "Could not find cuda drivers", and, on a machine without an
NVIDIA device, an `E` line "failed call to cuInit" that reads like a failure and is not one. About 13 lines on
every `recdoc train` and `recdoc probe` on a CPU machine.

So the import (and the device discovery, where the CUDA probe logs) runs with the process's stderr captured at the
file-descriptor level; afterwards every captured line is written back except the known notices. Anything else
(a real error, a warning we do not know) passes through. `TF_CPP_MIN_LOG_LEVEL=0` shows everything, unfiltered.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from types import ModuleType

VERBOSE_ENV = "TF_CPP_MIN_LOG_LEVEL"
# absl's INFO and WARNING lines (`I0000 00:00:...`, `W0000 ...`), its pre-initialisation banner, and the second
# line of the CPU-feature notice.
NOTICE_RES = (
    re.compile(r"^[IW]\d{4} \d\d:\d\d:\d\d"),
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$"),
    re.compile(r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.$"),
)
# Only a notice when there is no NVIDIA device at all: with one, a failing cuInit is a real error.
NO_GPU_RE = re.compile(r"^E\d{4} .*failed call to cuInit")


def _has_nvidia_device() -> bool:
    return Path("/dev/nvidiactl").exists() or Path("/proc/driver/nvidia").exists()


def is_notice(line: str, has_gpu: bool) -> bool:
    """True for a TensorFlow start-up line that says nothing the user must act on."""
    if any(pattern.match(line) for pattern in NOTICE_RES):
        return True
    return not has_gpu and bool(NO_GPU_RE.match(line))


def __getattr__(name: str) -> ModuleType:
    """`from recdoc.tfimport import tf`: TensorFlow, imported quietly on first use (a module `__getattr__`, PEP 562).

    recdoc never writes `import tensorflow`: every module takes it from here, so no command path can bring the
    start-up lines back by importing TensorFlow first somewhere else (tests/test_files.py checks the source)."""
    if name == "tf":
        return import_tensorflow()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def import_tensorflow() -> ModuleType:
    """`import tensorflow`, quietly the first time (see the module's docstring)."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    if os.environ.get(VERBOSE_ENV) == "0":
        import tensorflow as tf

        return tf
    os.environ.setdefault(VERBOSE_ENV, "2")  # the C++ INFO/WARNING lines that come after absl's initialisation
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # the CUDA probe logs here, not at import
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            has_gpu = _has_nvidia_device()
            kept = [line for line in text.splitlines() if line.strip() and not is_notice(line, has_gpu)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()
    tf.get_logger().setLevel("ERROR")  # Python-side deprecation chatter; errors still show
    return tf
