// Page-wide helpers (demo/app.py puts this in the page's <head>): the n box keeps to 0-9 and
// says so, a tap on a sum-table square shows its value, and the leaderboard says when it
// scrolls. Document-level listeners only, so they work on whatever Gradio renders later.
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

  // The leaderboard scrolls sideways when its columns do not fit: say so under it.
  setInterval(() => {
    const box = document.getElementById("leaderboard");
    const table = box && box.querySelector("table");
    if (box) box.classList.toggle("scrolls", !!table && table.scrollWidth > table.clientWidth + 1);
  }, 1000);
})();
