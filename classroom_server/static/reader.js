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

/* A PDF textbook's pages (pictures made at pack build): each page's text sits over its picture,
   invisible but there to select, find and hear; the search box finds the next page with the words. */
(function () {
  "use strict";
  var book = document.querySelector("article.pdf-book");
  if (!book) { return; }
  Array.prototype.forEach.call(book.querySelectorAll(".pdf-text span[data-box]"), function (line) {
    var box = line.getAttribute("data-box").split(" ").map(parseFloat);
    line.style.left = box[0] + "%";
    line.style.top = box[1] + "%";
    line.style.width = box[2] + "%";
    line.style.height = box[3] + "%";
    line.style.fontSize = "calc(" + box[3] + "cqh * 0.9)";
  });
  Array.prototype.forEach.call(book.querySelectorAll(".pdf-text"), function (text) {
    text.classList.add("positioned");
  });
  var form = document.querySelector("form.book-search");
  if (!form) { return; }
  form.hidden = false;
  var result = form.querySelector("output");
  var lines = Array.prototype.slice.call(book.querySelectorAll(".pdf-text span"));
  var last = -1;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var words = form.elements.q.value.trim().toLocaleLowerCase();
    if (!words) { return; }
    var previous = book.querySelector(".found");
    if (previous) { previous.classList.remove("found"); }
    for (var step = 1; step <= lines.length; step += 1) {
      var index = (last + step) % lines.length;
      if (lines[index].textContent.toLocaleLowerCase().indexOf(words) !== -1) {
        last = index;
        var page = lines[index].closest(".pdf-page");
        lines[index].classList.add("found");
        page.scrollIntoView({block: "start"});
        result.textContent = result.getAttribute("data-page").replace("%s", page.id.replace("page-", ""));
        return;
      }
    }
    last = -1;
    result.textContent = result.getAttribute("data-none");
  });
})();
