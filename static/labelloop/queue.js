// Keyboard control of the annotation page (queue.html) and of binary mode (binary.html).
// The server renders each item's panel; htmx swaps it in after every action, so the keys are read
// from whatever panel is on the page at the time, and nothing has to be re-initialised per item.
(function () {
  "use strict";

  const DIGITS = "1234567890";
  let busy = false; // an action is in flight: ignore keys until its panel arrives
  let branch = ""; // the label whose children are shown ("" = the top level)
  const typedAhead = []; // keys pressed while busy, replayed on the next panel

  const panel = () => document.getElementById("queue-panel");
  const help = () => document.getElementById("queue-help");

  // keyCode 229 is what browsers report for a key an input method takes (some send it without isComposing).
  function composing(event) {
    return event.isComposing || event.keyCode === 229;
  }

  function typingInField(event) {
    const tag = event.target.tagName;
    return tag === "TEXTAREA" || (tag === "INPUT" && event.target.type === "text");
  }

  function labelKeys() {
    return Array.from(panel().querySelectorAll(".label-key"));
  }

  function showBranch(parentId) {
    branch = parentId;
    for (const key of labelKeys()) {
      key.hidden = key.dataset.parent !== branch;
    }
    const current = labelKeys().find((key) => key.dataset.labelId === branch);
    const where = panel().querySelector("[data-role=branch]");
    if (where) {
      // The words come from the panel (data-text-*), rendered in the interface language.
      where.textContent = current ? current.dataset.path + " › " + panel().dataset.textBack + "  " : "";
    }
  }

  function showSelection() {
    const chosen = labelKeys().filter((key) => key.querySelector("input").checked);
    for (const key of labelKeys()) {
      key.classList.toggle("selected", key.querySelector("input").checked);
    }
    const summary = panel().querySelector("[data-role=selected]");
    if (summary) {
      const words = panel().dataset.textSelected;
      summary.textContent = chosen.length ? words + " " + chosen.map((key) => key.dataset.path).join(", ") : "";
    }
  }

  function findLabel(key) {
    // A digit means a position at the level shown; a letter is a label's own shortcut, anywhere.
    const visible = labelKeys().filter((label) => !label.hidden && label.dataset.key === key);
    if (visible.length) return visible[0];
    if (DIGITS.includes(key)) return null;
    return labelKeys().find((label) => label.dataset.key === key) || null;
  }

  function choose(label) {
    const input = label.querySelector("input");
    if (panel().dataset.multi === "1") {
      input.checked = !input.checked;
    } else {
      input.checked = true; // radios: the others clear themselves
    }
    showBranch(label.dataset.hasChildren ? label.dataset.labelId : label.dataset.parent);
    showSelection();
  }

  function click(selector) {
    const target = panel().querySelector(selector);
    if (target) target.click();
    return Boolean(target);
  }

  function undo() {
    htmx.ajax("GET", panel().dataset.undoUrl, { target: "#queue-panel", swap: "outerHTML" });
  }

  function openFlag() {
    const box = panel().querySelector(".flag-box");
    if (!box) return;
    box.hidden = false;
    panel().querySelector("#skip-form [name=unclear]").value = "1";
    box.querySelector("textarea").focus();
  }

  function closeFlag() {
    const box = panel().querySelector(".flag-box");
    if (!box) return;
    box.hidden = true;
    panel().querySelector("#skip-form [name=unclear]").value = "0";
  }

  function expand() {
    const text = panel().querySelector("#item-text");
    if (text) text.classList.remove("collapsed");
    const button = panel().querySelector("[data-action=expand]");
    if (button) button.remove();
  }

  function submitForm(id) {
    const form = panel().querySelector(id);
    if (form) form.requestSubmit();
  }

  function onFieldKey(event) {
    // Inside the flag comment: Enter sends the flag, Shift+Enter is a new line, Esc cancels.
    if (event.key === "Escape") {
      closeFlag();
      event.preventDefault();
    } else if (event.key === "Enter" && !event.shiftKey && event.target.closest(".flag-box")) {
      submitForm("#skip-form");
      event.preventDefault();
    }
  }

  function onLabelsKey(name, key) {
    if (name === "Enter") return submitForm("#label-form"), true;
    if (name === "Backspace") {
      const current = labelKeys().find((label) => label.dataset.labelId === branch);
      showBranch(current ? current.dataset.parent : "");
      return true;
    }
    if (key === "s") return submitForm("#skip-form"), true;
    if (key === "u") return undo(), true;
    if (key === "f") return openFlag(), true;
    const label = findLabel(key);
    if (label) choose(label);
    return Boolean(label);
  }

  function onBinaryKey(name, key) {
    if (key === "a") return click("[data-action=accept]");
    if (key === "x") return click("[data-action=reject]");
    if (name === " ") return click("[data-action=skip]");
    return false;
  }

  // Act on one key; true when it meant something here.
  function dispatch(name) {
    const key = name.toLowerCase();
    if (key === "e") return expand(), true;
    return panel().dataset.mode === "binary" ? onBinaryKey(name, key) : onLabelsKey(name, key);
  }

  function onKey(event) {
    // An input method is composing (Chinese pinyin, Japanese kana...): the key belongs to it, never a shortcut.
    if (composing(event)) return;
    if (!panel() || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typingInField(event)) return onFieldKey(event);
    if (help() && help().open) return; // the dialog closes itself on Esc
    if (event.key === "?") return help() && help().showModal(), event.preventDefault();
    if (busy) {
      // Typing ahead: keys pressed while the next item loads apply to it once it is shown.
      if (event.key.length === 1 || event.key === "Enter" || event.key === "Backspace") {
        typedAhead.push(event.key);
        event.preventDefault();
      }
      return;
    }
    if (dispatch(event.key)) event.preventDefault();
  }

  function onPanelClick(event) {
    const action = event.target.closest("[data-action]");
    if (!action || action.tagName === "BUTTON" && action.type === "submit") return;
    const name = action.dataset.action;
    if (name === "skip" && panel().dataset.mode !== "binary") submitForm("#skip-form");
    if (name === "undo") undo();
    if (name === "flag") openFlag();
    if (name === "expand") expand();
  }

  function reset() {
    busy = false;
    if (!panel()) return;
    if (panel().dataset.mode !== "binary") {
      // Open the branch of a pre-selected label so that the choice is visible.
      const chosen = labelKeys().find((label) => label.querySelector("input").checked);
      showBranch(chosen ? (chosen.dataset.hasChildren ? chosen.dataset.labelId : chosen.dataset.parent) : "");
      showSelection();
    }
    panel().dataset.ready = "1"; // for people nothing changes; tests wait for it
    while (!busy && typedAhead.length) dispatch(typedAhead.shift());
  }

  document.addEventListener("keydown", onKey);
  document.addEventListener("click", onPanelClick);
  document.addEventListener("change", (event) => {
    if (event.target.closest && event.target.closest(".label-key")) showSelection();
  });
  document.addEventListener("htmx:beforeRequest", () => { busy = true; });
  // Not afterSwap: htmx wires up the new panel's forms only when it settles, and a key replayed
  // before that would submit the bare form as a full page load.
  document.addEventListener("htmx:afterSettle", reset);
  function failed() {
    busy = false;
    typedAhead.length = 0; // what was typed ahead was meant for an item that did not come
  }

  document.addEventListener("htmx:responseError", failed);
  document.addEventListener("htmx:sendError", failed);
  document.addEventListener("DOMContentLoaded", reset);
})();
