// "Teach it your hand" (demo/teach_round.py): asks for each digit 0-9 once, under the pad.
// The round in progress (the digit asked, the drawings kept as PNG data URLs, the skipped digits)
// is kept in this browser's localStorage, so a reload resumes it; when every digit is kept or
// skipped (or on "Finish now") the drawings go to the server once (`submit`), which teaches them
// into the visitor's handwriting record and answers with the before/after line (props.value).
// Also the first-visit offer, shown once (its flag kept here too). window.mnistsumRound.start()
// starts a round (the "Teach it my handwriting" button, the Learn tab).
// Runs as gr.HTML's js_on_load: `element`, `props`, `trigger` and `watch` are in scope.
(function () {
  const root = element.querySelector(".teach-round");
  const KEY = root.dataset.key;
  const OFFERED = root.dataset.offered;
  const HANDWRITING = root.dataset.handwriting;
  const DIGITS = 10;
  const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  const storage = {
    get(key) {
      try {
        return localStorage.getItem(key);
      } catch {
        return null;
      }
    },
    set(key, value) {
      try {
        if (value === null) localStorage.removeItem(key);
        else localStorage.setItem(key, value);
        return true;
      } catch {
        return false;
      }
    },
  };

  const isDigit = (d) => Number.isInteger(d) && d >= 0 && d < DIGITS;
  function loaded() {
    let r = null;
    try {
      r = JSON.parse(storage.get(KEY) || "null");
    } catch {
      return null;
    }
    const sound = r && typeof r === "object" && isDigit(r.at) && r.kept && typeof r.kept === "object" &&
      Array.isArray(r.skipped) && r.skipped.every(isDigit) &&
      Object.entries(r.kept).every(([d, png]) => isDigit(Number(d)) && typeof png === "string");
    return sound ? r : null;
  }

  let round = loaded(); // {at, kept: {digit: PNG data URL}, skipped: [digit]} or null
  let view = null; // "offer" | "round" | "busy" | "done" | "message" | null
  let note = ""; // one line under the round's prompt
  let done = null; // the server's before/after, after a round
  let message = "";

  function save() {
    if (!storage.set(KEY, round ? JSON.stringify(round) : null)) {
      note = "⚠️ This browser would not keep the round: finish it before you reload the page.";
    }
  }
  const decided = (d) => Object.prototype.hasOwnProperty.call(round.kept, d) || round.skipped.includes(d);
  const keptDigits = () => Object.keys(round.kept).map(Number).sort((a, b) => a - b);
  function nextDigit(from) {
    for (let k = 1; k <= DIGITS; k++) {
      const d = (from + k) % DIGITS;
      if (!decided(d)) return d;
    }
    return null;
  }

  function chip(d) {
    const state = round.kept[d] ? "kept" : round.skipped.includes(d) ? "skipped" : "todo";
    const mark = state === "kept" ? " ✓" : state === "skipped" ? " –" : "";
    const words = state === "kept" ? "kept, tap to redo" : state === "skipped" ? "skipped, tap to draw it" : "to draw";
    return `<button type="button" class="round-chip ${state}" data-do="goto" data-digit="${d}" ` +
      `aria-pressed="${d === round.at}" aria-label="${d}: ${words}">${d}${mark}</button>`;
  }

  // The first-visit offer sits at the top of the answer view (demo/pad.py, #round-offer): in the
  // page's flow beside the pad on a wide screen, after n and the examples on a phone; it covers
  // nothing. Until the answer view is on the page, it waits.
  const OFFER = `<p>✍️ <strong>New here?</strong> Teach it your handwriting in about 30 seconds: ` +
    `draw each digit once.</p><div class="round-actions">` +
    `<button type="button" class="primary" data-do="start">Teach it my hand</button>` +
    `<button type="button" data-do="dismiss">No thanks</button></div>`;
  let offerHost = null;
  function showOffer() {
    if (!offerHost || !offerHost.isConnected) {
      offerHost = document.getElementById("round-offer");
      if (offerHost) window.mnistsumOnPress(offerHost, "button[data-do]", press);
    }
    if (offerHost) offerHost.innerHTML = view === "offer" ? OFFER : "";
    else if (view === "offer") setTimeout(showOffer, 100);
  }

  function render() {
    showOffer();
    root.dataset.view = view || "";
    if (view === "offer") {
      root.innerHTML = "";
    } else if (view === "round") {
      const count = keptDigits().length;
      const step = round.kept[round.at] ? `draw your <strong>${round.at}</strong> again` :
        `draw a <strong>${round.at}</strong>`;
      root.innerHTML = `<p class="round-prompt">✍️ Teach it your hand: ${step} on the pad, then press ` +
        `<strong>Keep</strong>. (${count} of ${DIGITS} kept)</p>` +
        `<div class="round-digits" role="group" aria-label="The round's digits">` +
        Array.from({ length: DIGITS }, (_, d) => chip(d)).join("") + `</div>` +
        `<div class="round-actions"><button type="button" class="primary" data-do="keep">Keep this drawing</button>` +
        `<button type="button" data-do="skip">Skip this digit</button>` +
        (count ? `<button type="button" data-do="finish">Finish now (${count})</button>` : "") +
        `<button type="button" data-do="stop">Stop the round</button></div>` +
        (note ? `<p class="round-note">${escape(note)}</p>` : "");
    } else if (view === "busy") {
      root.innerHTML = `<p class="round-prompt">⏳ Learning your ${keptDigits().length} drawings…</p>`;
    } else if (view === "done" && done) {
      const misread = (done.misread || []).map(([d, a]) => `your ${Number(d)} was read as ${Number(a)}`).join(", ");
      root.innerHTML = `<p class="round-prompt">🎉 <strong>Round done</strong>: ${escape(done.summary)} ` +
        `(on the drawings it just learned from${misread ? `; before, ${escape(misread)}` : ""}). ` +
        `Draw any digit to try it.</p><div class="round-actions"><button type="button" data-do="close">OK</button></div>`;
    } else if (view === "message") {
      root.innerHTML = `<p class="round-prompt">${escape(message)}</p>` +
        `<div class="round-actions"><button type="button" data-do="close">OK</button></div>`;
    } else {
      root.innerHTML = "";
    }
  }

  // The pad and the round's buttons in one view (on a phone and at 1366x768 alike): the page
  // scrolls just enough, never past the pad's top, so one draws and keeps without scrolling.
  function bringIntoView() {
    const pad = document.querySelector("#drawing");
    if (!pad || !view) return;
    const top = pad.getBoundingClientRect().top;
    const bottom = root.getBoundingClientRect().bottom;
    if (top < 0) window.scrollBy({ top });
    else if (bottom > window.innerHeight) window.scrollBy({ top: Math.min(top, bottom - window.innerHeight + 8) });
  }

  function start() {
    round = { at: 0, kept: {}, skipped: [] };
    done = null;
    note = "";
    view = "round";
    storage.set(OFFERED, "1");
    save();
    render();
    if (window.mnistsumPad) window.mnistsumPad.clear();
    setTimeout(bringIntoView, 0); // after the tab, if it changed, is laid out
  }

  function finish() {
    const digits = keptDigits();
    if (!digits.length) {
      round = null;
      save();
      message = "Nothing was kept, so nothing was learned.";
      view = "message";
      render();
      return;
    }
    view = "busy";
    render();
    trigger("submit", { digits, drawings: digits.map((d) => round.kept[d]) });
  }

  function advance() {
    const d = nextDigit(round.at);
    note = "";
    if (d === null) {
      save();
      finish();
      return;
    }
    round.at = d;
    save();
    render();
    bringIntoView();
  }

  const actions = {
    start,
    dismiss() {
      view = null;
      render();
    },
    close() {
      view = null;
      done = null;
      render();
    },
    goto(button) {
      round.at = Number(button.dataset.digit);
      note = "";
      save();
      render();
    },
    keep() {
      const png = window.mnistsumPad ? window.mnistsumPad.drawing() : "";
      if (!png) {
        note = `Nothing is drawn: draw a ${round.at} on the pad first.`;
        render();
        return;
      }
      round.kept[round.at] = png;
      round.skipped = round.skipped.filter((d) => d !== round.at);
      window.mnistsumPad.clear();
      advance();
    },
    skip() {
      delete round.kept[round.at];
      if (!round.skipped.includes(round.at)) round.skipped.push(round.at);
      advance();
    },
    finish,
    stop() {
      round = null;
      save();
      message = "Round stopped: nothing from it was learned.";
      view = "message";
      render();
    },
  };

  // A finger or pen acts on pointer-up, a mouse on click (page.js, window.mnistsumOnPress).
  const ROUND_ONLY = ["goto", "keep", "skip", "finish", "stop"];
  function press(button) {
    const action = actions[button.dataset.do];
    if (action && (round || !ROUND_ONLY.includes(button.dataset.do))) action(button);
  }
  window.mnistsumOnPress(root, "button[data-do]", press);

  // The server's answer at the end of a round.
  watch("value", () => {
    const v = props.value;
    if (!v || typeof v !== "object") return;
    if (v.done) {
      round = null;
      save();
      done = v.done;
      view = "done";
    } else if (round && isDigit(v.redo)) {
      delete round.kept[v.redo];
      round.at = v.redo;
      note = String(v.message || "");
      save();
      view = "round";
    } else if (round) {
      note = String(v.message || "");
      view = "round";
    }
    render();
  });

  // The handwriting forgotten (or dropped): a "Round done" about it is no longer true.
  window.addEventListener("mnistsum:handwriting", () => {
    if (!window.mnistsumHandwriting && view === "done") {
      view = null;
      done = null;
      render();
    }
  });

  window.mnistsumRound = { start };
  if (round) {
    view = "round";
    note = "Resumed where you left off.";
    setTimeout(bringIntoView, 500); // once the page is laid out
  } else if (!storage.get(OFFERED) && !storage.get(HANDWRITING)) {
    view = "offer"; // a first visit: offered once, never again in this browser
    storage.set(OFFERED, "1");
  }
  render();
})();
