"""A small line-chart renderer on Pillow: axes with ticks, lines, points, reference lines, a legend, a PNG.

Why not matplotlib: importing it costs 0.4-0.7 s and drawing two figures another 0.2-0.4 s, most of `recdoc
analyze`'s time on a long log; the report needs two plain line charts. Pillow (already a matplotlib dependency)
imports in ~0.05 s. Anti-aliasing comes from drawing at twice the size and halving the image with a box filter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal

import numpy as np

# Drawing happens at SCALE x the output size; the final box-filter reduction smooths every edge.
SCALE = 2
# A curve is drawn through at most this many points (min/max per bucket keeps spikes); a chart is ~600 px wide.
MAX_POINTS = 1000
LineStyle = Literal["solid", "dashed", "dotted"]
DASHES: dict[str, tuple[int, int]] = {"dashed": (8, 5), "dotted": (2, 4)}  # (on, off) in output pixels
TEXT_COLOR = (38, 38, 38)
GRID_COLOR = (225, 225, 225)
FRAME_COLOR = (90, 90, 90)


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
    font_px: int = 11
    legend_font_px: int = 9
    series: list[_Series] = field(default_factory=list)
    rules: list[_Rule] = field(default_factory=list)

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

    def save_png(self, stream: BinaryIO) -> None:
        self.render().save(stream, format="PNG", compress_level=1)

    def render(self) -> Any:
        from PIL import Image, ImageDraw

        width, height = self.size[0] * SCALE, self.size[1] * SCALE
        image = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(image)
        font, small = _font(self.font_px * SCALE), _font(self.legend_font_px * SCALE)
        x_range, y_range = self._ranges()
        x_ticks, y_ticks = nice_ticks(*x_range), nice_ticks(*y_range)
        x_range = (min(x_range[0], x_ticks[0]), max(x_range[1], x_ticks[-1])) if len(x_ticks) > 1 else x_range
        y_labels = tick_labels(y_ticks)
        left = max(_text_width(draw, label, font) for label in y_labels) + 18 * SCALE + (
            _text_height(draw, "Ag", font) + 6 * SCALE if self.ylabel else 0)
        top = _text_height(draw, "Ag", font) + 14 * SCALE if self.title else 10 * SCALE
        bottom = height - (2 * _text_height(draw, "Ag", font) + 20 * SCALE)
        right = width - 12 * SCALE
        box = (left, top, right, bottom)

        def px(x: float) -> float:
            return left + (x - x_range[0]) / (x_range[1] - x_range[0]) * (right - left)

        def py(y: float) -> float:
            return bottom - (y - y_range[0]) / (y_range[1] - y_range[0]) * (bottom - top)

        for tick, label in zip(y_ticks, y_labels):
            if y_range[0] <= tick <= y_range[1]:
                y = py(tick)
                draw.line([(left, y), (right, y)], fill=GRID_COLOR, width=SCALE)
                draw.text((left - 8 * SCALE, y), label, font=font, fill=TEXT_COLOR, anchor="rm")
        for tick, label in zip(x_ticks, tick_labels(x_ticks)):
            if x_range[0] <= tick <= x_range[1]:
                x = px(tick)
                draw.line([(x, top), (x, bottom)], fill=GRID_COLOR, width=SCALE)
                draw.text((x, bottom + 6 * SCALE), label, font=font, fill=TEXT_COLOR, anchor="mt")
        for rule in self.rules:
            ends = ([(px(rule.value), top), (px(rule.value), bottom)] if rule.axis == "x"
                    else [(left, py(rule.value)), (right, py(rule.value))])
            _dashed(draw, ends[0], ends[1], rule.color, _px_width(rule.width), rule.style)
        for series in self.series:
            points = [(px(x), py(y)) for x, y in zip(series.xs.tolist(), series.ys.tolist())]
            if series.marker:
                radius = 4 * SCALE
                for x, y in points:
                    draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=series.color)
            elif len(points) == 1:
                draw.point(points, fill=series.color)
            else:
                draw.line(points, fill=series.color, width=_px_width(series.width), joint="curve")
        draw.rectangle(box, outline=FRAME_COLOR, width=SCALE)
        if self.title:
            draw.text(((left + right) / 2, top - 8 * SCALE), self.title, font=font, fill=TEXT_COLOR, anchor="md")
        if self.xlabel:
            draw.text(((left + right) / 2, height - 6 * SCALE), self.xlabel, font=font, fill=TEXT_COLOR, anchor="md")
        if self.ylabel:
            _vertical_text(image, self.ylabel, font, (4 * SCALE, (top + bottom) / 2))
        self._legend(draw, small, box)
        return image.reduce(SCALE)

    def _ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        xs = [s.xs for s in self.series] + [np.array([r.value]) for r in self.rules if r.axis == "x"]
        ys = [s.ys for s in self.series] + [np.array([r.value]) for r in self.rules if r.axis == "y"]
        return _span(xs, pad=0.0), _span(ys, pad=0.05)

    def _legend(self, draw: Any, font: Any, box: tuple[float, float, float, float]) -> None:
        entries: list[tuple[str, str, str]] = []  # label, color, kind
        for series in self.series:
            if series.label:
                entries.append((series.label, series.color, "marker" if series.marker else "solid"))
        for rule in self.rules:
            if rule.label:
                entries.append((rule.label, rule.color, rule.style))
        if not entries:
            return
        row = _text_height(draw, "Ag", font) + 6 * SCALE
        swatch = 22 * SCALE
        widest = max(_text_width(draw, label, font) for label, _, _ in entries)
        x0 = box[2] - widest - swatch - 18 * SCALE
        y0 = box[3] - row * len(entries) - 8 * SCALE
        # A white panel keeps the labels readable where the curve runs under them.
        draw.rectangle([x0 - 6 * SCALE, y0 - 3 * SCALE, box[2] - 6 * SCALE, y0 + row * len(entries) + 3 * SCALE],
                       fill="white", outline=GRID_COLOR, width=SCALE)
        for index, (label, color, kind) in enumerate(entries):
            y = y0 + index * row + row / 2
            if kind == "marker":
                radius = 4 * SCALE
                cx = x0 + swatch / 2
                draw.ellipse([cx - radius, y - radius, cx + radius, y + radius], fill=color)
            else:
                _dashed(draw, (x0, y), (x0 + swatch, y), color, _px_width(1.2), kind)  # type: ignore[arg-type]
            draw.text((x0 + swatch + 6 * SCALE, y), label, font=font, fill=TEXT_COLOR, anchor="lm")


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


def nice_ticks(low: float, high: float, target: int = 6) -> list[float]:
    """Round tick values covering [low, high] at a 1/2/2.5/5 x 10^k step, about `target` of them."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Labels with the fewest decimals that tell the ticks apart; large integers as 50k / 1.5M."""
    if len(ticks) > 1 and all(float(t).is_integer() for t in ticks) and max(abs(t) for t in ticks) >= 10_000:
        return [_short_int(t) for t in ticks]
    step = abs(ticks[1] - ticks[0]) if len(ticks) > 1 else abs(ticks[0]) or 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) + (0 if _is_round(step) else 1)
    return [f"{t:.{decimals}f}" for t in ticks]


def _is_round(step: float) -> bool:
    mantissa = step / 10 ** math.floor(math.log10(step))
    return abs(mantissa - round(mantissa)) < 1e-9


def _short_int(value: float) -> str:
    for size, suffix in ((1_000_000, "M"), (1_000, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"


def _span(arrays: list[np.ndarray], pad: float) -> tuple[float, float]:
    finite = [a[np.isfinite(a)] for a in arrays]
    values = np.concatenate(finite) if finite else np.array([], dtype=float)
    if values.size == 0:
        return 0.0, 1.0
    low, high = float(values.min()), float(values.max())
    if high == low:
        spread = abs(low) * 0.1 or 1.0
        return low - spread, high + spread
    margin = (high - low) * pad
    return low - margin, high + margin


def _px_width(points: float) -> int:
    return max(1, round(points * 1.6 * SCALE))


def _dashed(draw: Any, start: tuple[float, float], end: tuple[float, float], color: str, width: int,
            style: LineStyle) -> None:
    if style == "solid":
        draw.line([start, end], fill=color, width=width)
        return
    on, off = (v * SCALE for v in DASHES[style])
    length = math.hypot(end[0] - start[0], end[1] - start[1])
    if length == 0:
        return
    ux, uy = (end[0] - start[0]) / length, (end[1] - start[1]) / length
    position = 0.0
    while position < length:
        stop = min(position + on, length)
        draw.line([(start[0] + ux * position, start[1] + uy * position),
                   (start[0] + ux * stop, start[1] + uy * stop)], fill=color, width=width)
        position += on + off


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ValueError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _text_width(draw: Any, text: str, font: Any) -> float:
    left, _, right, _ = draw.textbbox((0, 0), text, font=font)
    return right - left


def _text_height(draw: Any, text: str, font: Any) -> float:
    _, top, _, bottom = draw.textbbox((0, 0), text, font=font)
    return bottom - top


def _vertical_text(image: Any, text: str, font: Any, at: tuple[float, float]) -> None:
    """Draw `text` rotated 90 degrees counter-clockwise, its left edge at `at[0]`, centred on `at[1]`."""
    from PIL import Image, ImageDraw

    probe = ImageDraw.Draw(image)
    width, height = int(_text_width(probe, text, font)) + 4, int(_text_height(probe, "Ag", font)) + 8
    label = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(label).text((2, height / 2), text, font=font, fill=TEXT_COLOR, anchor="lm")
    rotated = label.rotate(90, expand=True)
    image.paste(rotated, (int(at[0]), int(at[1] - rotated.size[1] / 2)))
