// The teacher's pages: a "Tomorrow" button beside a due date fills it in (the server gives the value
// in the school's time zone). Without scripts the button stays hidden and the date is typed.
(function () {
  "use strict";
  document.querySelectorAll("button[data-due]").forEach(function (button) {
    var input = button.parentNode.querySelector("input[type=datetime-local]");
    if (!input) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      input.value = button.getAttribute("data-due");
      input.dispatchEvent(new Event("change", { bubbles: true }));
    });
  });
})();
