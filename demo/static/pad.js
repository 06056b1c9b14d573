// The drawing pad (demo/pad.py): draws locally with pointer events. After each finished stroke,
// Undo, Redo or Clear the page reads the drawing itself (window.mnistsumPage, demo/page_reader.py)
// and nothing is sent; props.value (one PNG data URL) is kept current for what the server reads
// on demand (teaching, Learn). Where the page cannot run the model, `submit` asks the server.
// Runs as gr.HTML's js_on_load: `element`, `props`, `trigger` and `watch` are in scope.
const root = element.querySelector(".pad");
const canvas = root.querySelector("canvas");
const ctx = canvas.getContext("2d", { willReadFrequently: true });
const SIZE = canvas.width;
const PEN = Number(root.dataset.pen);
const ERASER = Number(root.dataset.eraser);
const buttons = {};
root.querySelectorAll("button[data-action]").forEach((b) => { buttons[b.dataset.action] = b; });

// The drawing is its history: strokes, clears and loaded pictures, replayed on Undo/Redo.
let ops = [];
let undone = [];
let tool = "brush";
let current = null; // the stroke under the pointer: {erase, points: [x, y, x, y, ...], pointer}
let sent = props.value || "";

function paper() {
  ctx.globalCompositeOperation = "source-over";
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, SIZE, SIZE);
}

// The one stroke style: black ink or a white eraser, with round ends and joins.
function pen(erase) {
  ctx.strokeStyle = erase ? "#fff" : "#000";
  ctx.lineWidth = erase ? ERASER : PEN;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
}

function segment(erase, x0, y0, x1, y1) {
  pen(erase);
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
}

function paintStroke(op) {
  const p = op.points;
  pen(op.erase);
  ctx.beginPath();
  ctx.moveTo(p[0], p[1]);
  if (p.length === 2) ctx.lineTo(p[0] + 0.01, p[1]); // a tap leaves a dot
  for (let i = 2; i < p.length; i += 2) ctx.lineTo(p[i], p[i + 1]);
  ctx.stroke();
}

function paint(op) {
  if (op.kind === "clear") paper();
  else if (op.kind === "picture") { paper(); ctx.drawImage(op.picture, 0, 0, SIZE, SIZE); }
  else paintStroke(op);
}

function redraw() {
  paper();
  ops.forEach(paint);
}

// Is there ink since the last clear? (An erased drawing is still sent: the server says it is blank.)
function inked() {
  for (let i = ops.length - 1; i >= 0; i--) {
    if (ops[i].kind === "clear") return false;
    if (ops[i].kind === "picture" || !ops[i].erase) return true;
  }
  return false;
}

function refreshButtons() {
  buttons.undo.disabled = ops.length === 0;
  buttons.redo.disabled = undone.length === 0;
  buttons.clear.disabled = !inked();
  buttons.brush.setAttribute("aria-pressed", String(tool === "brush"));
  buttons.eraser.setAttribute("aria-pressed", String(tool === "eraser"));
  root.classList.toggle("erasing", tool === "eraser");
}

// One answer per change of the drawing: read in the page when it can (no request), else by the
// server (`submit`, the /predict endpoint). `fromServer`: the server put this picture here.
let valueTimer = null;
function send(fromServer = false, again = false) {
  refreshButtons();
  const page = window.mnistsumPage;
  if (page && page.read(inked() ? ctx.getImageData(0, 0, SIZE, SIZE) : null, again)) {
    if (!fromServer) {
      clearTimeout(valueTimer); // the PNG after the answer: it costs a few ms the answer need not wait for
      valueTimer = setTimeout(() => setValue(inked() ? canvas.toDataURL("image/png") : ""), 0);
      trigger("input"); // page-side listeners only (the example caption goes away)
    }
    return;
  }
  const value = inked() ? canvas.toDataURL("image/png") : "";
  if (!fromServer && value === sent) return;
  setValue(value);
  setTimeout(() => trigger("submit"), 0); // after the new value has reached Gradio
  if (!fromServer) trigger("input");
}

function setValue(value) {
  if (value === sent) return;
  sent = value;
  props.value = value; // its `change` has no server listener: nothing is sent
}

// Every new step of the drawing comes through here: a stroke (already on the canvas, drawn as
// the pointer moved), a clear, or a picture from the server. `fromServer`: the server already
// has this value, so nothing is sent back.
function commit(op, fromServer = false) {
  ops.push(op);
  undone = [];
  if (ops.length > 200) ops = ops.slice(-200); // a long session keeps memory bounded
  if (op.kind !== "stroke") paint(op);
  send(fromServer);
}

function undo() {
  if (!ops.length) return;
  undone.push(ops.pop());
  redraw();
  send();
}

function redo() {
  if (!undone.length) return;
  const op = undone.pop();
  ops.push(op);
  paint(op);
  send();
}

function clear() {
  if (inked()) commit({ kind: "clear" });
}

function point(event) {
  const box = canvas.getBoundingClientRect();
  return [((event.clientX - box.left) * SIZE) / box.width, ((event.clientY - box.top) * SIZE) / box.height];
}

canvas.addEventListener("pointerdown", (event) => {
  if (current || (event.pointerType === "mouse" && event.button !== 0)) return;
  event.preventDefault();
  root.focus({ preventScroll: true });
  canvas.setPointerCapture(event.pointerId);
  const [x, y] = point(event);
  current = { kind: "stroke", erase: tool === "eraser", points: [x, y], pointer: event.pointerId };
  segment(current.erase, x, y, x + 0.01, y);
});

canvas.addEventListener("pointermove", (event) => {
  if (!current || event.pointerId !== current.pointer) return;
  event.preventDefault();
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const e of events.length ? events : [event]) {
    const p = current.points;
    const [x, y] = point(e);
    segment(current.erase, p[p.length - 2], p[p.length - 1], x, y);
    p.push(x, y);
  }
});

function finish(event) {
  if (!current || event.pointerId !== current.pointer) return;
  const op = current;
  current = null;
  delete op.pointer;
  commit(op);
}
canvas.addEventListener("pointerup", finish);
canvas.addEventListener("pointercancel", finish);

// The tools act on a finger's pointer-up, on a mouse's click (page.js, window.mnistsumOnPress).
const tools = {
  brush() { tool = "brush"; refreshButtons(); },
  eraser() { tool = "eraser"; refreshButtons(); },
  undo,
  redo,
  clear,
};
window.mnistsumOnPress(root, "button[data-action]", (button) => tools[button.dataset.action]());

root.addEventListener("keydown", (event) => {
  if (!(event.ctrlKey || event.metaKey)) return;
  const key = event.key.toLowerCase();
  if (key === "z" && event.shiftKey) redo();
  else if (key === "z") undo();
  else if (key === "y") redo();
  else return;
  event.preventDefault();
});

// A drawing put on the pad by the server (an example, a random MNIST digit) becomes a step
// of the history, so Undo goes back to what was there before.
watch("value", () => {
  const value = props.value || "";
  if (value === sent) return;
  sent = value;
  if (!value) {
    if (inked()) commit({ kind: "clear" }, true);
    else refreshButtons();
    return;
  }
  const picture = new Image();
  picture.onload = () => commit({ kind: "picture", picture }, true);
  picture.src = value;
});

// A new model in the page (loaded, taught, switched): read the drawing again with it.
window.addEventListener("mnistsum:reader", () => {
  if (inked() && window.mnistsumPage && window.mnistsumPage.usable()) send(true, true);
});

paper();
refreshButtons();
root.dataset.ready = "true";
// Gradio's status tracker first uses the theme's monospace font during the first event, so
// the first stroke would fetch it too: fetch it with the page instead.
const mono = getComputedStyle(document.body).getPropertyValue("--font-mono");
if (mono && document.fonts) document.fonts.load(`1em ${mono}`).catch(() => {});
// For the guided round (demo/static/teach_round.js): the drawing as the server reads it ("" when
// nothing is drawn), and Clear, between one digit and the next.
window.mnistsumPad = { drawing: () => (inked() ? canvas.toDataURL("image/png") : ""), clear };
