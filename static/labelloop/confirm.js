// Asks before a form with data-confirm="question" is sent (deleting a label or a rule): the CSP allows
// no inline onclick/onsubmit, so one listener on the document handles every such form, also ones htmx
// swaps in later.
(function () {
  "use strict";
  document.addEventListener(
    "submit",
    function (event) {
      const form = event.target.closest("form[data-confirm]");
      if (form && !window.confirm(form.dataset.confirm)) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true,
  );
})();
