// The answer view (demo/pad.py): renders one prediction (mnistsum.payload.answer plus the
// page's extras) for the n in value.view_n, or value.n. The answer comes from the page's own
// reader ("mnistsum:answer", demo/static/reader_view.js) or, as a fallback and after a lesson,
// from the server; both carry the sum head for every n, so a slider step re-renders here.
// Runs as gr.HTML's js_on_load: `element`, `props`, `trigger` and `watch` are in scope.
const root = element.querySelector(".answer");
const parts = {};
root.querySelectorAll("[data-part]").forEach((node) => { parts[node.dataset.part] = node; });
const HINT = root.dataset.hint;
// On a phone the answer is also shown right under the pad's tools, in the flow of the page (so it
// covers nothing): visible while one draws and moves n. CSS shows it on narrow screens only.
const pin = document.createElement("div");
pin.className = "answer-pin";
pin.setAttribute("aria-hidden", "true");
function placePin() {
  const tools = document.querySelector("#drawing .pad-tools");
  if (tools && pin.parentNode !== tools.parentNode) tools.after(pin);
}

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const percent = (p) => `${(100 * p).toFixed(1)}%`;
const argmax = (values) => values.reduce((best, v, i) => (v > values[best] ? i : best), 0);

function bars(values, highlight, label) {
  const cells = values.map((p, s) =>
    `<div class="bar${s === highlight ? " top" : ""}" title="sum ${s}: ${percent(p)}">` +
    `<span style="height:${Math.max(0, Math.min(1, p)) * 100}%"></span><em>${s}</em></div>`).join("");
  return `<div class="bars" role="img" aria-label="${escape(label)}: most likely ${highlight} at ${percent(values[highlight])}">${cells}</div>`;
}

// mnistsum/verdict.py's "two digits" / "not a digit": plain words and what to do, no confident headline.
const NOT_ONE = {
  pair: ["That looks like two digits", "It reads one digit at a time: clear the pad and draw just one, large."],
  tap: ["That does not look like a digit", "That is only a dot: draw a whole digit, 0 to 9, filling most of the square."],
  scribble: ["That does not look like a digit", "That looks like a scribble: clear the pad and draw one digit, 0 to 9."],
  letter: ["That does not look like a digit", "That looks like a letter: it reads only the digits 0 to 9."],
  unsure: ["That does not look like a digit", "The network cannot tell which digit this is: clear the pad and draw it again."],
};

function notOneDigit(v) {
  const [title, hint] = NOT_ONE[v.reason] || NOT_ONE[v.verdict === "two_digits" ? "pair" : "unsure"];
  parts.headline.innerHTML = `<h2 class="verdict">${escape(title)}</h2><p>${escape(hint)}</p>` +
    (v.model ? `<p class="source"><em>Model: ${escape(v.model)}</em></p>` : ""); // which model said so
  const guess = argmax(v.digit_probs);
  parts.digits.innerHTML = `<p class="guess">Read as one digit anyway, the network's best guess would be ${guess} ` +
    `(${percent(v.digit_probs[guess])}): not an answer to trust here.</p>`;
  for (const key of ["agreement", "learned", "analytic", "picture", "table", "ask"]) parts[key].innerHTML = "";
  delete parts.picture.dataset.src;
  delete parts.table.dataset.key;
  placePin();
  pin.innerHTML = `<strong>${escape(title)}</strong>`;
}
// "Did you mean 1 or 7?": mnistsum.teaching.close_pair, with its shares from the template. The
// server's answers carry it (did_you_mean); the page's own answers are asked here.
const CLOSE_SHARE = Number(root.dataset.closeShare);
const PAIR_SHARES = JSON.parse(root.dataset.pairShares || "{}");
function closePair(probs) {
  if (!Array.isArray(probs) || probs.length !== 10) return null;
  const order = probs.map((p, d) => [p, d]).sort((a, b) => b[0] - a[0] || b[1] - a[1]);
  const [[p1, first], [p2, second]] = order;
  const pair = [Math.min(first, second), Math.max(first, second)];
  const share = PAIR_SHARES[pair.join(",")] ?? CLOSE_SHARE;
  return p1 > 0 && p2 >= share * p1 ? pair : null;
}
window.mnistsumClosePair = closePair; // for the parity test (tests/test_browser_round.py)
// Junk ("not a digit", "two digits": the answer's verdict) gets no question about which digit.
const oneDigit = (v) => !v.not_one_digit && (!v.verdict || v.verdict === "digit");
// Nor does a drawing the visitor has just taught: the server's answer after "It was N" says
// `corrected`, and the page's reading of that same drawing with the new layer (`again`) keeps
// the silence until the drawing changes.
let settled = false;
function ask(v) {
  const pair = v.did_you_mean !== undefined ? v.did_you_mean : closePair(v.digit_probs);
  if (!pair || !oneDigit(v) || settled) return "";
  const [a, b] = pair.map(Number);
  const tap = (d) => `<button type="button" data-meant="${d}" aria-label="I meant ${d}: teach it this drawing as ${d}">${d}</button>`;
  return `<span>Did you mean</span> ${tap(a)} <span>or</span> ${tap(b)}<span>?</span>`;
}
// A tap teaches this drawing as that digit ("It was N", with its Undo): the server hears {meant}.
// A finger acts on pointer-up, as the pad's tools do (page.js, window.mnistsumOnPress).
window.mnistsumOnPress(parts.ask, "button[data-meant]", (button) => trigger("click", { meant: Number(button.dataset.meant) }));

function render() {
  const v = props.value;
  if (v && !v.page) settled = Boolean(v.corrected); // the server's answer: a correction, or a new drawing
  root.classList.toggle("blank", !v || !v.digit_probs || v.blank);
  const odd = Boolean(v && !v.blank && v.digit_probs && v.verdict && v.verdict !== "digit");
  root.classList.toggle("not-digit", odd);
  if (odd) {
    notOneDigit(v);
    return;
  }
  if (!v || v.blank || !v.digit_probs) {
    parts.headline.innerHTML = `<h2>${escape(HINT.split("\n")[0])}</h2><p>${escape(HINT.split("\n").slice(1).join(" "))}</p>`;
    for (const key of ["ask", "digits", "agreement", "learned", "analytic", "picture", "table"]) parts[key].innerHTML = "";
    delete parts.picture.dataset.src;
    delete parts.table.dataset.key;
    pin.innerHTML = "";
    return;
  }
  const n = Number.isInteger(v.view_n) ? v.view_n : v.n;
  const digit = v.digit;
  const learned = v.sum_table ? v.sum_table[n] : v.sum_probs;
  const analytic = new Array(learned.length).fill(0);
  v.digit_probs.forEach((p, d) => { analytic[d + n] = p; });
  const sum = argmax(learned);
  const agree = sum === digit + n;
  const answer = agree ? `${digit} + ${n} = ${sum}` : `${digit} + ${n} → ${sum} ⚠`;
  parts.headline.innerHTML =
    `<h2>${answer}</h2><p>digit <strong>${digit}</strong> at ${percent(v.digit_probs[digit])} · ` +
    `sum <strong>${sum}</strong> at ${percent(learned[sum])}</p>` +
    (v.adapted ? `<p class="adapted">✍️ adapted to ${Number(v.adapted)} of your drawings</p>` : "") +
    (v.model ? `<p class="source"><em>Model: ${escape(v.model)}</em>` +
      (v.model_numbers ? `<br><span class="numbers">${escape(v.model_numbers)}</span>` : "") + `</p>` : "");
  const question = ask(v);
  if (parts.ask.innerHTML !== question) parts.ask.innerHTML = question;
  placePin();
  pin.innerHTML = `<strong>${answer}</strong> <span>digit ${digit} at ${percent(v.digit_probs[digit])}</span>`;
  const top = v.digit_probs.map((p, d) => [p, d]).sort((a, b) => b[0] - a[0]).slice(0, 3);
  parts.digits.innerHTML = `<h3>Digit head: top 3</h3><ol>` + top.map(([p, d]) =>
    `<li><span class="name">${d}</span><span class="meter"><span style="width:${p * 100}%"></span></span>` +
    `<span class="value">${percent(p)}</span></li>`).join("") + `</ol>`;
  parts.agreement.innerHTML = agree
    ? `✓ <strong>The heads agree:</strong> the learned sum head and the digit head shifted by n both say ${digit + n}.`
    : `⚠ <strong>The heads disagree:</strong> the learned sum head says ${sum} (${percent(learned[sum])}), ` +
      `but the digit head shifted by n says ${digit} + ${n} = ${digit + n}.`;
  parts.learned.innerHTML = `<h3>Learned sum head: p(sum)</h3>` + bars(learned, sum, "Learned sum head");
  parts.analytic.innerHTML = `<h3>Digit head shifted by n: p_digit(sum − n)</h3>` +
    bars(analytic, argmax(analytic), "Digit head shifted by n");
  if (v.model_input && parts.picture.dataset.src !== v.model_input) {
    parts.picture.dataset.src = v.model_input;
    parts.picture.innerHTML = `<h3>What the network saw: 28x28, one square per pixel</h3>` +
      `<img alt="the 28x28 image the network was given" src="${escape(v.model_input)}">`;
  }
  if (v.sum_table_html && parts.table.dataset.key !== v.model_input) {
    parts.table.dataset.key = v.model_input;
    parts.table.innerHTML = v.sum_table_html;
  }
  parts.table.querySelectorAll("tbody tr").forEach((row, i) => row.classList.toggle("highlight", i === n));
}

// The page's own answers: the same value the server would send, made here.
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
function colour(p) {
  const x = Math.max(0, Math.min(1, p)) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  return VIRIDIS[i].map((c, k) => Math.round(c + (VIRIDIS[i + 1][k] - c) * (x - i)));
}

// mnistsum.render.heatmap_html, for the sum table.
function heatmap(table, n) {
  const head = table[0].map((_, s) => `<th>${s}</th>`).join("");
  const body = table.map((row, r) => `<tr${r === n ? ' class="highlight"' : ""}><th>n=${r}</th>` + row.map((p, s) => {
    const [red, green, blue] = colour(p);
    return `<td style="background:rgb(${red},${green},${blue})" title="n=${r}, sum ${s}: ${percent(p)}"></td>`;
  }).join("") + "</tr>").join("");
  return `<table class="heatmap"><thead><tr><th>sum</th>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

const scratch = document.createElement("canvas");
function pictureUrl(values, h, w, scale = 1) {
  scratch.width = w * scale;
  scratch.height = h * scale;
  const c = scratch.getContext("2d");
  const image = c.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const v = Math.round(Math.max(0, Math.min(1, values[i])) * 255);
    image.data.set([v, v, v, 255], 4 * i);
  }
  if (scale === 1) {
    c.putImageData(image, 0, 0);
  } else {
    const small = document.createElement("canvas");
    small.width = w;
    small.height = h;
    small.getContext("2d").putImageData(image, 0, 0);
    c.imageSmoothingEnabled = false;
    c.drawImage(small, 0, 0, w * scale, h * scale);
  }
  return scratch.toDataURL("image/png");
}

// The preprocessing stages (the panel under the tab), while the panel is open.
const STAGES = [["raw", "1. your drawing"], ["ink", "2. ink only"], ["crop", "3. cropped"], ["20x20", "4. scaled to 20 px"], ["28x28", "5. centred by mass"]];
function stagesStrip(stages) {
  const view = document.querySelector("#stages");
  if (!view || view.offsetParent === null) return;
  if (!stages || !stages["28x28"] || stages.ink === stages.crop) {
    view.innerHTML = "";
    return;
  }
  const tile = 140;
  const strip = document.createElement("canvas");
  strip.width = tile * STAGES.length;
  strip.height = tile + 24;
  const c = strip.getContext("2d");
  c.fillStyle = "#fff";
  c.fillRect(0, 0, strip.width, strip.height);
  STAGES.forEach(([key, caption], k) => {
    const p = stages[key];
    const fitted = Math.min(tile / p.w, tile / p.h);
    const picture = new Image();
    const url = pictureUrl(key === "raw" ? p.data.map((v) => v) : p.data, p.h, p.w);
    picture.src = url;
    c.fillStyle = "#333";
    c.font = "13px sans-serif";
    c.fillText(caption, k * tile + 4, tile + 17);
    picture.onload = () => {
      c.imageSmoothingEnabled = p.w > tile;
      c.drawImage(picture, k * tile + (tile - p.w * fitted) / 2, (tile - p.h * fitted) / 2, p.w * fitted, p.h * fitted);
      view.innerHTML = `<img alt="the preprocessing stages, raw to 28x28" src="${strip.toDataURL("image/png")}">`;
    };
  });
}

window.addEventListener("mnistsum:answer", (event) => {
  const a = event.detail;
  if (!a.again) settled = false; // a new drawing: it may be asked about
  const value = { ...a, page: true };
  delete value.image;
  delete value.stages;
  if (!a.blank) {
    value.model_input = pictureUrl(a.image, 28, 28);
    value.sum_table_html = heatmap(a.sum_table, a.view_n);
  }
  props.value = value;
  render();
  stagesStrip(a.blank ? null : a.stages);
});

watch("value", render);
render();
