"""Bar charts as inline SVG, drawn on the server: no script, no external file, readable by screen readers.

Each chart is `role="img"` with a <title> and <desc>; the page shows the same numbers in a table.
"""
from __future__ import annotations

from html import escape
from typing import Sequence

WIDTH = 720
HEIGHT = 240
TOP, BOTTOM, LEFT, RIGHT = 16, 40, 56, 8
BAR_COLOUR = "#1f5f8b"  # 7:1 contrast on white
TEXT_COLOUR = "#1a1a1a"


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def bar_chart(chart_id: str, title: str, desc: str, labels: Sequence[str], values: Sequence[int]) -> str:
    """A vertical bar chart; every bar also carries its number in a <title> (a tooltip)."""
    if len(labels) != len(values):
        raise ValueError("a label for every value")
    top = _nice_ceiling(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(values), 1)
    every = 1 if len(labels) <= 16 else 2  # keep the day labels from overlapping
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
             f'height="{HEIGHT}" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
             f'font-family="sans-serif" font-size="11" fill="{TEXT_COLOUR}">',
             f'<title id="{chart_id}-title">{escape(title)}</title>',
             f'<desc id="{chart_id}-desc">{escape(desc)}</desc>']
    for fraction in (0, 0.5, 1):  # axis: zero, half, top
        y = TOP + plot_h * (1 - fraction)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#bbb"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{round(top * fraction):,}</text>')
    for index, (label, value) in enumerate(zip(labels, values)):
        height = plot_h * value / top
        x = LEFT + index * slot + slot * 0.15
        parts.append(f'<rect x="{x:.1f}" y="{TOP + plot_h - height:.1f}" width="{slot * 0.7:.1f}" '
                     f'height="{height:.1f}" fill="{BAR_COLOUR}"><title>{escape(label)}: {value:,}</title></rect>')
        if index % every == 0:
            parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                         f'text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


SERIES_STYLES = (("#1f5f8b", ""), ("#8a3b00", "6 3"), ("#3d3d3d", "2 3"))  # colour and dash: told apart in grey too


def line_chart(chart_id: str, title: str, desc: str, labels: Sequence[str],
               series: Sequence[tuple[str, Sequence[float | None]]], top: float = 100) -> str:
    """Lines over 0..top, one per series (a gap where a value is None), with a legend; each point has a <title>."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM - 20
    step = plot_w / max(len(labels) - 1, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
             f'height="{HEIGHT}" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" '
             f'font-family="sans-serif" font-size="11" fill="{TEXT_COLOUR}">',
             f'<title id="{chart_id}-title">{escape(title)}</title>',
             f'<desc id="{chart_id}-desc">{escape(desc)}</desc>']
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#bbb"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{round(top * fraction):,}</text>')
    every = 1 if len(labels) <= 12 else 2
    for index, text in enumerate(labels):
        if index % every == 0:
            parts.append(f'<text x="{LEFT + index * step:.1f}" y="{TOP + plot_h + 16}" '
                         f'text-anchor="middle">{escape(text)}</text>')
    for number, (name, values) in enumerate(series):
        colour, dash = SERIES_STYLES[number % len(SERIES_STYLES)]
        runs: list[list[str]] = [[]]
        for index, value in enumerate(values):
            if value is None:
                runs.append([])
                continue
            x, y = LEFT + index * step, TOP + plot_h * (1 - min(value, top) / top)
            runs[-1].append(f"{x:.1f},{y:.1f}")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{escape(name)}, '
                         f'{escape(labels[index])}: {value:g}</title></circle>')
        for run in runs:
            if len(run) > 1:
                parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" stroke-width="2"'
                             + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        legend_x = LEFT + number * 220
        parts.append(f'<line x1="{legend_x}" y1="{HEIGHT - 8}" x2="{legend_x + 24}" y2="{HEIGHT - 8}" '
                     f'stroke="{colour}" stroke-width="2"' + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        parts.append(f'<text x="{legend_x + 30}" y="{HEIGHT - 4}">{escape(name[:32])}</text>')
    parts.append("</svg>")
    return "".join(parts)
