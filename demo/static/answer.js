// The answer view (demo/pad.py): renders one prediction (mnistsum.payload.answer plus the
// page's extras) for the n in value.view_n, or value.n. The server sends the sum head for
// every n, so a slider step re-renders here without asking the server.
// Runs as gr.HTML's js_on_load: `element`, `props` and `watch` are in scope.
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

function render() {
  const v = props.value;
  root.classList.toggle("blank", !v || !v.digit_probs || v.blank);
  if (!v || v.blank || !v.digit_probs) {
    parts.headline.innerHTML = `<h2>${escape(HINT.split("\n")[0])}</h2><p>${escape(HINT.split("\n").slice(1).join(" "))}</p>`;
    for (const key of ["digits", "agreement", "learned", "analytic", "picture", "table"]) parts[key].innerHTML = "";
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

watch("value", render);
render();
