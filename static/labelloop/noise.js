// Keyboard control of the noisy-label review queue (noise.html). Every action is a real button in
// the focused row (data-key); this script only maps keys to them and moves the focus, so the page
// works the same without it. Once htmx has settled a decided row, the focus moves to the next row.
// A key pressed while a decision is in flight is kept and applied to the focused row once it settles.
(function () {
  "use strict";

  let busy = false; // a decision is in flight or its row is not settled yet: its buttons are not wired
  let pending = null; // the last key pressed while busy: {key, name}
  let lastDecided = null; // the id of the row decided last on this page: U undoes it from any row
  const KEYS = ["j", "e", "k", "r", "x", "u"];

  const rows = () => Array.from(document.querySelectorAll("tr.noise-row"));
  const flagRow = (element) => (element && element.closest ? element.closest("tr[id^='flag-']") : null);

  function typingInField(target) {
    const tag = target.tagName;
    return tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && target.type !== "hidden");
  }

  function move(row, step) {
    const all = rows();
    const next = all[all.indexOf(row) + step];
    if (next) next.focus();
  }

  document.addEventListener("keydown", function (event) {
    // An input method is composing: the key belongs to it (keyCode 229: a key the IME took).
    if (event.isComposing || event.keyCode === 229) return;
    if (event.ctrlKey || event.metaKey || event.altKey || typingInField(event.target)) return;
    const row = event.target.closest ? event.target.closest("tr.noise-row") : null;
    const key = event.key.toLowerCase();
    if (!row) {
      if (key === "j" && rows().length) {
        rows()[0].focus();
        event.preventDefault();
      }
      return;
    }
    if (busy) {
      if (KEYS.includes(key) || event.key.startsWith("Arrow")) pending = { key: key, name: event.key };
      event.preventDefault();
      return;
    }
    if (act(row, key, event.key)) event.preventDefault();
  });

  // Does what `key` means on `row`; returns whether it meant anything.
  function act(row, key, name) {
    if (key === "j" || name === "ArrowDown") {
      move(row, 1);
    } else if (name === "ArrowUp") {
      move(row, -1);
    } else if (key === "e") {
      const details = row.querySelector("details.expand");
      if (details) details.open = !details.open;
    } else {
      let button = row.querySelector('button[data-key="' + key + '"]');
      if (!button && key === "u" && lastDecided) {
        // The focus moved on after a decision: undo the last one from where the person is.
        const decided = document.getElementById(lastDecided);
        button = decided ? decided.querySelector('button[data-key="u"]') : null;
        if (button) decided.focus();
      }
      if (!button) return false;
      button.click();
    }
    return true;
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (flagRow(event.target)) busy = true;
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    if (flagRow(event.target) && !event.detail.successful) {
      busy = false; // nothing will be swapped in
      pending = null;
    }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    const settled = flagRow(event.target);
    if (!settled) return;
    busy = false;
    const typed = pending;
    pending = null;
    const row = document.getElementById(settled.id); // the row now in the page, whichever htmx reported
    if (!row || !row.classList.contains("noise-row")) return;
    const next = row.nextElementSibling;
    const decided = row.dataset.status !== "open";
    if (decided) lastDecided = row.id;
    else if (lastDecided === row.id) lastDecided = null; // undone
    const focused = decided && next && next.classList.contains("noise-row") ? next : row;
    focused.focus();
    if (typed) act(focused, typed.key, typed.name);
  });
})();
