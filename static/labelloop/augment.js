// Keyboard control of the augmentation samples (augment.html): J/↓ and K/↑ move between copies, X
// selects or unselects the focused one, A accepts and R rejects the selected ones (none selected: the
// focused one), Shift+A accepts every copy shown. Every action is a real button of the decision form
// (data-key); this script only maps keys to them and moves the focus, so the page works without it.
// A decision swaps the whole results part (htmx); the focus then goes to the first copy after the
// focused one that was not decided, else stays at the same position.
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

  document.addEventListener("keydown", function (event) {
    // An input method is composing: the key belongs to it (keyCode 229: a key the IME took).
    if (event.isComposing || event.keyCode === 229) return;
    if (event.ctrlKey || event.metaKey || event.altKey || typingInField(event.target)) return;
    if (!document.getElementById("augment-table")) return;
    const row = event.target.closest ? event.target.closest("tr.augment-row") : null;
    const key = event.key;
    const lower = key.toLowerCase();
    let handled = true;
    if (busy && ["j", "k", "x", "a", "r", "arrowdown", "arrowup"].includes(lower)) {
      // wait for the answer: the rows are about to be replaced
    } else if (lower === "j" || key === "ArrowDown") {
      focusRow(row ? rows().indexOf(row) + 1 : 0);
    } else if (lower === "k" || key === "ArrowUp") {
      focusRow(row ? rows().indexOf(row) - 1 : 0);
    } else if (lower === "x" && row) {
      toggle(row);
    } else if (key === "A" && event.shiftKey) {
      handled = decide("A", row);
    } else if (lower === "a" || lower === "r") {
      handled = decide(lower, row);
    } else {
      handled = false;
    }
    if (handled) event.preventDefault();
  });

  document.addEventListener("change", function (event) {
    const row = event.target.closest ? event.target.closest("tr.augment-row") : null;
    if (row) markSelected(row);
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.target.id === "augment-decide") busy = true;
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.target.id === "augment-decide" && !event.detail.successful) busy = false;
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    if (!busy || event.target.id !== "augment-results") return; // not the decision's answer (a job poll)
    busy = false;
    const kept = anchor && document.getElementById(anchor);
    if (kept) kept.focus();
    else if (position >= 0) focusRow(position);
    position = -1;
    anchor = null;
  });
})();
