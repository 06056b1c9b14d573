"""The page's reader (mnistsum/export.py -> weights/reader.json -> demo/static/reader*.js).

The export must match the shipped checkpoint byte for byte (regenerated here), and the page's
preprocessing and network must give what `Predictor.predict` gives on a fixed corpus of 2,000+
drawings at the pad's size (tests/reader_corpus.py), run in Chromium in one `evaluate` call.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from reader_corpus import corpus, negative_corpus

from mnistsum import Predictor
from mnistsum.config import SHIPPED_WEIGHTS
from mnistsum.export import READER, file_digest, main, reader, to_json
from mnistsum.predictor import BlankDrawingError

STATIC = Path(__file__).resolve().parent.parent / "demo" / "static"
SCRIPTS = ("reader_preprocess.js", "reader_verdict.js", "reader_net.js", "reader.js")


def test_the_shipped_reader_is_the_export_of_the_shipped_checkpoint(tmp_path: Path) -> None:
    shipped = json.loads(READER.read_text())
    assert shipped["source_sha256"] == file_digest(SHIPPED_WEIGHTS)  # exported from this very checkpoint
    out = tmp_path / "reader.json"
    assert main(["--out", str(out)]) == 0
    assert out.read_text() == READER.read_text(), "weights/reader.json is stale: run `python -m mnistsum.export`"
    assert main(["--check"]) == 0


def test_check_fails_on_a_stale_or_edited_reader(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edited = json.loads(READER.read_text())
    edited["preprocess"]["BOX"] = 22
    stale = tmp_path / "reader.json"
    stale.write_text(to_json(edited))
    assert main(["--check", "--out", str(stale)]) == 1
    assert "does not match" in capsys.readouterr().out
    assert main(["--check", "--out", str(tmp_path / "missing.json")]) == 1


def test_the_export_carries_the_preprocessing_constants_and_folded_layers(shipped: Predictor) -> None:
    from mnistsum import preprocess

    artefact = reader(shipped.model, "x")
    assert (
        artefact["preprocess"]["BOX"] == preprocess.BOX
        and artefact["preprocess"]["THIN_STROKE"] == preprocess.THIN_STROKE
    )
    assert [layer["type"] for layer in artefact["digit"]].count("conv") == 5  # the wide net, BatchNorm folded away
    assert all(layer["type"] != "batchnorm" for layer in artefact["digit"])
    assert artefact["digit"][-1]["weight"]["shape"] == [10, 128]  # the layer a visitor's handwriting replaces


def test_a_flat_block_of_ink_is_read_not_eroded_forever() -> None:
    """A crop with no edge inside has a stroke width of ~1e9 px: thinning stops once nothing is left."""
    from mnistsum.preprocess import preprocess

    bar = np.full((280, 280), 255, np.uint8)
    bar[60:220, 130:150] = 0
    assert not preprocess(bar).blank


def load_reader(page: Any) -> None:
    page.set_content("<!doctype html><title>reader</title>")
    for name in SCRIPTS:
        page.add_script_tag(content=(STATIC / name).read_text(encoding="utf-8"))


def _png(drawing: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(drawing).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# Decode every drawing as the pad's canvas holds it (RGBA), read it, and hand back the digit
# and the 28x28 image (float32 bytes, base64) of each: one call for the whole corpus.
READ_ALL = """async ([artefact, drawings, n]) => {
  const reader = window.mnistsumReader;
  reader.setModel(JSON.parse(artefact));
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 280;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const out = [];
  const start = performance.now();
  for (const png of drawings) {
    const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }),
      { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    ctx.drawImage(bitmap, 0, 0);
    const answer = reader.predict(ctx.getImageData(0, 0, 280, 280), n);
    const image = answer.blank ? new Float32Array(784) : answer.image;
    const raw = new Uint8Array(image.buffer, image.byteOffset, image.byteLength);
    let text = "";
    for (let i = 0; i < raw.length; i++) text += String.fromCharCode(raw[i]);
    out.push([answer.digit, answer.sum, btoa(text), answer.verdict, answer.reason]);
  }
  return { out, ms: (performance.now() - start) / drawings.length };
}"""


def _read_in_page(browser: Any, drawings: list[tuple[str, np.ndarray]], n: int) -> dict[str, Any]:
    page = browser.new_page()
    try:
        load_reader(page)
        return page.evaluate(READ_ALL, [READER.read_text(), [_png(d) for _, d in drawings], n])
    finally:
        page.close()


def _reference(shipped: Predictor, drawing: np.ndarray, n: int) -> tuple[Any, Any, np.ndarray, Any, Any]:
    """What `Predictor.predict` says of the drawing as the pad's PNG decodes it (RGBA)."""
    rgba = np.dstack([drawing] * 3 + [np.full_like(drawing, 255)])
    try:
        expected = shipped.predict(rgba, n)
    except BlankDrawingError:
        return None, None, np.zeros((28, 28), np.float32), None, None
    verdict = expected.verdict
    return expected.digit, expected.sum, expected.model_input, verdict.kind, verdict.reason


def test_the_page_reads_the_corpus_as_the_predictor_does(
    browser: Any, shipped: Predictor, mnist_dir: Path, pen_dir: Path
) -> None:
    drawings = corpus(mnist_dir, pen_dir)
    assert len(drawings) >= 2000
    n = 4
    result = _read_in_page(browser, drawings, n)
    same, pixels, close, worst, verdicts = 0, 0, 0, [], []
    for (name, drawing), (digit, total, image64, kind, reason) in zip(drawings, result["out"]):
        page_image = np.frombuffer(base64.b64decode(image64), np.float32).reshape(28, 28)
        ref_digit, ref_sum, ref_image, ref_kind, ref_reason = _reference(shipped, drawing, n)
        same += (digit, total) == (ref_digit, ref_sum)
        if (kind, reason) != (ref_kind, ref_reason):
            verdicts.append((name, ref_kind, ref_reason, kind, reason))
        off = np.abs(page_image - ref_image) > 0.05
        pixels += off.size
        close += off.size - int(off.sum())
        worst.append((int(off.sum()), float(np.abs(page_image - ref_image).max()), name, ref_digit, digit))
    worst.sort(reverse=True)
    print(f"\n{len(drawings)} drawings, {result['ms']:.1f} ms each in the page: same digit and sum on {same}")
    print(f"pixels within 0.05: {close / pixels:.4%}; worst: {worst[:5]}")
    assert same >= 0.999 * len(drawings), worst[:10]
    assert close >= 0.99 * pixels, worst[:10]
    assert not verdicts, verdicts[:10]  # the page says "one digit / two digits / not a digit" as Python does


def test_the_page_gives_the_predictors_verdict_on_what_is_not_one_digit(
    browser: Any, shipped: Predictor, mnist_dir: Path, pen_dir: Path
) -> None:
    drawings = negative_corpus(mnist_dir, pen_dir)
    result = _read_in_page(browser, drawings, 0)
    pairs = [(name, _reference(shipped, d, 0)[3:], tuple(out[3:])) for (name, d), out in zip(drawings, result["out"])]
    differ = [p for p in pairs if p[1] != p[2]]
    assert not differ, differ[:10]
    assert sum(page[0] != "digit" for _, _, page in pairs) >= len(pairs) // 2  # most of them are caught


def test_a_damaged_reader_is_refused_with_the_reason(browser: Any) -> None:
    good = READER.read_text()
    damaged = json.loads(good)
    data = damaged["digit"][0]["weight"]["data"]
    damaged["digit"][0]["weight"]["data"] = ("A" if data[10] != "A" else "B").join([data[:10], data[11:]])
    truncated = good[: len(good) // 2]
    page = browser.new_page()
    try:
        load_reader(page)
        refusals = page.evaluate(
            """([good, damaged, truncated]) => {
              const r = window.mnistsumReader;
              r.setModel(JSON.parse(good));
              const refused = [];
              for (const bad of [damaged, {format: "something else"}]) {
                try { r.setModel(bad); refused.push("accepted"); } catch (err) { refused.push(err.message); }
              }
              try { JSON.parse(truncated); } catch (err) { refused.push("not JSON"); }
              return [refused, r.ready(), r.error()];
            }""",
            [good, damaged, truncated],
        )
    finally:
        page.close()
    (checksum, fmt, truncated_note), still_ready, error = refusals
    assert "digit network layer 0 (conv) weight fails its checksum" in checksum
    assert "format" in fmt and "mnistsum-reader/1" in fmt
    assert truncated_note == "not JSON"
    assert still_ready and "format" in error  # the model it had keeps answering; the refusal is kept to show
