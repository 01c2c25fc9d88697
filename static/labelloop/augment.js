// Keyboard control of the augmentation samples (augment.html): J/↓ and K/↑ move between copies, X
// selects or unselects the focused one, A accepts and R rejects the selected ones (none selected: the
// focused one), Shift+A accepts every copy shown. Every action is a real button of the decision form
// (data-key); this script only maps keys to them and moves the focus, so the page works without it.
// A decision swaps the whole results part (htmx); the focus then goes to the first copy after the
// focused one that was not decided, else stays at the same position. Keys typed before the answer has
// settled wait and run after it, in order.
(function () {
  "use strict";

  let busy = false; // a decision is in flight: keys wait for its answer
  let position = -1; // the focused row's index when the decision left, to focus the same place after
  let anchor = null; // the id of the first unselected row from the focused one on: focused after the swap

  const rows = () => Array.from(document.querySelectorAll("#augment-table tr.augment-row"));
  const decideButton = (key) => document.querySelector('#augment-decide button[data-key="' + key + '"]');

  function typingInField(target) {
    const tag = target.tagName;
    const typed = tag === "INPUT" && !["checkbox", "radio", "hidden", "submit", "button"].includes(target.type);
    return tag === "TEXTAREA" || tag === "SELECT" || typed;
  }

  function focusRow(index) {
    const all = rows();
    if (!all.length) return;
    const row = all[Math.max(0, Math.min(index, all.length - 1))];
    row.focus();
    row.scrollIntoView({ block: "nearest" });
  }

  function markSelected(row) {
    const box = row.querySelector("input[name=ids]");
    row.classList.toggle("selected", Boolean(box && box.checked));
  }

  function toggle(row) {
    const box = row.querySelector("input[name=ids]");
    if (!box) return;
    box.checked = !box.checked;
    markSelected(row);
  }

  // Press a decision button; A and R act on the focused copy when nothing is selected.
  function decide(key, row) {
    const button = decideButton(key);
    if (!button) return false;
    const selected = document.querySelectorAll("#augment-table input[name=ids]:checked").length;
    if (key !== "A" && !selected && row) toggle(row);
    const all = rows();
    position = row ? all.indexOf(row) : 0;
    // Decided copies leave a "waiting" list: the person goes on with the next copy not decided now.
    const next = key === "A" ? null : all.slice(position).find((r) => !r.querySelector("input[name=ids]:checked"));
    anchor = next ? next.id : null;
    button.click();
    return true;
  }

  // One key's action. Returns whether the key was one of the page's.
  function act(key, shiftKey, row) {
    const lower = key.toLowerCase();
    if (lower === "j" || key === "ArrowDown") focusRow(row ? rows().indexOf(row) + 1 : 0);
    else if (lower === "k" || key === "ArrowUp") focusRow(row ? rows().indexOf(row) - 1 : 0);
    else if (lower === "x") {
      if (row) toggle(row);
    } else if (key === "A" && shiftKey) return decide("A", row);
    else if (lower === "a" || lower === "r") return decide(lower, row);
    else return false;
    return true;
  }

  const focusedRow = () => {
    const active = document.activeElement;
    return active && active.closest ? active.closest("tr.augment-row") : null;
  };

  // Keys typed while a decision is in flight wait here and run, in order, once its answer has settled:
  // a fast typist's next key is never lost to the swap (the old rows are about to be replaced).
  let typedAhead = [];

  function replayTypedAhead() {
    while (typedAhead.length && !busy) {
      const typed = typedAhead.shift();
      act(typed.key, typed.shiftKey, focusedRow());
    }
  }

  document.addEventListener("keydown", function (event) {
    // An input method is composing: the key belongs to it (keyCode 229: a key the IME took).
    if (event.isComposing || event.keyCode === 229) return;
    if (event.ctrlKey || event.metaKey || event.altKey || typingInField(event.target)) return;
    if (!document.getElementById("augment-table")) return;
    const lower = event.key.toLowerCase();
    if (busy && ["j", "k", "x", "a", "r", "arrowdown", "arrowup"].includes(lower)) {
      typedAhead.push({ key: event.key, shiftKey: event.shiftKey });
      event.preventDefault();
      return;
    }
    const row = event.target.closest ? event.target.closest("tr.augment-row") : null;
    if (act(event.key, event.shiftKey, row)) event.preventDefault();
  });

  document.addEventListener("change", function (event) {
    const row = event.target.closest ? event.target.closest("tr.augment-row") : null;
    if (row) markSelected(row);
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.target.id === "augment-decide") busy = true;
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.target.id === "augment-decide" && !event.detail.successful) {
      busy = false;
      typedAhead = []; // the decision failed: the keys typed after it meant to go on from its answer
    }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    if (!busy || event.target.id !== "augment-results") return; // not the decision's answer (a job poll)
    busy = false;
    const kept = anchor && document.getElementById(anchor);
    if (kept) kept.focus();
    else if (position >= 0) focusRow(position);
    position = -1;
    anchor = null;
    replayTypedAhead();
  });
})();
