"""Metric plots as small self-contained SVG images, drawn here without a plotting library.

No display, no fonts to install, no network: the html card embeds them as data: URIs and the
PDF printer rasterises the same images through Qt.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

W, H = 520, 260
LEFT, RIGHT, TOP, BOTTOM = 62, 16, 28, 40
COLOUR = "#2f6db5"


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def line_plot(title: str, xs: Sequence[float], ys: Sequence[float], xlabel: str = "step") -> str:
    """One curve: finite points only (NaN/inf are dropped, not drawn as zeros)."""
    pts = [(x, y) for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y)]
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
              'font-family="sans-serif" font-size="11">'),
             f'<rect width="{W}" height="{H}" fill="#ffffff"/>',
             f'<text x="{W / 2:.0f}" y="17" text-anchor="middle" font-size="13">{escape(title)}</text>']
    if not pts:
        parts.append(f'<text x="{W / 2:.0f}" y="{H / 2:.0f}" text-anchor="middle">no finite values</text></svg>')
        return "".join(parts)
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        pad = abs(y0) * 0.05 or 1.0
        y0, y1 = y0 - pad, y1 + pad

    def sx(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return TOP + ph - (y - y0) / (y1 - y0) * ph

    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    for t in _ticks(y0, y1):
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#eee"/>'
                     f'<text x="{LEFT - 4}" y="{sy(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    for t in _ticks(x0, x1):
        parts.append(f'<text x="{sx(t):.1f}" y="{TOP + ph + 14}" text-anchor="middle">{_fmt(t)}</text>')
    parts.append(f'<text x="{LEFT + pw / 2:.0f}" y="{H - 6}" text-anchor="middle">{escape(xlabel)}</text>')
    path = " ".join(f"{'M' if i == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for i, (x, y) in enumerate(pts))
    parts.append(f'<path d="{path}" fill="none" stroke="{COLOUR}" stroke-width="1.6"/>')
    if len(pts) == 1:
        parts.append(f'<circle cx="{sx(pts[0][0]):.1f}" cy="{sy(pts[0][1]):.1f}" r="3" fill="{COLOUR}"/>')
    parts.append("</svg>")
    return "".join(parts)


def bar_plot(title: str, labels: Sequence[str], values: Sequence[float | None]) -> str:
    """Horizontal bars, one per slice (a missing value is labelled, not drawn)."""
    rows = max(1, len(labels))
    row_h = 22
    height = TOP + rows * row_h + 16
    label_w = 170
    pw = W - label_w - 70
    finite = [v for v in values if v is not None and math.isfinite(v)]
    hi = max([0.0, *finite]) or 1.0
    lo = min([0.0, *finite])
    span = (hi - lo) or 1.0
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" '
              f'viewBox="0 0 {W} {height}" font-family="sans-serif" font-size="11">'),
             f'<rect width="{W}" height="{height}" fill="#ffffff"/>',
             f'<text x="{W / 2:.0f}" y="17" text-anchor="middle" font-size="13">{escape(title)}</text>']
    zero = label_w + (0 - lo) / span * pw
    for i, (label, v) in enumerate(zip(labels, values)):
        y = TOP + i * row_h
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(label[:28])}</text>')
        if v is None or not math.isfinite(v):
            parts.append(f'<text x="{label_w + 4}" y="{y + 14}">no value</text>')
            continue
        end = label_w + (v - lo) / span * pw
        x, w = min(zero, end), abs(end - zero)
        parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" height="{row_h - 7}" fill="{COLOUR}"/>'
                     f'<text x="{max(zero, end) + 4:.1f}" y="{y + 14}">{_fmt(v)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
