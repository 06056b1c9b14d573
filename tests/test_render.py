"""The pictures and tables the app shows, checked on small inputs the tests make."""

from __future__ import annotations

import numpy as np
import pytest

from mnistsum import render


def test_heatmap_html_has_a_cell_per_value_coloured_by_value() -> None:
    table = np.array([[0.0, 1.0, 0.5], [0.25, 0.25, 0.5]])
    out = render.heatmap_html(table, ["a", "b"], ["x", "y", "z"], highlight_row=1, corner="sum")
    assert out.count("<td") == 6 and out.count("<tr") == 3
    low, high = render.colormap(np.array([0.0, 1.0]))
    assert f"background:rgb({low[0]},{low[1]},{low[2]})" in out.split("</tr>")[1]  # row a, first cell
    assert f"background:rgb({high[0]},{high[1]},{high[2]})" in out
    assert 'title="a, sum y: 100.0%"' in out
    assert '<tr class="highlight"><th>b</th>' in out and out.count("highlight") == 1


def test_heatmap_html_escapes_labels_and_checks_their_count() -> None:
    out = render.heatmap_html(np.zeros((1, 1)), ["<b>"], ["&"])
    assert "<b>" not in out and "&lt;b&gt;" in out and "&amp;" in out
    with pytest.raises(ValueError, match="labels"):
        render.heatmap_html(np.zeros((2, 2)), ["a"], ["x", "y"])


def test_pixel_grid_keeps_every_pixel_and_draws_lines_between() -> None:
    image = np.zeros((3, 2))
    image[1, 0] = 1.0
    out = render.pixel_grid(image, cell=4)
    assert out.shape == (13, 9, 3)
    assert (out[5:8, 1:4] == 255).all() and (out[1:4, 5:8] == 0).all()
    assert (out[::4, :] == render.GRID).all() and (out[:, ::4] == render.GRID).all()


def test_strip_puts_the_stages_side_by_side() -> None:
    planes = [np.ones((280, 280)), np.ones((20, 20)), np.ones((28, 28))]
    out = render.strip(planes, ["raw", "20x20", "28x28"], tile=100)
    assert out.ndim == 3 and out.shape[1] > 3 * 100 > out.shape[0]
    with pytest.raises(ValueError, match="captions"):
        render.strip(planes, ["one"])


def test_a_digit_as_the_sketchpad_sends_it() -> None:
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255  # white ink on black, as MNIST
    drawing = render.as_drawing(digit)
    assert drawing.shape == (render.CANVAS, render.CANVAS) and drawing.dtype == np.uint8
    assert drawing[0, 0] == 255 and drawing[140, 140] == 0  # dark ink on white paper
    assert np.array_equal(render.on_paper(digit), 255 - digit)


def test_bars_html_keeps_the_order_and_grows_negative_bars_down_from_zero() -> None:
    out = render.bars_html([2.0, -1.0, 0.5], ["b", "a", "<c>"], ["g", "g", "h"], "title")
    assert [part.split("</em>")[0] for part in out.split("<em>")[1:]] == ["b", "a", "&lt;c&gt;"]  # not sorted
    assert 'title="g b: 2"' in out and "top:0.0%;height:66.7%" in out  # 2 of the span 3, from the top
    assert "top:66.7%;height:33.3%" in out and 'class="zero" style="top:66.7%"' in out  # -1 hangs below zero
    assert out.count("<i ") == 2  # one legend entry per group
    scale = out.split('class="scale"')[1].split("</div>")[0]  # every chart has a scale: top, zero, bottom
    assert '<b style="top:0.0%">2</b>' in scale and '<b style="top:66.7%">0</b>' in scale
    assert '<b style="top:100.0%">-1</b>' in scale
    with pytest.raises(ValueError, match="labels"):
        render.bars_html([1.0], ["a", "b"], ["g"], "t")


def test_line_chart_html_draws_a_one_point_series_as_a_marked_dot_in_the_legend() -> None:
    series = {"train": [(1, 0.5), (2, 0.7), (3, 0.9)], "test": [(3, 0.95)]}
    out = render.line_chart_html(series, "Accuracy", marked=["test"])
    assert out.count("<polyline") == 1 and out.count("<circle") == 4  # a single point is still drawn
    assert 'r="5"' in out and "test, epoch 3: 95.00%" in out
    assert '<span class="dot">' in out and '<span class="line">' in out  # the legend shows the marked point
    assert ">100%</text>" in out and ">0%</text>" in out
    assert "No points yet" in render.line_chart_html({}, "Accuracy")
    loss = render.line_chart_html({"loss": [(0.5, 2.0), (1.0, 0.5)]}, "Loss", y_range=None)
    assert "%" not in loss.split("<svg")[1]  # a loss axis is not a percentage
