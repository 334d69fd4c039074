"""The reports' line charts, drawn with matplotlib: lines, points, reference lines, a legend, a PNG.

matplotlib is imported only when a chart is saved (a report without plots never pays for it), and only through its
object-oriented `Figure` API with the Agg canvas: no pyplot, so no global state, no GUI backend and nothing left
open between charts. Curves are thinned to MAX_POINTS before drawing (each bucket's minimum and maximum kept), so a
million-iteration log draws as fast as a short one.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

# A chart is ~600 px wide: more points than this cannot show and only cost drawing time.
MAX_POINTS = 1000
LineStyle = Literal["solid", "dashed", "dotted"]
DPI = 90
LEGEND_CORNER = "lower right"  # training curves rise (recall) or fall (loss) away from it


@dataclass(frozen=True)
class _Series:
    xs: np.ndarray
    ys: np.ndarray
    color: str
    width: float
    label: str | None
    marker: bool = False


@dataclass(frozen=True)
class _Rule:
    """A horizontal (`axis='y'`) or vertical (`axis='x'`) reference line across the plot."""

    axis: Literal["x", "y"]
    value: float
    color: str
    style: LineStyle
    width: float
    label: str | None


@dataclass
class LineChart:
    """A chart of `size` output pixels; add series and reference lines, then `save_png`."""

    size: tuple[int, int]
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    series: list[_Series] = field(default_factory=list)
    rules: list[_Rule] = field(default_factory=list)
    legend_corner: str = LEGEND_CORNER  # "upper right" for a falling curve (a loss), clear of its lines

    def line(self, xs: Sequence[float], ys: Sequence[float], color: str, width: float = 1.2,
             label: str | None = None) -> None:
        x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        finite = np.isfinite(x) & np.isfinite(y)
        x, y = downsample(x[finite], y[finite], MAX_POINTS)
        self.series.append(_Series(x, y, color, width, label))

    def point(self, x: float, y: float, color: str, label: str | None = None) -> None:
        self.series.append(_Series(np.array([x], dtype=float), np.array([y], dtype=float), color, 1.0, label, True))

    def hline(self, y: float, color: str, style: LineStyle = "dotted", width: float = 1.2,
              label: str | None = None) -> None:
        self.rules.append(_Rule("y", float(y), color, style, width, label))

    def vline(self, x: float, color: str, style: LineStyle = "dashed", width: float = 1.0,
              label: str | None = None) -> None:
        self.rules.append(_Rule("x", float(x), color, style, width, label))

    def png_bytes(self) -> bytes:
        """The chart drawn in this process (`chart_process.render` may draw it in a helper instead)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        stream = io.BytesIO()
        FigureCanvasAgg(self.figure()).print_png(stream)
        return stream.getvalue()

    def figure(self) -> Any:
        """The matplotlib `Figure` (lazy import; no pyplot)."""
        from matplotlib.figure import Figure
        from matplotlib.ticker import EngFormatter

        figure = Figure(figsize=(self.size[0] / DPI, self.size[1] / DPI), dpi=DPI)
        # Fixed margins (in pixels, for labels and ticks) rather than a layout engine, which costs more than the
        # drawing itself; every chart here has the same furniture.
        width, height = self.size
        figure.subplots_adjust(left=58 / width, right=1 - 12 / width, bottom=40 / height, top=1 - 24 / height)
        axes = figure.add_subplot()
        for series in self.series:
            if series.marker:
                axes.plot(series.xs, series.ys, "o", color=series.color, markersize=5, label=series.label)
            else:
                axes.plot(series.xs, series.ys, color=series.color, linewidth=series.width, label=series.label)
        for rule in self.rules:
            draw = axes.axhline if rule.axis == "y" else axes.axvline
            draw(rule.value, color=rule.color, linestyle=rule.style, linewidth=rule.width, label=rule.label)
        axes.set_title(self.title, fontsize=10)
        axes.set_xlabel(self.xlabel, fontsize=9)
        axes.set_ylabel(self.ylabel, fontsize=9)
        axes.xaxis.set_major_formatter(EngFormatter(sep=""))  # 250k, 1M: iterations read at a glance
        axes.tick_params(labelsize=8)
        axes.grid(True, color="#e1e1e1", linewidth=0.6)
        if any(item.label for item in [*self.series, *self.rules]):
            # A fixed corner: loc="best" tests every candidate spot against every point, most of a chart's time.
            axes.legend(fontsize=7, loc=self.legend_corner, frameon=False)
        return figure


def downsample(xs: np.ndarray, ys: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points: per bucket of consecutive points, its minimum and maximum in x order.

    Keeps every spike a plain stride would skip, so a NaN-free curve looks the same at the chart's resolution.
    """
    if len(xs) <= max_points:
        return xs, ys
    buckets = max_points // 2
    edges = np.linspace(0, len(xs), buckets + 1).astype(int)
    keep: list[int] = []
    for start, stop in zip(edges[:-1], edges[1:]):
        if stop <= start:
            continue
        window = ys[start:stop]
        low, high = start + int(np.argmin(window)), start + int(np.argmax(window))
        keep.extend(sorted({low, high}))
    index = np.array(keep, dtype=int)
    return xs[index], ys[index]
