// Keyboard control of the suggestions page (candidates.html): J/↓ and K/↑ move between suggestions,
// A accepts and X rejects the current one (its own htmx form), Space selects it for the bulk buttons.
(function () {
  "use strict";

  let current = -1;

  const rows = () => Array.from(document.querySelectorAll("#candidate-list .candidate"));

  function focus(index) {
    const all = rows();
    if (!all.length) return;
    current = Math.max(0, Math.min(index, all.length - 1));
    all.forEach((row, i) => row.classList.toggle("current", i === current));
    all[current].focus();
    all[current].scrollIntoView({ block: "nearest" });
  }

  function press(role) {
    const row = rows()[current];
    const button = row && row.querySelector(`[data-role=${role}]`);
    if (!button) return;
    button.click();
    focus(current + 1); // on to the next suggestion while this one is saved
  }

  document.addEventListener("keydown", function (event) {
    // An input method is composing: the key belongs to it (keyCode 229: a key the IME took).
    if (event.isComposing || event.keyCode === 229) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const tag = event.target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && event.target.type === "text")) return;
    if (!document.getElementById("candidate-list")) return;
    const key = event.key.toLowerCase();
    if (key === "j" || key === "arrowdown") focus(current + 1);
    else if (key === "k" || key === "arrowup") focus(current - 1);
    else if (key === "a") press("accept");
    else if (key === "x") press("reject");
    else if (key === " " && rows()[current]) {
      const box = rows()[current].querySelector("input[type=checkbox]");
      box.checked = !box.checked;
    } else return;
    event.preventDefault();
  });
})();
