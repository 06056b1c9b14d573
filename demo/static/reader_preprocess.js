// The page's port of mnistsum/preprocess.py: a drawing (canvas ImageData) -> the 28x28 image
// MNIST would have made of it. Python is the reference and the written description of every
// step; this follows it function by function (same names), and tests/test_reader_parity.py
// runs both on the same 2,000+ drawings. The numbers (box, frame, thresholds) come from the
// exported reader (weights/reader.json), read from the Python module: none is written here.
// float32 arithmetic is mirrored with Math.fround where numpy works in float32.
(function () {
  const f32 = Math.fround;
  const parts = (globalThis.mnistsumReaderParts = globalThis.mnistsumReaderParts || {});

  // A plane: {data: Float32Array, h, w} (row-major).
  const plane = (h, w) => ({ data: new Float32Array(h * w), h, w });

  // Python's round(): halves go to the even neighbour.
  function roundHalfEven(x) {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  function sortedCopy(values) {
    return Float32Array.from(values).sort();
  }

  // numpy's default (linear) percentile of sorted values.
  function percentile(sorted, q) {
    const pos = (q / 100) * (sorted.length - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, sorted.length - 1);
    return f32(sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo));
  }

  function median(sorted) {
    const n = sorted.length;
    return n % 2 ? sorted[(n - 1) / 2] : f32((sorted[n / 2 - 1] + sorted[n / 2]) / 2);
  }

  // _grayscale: alpha when the image is not fully opaque, else luma; box-averaged below MAX_SIDE.
  function grayscale(image, C) {
    const { width: w, height: h, data } = image;
    let alphaMin = 255;
    for (let i = 3; i < data.length; i += 4) if (data[i] < alphaMin) alphaMin = data[i];
    const luma = C.LUMA.map(f32);
    const scale = f32(1 / 255);
    const factor = Math.ceil(Math.max(h, w) / C.MAX_SIDE);
    const oh = Math.ceil(h / factor);
    const ow = Math.ceil(w / factor);
    const out = plane(oh, ow);
    const channel = (c) => {
      // one channel, box-averaged by `factor` (PIL's reduce: partial boxes at the edge included)
      const p = new Float32Array(oh * ow);
      if (factor === 1) {
        for (let i = 0; i < p.length; i++) p[i] = data[4 * i + c];
        return p;
      }
      for (let y = 0; y < oh; y++) {
        for (let x = 0; x < ow; x++) {
          let s = 0;
          let count = 0;
          for (let yy = y * factor; yy < Math.min(h, (y + 1) * factor); yy++) {
            for (let xx = x * factor; xx < Math.min(w, (x + 1) * factor); xx++) {
              s += data[(yy * w + xx) * 4 + c];
              count++;
            }
          }
          p[y * ow + x] = Math.round(s / count);
        }
      }
      return p;
    };
    if (alphaMin < 255) {
      const a = channel(3);
      for (let i = 0; i < a.length; i++) out.data[i] = f32(a[i] * scale);
    } else {
      const [r, g, b] = [channel(0), channel(1), channel(2)];
      for (let i = 0; i < r.length; i++) {
        const sum = f32(f32(f32(luma[0] * r[i]) + f32(luma[1] * g[i])) + f32(luma[2] * b[i]));
        out.data[i] = f32(sum * scale);
      }
    }
    return out;
  }

  function range(values) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return [lo, hi];
  }

  function border(raw) {
    const { data, h, w } = raw;
    const out = [];
    for (let x = 0; x < w; x++) out.push(data[x]);
    for (let x = 0; x < w; x++) out.push(data[(h - 1) * w + x]);
    for (let y = 1; y < h - 1; y++) out.push(data[y * w]);
    for (let y = 1; y < h - 1; y++) out.push(data[y * w + w - 1]);
    return out;
  }

  // _backgrounds: (level, noise) estimates in order; see the Python docstring for why.
  function* backgrounds(raw, C) {
    const edge = border(raw);
    const sortedEdge = sortedCopy(edge);
    let background = sortedEdge[sortedEdge.length >> 1];
    const deviations = sortedCopy(edge.map((v) => Math.abs(f32(v - background))));
    yield [background, C.NOISE_MARGIN * deviations[Math.floor((deviations.length * 9) / 10)]];
    const values = raw.data;
    const [lo, hi] = range(values);
    const mid = f32((lo + hi) / 2);
    const quarter = (hi - lo) / 4;
    const loCut = f32(lo + quarter);
    const hiCut = f32(hi - quarter);
    let nearLo = 0;
    let nearHi = 0;
    let dark = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v < loCut) nearLo++;
      if (v > hiCut) nearHi++;
      if (v < mid) dark++;
    }
    nearLo /= values.length;
    nearHi /= values.length;
    if (1 - nearLo - nearHi > C.MAX_MIDTONES || Math.min(nearLo, nearHi) < C.MIN_LEVEL_SHARE) return;
    const edgeDark = edge.filter((v) => v < mid).length / edge.length;
    const backgroundIsDark = edgeDark + dark / values.length > 1;
    const side = [];
    for (const v of values) if (v < mid === backgroundIsDark) side.push(v);
    background = median(sortedCopy(side));
    const spread = sortedCopy(side.map((v) => Math.abs(f32(v - background))));
    yield [background, C.NOISE_MARGIN * percentile(spread, 25)];
  }

  // _ink: 0..1 ink strength, zero where it cannot be told from the background.
  function ink(raw, C) {
    const values = raw.data;
    const [lo, hi] = range(values);
    for (const [background, noise] of backgrounds(raw, C)) {
      const dark = f32(background - lo);
      const light = f32(hi - background);
      const contrast = Math.max(dark, light);
      if (contrast < f32(Math.max(C.MIN_CONTRAST, noise))) continue;
      const out = plane(raw.h, raw.w);
      const factor = f32(1 / contrast);
      const cut = f32(f32(noise) / contrast);
      const darkInk = dark >= light;
      for (let i = 0; i < values.length; i++) {
        const v = f32(f32(darkInk ? background - values[i] : values[i] - background) * factor);
        out.data[i] = v > cut ? v : 0;
      }
      return out;
    }
    return plane(raw.h, raw.w);
  }

  // _extent: [start, end) of the inked positions and the longest run, stray end pieces dropped.
  function extent(profile, C) {
    const starts = [];
    const ends = [];
    for (let i = 0; i < profile.length; i++) {
      const on = profile[i] > 0;
      const before = i > 0 && profile[i - 1] > 0;
      if (on && !before) starts.push(i);
      if (!on && before) ends.push(i);
    }
    if (profile.length && profile[profile.length - 1] > 0) ends.push(profile.length);
    if (!starts.length) return [0, 0, 0];
    let total = 0;
    for (const v of profile) total += v;
    const stray = starts.map((s, k) => {
      let mass = 0;
      for (let i = s; i < ends[k]; i++) mass += profile[i];
      return mass < C.STRAY_SHARE * total;
    });
    const far = C.STRAY_GAP * profile.length;
    let first = 0;
    let last = starts.length - 1;
    while (first < last && stray[first] && starts[first + 1] - ends[first] >= far) first++;
    while (last > first && stray[last] && starts[last] - ends[last - 1] >= far) last--;
    let run = 0;
    for (let k = first; k <= last; k++) run = Math.max(run, ends[k] - starts[k]);
    return [starts[first], ends[last], run];
  }

  function rowSums(p, [r0, r1], [c0, c1]) {
    const out = new Float64Array(p.h);
    for (let y = r0; y < r1; y++) {
      let s = 0;
      for (let x = c0; x < c1; x++) s += p.data[y * p.w + x];
      out[y] = s;
    }
    return out;
  }

  function colSums(p, [r0, r1], [c0, c1]) {
    const out = new Float64Array(p.w);
    for (let y = r0; y < r1; y++) for (let x = c0; x < c1; x++) out[x] += p.data[y * p.w + x];
    return out;
  }

  // _ink_box: [rows, cols] holding the digit, or null; each axis measured within the other's range.
  function inkBox(p, C) {
    const all = [0, p.h];
    const allCols = [0, p.w];
    let rows = extent(rowSums(p, all, allCols), C);
    let cols = extent(colSums(p, all, allCols), C);
    rows = extent(rowSums(p, all, cols), C);
    cols = extent(colSums(p, rows, allCols), C);
    if (Math.max(rows[2], cols[2]) < Math.max(3, C.MIN_SPAN * Math.max(p.h, p.w))) return null;
    return [rows, cols];
  }

  function crop(p, [[r0, r1], [c0, c1]]) {
    const out = plane(r1 - r0, c1 - c0);
    for (let y = r0; y < r1; y++) out.data.set(p.data.subarray(y * p.w + c0, y * p.w + c1), (y - r0) * out.w);
    return out;
  }

  // _stroke_width: 2 * ink mass / summed absolute gradient.
  function strokeWidth(p) {
    const { data, h, w } = p;
    let mass = 0;
    let edge = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = data[y * w + x];
        mass += v;
        if (y + 1 < h) edge += Math.abs(f32(data[(y + 1) * w + x] - v));
        if (x + 1 < w) edge += Math.abs(f32(data[y * w + x + 1] - v));
      }
    }
    return (2 * mass) / Math.max(edge, 1e-6);
  }

  // _erode: one 3x3 min filter (outside the array counts as no ink), square or plus-shaped.
  function erode(p, square) {
    const { data, h, w } = p;
    const out = plane(h, w);
    const at = (y, x) => (y >= 0 && y < h && x >= 0 && x < w ? data[y * w + x] : 0);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let m = Math.min(at(y, x), at(y - 1, x), at(y + 1, x), at(y, x - 1), at(y, x + 1));
        if (square) m = Math.min(m, at(y - 1, x - 1), at(y - 1, x + 1), at(y + 1, x - 1), at(y + 1, x + 1));
        out.data[y * w + x] = m;
      }
    }
    return out;
  }

  // _thin: strokes thicker than THICK_STROKE at 20 px scale are eroded to it, then cropped again.
  function thin(p, C) {
    const side = Math.max(p.h, p.w);
    const width = strokeWidth(p);
    if ((width * C.BOX) / side <= C.THICK_STROKE) return p;
    const k = C.THICK_STROKE / C.BOX;
    const steps = roundHalfEven((width - k * side) / (2 * (1 - k)));
    let out = p;
    for (let step = 0; step < steps; step++) {
      out = erode(out, step % 2 === 0);
      if (!out.data.some((v) => v !== 0)) return p; // all eroded away (more steps change nothing)
    }
    let r0 = out.h, r1 = -1, c0 = out.w, c1 = -1;
    for (let y = 0; y < out.h; y++) {
      for (let x = 0; x < out.w; x++) {
        if (out.data[y * out.w + x] !== 0) {
          r0 = Math.min(r0, y); r1 = Math.max(r1, y); c0 = Math.min(c0, x); c1 = Math.max(c1, x);
        }
      }
    }
    if (r1 < 0) return p;
    return crop(out, [[r0, r1 + 1], [c0, c1 + 1]]);
  }

  // Pillow's resampling coefficients (libImaging/Resample.c, precompute_coeffs).
  const FILTERS = {
    box: { support: 0.5, f: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
    bilinear: { support: 1, f: (x) => ((x = Math.abs(x)) < 1 ? 1 - x : 0) },
  };

  function coefficients(inSize, outSize, filter) {
    const scale = inSize / outSize;
    const filterscale = Math.max(scale, 1);
    const support = filter.support * filterscale;
    const ss = 1 / filterscale;
    const bounds = [];
    for (let o = 0; o < outSize; o++) {
      const centre = (o + 0.5) * scale;
      const xmin = Math.max(Math.trunc(centre - support + 0.5), 0);
      const xmax = Math.min(Math.trunc(centre + support + 0.5), inSize) - xmin;
      const k = new Float64Array(Math.max(xmax, 0));
      let ww = 0;
      for (let x = 0; x < xmax; x++) {
        k[x] = filter.f((x + xmin - centre + 0.5) * ss);
        ww += k[x];
      }
      if (ww !== 0) for (let x = 0; x < xmax; x++) k[x] /= ww;
      bounds.push([xmin, k]);
    }
    return bounds;
  }

  // Pillow's Image.resize for mode "F": a horizontal pass, then a vertical one, float32 between.
  function pilResize(p, outW, outH, filter) {
    let cur = p;
    if (outW !== cur.w) {
      const next = plane(cur.h, outW);
      const coeffs = coefficients(cur.w, outW, filter);
      for (let y = 0; y < cur.h; y++) {
        for (let o = 0; o < outW; o++) {
          const [xmin, k] = coeffs[o];
          let s = 0;
          for (let x = 0; x < k.length; x++) s += cur.data[y * cur.w + xmin + x] * k[x];
          next.data[y * outW + o] = s;
        }
      }
      cur = next;
    }
    if (outH !== cur.h) {
      const next = plane(outH, cur.w);
      const coeffs = coefficients(cur.h, outH, filter);
      for (let o = 0; o < outH; o++) {
        const [ymin, k] = coeffs[o];
        for (let x = 0; x < cur.w; x++) {
          let s = 0;
          for (let y = 0; y < k.length; y++) s += cur.data[(ymin + y) * cur.w + x] * k[y];
          next.data[o * cur.w + x] = s;
        }
      }
      cur = next;
    }
    return cur === p ? { data: Float32Array.from(p.data), h: p.h, w: p.w } : cur;
  }

  // _resize: longer side to `side`, BOX when shrinking and BILINEAR when enlarging; peak 1.
  function resize(p, side) {
    const factor = side / Math.max(p.h, p.w);
    const w = Math.max(1, roundHalfEven(p.w * factor));
    const h = Math.max(1, roundHalfEven(p.h * factor));
    const out = pilResize(p, w, h, factor < 1 ? FILTERS.box : FILTERS.bilinear);
    let peak = -Infinity;
    for (const v of out.data) if (v > peak) peak = v;
    const k = f32(1 / peak);
    for (let i = 0; i < out.data.length; i++) out.data[i] = f32(out.data[i] * k);
    return out;
  }

  // _thicken: grow the ink by one pixel up, down, left and right.
  function thicken(p) {
    const out = plane(p.h + 2, p.w + 2);
    const at = (y, x) => (y >= 1 && y <= p.h && x >= 1 && x <= p.w ? p.data[(y - 1) * p.w + x - 1] : 0);
    for (let y = 0; y < out.h; y++) {
      for (let x = 0; x < out.w; x++) {
        out.data[y * out.w + x] = Math.max(at(y, x), at(y - 1, x), at(y + 1, x), at(y, x - 1), at(y, x + 1));
      }
    }
    return out;
  }

  // _scale: thin strokes are scaled to BOX - 2 and thickened.
  function scale(p, C) {
    const thin = (strokeWidth(p) * C.BOX) / Math.max(p.h, p.w) < C.THIN_STROKE;
    const scaled = resize(p, thin ? C.BOX - 2 : C.BOX);
    return thin ? thicken(scaled) : scaled;
  }

  // _centre: paste into FRAME x FRAME with the centre of mass on pixel CENTRE, by whole pixels.
  function centre(p, C) {
    const { data, h, w } = p;
    let mass = 0;
    let my = 0;
    let mx = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = data[y * w + x];
        mass += v;
        my += v * y;
        mx += v * x;
      }
    }
    const m = f32(mass);
    const top = Math.min(Math.max(Math.floor(C.CENTRE - my / m + 0.5), 0), C.FRAME - h);
    const left = Math.min(Math.max(Math.floor(C.CENTRE - mx / m + 0.5), 0), C.FRAME - w);
    const out = plane(C.FRAME, C.FRAME);
    for (let y = 0; y < h; y++) out.data.set(data.subarray(y * w, (y + 1) * w), (top + y) * C.FRAME + left);
    return out;
  }

  // _boxed: the scaled ink centred in the 20x20 box, for display.
  function boxed(p, C) {
    const out = plane(C.BOX, C.BOX);
    const top = (C.BOX - p.h) >> 1;
    const left = (C.BOX - p.w) >> 1;
    for (let y = 0; y < p.h; y++) out.data.set(p.data.subarray(y * p.w, (y + 1) * p.w), (top + y) * C.BOX + left);
    return out;
  }

  parts.inkBox = inkBox; // the one-digit rule (reader_verdict.js) measures the same box
  parts.crop = crop;

  // preprocess: ImageData-like {width, height, data (RGBA bytes)} -> {image, blank, stages}.
  parts.preprocess = function preprocess(image, C) {
    const raw = grayscale(image, C);
    const inked = ink(raw, C);
    const box = inkBox(inked, C);
    if (box === null) {
      const empty = plane(C.FRAME, C.FRAME);
      return { image: empty, blank: true, stages: { raw, ink: inked, crop: inked, "20x20": plane(C.BOX, C.BOX), "28x28": empty } };
    }
    const cropped = thin(crop(inked, box), C);
    const scaled = scale(cropped, C);
    const out = centre(scaled, C);
    return { image: out, blank: false, stages: { raw, ink: inked, crop: cropped, "20x20": boxed(scaled, C), "28x28": out } };
  };
})();
