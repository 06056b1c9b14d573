// The page's forward pass over an exported reader (mnistsum/export.py, weights/reader.json):
// conv (BatchNorm already folded in), ReLU, 2x2 max-pool, linear, softmax, and the sum head
// (fusion "concat": softmax(digit logits) ++ one_hot(n); "add": logits + one_hot(n)).
// Plain loops over Float32Arrays: ~14 M multiply-adds per drawing for the shipped `wide` net.
(function () {
  const parts = (globalThis.mnistsumReaderParts = globalThis.mnistsumReaderParts || {});

  class ReaderError extends Error {}
  parts.ReaderError = ReaderError;

  function base64Bytes(text) {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function adler32(bytes) {
    let a = 1;
    let b = 0;
    for (let i = 0; i < bytes.length; ) {
      const end = Math.min(bytes.length, i + 3800); // sums stay exact between reductions
      for (; i < end; i++) {
        a += bytes[i];
        b += a;
      }
      a %= 65521;
      b %= 65521;
    }
    return (b * 65536 + a) >>> 0;
  }

  function half(bits) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exp = (bits >> 10) & 0x1f;
    const frac = bits & 0x3ff;
    if (exp === 0) return sign * frac * 2 ** -24;
    if (exp === 31) return frac ? NaN : sign * Infinity;
    return sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }

  // One exported tensor -> Float32Array, refused with the reason when damaged.
  function tensor(entry, name, shape) {
    if (!entry || typeof entry.data !== "string" || !Array.isArray(entry.shape)) {
      throw new ReaderError(`${name} is missing or not a tensor`);
    }
    const count = entry.shape.reduce((a, b) => a * b, 1);
    if (shape && shape.join("x") !== entry.shape.join("x")) {
      throw new ReaderError(`${name} has shape ${entry.shape.join("x")}, expected ${shape.join("x")}`);
    }
    let bytes;
    try {
      bytes = base64Bytes(entry.data);
    } catch (err) {
      throw new ReaderError(`${name} is not valid base64`);
    }
    if (adler32(bytes) !== entry.adler32) throw new ReaderError(`${name} fails its checksum (the file is damaged)`);
    const view = new DataView(bytes.buffer);
    const out = new Float32Array(count);
    if (entry.dtype === "float16" && bytes.length === 2 * count) {
      for (let i = 0; i < count; i++) out[i] = half(view.getUint16(2 * i, true));
    } else if (entry.dtype === "float32" && bytes.length === 4 * count) {
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
    } else {
      throw new ReaderError(`${name} holds ${bytes.length} bytes, not ${count} ${entry.dtype} values`);
    }
    for (let i = 0; i < count; i++) if (!Number.isFinite(out[i])) throw new ReaderError(`${name} holds a non-finite value`);
    return { values: out, shape: entry.shape };
  }
  parts.tensor = tensor;

  // The exported layer list -> runnable layers; checks that each one fits the one before.
  function layers(list, name, channels, side) {
    if (!Array.isArray(list) || !list.length) throw new ReaderError(`${name} has no layers`);
    let flat = side === null ? channels : null;
    return list.map((layer, i) => {
      const where = `${name} layer ${i} (${layer && layer.type})`;
      if (layer.type === "conv") {
        const w = tensor(layer.weight, `${where} weight`);
        const [out, inC, kh, kw] = w.shape;
        if (inC !== channels || kh !== kw) throw new ReaderError(`${where} takes ${inC} channels, gets ${channels}`);
        const b = tensor(layer.bias, `${where} bias`, [out]);
        const pad = layer.padding | 0;
        const inSide = side;
        side = side + 2 * pad - kh + 1;
        channels = out;
        const wt = new Float32Array(w.values.length); // [ky][kx][in][out]: the inner loop runs over `out`
        for (let o = 0; o < out; o++) {
          for (let c = 0; c < inC; c++) {
            for (let k = 0; k < kh * kw; k++) wt[(k * inC + c) * out + o] = w.values[(o * inC + c) * kh * kw + k];
          }
        }
        return { type: "conv", w: wt, b: b.values, inC, out, k: kh, pad, inSide, outSide: side };
      }
      if (layer.type === "maxpool") {
        const size = layer.size | 0;
        const inSide = side;
        side = Math.floor(side / size);
        return { type: "maxpool", size, channels, inSide, outSide: side };
      }
      if (layer.type === "relu") return { type: "relu" };
      if (layer.type === "linear") {
        const w = tensor(layer.weight, `${where} weight`);
        const [out, inF] = w.shape;
        const inputs = flat === null ? channels * side * side : flat;
        if (inF !== inputs) throw new ReaderError(`${where} takes ${inF} inputs, gets ${inputs}`);
        const b = tensor(layer.bias, `${where} bias`, [out]);
        let weights = w.values;
        if (flat === null) {
          // PyTorch flattens channel-major (c, y, x); the page's maps are (y, x, c)
          weights = new Float32Array(w.values.length);
          const area = side * side;
          for (let o = 0; o < out; o++) {
            for (let c = 0; c < channels; c++) {
              for (let q = 0; q < area; q++) weights[o * inF + q * channels + c] = w.values[o * inF + c * area + q];
            }
          }
        }
        flat = out;
        return { type: "linear", w: weights, b: b.values, inF, out };
      }
      throw new ReaderError(`${where}: unknown layer type`);
    });
  }
  parts.layers = layers;

  // Feature maps are (y, x, channel): each input value is multiplied into every output channel
  // in one contiguous inner loop, and zeros (most values after a ReLU) are skipped.
  function conv(x, L) {
    const { inC, out, k, pad, inSide: s, outSide: o, w, b } = L;
    const y = new Float32Array(out * o * o);
    for (let yy = 0; yy < o; yy++) {
      for (let xx = 0; xx < o; xx++) {
        const at = (yy * o + xx) * out;
        y.set(b, at);
        for (let ky = 0; ky < k; ky++) {
          const sy = yy + ky - pad;
          if (sy < 0 || sy >= s) continue;
          for (let kx = 0; kx < k; kx++) {
            const sx = xx + kx - pad;
            if (sx < 0 || sx >= s) continue;
            const src = (sy * s + sx) * inC;
            const wk = (ky * k + kx) * inC * out;
            for (let c = 0; c < inC; c++) {
              const v = x[src + c];
              if (v === 0) continue;
              const wo = wk + c * out;
              for (let q = 0; q < out; q++) y[at + q] += v * w[wo + q];
            }
          }
        }
      }
    }
    return y;
  }

  function maxpool(x, L) {
    const { size, channels, inSide: s, outSide: o } = L;
    const y = new Float32Array(channels * o * o).fill(-Infinity);
    for (let yy = 0; yy < o; yy++) {
      for (let xx = 0; xx < o; xx++) {
        const at = (yy * o + xx) * channels;
        for (let dy = 0; dy < size; dy++) {
          for (let dx = 0; dx < size; dx++) {
            const src = ((yy * size + dy) * s + xx * size + dx) * channels;
            for (let c = 0; c < channels; c++) if (x[src + c] > y[at + c]) y[at + c] = x[src + c];
          }
        }
      }
    }
    return y;
  }

  function linear(x, L) {
    const { inF, out, w, b } = L;
    const y = new Float32Array(out);
    for (let o = 0; o < out; o++) {
      let s = b[o];
      const row = o * inF;
      for (let i = 0; i < inF; i++) s += w[row + i] * x[i];
      y[o] = s;
    }
    return y;
  }

  parts.run = function run(list, x) {
    for (const L of list) {
      if (L.type === "conv") x = conv(x, L);
      else if (L.type === "maxpool") x = maxpool(x, L);
      else if (L.type === "linear") x = linear(x, L);
      else for (let i = 0; i < x.length; i++) if (x[i] < 0) x[i] = 0;
    }
    return x;
  };

  parts.softmax = function softmax(logits) {
    const m = Math.max(...logits);
    const e = Array.from(logits, (v) => Math.exp(v - m));
    const total = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / total);
  };
})();
