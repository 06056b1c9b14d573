// Page-wide helpers (demo/app.py puts this in the page's <head>, so it runs before any component's
// script): the n box keeps to 0-9 and says so, a tap on a sum-table square shows its value, one
// rule for buttons pressed by a finger, a tap Chromium drops after a stroke still clicks, and the
// leaderboard says when it scrolls. Document-level listeners only, so they work
// on whatever Gradio renders later.
(() => {
  const N_MIN = 0;
  const N_MAX = 9;

  function nMessage(box, text) {
    const slider = box.closest("#n-slider");
    let line = slider.querySelector(".n-message");
    if (!line) {
      line = document.createElement("p");
      line.className = "n-message";
      line.setAttribute("role", "status");
      slider.appendChild(line);
    }
    line.textContent = text;
  }

  // Typing 12 or -1 (or 2.5) in n's box: refused on the spot, n set to the nearest allowed value,
  // and the box, the slider and the answer all see that value (an input event, as if typed).
  function keepN(event) {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || box.type !== "number" || !box.closest("#n-slider")) return;
    if (box.value === "") return; // still typing (a lone "-")
    const typed = Number(box.value);
    const allowed = Math.min(N_MAX, Math.max(N_MIN, Math.round(typed)));
    if (typed === allowed) {
      if (event.type === "input" && event.isTrusted) nMessage(box, ""); // a good value typed: the note goes
      return;
    }
    event.stopImmediatePropagation();
    box.value = String(allowed);
    nMessage(box, `n is a whole number from ${N_MIN} to ${N_MAX}: ${typed} is not allowed, so n is ${allowed}.`);
    box.dispatchEvent(new Event("input", { bubbles: true }));
    box.dispatchEvent(new Event("change", { bubbles: true }));
  }
  document.addEventListener("input", keepN, true);
  document.addEventListener("change", keepN, true);

  // A touch screen has no hover: a tap on a heatmap square shows its value under the table.
  document.addEventListener("click", (event) => {
    const cell = event.target instanceof Element && event.target.closest(".heatmap td[title]");
    if (!cell) return;
    const table = cell.closest(".heatmap");
    let shown = table.nextElementSibling;
    if (!shown || !shown.classList.contains("tapped-value")) {
      shown = document.createElement("p");
      shown.className = "tapped-value";
      shown.setAttribute("role", "status");
      table.after(shown);
    }
    shown.textContent = cell.title;
  });

  // Buttons a finger presses right after drawing (the pad's tools, the round, "Did you mean"): a
  // touch or pen acts on pointer-up, since Chromium may swallow the tap's click right after a
  // stroke; the click that may follow that tap is skipped wherever it lands (the view may have
  // re-rendered under the finger), and so is this file's stand-in click below. A mouse click is
  // never skipped: on a touch laptop it is the visitor's next press. `act(button, event)`.
  const PRESS_CLICK_MS = 1000;
  window.mnistsumOnPress = (container, selector, act) => {
    let pressedAt = -Infinity;
    function handle(event) {
      if (event.type === "click" && event.pointerType !== "mouse" && event.timeStamp - pressedAt < PRESS_CLICK_MS) {
        pressedAt = -Infinity;
        return;
      }
      const button = event.target instanceof Element ? event.target.closest(selector) : null;
      if (!button || !container.contains(button) || button.disabled) return;
      if (event.type === "pointerup") {
        if (event.pointerType === "mouse") return;
        pressedAt = event.timeStamp;
      }
      act(button, event);
    }
    container.addEventListener("pointerup", handle);
    container.addEventListener("click", handle);
  };

  // Chromium drops the click of the first tap after a fast stroke on the pad (its tap suppression after
  // a fling, which touch-action: none does not stop; Chrome on Android too): "It was 1" or a tab tapped
  // right after drawing did nothing. A short touch press that stayed in place on a button or tab, with
  // no click after it, is clicked here. The pad's own tools act on pointer-up already (pad.js).
  const TAP_SLOP_PX = 10;
  const TAP_MAX_MS = 600;
  const CLICK_WAIT_MS = 300;
  let press = null;
  document.addEventListener("pointerdown", (event) => {
    press = event.pointerType === "touch" ? { id: event.pointerId, x: event.clientX, y: event.clientY, at: event.timeStamp } : null;
  }, true);
  document.addEventListener("pointerup", (event) => {
    if (!press || event.pointerId !== press.id) return;
    const tap = Math.hypot(event.clientX - press.x, event.clientY - press.y) <= TAP_SLOP_PX && event.timeStamp - press.at <= TAP_MAX_MS;
    press = null;
    const target = event.target instanceof Element && event.target.closest("button, [role=tab]");
    if (!tap || !target || target.disabled || target.closest("#drawing .pad-tools")) return;
    let clicked = false;
    const seen = () => { clicked = true; };
    target.addEventListener("click", seen, { capture: true, once: true });
    setTimeout(() => {
      target.removeEventListener("click", seen, true);
      if (!clicked && target.isConnected && !target.disabled) target.click();
    }, CLICK_WAIT_MS);
  }, true);

  // The leaderboard scrolls sideways when its columns do not fit: say so under it.
  setInterval(() => {
    const box = document.getElementById("leaderboard");
    const table = box && box.querySelector("table");
    if (box) box.classList.toggle("scrolls", !!table && table.scrollWidth > table.clientWidth + 1);
  }, 1000);
})();
