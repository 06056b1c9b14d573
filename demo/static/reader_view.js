// The page reader's glue (demo/page_reader.py): loads the model its value names into
// window.mnistsumReader, and gives the pad window.mnistsumPage.read(imageData | null), which
// answers for the slider's n with no request and hands the answer to the answer view
// ("mnistsum:answer"). When the model cannot run here it says so in one line and `usable()`
// is false, so the pad asks the server instead. It also notices when the server is gone.
// Runs as gr.HTML's js_on_load: `element`, `props` and `watch` are in scope.
(function () {
  const R = globalThis.mnistsumReader;
  const holder = element.querySelector(".page-reader");
  const note = element.querySelector(".reader-note");
  // The server-gone line lives outside the tabs, so Train, Learn and the board show it too.
  const banner = document.createElement("div");
  banner.id = "server-gone";
  banner.className = "reader-note offline";
  banner.setAttribute("role", "status");
  banner.hidden = true;
  document.body.appendChild(banner);
  const OFFLINE = __OFFLINE_NOTE__;
  const CHECK_MS = 10000;
  const OFFLINE_CHECK_MS = 3000;
  let loaded = null; // the id of the model loaded
  let failure = null; // why the page cannot run the model, or null
  let offline = false;
  let meta = {};

  const base = () => {
    const config = window.gradio_config;
    return String((config && config.root) || location.href.split(/[?#]/)[0]).replace(/\/$/, "");
  };
  const fileUrl = (path) => `${base()}/gradio_api/file=${encodeURI(path)}`;

  function show() {
    const text = failure ? `The page could not run the model (${failure}): the server reads each drawing instead.` : "";
    note.textContent = text;
    note.hidden = !text;
    banner.textContent = OFFLINE;
    banner.hidden = !offline;
    holder.dataset.state = loaded !== null && failure === null ? "page" : failure !== null ? "server" : "loading";
    document.documentElement.classList.toggle("mnistsum-offline", offline);
  }

  async function fetchArtefact(path) {
    let response;
    try {
      response = await fetch(fileUrl(path));
    } catch (err) {
      throw new R.ReaderError("the reader file did not download");
    }
    if (!response.ok) throw new R.ReaderError(`the reader file did not download (HTTP ${response.status})`);
    try {
      return await response.json();
    } catch (err) {
      throw new R.ReaderError("the reader file is not valid JSON (damaged or cut short)");
    }
  }

  // A first read compiles the loops (tens of ms once): done at load, not on the visitor's first stroke.
  function warmUp() {
    const side = 280;
    const data = new Uint8ClampedArray(side * side * 4).fill(255);
    for (let y = 60; y < 220; y++) for (let x = 130; x < 150; x++) data.fill(0, 4 * (y * side + x), 4 * (y * side + x) + 3);
    for (let k = 0; k < 3; k++) R.predict({ width: side, height: side, data }, k);
  }

  // The visitor's handwriting layer, kept in this browser by demo/static/handwriting.js
  // (window.mnistsumHandwriting): applied only on the weights it was fitted on.
  function applyHandwriting() {
    const v = props.value || {};
    const layer = window.mnistsumHandwriting;
    const fits = layer && v.weights_sha256 && layer.fitted_on_sha256 === v.weights_sha256;
    let adapted = 0;
    try {
      R.setHandwriting(fits ? { weight: [layer.weight].flat(2), bias: layer.bias } : null); // rows out x in, as torch
      adapted = fits && Array.isArray(layer.digits) ? layer.digits.length : 0;
    } catch (err) {
      R.setHandwriting(null); // a layer of the wrong shape: the shipped one answers (the server said why)
    }
    meta = { model: v.model, model_numbers: v.model_numbers, adapted };
  }
  window.addEventListener("mnistsum:handwriting", () => {
    if (loaded === null || failure !== null) return;
    applyHandwriting();
    window.dispatchEvent(new CustomEvent("mnistsum:reader")); // the pad reads its drawing again with it
  });

  async function load() {
    const v = props.value;
    if (!v) return;
    try {
      if (v.error) throw new R.ReaderError(v.error);
      if (v.id !== loaded) {
        loaded = null;
        R.setModel(v.artefact || (await fetchArtefact(v.file)));
        warmUp();
        loaded = v.id;
      }
      failure = null;
      applyHandwriting();
    } catch (err) {
      failure = err && err.message ? err.message : String(err);
    }
    show();
    window.dispatchEvent(new CustomEvent("mnistsum:reader")); // the pad reads its drawing again with this model
  }

  const currentN = () => {
    const slider = document.querySelector("#n-slider input[type=range]");
    const n = slider ? Number(slider.value) : 0;
    return Number.isInteger(n) && n >= 0 && n <= 9 ? n : 0;
  };

  window.mnistsumPage = {
    usable: () => failure === null && loaded !== null && R.ready(),
    // imageData null: nothing drawn; `again`: the same drawing, read again with a new model or layer.
    // Returns false when the page cannot answer (the caller asks the server).
    read(imageData, again = false) {
      if (!this.usable()) return false;
      const n = currentN();
      let answer;
      try {
        answer = imageData ? R.predict(imageData, n) : { blank: true, n, digit_probs: [] };
      } catch (err) {
        failure = err.message;
        show();
        return false;
      }
      window.dispatchEvent(new CustomEvent("mnistsum:answer", { detail: { ...answer, ...meta, view_n: n, again } }));
      return true;
    },
  };

  // The server: a HEAD of the reader file every few seconds while the page is visible.
  async function check() {
    if (document.visibilityState === "visible" && props.value && props.value.ping) {
      let reachable = true;
      try {
        await fetch(fileUrl(props.value.ping), { method: "HEAD", cache: "no-store" });
      } catch (err) {
        reachable = false;
      }
      if (reachable === offline) {
        offline = !reachable;
        show();
        window.dispatchEvent(new CustomEvent(offline ? "mnistsum:offline" : "mnistsum:online"));
      }
    }
    schedule(offline ? OFFLINE_CHECK_MS : CHECK_MS);
  }
  let timer = null;
  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(check, ms);
  }
  window.addEventListener("offline", () => schedule(0));
  schedule(CHECK_MS);

  watch("value", load);
  load();
})();
