"""Charts as inline SVG, drawn on the server: no script, no charting library, nothing from outside.

Each chart is an image for assistive technology (`role="img"`, named by its <title> and described by
its <desc>); the page shows the same numbers in a table next to it. Colours are SVG presentation
attributes (the pages' Content-Security-Policy allows no inline styles); every segment and bar also
carries its number as text, so the chart reads in black and white and in print.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import count
from typing import Sequence

from markupsafe import Markup, escape

_ids = count(1)

INK = "#1a1a1a"
GRID = "#c9ced6"


@dataclass(frozen=True)
class Series:
    label: str
    fill: str  # a colour with enough contrast to its text colour
    ink: str  # the colour of the numbers written on it
    css: str  # a class name, so print CSS can turn it into shades of grey


def _svg(width: int, height: int, title: str, desc: str, body: list[str], css: str) -> Markup:
    uid = f"chart{next(_ids)}"
    return Markup(
        f'<svg class="chart {css}" role="img" aria-labelledby="{uid}-title {uid}-desc" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'font-family="system-ui, sans-serif">'
        f'<title id="{uid}-title">{escape(title)}</title><desc id="{uid}-desc">{escape(desc)}</desc>'
        + "".join(body) + "</svg>")


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[:length - 1] + "…"


def stacked_bars(rows: Sequence[tuple[str, Sequence[int]]], series: Sequence[Series], title: str,
                 desc: str) -> Markup:
    """One horizontal bar per row, split into the series' counts (each row's bar is 100 %)."""
    label_width, bar_width, row_height, gap, legend = 220, 520, 26, 8, 34
    width = label_width + bar_width + 10
    height = legend + len(rows) * (row_height + gap) + 4
    body = []
    x = 0
    for s in series:  # the legend
        body.append(f'<rect class="{s.css}" x="{x}" y="6" width="16" height="16" fill="{s.fill}" '
                    f'stroke="{INK}" stroke-width="1"/>'
                    f'<text x="{x + 22}" y="19" font-size="14" fill="{INK}">{escape(s.label)}</text>')
        x += 44 + 9 * len(s.label)
    for index, (label, values) in enumerate(rows):
        y = legend + index * (row_height + gap)
        body.append(f'<text x="{label_width - 8}" y="{y + row_height - 8}" font-size="14" text-anchor="end" '
                    f'fill="{INK}">{escape(_clip(label, 28))}</text>')
        total = sum(values)
        if not total:
            body.append(f'<rect x="{label_width}" y="{y}" width="{bar_width}" height="{row_height}" fill="none" '
                        f'stroke="{GRID}"/>')
            continue
        left = float(label_width)
        for value, s in zip(values, series):
            if not value:
                continue
            w = bar_width * value / total
            body.append(f'<rect class="{s.css}" x="{left:.1f}" y="{y}" width="{w:.1f}" height="{row_height}" '
                        f'fill="{s.fill}" stroke="{INK}" stroke-width="0.5"/>')
            if w >= 18:
                body.append(f'<text class="{s.css}-ink" x="{left + w / 2:.1f}" y="{y + row_height - 8}" '
                            f'font-size="13" text-anchor="middle" fill="{s.ink}">{value}</text>')
            left += w
    return _svg(width, height, title, desc, body, "stacked")


def column_chart(columns: Sequence[tuple[str, float]], title: str, desc: str, top: float | None = None,
                 fill: str = "#1d4f91", unit: str = "", label_every: int = 1) -> Markup:
    """Vertical columns with their values; x labels every `label_every` columns, y from 0 to `top`."""
    left, bottom, plot_height, column_step = 44, 40, 180, 22
    width = left + max(1, len(columns)) * column_step + 10
    height = plot_height + bottom + 24
    highest = max([value for _, value in columns] + [top or 0, 1])
    body = []
    for fraction in (0, 0.5, 1):  # the y axis: 0, half, top
        y = 12 + plot_height * (1 - fraction)
        value = highest * fraction
        shown = f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
        body.append(f'<line x1="{left}" x2="{width - 6}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
                    f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="12" text-anchor="end" fill="{INK}">'
                    f'{escape(shown + unit)}</text>')
    for index, (label, value) in enumerate(columns):
        x = left + index * column_step + 3
        h = plot_height * value / highest
        y = 12 + plot_height - h
        if value:
            body.append(f'<rect class="column" x="{x}" y="{y:.1f}" width="{column_step - 6}" height="{h:.1f}" '
                        f'fill="{fill}"/>')
            text = f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
            body.append(f'<text x="{x + (column_step - 6) / 2:.1f}" y="{y - 3:.1f}" font-size="10" '
                        f'text-anchor="middle" fill="{INK}">{escape(text)}</text>')
        if index % label_every == 0 or index == len(columns) - 1:
            body.append(f'<text x="{x + (column_step - 6) / 2:.1f}" y="{12 + plot_height + 16}" font-size="11" '
                        f'text-anchor="middle" fill="{INK}">{escape(label)}</text>')
    body.append(f'<line x1="{left}" x2="{width - 6}" y1="{12 + plot_height}" y2="{12 + plot_height}" '
                f'stroke="{INK}"/>')
    return _svg(width, height, title, desc, body, "columns")
