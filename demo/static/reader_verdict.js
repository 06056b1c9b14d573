// The page's port of mnistsum/verdict.py: is the drawing one digit, two digits or not a digit?
// Python is the reference and says why each measure is there; this follows it function by
// function (same names), and tests/test_reader.py checks both give the same verdict on the
// corpus and on the negatives of mnistsum/verdict_eval.py. The thresholds come from the
// exported reader (weights/reader.json, "verdict"), read from the Python module: none is here.
(function () {
  const parts = (globalThis.mnistsumReaderParts = globalThis.mnistsumReaderParts || {});

  // _runs: how many runs of ink start on each of `lines` lines of `length` cells (at(line, i)).
  function runs(lines, length, at) {
    const out = new Array(lines).fill(0);
    for (let l = 0; l < lines; l++) {
      let before = false;
      for (let i = 0; i < length; i++) {
        const on = at(l, i);
        if (on && !before) out[l]++;
        before = on;
      }
    }
    return out;
  }

  // _busiest: the mean of the top tenth of the lines holding ink.
  function busiest(counts) {
    const inked = counts.filter((c) => c > 0).sort((a, b) => a - b);
    if (!inked.length) return 0;
    const top = inked.slice(inked.length - Math.max(1, Math.floor(inked.length / 10)));
    return top.reduce((s, c) => s + c, 0) / top.length;
  }

  function tallPieces(m, V) {
    const { h, w } = m;
    const used = new Array(w).fill(false);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (m.on[y * w + x]) used[x] = true;
    const gap = Math.max(1, Math.ceil(V.PAIR_GAP * h));
    const pieces = [];
    let start = null;
    let empty = 0;
    for (let c = 0; c < w; c++) {
      if (used[c]) {
        if (start === null) start = c;
        else if (empty >= gap) {
          pieces.push([start, c - empty]);
          start = c;
        }
        empty = 0;
      } else empty++;
    }
    if (start !== null) pieces.push([start, w - empty]);
    let tall = 0;
    for (const [a, b] of pieces) {
      let first = -1;
      let last = -1;
      for (let y = 0; y < h; y++) {
        let any = false;
        for (let x = a; x < b && !any; x++) any = m.on[y * w + x];
        if (any) {
          if (first < 0) first = y;
          last = y;
        }
      }
      if (first >= 0 && last - first + 1 >= V.PAIR_HEIGHT * h) tall++;
    }
    return tall;
  }

  // _feet: `flip` reads the rows bottom up (the band at the top: heads).
  function feet(m, gap, V, flip = false) {
    const { h, w } = m;
    const top = Math.trunc(V.FEET_BAND[0] * h);
    const bottom = Math.max(Math.trunc(V.FEET_BAND[1] * h), top + 1);
    let apart = 0;
    let rows = 0;
    for (let y = top; y < Math.min(bottom, h); y++) {
      rows++;
      let previous = -1;
      let widest = -1;
      let count = 0;
      const row = flip ? h - 1 - y : y;
      for (let x = 0; x < w; x++) {
        if (!m.on[row * w + x]) continue;
        if (previous >= 0) widest = Math.max(widest, x - previous);
        previous = x;
        count++;
      }
      if (count > 1 && widest - 1 >= gap * w) apart++;
    }
    return apart >= V.FEET_ROWS * rows;
  }

  // shape: the measures of an ink plane (the "ink" stage); null when it holds no digit.
  function shape(ink, C, V) {
    const box = parts.inkBox(ink, C);
    if (box === null) return null;
    const c = parts.crop(ink, box);
    const { h, w } = c;
    let on = Array.from(c.data, (v) => v >= V.INK_LEVEL);
    if (!on.some(Boolean)) on = Array.from(c.data, (v) => v > 0);
    const m = { on, h, w };
    const rowRuns = runs(h, w, (y, x) => on[y * w + x]);
    const colRuns = runs(w, h, (x, y) => on[y * w + x]);
    return {
      extent: Math.max(h, w) / Math.max(ink.h, ink.w),
      aspect: w / h,
      tall_pieces: tallPieces(m, V),
      crossings: Math.max(busiest(rowRuns), busiest(colRuns)),
      feet: feet(m, V.FEET_GAP, V),
      crossed: feet(m, V.X_GAP, V) && feet(m, V.X_GAP, V, true),
    };
  }

  // judge / verdict: {verdict, reason} as mnistsum.verdict.judge gives them.
  function judge(s, digitProbs, V) {
    if (s === null || s.extent < V.TAP_EXTENT) return { verdict: "not_a_digit", reason: "tap" };
    if (s.tall_pieces >= 2 || s.aspect >= V.WIDE_ASPECT) return { verdict: "two_digits", reason: "pair" };
    if (s.crossings >= V.SCRIBBLE_CROSSINGS) return { verdict: "not_a_digit", reason: "scribble" };
    if (s.feet || s.crossed) return { verdict: "not_a_digit", reason: "letter" };
    if (digitProbs && Math.max(...digitProbs) < V.MIN_CONFIDENCE) return { verdict: "not_a_digit", reason: "unsure" };
    return { verdict: "digit", reason: null };
  }

  parts.verdict = (ink, digitProbs, C, V) => judge(shape(ink, C, V), digitProbs, V);
})();
