// The visitor's handwriting record (demo/handwriting.py): the last layer fitted to their drawings
// and those drawings (28x28 PNGs), kept in this browser's localStorage, never on the server.
// Runs as gr.HTML's js_on_load: `element`, `props`, `watch` and `trigger` are in scope.
// At load the stored text goes to the server once to be checked (`submit`); every value the
// server sets afterwards (checked, fitted, removed, forgotten: "" for none) is stored here.
const root = element.querySelector(".handwriting");
const KEY = root.dataset.key;
const line = root.querySelector(".hw-line");
const list = root.querySelector(".hw-drawings");
const UNREAD = root.dataset.unread;
const PNG = /^data:image\/png;base64,[A-Za-z0-9+/=]+$/;

// The one place the in-page reader (demo/static/reader_view.js) hears of the visitor's layer:
// `params` is the parsed `mnistsum.handwriting.export_params` object ({weight: 10x128, bias: 10,
// fitted_on_sha256, digits, ...}) or null. Kept on window for a reader that loads later.
function tellReader(params) {
  window.mnistsumHandwriting = params;
  window.dispatchEvent(new CustomEvent("mnistsum:handwriting")); // demo/static/reader_view.js applies it
}

function parsed(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

function show(record) {
  const digits = record && record.params && Array.isArray(record.params.digits) ? record.params.digits : [];
  root.classList.toggle("empty", digits.length === 0);
  line.textContent = digits.length
    ? `✍️ Reading with your handwriting (${digits.length} drawing${digits.length === 1 ? "" : "s"}), kept in this browser only.`
    : "";
  list.replaceChildren(...digits.map((digit, i) => {
    const figure = document.createElement("figure");
    const src = record.drawings && record.drawings[i];
    if (typeof src === "string" && PNG.test(src)) {
      const img = document.createElement("img");
      img.src = src;
      img.alt = `a ${Number(digit)} you taught`;
      figure.append(img);
    }
    const caption = document.createElement("figcaption");
    caption.textContent = String(Number(digit));
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.title = remove.ariaLabel = `Remove this ${Number(digit)} (drawing ${i + 1})`;
    remove.addEventListener("click", () => trigger("click", { remove: i }));
    figure.append(caption, remove);
    return figure;
  }));
}

watch("value", () => {
  const text = props.value;
  if (typeof text !== "string" || text === UNREAD) return;
  try {
    if (text) localStorage.setItem(KEY, text);
    else localStorage.removeItem(KEY);
  } catch (err) {
    line.textContent = `⚠️ This browser would not keep your handwriting (${err.name}).`;
  }
  const record = parsed(text);
  tellReader(record ? record.params : null);
  show(record);
});

let stored = "";
try {
  stored = localStorage.getItem(KEY) || "";
} catch {
  stored = "";
}
trigger("submit", { stored });
