"""TensorBoard scalars with the original's tags; TensorFlow is imported when the writer is created, not before."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path


class Scalars:
    """TensorBoard scalars with the original's tags, at step = iteration."""

    def __init__(self, folder: Path) -> None:
        from recdoc.tfimport import tf

        self._tf = tf
        self._writer = tf.summary.create_file_writer(str(folder))

    def write(self, iteration: int, values: Mapping[str, float]) -> None:
        with self._writer.as_default():
            for tag, value in values.items():
                if math.isfinite(value):
                    self._tf.summary.scalar(tag, value, step=iteration)
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
