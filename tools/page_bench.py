"""The page's reader, measured: `python -m tools.page_bench [--rounds N]`.

Serves the app on a free loopback port and, in headless Chromium, prints: stroke -> right answer
and slider-step times with the requests each sends (`tools.browser_bench`, which drives the pad
like a person); the reader alone (preprocessing + network + the sum table, one drawing, in the
page); and the bytes the page downloads on a first load and on a reload (from Chromium's network
log, compressed sizes as sent, every response counted).
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import sys
from typing import Any

from demo.make_examples import example_path

from .browser import launch_chromium
from .browser_bench import percentile, report, run
from .http_bench import served_app

READER_JS = """async ([urls, repeats]) => {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 280;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const images = [];
  for (const url of urls) {
    const bitmap = await createImageBitmap(await (await fetch(url)).blob());
    ctx.drawImage(bitmap, 0, 0, 280, 280);
    images.push(ctx.getImageData(0, 0, 280, 280));
  }
  const times = [];
  for (let k = 0; k < repeats; k++) {
    for (const image of images) {
      const start = performance.now();
      window.mnistsumReader.predict(image, 3);
      times.push(performance.now() - start);
    }
  }
  return times;
}"""


def page_bytes(browser: Any, url: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """((bytes, responses) on a first load, (bytes, responses) on a reload), once the reader is ready."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    loads: list[int] = []
    cdp.on("Network.loadingFinished", lambda event: loads.append(int(event["encodedDataLength"])))
    out = []
    try:
        for go in (lambda: page.goto(url), lambda: page.reload()):
            loads.clear()
            go()
            page.locator("#reader .page-reader[data-state=page]").wait_for(state="attached", timeout=60_000)
            page.wait_for_timeout(1500)  # what the page fetches after it shows
            out.append((sum(loads), len(loads)))
        return out[0], out[1]
    finally:
        context.close()


def reader_ms(browser: Any, url: str, repeats: int) -> list[float]:
    """The page's reader alone on the ten example drawings, `repeats` times each."""
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(url)
        page.locator("#reader .page-reader[data-state=page]").wait_for(state="attached", timeout=60_000)
        urls = [f"data:image/png;base64,{base64.b64encode(example_path(d).read_bytes()).decode()}" for d in range(10)]
        return page.evaluate(READER_JS, [urls, repeats])
    finally:
        context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.page_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of stroke, Undo, Redo, Undo")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    with served_app() as (url, _), sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            print(f"page benchmark of {url} in headless Chromium ({os.cpu_count()} CPUs{load})")
            ms = reader_ms(browser, url, repeats=5)
            print(
                f"the reader alone (preprocess + network + sum table), n={len(ms)}: median {statistics.median(ms):.1f} ms, p95 {percentile(ms, 0.95):.1f} ms"
            )
            (first, first_count), (again, again_count) = page_bytes(browser, url)
            print(
                f"bytes on a first load: {first / 1e6:.2f} MB in {first_count} responses; on a reload: {again / 1e6:.2f} MB in {again_count} responses"
            )
            report(run(url, rounds=args.rounds, first_strokes=3, slider_steps=20, browser=browser))
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
