/* The e-textbook reader: a footnote opens in place, beside its reference, instead of the page
   jumping away (EPUB's epub:type="noteref"). Without JavaScript the link still goes to the note. */
(function () {
  "use strict";
  var article = document.querySelector("article.reader");
  if (!article) { return; }
  var open = null;

  function close(focusBack) {
    if (!open) { return; }
    var ref = open.ref;
    open.box.remove();
    ref.setAttribute("aria-expanded", "false");
    open = null;
    if (focusBack) { ref.focus(); }
  }

  article.addEventListener("click", function (event) {
    var ref = event.target.closest("a[role=doc-noteref], a[epub\\:type~=noteref]");
    if (!ref || !article.contains(ref)) { return; }
    var id = decodeURIComponent((ref.getAttribute("href") || "").replace(/^#/, ""));
    var note = id && document.getElementById(id);
    if (!note || !article.contains(note)) { return; }
    event.preventDefault();
    var again = open && open.ref === ref;
    close(false);
    if (again) { return; }
    var box = document.createElement("span");
    box.className = "note-in-place";
    box.setAttribute("role", "note");
    box.setAttribute("aria-label", article.getAttribute("data-note-label") || "Note");
    box.tabIndex = -1;
    var text = document.createElement("span");
    text.className = "note-text";
    Array.prototype.forEach.call(note.childNodes, function (child) {
      var copy = child.cloneNode(true);
      if (copy.querySelectorAll) {  // ids stay unique in the page
        if (copy.removeAttribute) { copy.removeAttribute("id"); }
        Array.prototype.forEach.call(copy.querySelectorAll("[id]"), function (el) { el.removeAttribute("id"); });
      }
      text.appendChild(copy);
    });
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary note-close";
    button.textContent = article.getAttribute("data-note-close") || "Close";
    button.addEventListener("click", function () { close(true); });
    box.appendChild(text);
    box.appendChild(button);
    ref.insertAdjacentElement("afterend", box);
    ref.setAttribute("aria-expanded", "true");
    open = {ref: ref, box: box};
    box.focus();
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && open) { close(true); }
  });
})();
