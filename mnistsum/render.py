"""Pictures of what the network saw and said, as plain RGB arrays (numpy and PIL only).

Kept apart from the UI so the app, notebooks and the README screenshot draw the same
thing, and so any front end can show them without a plotting library.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CANVAS = 280  # the app's drawing pad is CANVAS x CANVAS pixels
GRID = (64, 64, 64)  # lines between enlarged pixels: visible on black and on white
LABEL = (40, 40, 40)
PAPER = (255, 255, 255)
# Five stops of viridis: perceptually even and readable by colour-blind viewers.
_STOPS = np.array([(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)], np.float32)


def to_uint8(plane: np.ndarray) -> np.ndarray:
    """A float plane in [0, 1] as uint8 0..255 (values outside are clipped)."""
    return np.round(np.clip(plane, 0, 1) * 255).astype(np.uint8)


def pixel_grid(image: np.ndarray, cell: int = 10) -> np.ndarray:
    """Enlarge a small [0, 1] grayscale image so every pixel is a `cell`-wide square with a
    grid line around it: the viewer sees the 784 numbers the network saw, not a blur."""
    h, w = image.shape
    big = np.repeat(np.repeat(to_uint8(image), cell, axis=0), cell, axis=1)
    out = np.empty((h * cell + 1, w * cell + 1, 3), np.uint8)
    out[:-1, :-1] = big[..., None]
    out[::cell, :] = GRID
    out[:, ::cell] = GRID
    return out


def colormap(values: np.ndarray) -> np.ndarray:
    """[0, 1] values -> viridis-like RGB uint8, shape (*values.shape, 3)."""
    x = np.clip(values, 0, 1) * (len(_STOPS) - 1)
    positions = np.arange(len(_STOPS))
    channels = [np.interp(x, positions, _STOPS[:, c]) for c in range(3)]
    return np.round(np.stack(channels, axis=-1)).astype(np.uint8)


def heatmap_html(
    table: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    highlight_row: int | None = None,
    corner: str = "",
) -> str:
    """A labelled heatmap of a probability table (values in [0, 1]) as a small HTML table,
    optionally marking one row (class "highlight"); each cell shows its value on hover.

    HTML rather than a picture: it costs a fraction of a millisecond instead of an encoded
    image per request and stays sharp at any zoom. Rows are labelled on the left, columns
    along the top, and `corner` names the columns.
    """
    rows, cols = table.shape
    if (len(row_labels), len(col_labels)) != (rows, cols):
        raise ValueError(f"{len(row_labels)}x{len(col_labels)} labels for a {rows}x{cols} table")
    colours = colormap(table).tolist()
    rows_esc = [html.escape(label) for label in row_labels]
    cols_esc = [f"{html.escape(corner)} {html.escape(label)}".strip() for label in col_labels]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in col_labels)
    body = []
    for r, (label, row_colours, values) in enumerate(zip(rows_esc, colours, table.tolist())):
        cells = "".join(
            f'<td style="background:rgb({red},{green},{blue})" title="{label}, {col}: {value:.1%}"></td>'
            for col, (red, green, blue), value in zip(cols_esc, row_colours, values)
        )
        marked = ' class="highlight"' if r == highlight_row else ""
        body.append(f"<tr{marked}><th>{label}</th>{cells}</tr>")
    return (
        f'<table class="heatmap"><thead><tr><th>{html.escape(corner)}</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def strip(planes: Sequence[np.ndarray], captions: Sequence[str], tile: int = 140) -> np.ndarray:
    """Several [0, 1] planes side by side, each fitted into a `tile` square and captioned
    underneath: one picture of a whole pipeline, read left to right."""
    if len(planes) != len(captions):
        raise ValueError(f"{len(planes)} planes but {len(captions)} captions")
    font = _font(13)
    gap, caption_height = 12, 22
    canvas = Image.new("RGB", (len(planes) * (tile + gap) + gap, tile + caption_height + gap), PAPER)
    draw = ImageDraw.Draw(canvas)
    for i, (plane, caption) in enumerate(zip(planes, captions)):
        picture = fit(plane, tile)
        left = gap + i * (tile + gap)
        h, w = picture.shape[:2]
        canvas.paste(Image.fromarray(picture), (left + (tile - w) // 2, gap // 2 + (tile - h) // 2))
        draw.text((left + tile // 2, gap // 2 + tile + 4), caption, fill=LABEL, font=font, anchor="mt")
    return np.asarray(canvas)


def fit(plane: np.ndarray, size: int = 140) -> np.ndarray:
    """Show any [0, 1] plane at about `size` px: small ones as a pixel grid (so 20x20 and
    28x28 stay countable), large ones scaled down with their aspect kept."""
    h, w = plane.shape
    if max(h, w) <= size // 4:
        return pixel_grid(plane, cell=size // max(h, w))
    factor = size / max(h, w)
    shape = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(to_uint8(plane)).resize(shape, Image.Resampling.BOX).convert("RGB"))


@functools.lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def on_paper(ink: np.ndarray) -> np.ndarray:
    """White-on-black uint8 ink as the pad sends a drawing: dark ink on white paper."""
    return 255 - np.asarray(ink, np.uint8)


def as_drawing(digit: np.ndarray, size: int = CANVAS) -> np.ndarray:
    """A white-on-black uint8 digit (e.g. from MNIST) as the pad would send it drawn:
    enlarged smoothly to `size` x `size`, dark ink on white paper."""
    return on_paper(Image.fromarray(np.asarray(digit, np.uint8)).resize((size, size), Image.Resampling.BILINEAR))


# Two colours per chart group / series kind, readable by colour-blind viewers (Okabe-Ito).
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000", "#f0e442")


def bars_html(values: Sequence[float], labels: Sequence[str], groups: Sequence[str], title: str) -> str:
    """A labelled bar chart as HTML (values may be negative: bars grow from a zero line), one
    colour per group with a legend and a scale (the top, zero and bottom values) at the left. Labels stay in the order given and each bar shows its
    value on hover; the chart shrinks to any width, so a phone shows every slot."""
    if not (len(values) == len(labels) == len(groups)):
        raise ValueError(f"{len(values)} values, {len(labels)} labels and {len(groups)} groups")
    top, bottom = max(0.0, *values), min(0.0, *values)
    span = (top - bottom) or 1.0
    colours = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(dict.fromkeys(groups))}
    cells = []
    for value, label, group in zip(values, labels, groups):
        start = (top - max(value, 0.0)) / span * 100
        cells.append(
            f'<div class="bar" title="{html.escape(f"{group} {label}: {value:.3g}")}"><div class="track">'
            f'<span style="top:{start:.1f}%;height:{abs(value) / span * 100:.1f}%;background:{colours[group]}"></span>'
            f"</div><em>{html.escape(label)}</em></div>"
        )
    zero = f'<div class="zero" style="top:{top / span * 100:.1f}%"></div>' if bottom < 0 else ""
    ticks = [(top, 0.0)] + ([(0.0, top / span * 100)] if 0 < top and bottom < 0 else []) + [(bottom, 100.0)]
    scale = "".join(f'<b style="top:{at:.1f}%">{value:.3g}</b>' for value, at in ticks)
    legend = "".join(f'<span><i style="background:{c}"></i>{html.escape(g)}</span>' for g, c in colours.items())
    return (
        f'<figure class="bars-chart"><figcaption>{html.escape(title)}</figcaption>'
        f'<div class="bars-body"><div class="scale" aria-hidden="true">{scale}</div>'
        f'<div class="bars" style="grid-template-columns:repeat({len(values)},1fr)">{zero}{"".join(cells)}</div></div>'
        f'<div class="legend">{legend}</div></figure>'
    )


def line_chart_html(
    series: dict[str, Sequence[tuple[float, float]]],
    title: str,
    x_label: str = "epoch",
    y_label: str = "accuracy",
    y_range: tuple[float, float] | None = (0.0, 1.0),
    colours: dict[str, str] | None = None,
    marked: Sequence[str] = (),
) -> str:
    """Lines through each series' (x, y) points as an inline SVG with an HTML legend below.

    Every point is drawn as a dot, so a series of one point (a test result measured once, at
    the end) is visible; series named in `marked` get a large ringed dot, in the legend too.
    The legend is HTML, so long names wrap instead of being cut off on a narrow screen."""
    points = [p for values in series.values() for p in values]
    if not points:
        return f'<figure class="line-chart empty"><figcaption>{html.escape(title)}</figcaption><p>No points yet.</p></figure>'
    colours, percent = colours or {}, y_range == (0.0, 1.0)
    xs = [x for x, _ in points]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1)
    y0, y1 = y_range or (min(y for _, y in points), max(y for _, y in points))
    y1 = y1 if y1 > y0 else y0 + 1
    w, h, left, right, top, bottom = 360, 200, 40, 10, 8, 28

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (w - left - right)

    def sy(y: float) -> float:
        return top + (y1 - y) / (y1 - y0) * (h - top - bottom)

    grid = []
    for i in range(5):
        y = y0 + (y1 - y0) * i / 4
        grid.append(f'<line x1="{left}" x2="{w - right}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" class="grid"/>')
        grid.append(
            f'<text x="{left - 4}" y="{sy(y) + 4:.1f}" text-anchor="end">{(f"{y:.0%}" if percent else f"{y:.3g}")}</text>'
        )
    for x in sorted({int(x) for x in xs if float(x).is_integer()} | {int(x0), int(x1)}):
        grid.append(f'<text x="{sx(x):.1f}" y="{h - bottom + 14}" text-anchor="middle">{x}</text>')
    grid.append(f'<text x="{(left + w - right) / 2}" y="{h - 2}" text-anchor="middle">{html.escape(x_label)}</text>')
    lines, legend = [], []
    for i, (name, values) in enumerate(series.items()):
        colour = colours.get(name) or PALETTE[i % len(PALETTE)]
        big = name in marked
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in values)
        if len(values) > 1:
            lines.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in values if big or len(values) <= 12 else ():  # a long live curve is a line, not dots
            radius, ring = (5, ' stroke="#fff" stroke-width="1.5"') if big else (2.5, "")
            label = html.escape(f"{name}, {x_label} {x:.3g}: " + (f"{y:.2%}" if percent else f"{y:.4g}"))
            lines.append(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="{radius}" fill="{colour}"{ring}><title>{label}</title></circle>'
            )
        marker = "dot" if big else "line"
        legend.append(f'<span class="{marker}"><i style="background:{colour}"></i>{html.escape(name)}</span>')
    return (
        f'<figure class="line-chart"><figcaption>{html.escape(title)}</figcaption>'
        f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="{html.escape(title)}">{"".join(grid)}{"".join(lines)}</svg>'
        f'<div class="legend">{"".join(legend)}</div></figure>'
    )
