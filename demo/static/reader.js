// The page's reader: window.mnistsumReader reads a drawing the way mnistsum.Predictor.predict
// does (reader_preprocess.js, reader_verdict.js, then reader_net.js over weights exported by mnistsum/export.py).
//
//   const r = window.mnistsumReader;
//   r.setModel(artefact)          // the parsed JSON of weights/reader.json (or a visitor's export);
//                                 // throws r.ReaderError saying what is wrong, keeping the old model
//   r.predict(imageData, n)       // ImageData (any size, either polarity) -> the answer: blank, verdict
//                                 // ("digit", "two_digits" or "not_a_digit", mnistsum/verdict.py), reason, n, digit,
//                                 // sum, heads_agree, digit_probs, sum_probs, analytic_sum_probs,
//                                 // sum_table (10x19), image (28x28 Float32Array), stages
//   r.setHandwriting({weight, bias} | null)  // replace the digit head's last layer (Linear 128 -> 10,
//                                 // what mnistsum.adapt fine-tunes) by a visitor's: weight 10x128 and
//                                 // bias 10, as arrays or exported tensors; null: the model's own again
//   r.ready(), r.error(), r.info()
(function () {
  const P = globalThis.mnistsumReaderParts;
  const FORMAT = "mnistsum-reader/1";
  const DIGITS = 10;
  let model = null;
  let lastError = null;
  let taught = null; // the visitor's last layer, when set

  function build(artefact) {
    if (!artefact || typeof artefact !== "object") throw new P.ReaderError("the reader file is not a JSON object");
    if (artefact.format !== FORMAT) {
      throw new P.ReaderError(`the reader file has format ${JSON.stringify(artefact.format)}, expected ${FORMAT}`);
    }
    const C = artefact.preprocess || {};
    for (const key of ["BOX", "FRAME", "CENTRE", "MAX_SIDE", "MIN_CONTRAST", "NOISE_MARGIN", "MAX_MIDTONES",
      "MIN_LEVEL_SHARE", "STRAY_SHARE", "STRAY_GAP", "THIN_STROKE", "THICK_STROKE", "MIN_SPAN"]) {
      if (!Number.isFinite(C[key])) throw new P.ReaderError(`the reader file lacks the preprocessing constant ${key}`);
    }
    if (!Array.isArray(C.LUMA) || C.LUMA.length !== 3) throw new P.ReaderError("the reader file lacks LUMA");
    const V = artefact.verdict || {};
    for (const key of ["INK_LEVEL", "TAP_EXTENT", "PAIR_GAP", "PAIR_HEIGHT", "WIDE_ASPECT", "SCRIBBLE_CROSSINGS",
      "FEET_GAP", "FEET_ROWS", "X_GAP", "MIN_CONFIDENCE"]) {
      if (!Number.isFinite(V[key])) throw new P.ReaderError(`the reader file lacks the one-digit rule's constant ${key}`);
    }
    if (!Array.isArray(V.FEET_BAND) || V.FEET_BAND.length !== 2) throw new P.ReaderError("the reader file lacks FEET_BAND");
    if (!["concat", "add"].includes(artefact.fusion)) throw new P.ReaderError(`unknown fusion ${artefact.fusion}`);
    const digit = P.layers(artefact.digit, "digit network", 1, C.FRAME);
    const last = digit[digit.length - 1];
    if (last.type !== "linear" || last.out !== DIGITS) throw new P.ReaderError("the digit network must end in a linear layer to 10");
    const sum = P.layers(artefact.sum_head, "sum head", artefact.fusion === "concat" ? 2 * DIGITS : DIGITS, null);
    const norm = artefact.normalize || {};
    if (!(norm.std > 0) || !Number.isFinite(norm.mean)) throw new P.ReaderError("the reader file lacks the normalisation");
    return { C, V, digit, body: digit.slice(0, -1), own: last, sum, fusion: artefact.fusion, norm, source: artefact.source_sha256, arch: artefact.arch };
  }

  function setModel(artefact) {
    try {
      model = build(artefact);
    } catch (err) {
      lastError = err instanceof P.ReaderError ? err.message : `the reader file cannot be read (${err})`;
      throw err instanceof P.ReaderError ? err : new P.ReaderError(lastError);
    }
    lastError = null;
    taught = null;
    return info();
  }

  function values(x, name, count) {
    const out = x && typeof x.data === "string" ? P.tensor(x, name).values : Float32Array.from(x || []);
    if (out.length !== count) throw new P.ReaderError(`${name} holds ${out.length} values, expected ${count}`);
    return out;
  }

  function setHandwriting(layer) {
    if (!model) throw new P.ReaderError("no model is loaded yet");
    if (layer === null || layer === undefined) {
      taught = null;
      return;
    }
    const { inF, out } = model.own;
    taught = { ...model.own, w: values(layer.weight, "handwriting weight", inF * out), b: values(layer.bias, "handwriting bias", out) };
  }

  function digitLogits(image) {
    const { mean, std } = model.norm;
    const x = new Float32Array(image.length);
    for (let i = 0; i < x.length; i++) x[i] = (image[i] - mean) / std;
    return P.run([...model.body, taught || model.own], x);
  }

  function sumProbs(logits, n) {
    const digits = model.fusion === "concat" ? P.softmax(logits) : Array.from(logits);
    const input = new Float32Array(model.fusion === "concat" ? 2 * DIGITS : DIGITS);
    input.set(digits);
    input[model.fusion === "concat" ? DIGITS + n : n] += 1;
    return P.softmax(P.run(model.sum, input));
  }

  const argmax = (v) => v.reduce((best, x, i) => (x > v[best] ? i : best), 0);

  function predict(imageData, n) {
    if (!model) throw new P.ReaderError(lastError || "no model is loaded yet");
    if (!Number.isInteger(n) || n < 0 || n > 9) throw new P.ReaderError(`n must be a whole number from 0 to 9, got ${n}`);
    const prepared = P.preprocess(imageData, model.C);
    if (prepared.blank) {
      return { blank: true, verdict: null, reason: null, n, digit: null, sum: null, heads_agree: null, digit_probs: [], sum_probs: [], analytic_sum_probs: [], stages: prepared.stages };
    }
    const logits = digitLogits(prepared.image.data);
    const digitProbs = P.softmax(logits);
    const table = Array.from({ length: DIGITS }, (_, k) => sumProbs(logits, k));
    const digit = argmax(digitProbs);
    const sum = argmax(table[n]);
    const { verdict, reason } = P.verdict(prepared.stages.ink, digitProbs, model.C, model.V);
    const analytic = new Array(table[n].length).fill(0);
    digitProbs.forEach((p, d) => { analytic[d + n] = p; });
    return {
      blank: false, verdict, reason, n, digit, sum, heads_agree: sum === digit + n,
      digit_probs: digitProbs, sum_probs: table[n], analytic_sum_probs: analytic, sum_table: table,
      image: prepared.image.data, stages: prepared.stages,
    };
  }

  function info() {
    return model ? { arch: model.arch, fusion: model.fusion, source_sha256: model.source, handwriting: taught !== null } : null;
  }

  globalThis.mnistsumReader = {
    ReaderError: P.ReaderError,
    setModel,
    setHandwriting,
    predict,
    preprocess: (imageData) => P.preprocess(imageData, model.C),
    ready: () => model !== null,
    error: () => lastError,
    info,
  };
})();
