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

/* A student's highlights and notes: the words selected in the book go into the notes form (as a
   W3C TextQuoteSelector: the words, with what comes before and after), and the passages of the
   notes kept here are marked in the text. Text is matched with its white space collapsed, as the
   server matches it (content/notes.py). */
(function () {
  "use strict";
  var article = document.querySelector("article.reader");
  var form = document.querySelector("form.note-tools");
  if (!article) { return; }
  var CONTEXT = 32;

  function collapse(text) { return text.replace(/\s+/g, " ").replace(/^ | $/g, ""); }

  function rootFor(node) {  // the text a note is in: the chapter, or one page of a PDF textbook
    var element = node.nodeType === 1 ? node : node.parentNode;
    var page = element && element.closest ? element.closest(".pdf-page") : null;
    if (page) { return page.querySelector(".pdf-text"); }
    return article.querySelector(".book-body") || article;
  }

  // The root's text with white space collapsed, and for each character its text node and offset.
  function index(root) {
    var chars = [], map = [];
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, null);
    var node;
    while ((node = walker.nextNode())) {
      var data = node.data;
      for (var i = 0; i < data.length; i += 1) {
        if (/\s/.test(data[i])) {
          if (chars.length && chars[chars.length - 1] !== " ") { chars.push(" "); map.push([node, i]); }
        } else { chars.push(data[i]); map.push([node, i]); }
      }
    }
    if (chars.length && chars[chars.length - 1] === " ") { chars.pop(); map.pop(); }
    return {text: chars.join(""), map: map};
  }

  function commonSuffix(a, b) { var n = 0; while (n < a.length && n < b.length && a[a.length - 1 - n] === b[b.length - 1 - n]) { n += 1; } return n; }
  function commonPrefix(a, b) { var n = 0; while (n < a.length && n < b.length && a[n] === b[n]) { n += 1; } return n; }

  // As content/notes.py's locate: the best context, then the nearest to the position given.
  function locate(text, exact, prefix, suffix, position) {
    var best = -1, bestScore = -1, bestDistance = 0, start = text.indexOf(exact);
    while (exact && start !== -1) {
      var score = commonSuffix(text.slice(Math.max(0, start - prefix.length), start), prefix) +
        commonPrefix(text.slice(start + exact.length, start + exact.length + suffix.length), suffix);
      var distance = Math.abs(start - (position || 0));
      if (score > bestScore || (score === bestScore && distance < bestDistance)) {
        best = start; bestScore = score; bestDistance = distance;
      }
      start = text.indexOf(exact, start + 1);
    }
    return best;
  }

  var STRENGTH = {bookmark: 0, highlight: 1, note: 2};

  function kindOf(item) {
    return item.classList.contains("note-note") ? "note" : item.classList.contains("note-bookmark") ? "bookmark" : "highlight";
  }

  // Mark all of a root's notes from one index of its text: each text node a note touches is cut once,
  // at every note's edges, into plain text and <mark>s (where notes overlap, the mark of the
  // strongest: note, highlight, bookmark). A note's first mark carries its id (or an anchor before it).
  function markAll(root, items) {
    var found = index(root);
    var byNode = new Map();
    items.forEach(function (item) {
      var exact = item.getAttribute("data-exact");
      var start = locate(found.text, exact, item.getAttribute("data-prefix") || "", item.getAttribute("data-suffix") || "",
                         parseInt(item.getAttribute("data-position") || "0", 10));
      for (var i = start; start >= 0 && i < start + exact.length; i += 1) {
        var node = found.map[i][0], offset = found.map[i][1];
        if (!byNode.has(node)) { byNode.set(node, []); }
        var spans = byNode.get(node), last = spans[spans.length - 1];
        if (last && last.item === item && last.end === offset) { last.end = offset + 1; } else { spans.push({item: item, start: offset, end: offset + 1}); }
      }
    });
    var nodes = Array.from(byNode.keys()).sort(function (a, b) {
      return a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1;
    });
    var first = new Map();  // note -> its first mark
    nodes.forEach(function (node) {
      var parent = node.parentNode;
      if (!parent || parent.namespaceURI !== document.body.namespaceURI) { return; }  // not inside MathML or SVG
      var spans = byNode.get(node);
      var cuts = [0, node.data.length];
      spans.forEach(function (span) { cuts.push(span.start, span.end); });
      cuts = cuts.sort(function (a, b) { return a - b; }).filter(function (cut, i, all) { return i === 0 || cut !== all[i - 1]; });
      var pieces = document.createDocumentFragment();
      for (var k = 0; k + 1 < cuts.length; k += 1) {
        var text = node.data.slice(cuts[k], cuts[k + 1]);
        var covering = spans.filter(function (span) { return span.start <= cuts[k] && span.end >= cuts[k + 1]; })
          .map(function (span) { return span.item; });
        if (!covering.length) { pieces.appendChild(document.createTextNode(text)); continue; }
        var strongest = covering.reduce(function (a, b) { return STRENGTH[kindOf(b)] > STRENGTH[kindOf(a)] ? b : a; });
        var box = document.createElement("mark");
        box.className = "my-mark my-mark-" + kindOf(strongest);
        if (strongest.hasAttribute("data-kept")) {  // kept on this device, not yet on the server
          box.classList.add("my-mark-kept");
          box.setAttribute("data-kept", strongest.getAttribute("data-kept"));
        }
        box.textContent = text;
        covering.forEach(function (item) { if (!first.has(item)) { first.set(item, box); } });
        pieces.appendChild(box);
      }
      parent.replaceChild(pieces, node);
    });
    first.forEach(function (box, item) {
      var id = "mark-" + item.getAttribute("data-note");
      if (!box.id) { box.id = id; } else {
        var anchor = document.createElement("span");
        anchor.id = id;
        box.parentNode.insertBefore(anchor, box);
      }
      var go = item.querySelector(".note-goto");
      if (go) { go.hidden = false; }
    });
  }

  var pdf = article.classList.contains("pdf-book");
  var roots = [], byRoot = [];
  Array.prototype.forEach.call(document.querySelectorAll(".chapter-notes li[data-exact]"), function (item) {
    var page = item.getAttribute("data-page");
    var root = page ? document.querySelector("#page-" + page + " .pdf-text") : rootFor(article);
    if (!root || (pdf && !page)) { return; }
    var at = roots.indexOf(root);
    if (at < 0) { roots.push(root); byRoot.push([]); at = roots.length - 1; }
    byRoot[at].push(item);
  });
  if (window.performance && performance.mark) { performance.mark("classroom-notes"); }
  roots.forEach(function (root, at) { markAll(root, byRoot[at]); });
  if (window.performance && performance.measure) { performance.measure("classroom-notes", "classroom-notes"); }  // benchmarks/books.py
  var wanted = /^#note-/.test(location.hash) && document.getElementById("mark-" + location.hash.slice(6));
  if (wanted) {  // after the browser's own move to #note-..., which is the note in the list
    wanted.tabIndex = -1;
    var go = function () { wanted.scrollIntoView({block: "center"}); wanted.focus({preventScroll: true}); };
    if (document.readyState === "complete") { go(); } else { window.addEventListener("load", function () { setTimeout(go, 0); }); }
  }

  if (!form) { return; }
  var shown = form.querySelector(".note-selection");
  var hint = shown.textContent;
  var actions = form.querySelector(".note-actions");
  var cancel = form.querySelector(".note-cancel");
  var pageField = form.elements.page;
  var chosen = null;  // the last selection made in the book: tapping a button may clear it on a phone
  var lastPlace = null;  // where the student was reading, before scrolling up to the buttons

  function lift(on) {  // the buttons beside the selected words: at the bottom of the screen
    if (on && !actions.classList.contains("lifted")) {
      form.style.minHeight = form.offsetHeight + "px";  // the page does not jump under the finger
      actions.classList.add("lifted");
    } else if (!on) {
      actions.classList.remove("lifted");
      form.style.minHeight = "";
    }
    cancel.hidden = !on;
  }
  cancel.addEventListener("click", function () {
    chosen = null;
    shown.textContent = hint;
    lift(false);
    var selection = window.getSelection();
    if (selection) { selection.removeAllRanges(); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && chosen) { cancel.click(); }
  });

  function choose() {
    var selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) { return; }
    var range = selection.getRangeAt(0);
    if (!article.contains(range.commonAncestorContainer) && !article.contains(range.startContainer)) { return; }
    var root = rootFor(range.startContainer);
    if (!root.contains(range.endContainer)) { range = range.cloneRange(); range.setEnd(root, root.childNodes.length); }
    var before = document.createRange();
    before.setStart(root, 0);
    before.setEnd(range.startContainer, range.startOffset);
    var after = document.createRange();
    after.setStart(range.endContainer, range.endOffset);
    after.setEnd(root, root.childNodes.length);
    var exact = collapse(range.cloneContents().textContent).slice(0, 1000);
    if (!exact) { return; }
    var preceding = before.cloneContents().textContent;
    chosen = {exact: exact, prefix: collapse(preceding).slice(-CONTEXT),
              suffix: collapse(after.cloneContents().textContent).slice(0, CONTEXT),
              position: collapse(preceding + "x").length - 1};
    var page = root.closest(".pdf-page");
    if (page && pageField) { pageField.value = page.id.replace("page-", ""); }
    shown.textContent = shown.getAttribute("data-template").replace("%s", exact.length > 80 ? exact.slice(0, 80) + "…" : exact);
    lift(form.getBoundingClientRect().bottom < 0 || form.getBoundingClientRect().top > window.innerHeight);
  }
  document.addEventListener("selectionchange", choose);
  article.addEventListener("mouseup", choose);
  article.addEventListener("keyup", choose);

  function firstVisible() {  // a bookmark or note without a selection: the first words on the screen
    var blocks = article.querySelectorAll(pdf ? ".pdf-text span" : "p, li, h1, h2, h3, h4, td, figcaption, dd");
    for (var i = 0; i < blocks.length; i += 1) {
      var box = blocks[i].getBoundingClientRect();
      if (box.bottom > 0 && box.top >= -4) {
        var words = collapse(blocks[i].textContent);
        if (!words) { continue; }
        var root = rootFor(blocks[i]);
        var before = document.createRange();
        before.setStart(root, 0);
        before.setEndBefore(blocks[i]);
        var exact = words.slice(0, 60).replace(/ \S*$/, "") || words.slice(0, 60);
        var page = blocks[i].closest(".pdf-page");
        if (page && pageField) { pageField.value = page.id.replace("page-", ""); }
        var preceding = before.cloneContents().textContent;
        return {exact: exact, prefix: collapse(preceding).slice(-CONTEXT), suffix: "",
                position: collapse(preceding + "x").length - 1};
      }
    }
    return null;
  }

  if (pdf && pageField && "IntersectionObserver" in window) {  // the page field follows the reading
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting && !chosen) { pageField.value = entry.target.id.replace("page-", ""); }
      });
    }, {rootMargin: "0px 0px -60% 0px"});
    Array.prototype.forEach.call(article.querySelectorAll(".pdf-page"), function (page) { seen.observe(page); });
  }

  var following = null;
  window.addEventListener("scroll", function () {
    if (following) { return; }
    following = setTimeout(function () {
      following = null;
      if (article.getBoundingClientRect().top < 0) { lastPlace = firstVisible(); }
    }, 300);
  }, {passive: true});

  var sending = false;  // a second tap while the first is on its way would keep the note twice
  window.addEventListener("pageshow", function () { sending = false; });

  // app.js kept a note on this device (the server could not be reached), sent it, or saw it refused:
  // the words are marked as kept, and the place beside the buttons says what happened.
  function say(text) {
    chosen = null;
    shown.textContent = text || hint;
    var selection = window.getSelection();
    if (selection) { selection.removeAllRanges(); }
    sending = false;
  }
  document.addEventListener("classroom-note-kept", function (event) {
    var entry = event.detail.entry;
    say(event.detail.text);
    if (!entry.exact || document.querySelector("mark[data-kept='" + entry.client_id + "']")) { return; }
    var item = document.createElement("li");  // as a note of the list would be, for markAll
    item.className = "note note-" + entry.kind;
    item.setAttribute("data-note", "kept-" + entry.client_id);
    item.setAttribute("data-kept", entry.client_id);
    item.setAttribute("data-exact", entry.exact);
    item.setAttribute("data-prefix", entry.prefix);
    item.setAttribute("data-suffix", entry.suffix);
    item.setAttribute("data-position", entry.position || "0");
    var root = pdf && entry.pdf_page ? document.querySelector("#page-" + entry.pdf_page + " .pdf-text") : rootFor(article);
    if (root && (!pdf || entry.pdf_page)) { markAll(root, [item]); }
  });
  document.addEventListener("classroom-note-saved", function (event) {
    var id = event.detail.entry.client_id;
    Array.prototype.forEach.call(document.querySelectorAll("mark[data-kept='" + id + "']"), function (box) {
      box.classList.remove("my-mark-kept");
      box.removeAttribute("data-kept");
      if (box.id === "mark-kept-" + id && event.detail.note && event.detail.note.id) { box.id = "mark-" + event.detail.note.id; }
    });
    if (!chosen && event.detail.entry.page === location.pathname) { say(event.detail.text); }
  });
  document.addEventListener("classroom-note-refused", function (event) {
    var id = event.detail.entry.client_id;
    Array.prototype.forEach.call(document.querySelectorAll("mark[data-kept='" + id + "']"), function (box) {
      box.parentNode.replaceChild(document.createTextNode(box.textContent), box);
    });
    if (event.detail.entry.page === location.pathname && (!chosen || !event.detail.message)) { say(event.detail.message); }
  });
  form.addEventListener("submit", function (event) {
    if (sending) { event.preventDefault(); return; }
    sending = true;
    var kind = event.submitter ? event.submitter.value : "note";
    var place = chosen || (kind !== "highlight" ? (lastPlace || firstVisible()) : null);
    form.elements.exact.value = place ? place.exact : "";
    form.elements.prefix.value = place ? place.prefix : "";
    form.elements.suffix.value = place ? place.suffix : "";
    form.elements.position.value = place ? place.position : "";
  });
})();
