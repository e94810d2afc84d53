/* Classroom: the device side of offline use. Registers the service worker where the browser allows
   one (a secure context), says when the page is offline and how many answers wait, keeps every answer
   in IndexedDB until the school server has stored it (sent to POST /api/v1/answers or
   /api/v1/quiz-answers), and, when the server cannot be reached, shows the next question from the
   ones the page holds; keeps a note written in an e-textbook the same way until the server has it.
   Nothing here needs a secure context: a school address on plain HTTP works.
   No framework. */
(function () {
  "use strict";

  var DB_NAME = "classroom";
  var STORE = "answers";
  var PAGES_CACHE = "classroom-pages-v1";
  var PROBE_MS = 4000;  // how long a "can the server be reached?" question may take
  var body = document.body;
  var user = body.getAttribute("data-user") || "";
  var banner = null;
  var uploading = false;
  var diskFull = false;  // the server said 507: its disk is full, the answers stay here

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", {scope: "/"}).catch(function (error) {
      console.warn("classroom: the service worker was not registered", error);
    });
  }

  // -- IndexedDB -------------------------------------------------------------------------------

  function openDb(name, storeName, key) {
    return new Promise(function (resolve, reject) {
      if (!window.indexedDB) { reject(new Error("no IndexedDB")); return; }
      var request = indexedDB.open(name, 1);
      request.onupgradeneeded = function () {
        if (!request.result.objectStoreNames.contains(storeName)) {
          request.result.createObjectStore(storeName, {keyPath: key});
        }
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function inStore(name, storeName, key, mode, work) {
    return openDb(name, storeName, key).then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(storeName, mode);
        var result = work(tx.objectStore(storeName));
        tx.oncomplete = function () { db.close(); resolve(result && "result" in result ? result.result : result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
        tx.onabort = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function withStore(mode, work) { return inStore(DB_NAME, STORE, "record_id", mode, work); }

  // Notes in e-textbooks have a database of their own: the answers' keeps its version 1, which
  // phones already hold, and each can be read without knowing the other.
  var NOTES_DB = "classroom-notes";
  var NOTES = "notes";

  function withNotes(mode, work) { return inStore(NOTES_DB, NOTES, "client_id", mode, work); }

  function queued() {
    return withStore("readonly", function (store) { return store.getAll(); }).then(function (all) {
      return all.filter(function (entry) { return entry.user === user; });
    });
  }

  // -- the banner ------------------------------------------------------------------------------

  function showBanner() {
    var main = document.getElementById("main");
    if (!main) { return Promise.resolve(); }
    if (!banner) {
      banner = document.createElement("p");
      banner.className = "notice offline-banner";
      banner.setAttribute("role", "status");
      banner.hidden = true;
      main.insertBefore(banner, main.firstChild);
    }
    var counts = user ? Promise.all([queued().then(function (all) { return all.length; }, function () { return 0; }),
                                     studentsNotes().catch(function () { return []; })]) : Promise.resolve([0, []]);
    return counts.then(function (both) {
      var waiting = both[0];
      var notesWaiting = both[1].filter(function (entry) { return !entry.refused; }).length;
      var refused = both[1].filter(function (entry) { return entry.refused; });
      var parts = [];
      if (!navigator.onLine) {
        // Pages opened before are readable offline only where a service worker keeps them.
        var kept = navigator.serviceWorker && navigator.serviceWorker.controller;
        parts.push(body.getAttribute(kept ? "data-offline-text" : "data-offline-page-text") || "");
      }
      if (waiting > 0) {
        parts.push((body.getAttribute(diskFull ? "data-disk-full-text" : "data-queued-text") || "")
                   .replace("{count}", String(waiting)));
      }
      if (notesWaiting > 0) {  // on every page, not only the chapter the notes were written in
        parts.push((body.getAttribute("data-notes-kept-text") || "").replace("{count}", String(notesWaiting)));
      }
      if (refused.length > 0) {
        parts.push((body.getAttribute("data-notes-refused-text") || "").replace("{count}", String(refused.length)));
      }
      var text = parts.join(" ");
      if (banner.textContent !== text) { banner.textContent = text; }
      banner.hidden = text === "";
      banner.setAttribute("data-waiting", String(waiting));
      banner.setAttribute("data-notes-waiting", String(notesWaiting));
      showRefused(refused);
    });
  }

  // Notes the server refused (kept aside on the device, never sent again), under the banner: why,
  // the student's words to copy, the page they were written on, and a button that forgets each.
  function showRefused(list) {
    var shape = document.getElementById("note-refused");
    var panel = document.querySelector(".notes-refused");
    var ids = list.map(function (entry) { return entry.client_id; }).sort().join(" ");
    if (!shape || (panel ? panel.getAttribute("data-ids") : "") === ids) { return; }
    if (panel) { panel.parentNode.removeChild(panel); }
    if (!list.length) { return; }
    panel = document.createElement("section");
    panel.className = "notice notes-refused";
    panel.tabIndex = -1;
    panel.setAttribute("aria-label", shape.getAttribute("data-label") || "");
    panel.setAttribute("data-ids", ids);
    var items = document.createElement("ul");
    panel.appendChild(items);
    list.sort(function (a, b) { return a.kept_at < b.kept_at ? -1 : 1; }).forEach(function (entry) {
      var item = shape.content.firstElementChild.cloneNode(true);
      item.setAttribute("data-note-refused", entry.client_id);
      var why = item.querySelector("[data-why]");
      why.textContent = why.getAttribute("data-why").replace("{reason}", entry.refused);
      var words = entry.text || entry.exact || "";
      var label = item.querySelector("[data-wrote]");
      label.textContent = label.getAttribute(entry.text ? "data-wrote" : "data-marked");
      item.querySelector(".note-words").textContent = words;
      label.hidden = item.querySelector(".note-words").hidden = item.querySelector(".copy-words").hidden = !words;
      item.querySelector("a").href = entry.page;
      items.appendChild(item);
    });
    banner.parentNode.insertBefore(panel, banner.nextSibling);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest(".notes-refused button");
    if (!button) { return; }
    var item = button.closest("li");
    if (button.classList.contains("copy-words")) {
      // navigator.clipboard needs a secure context, which a school's http:// address is not: the
      // words are selected and copied the older way; where that fails they stay selected.
      var range = document.createRange();
      range.selectNodeContents(item.querySelector(".note-words"));
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (error) { copied = false; }
      var said = item.querySelector("[data-copied]");
      said.textContent = said.getAttribute(copied ? "data-copied" : "data-selected");
      return;
    }
    if (!button.classList.contains("forget-note")) { return; }
    forgetNote(item.getAttribute("data-note-refused")).then(showBanner).then(function () {
      var left = document.querySelector(".notes-refused");
      (left || document.getElementById("main")).focus();
    });
  });

  // -- lessons in sandboxed frames ------------------------------------------------------------
  // A sandboxed frame has an opaque origin, so the service worker never sees its requests. Online,
  // fetch the lesson once through the worker so that it keeps a copy; offline, show that copy.

  function keepLessonsReadable() {
    if (!window.caches) { return; }
    document.querySelectorAll("iframe.lesson[src]").forEach(function (frame) {
      var src = new URL(frame.getAttribute("src"), location.href).href;
      if (navigator.onLine) {
        if (navigator.serviceWorker && navigator.serviceWorker.controller) {
          fetch(src, {credentials: "same-origin"}).catch(function () {});
        }
        return;
      }
      caches.match(src).then(function (found) { return found ? found.text() : null; }).then(function (html) {
        if (html === null) { return; }
        var base = '<base href="' + src.replace(/&/g, "&amp;").replace(/"/g, "&quot;") + '">';
        frame.srcdoc = /<head[^>]*>/i.test(html) ? html.replace(/<head[^>]*>/i, function (head) {
          return head + base;
        }) : base + html;
      }).catch(function () {});
    });
  }

  // A lesson's frame as tall as the lesson: the server adds a small script of ours to the lesson
  // shown in the frame (content/views.py LESSON_SIZE_SCRIPT) that posts its height whenever it
  // changes (pictures loaded, text size, a turned phone). Only a number, only from that frame's window.
  var LESSON_MAX_PX = 50000;
  window.addEventListener("message", function (event) {
    var data = event.data;
    if (!data || typeof data !== "object" || typeof data.classroomLessonHeight !== "number" ||
        !isFinite(data.classroomLessonHeight)) { return; }
    Array.prototype.forEach.call(document.querySelectorAll("iframe.lesson"), function (frame) {
      if (frame.contentWindow !== event.source) { return; }
      var height = Math.max(50, Math.min(LESSON_MAX_PX, Math.ceil(data.classroomLessonHeight)));
      var border = frame.offsetHeight - frame.clientHeight;  // box-sizing: border-box
      frame.style.height = (height + border) + "px";
      frame.classList.add("sized");
    });
  });

  // -- answers: kept on the device first, then sent --------------------------------------------

  function newId() {
    // A version 4 UUID from crypto.getRandomValues, which (unlike crypto.randomUUID) every browser
    // offers on plain http:// too.
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" +
      hex.slice(20);
  }

  function formResponse(form) {
    var data = new FormData(form);
    var orders = [], matches = [];
    data.forEach(function (value, name) {
      if (name.indexOf("order-") === 0) { orders.push([Number(value), name.slice(6)]); }
      if (name.indexOf("match-") === 0 && value) { matches.push([name.slice(6), String(value)]); }
    });
    if (orders.length) {
      orders.sort(function (a, b) { return a[0] - b[0]; });
      return orders.map(function (pair) { return pair[1]; });
    }
    if (form.querySelector("select[name^='match-']")) { return matches.length ? matches : null; }
    var values = data.getAll("answer").map(String);
    if (!values.length || (values.length === 1 && values[0].trim() === "")) { return null; }
    if (form.querySelector("input[type=checkbox][name=answer]")) { return values; }
    return values.length === 1 ? values[0] : values;
  }

  function makeEntry(form, response) {
    var shown = Number(form.getAttribute("data-shown") || 0);
    var entry = {
      record_id: newId(), user: user, kind: form.getAttribute("data-kind"),
      index: Number(form.getAttribute("data-index")), page: location.pathname,
      pack_id: form.getAttribute("data-pack"), node_id: form.getAttribute("data-node"),
      item_id: form.getAttribute("data-item"), response: response,
      duration_ms: shown > 0 ? Math.max(0, Math.round(Date.now() - shown)) : null,
      answered_at: new Date().toISOString()
    };
    if (entry.kind === "quiz") {
      entry.assignment_id = form.getAttribute("data-assignment");
      entry.attempt = Number(form.getAttribute("data-attempt"));
    }
    return entry;
  }

  function keep(entry) {
    return withStore("readwrite", function (store) { return store.put(entry); });
  }

  function remove(recordId) {
    return withStore("readwrite", function (store) { return store.delete(recordId); });
  }

  function serverReachable() {
    if (!navigator.onLine) { return Promise.resolve(false); }
    var stop = window.AbortController ? new AbortController() : null;
    var timer = stop ? setTimeout(function () { stop.abort(); }, PROBE_MS) : null;
    return fetch("/sw.js", {method: "HEAD", cache: "no-store", signal: stop ? stop.signal : undefined})
      .then(function () { return true; }, function () { return false; })
      .then(function (reached) { clearTimeout(timer); return reached; });
  }

  // -- the questions a page holds (learn/_question_set.html) --------------------------------------

  var questionSet = document.querySelector(".question-set");
  var slot = document.querySelector(".question-slot");
  var results = document.querySelector(".offline-results");

  function setText(name, entry, reason) {
    return (questionSet.getAttribute("data-text-" + name) || "").replace("{n}", String(entry.index + 1))
      .replace("{reason}", reason || "");
  }

  function resultRow(entry, create) {
    // Only answers kept while offline on this page get a line; those its forms sent do not.
    if (!results || !questionSet) { return null; }
    var row = results.querySelector("li[data-record='" + entry.record_id + "']");
    if (!row && create) {
      row = document.createElement("li");
      row.setAttribute("data-record", entry.record_id);
      results.querySelector("ol").appendChild(row);
      results.hidden = false;
    }
    return row;
  }

  function noteKept(entry) {
    var row = resultRow(entry, true);
    if (row) { row.className = "kept"; row.textContent = setText("kept", entry); }
  }

  function noteSent(entry, reply) {
    var row = resultRow(entry);
    if (!row) { return; }
    if (entry.kind === "quiz") {
      row.className = "sent";
      row.textContent = setText("quiz", entry);
      return;
    }
    row.className = "sent " + (reply.correct ? "right" : "wrong");
    row.textContent = setText(reply.correct ? "right" : "wrong", entry);
    if (reply.explanation) {
      var why = document.createElement("p");
      why.textContent = reply.explanation;
      row.appendChild(why);
    }
  }

  function noteRefused(entry, reason) {
    var row = resultRow(entry);
    if (row) { row.className = "refused"; row.textContent = setText("refused", entry, reason); }
  }

  function template(index) {
    return questionSet ? questionSet.querySelector("template[data-index='" + index + "']") : null;
  }

  function nextTemplate(index) {
    var found = null;
    questionSet.querySelectorAll("template[data-index]").forEach(function (candidate) {
      var at = Number(candidate.getAttribute("data-index"));
      if (at > index && (found === null || at < Number(found.getAttribute("data-index")))) { found = candidate; }
    });
    return found;
  }

  function fillSlot(nodes) {
    // (not replaceChildren: phones with a browser older than 2020 have none)
    while (slot.firstChild) { slot.removeChild(slot.firstChild); }
    nodes.forEach(function (node) { slot.appendChild(node); });
  }

  function showQuestion(chosen) {
    // The question in place of what the slot held, as if its page had been loaded.
    var index = Number(chosen.getAttribute("data-index"));
    var progress = document.createElement("p");
    progress.className = "progress-text";
    progress.textContent = (questionSet.getAttribute("data-text-progress") || "")
      .replace("{n}", String(index + 1)).replace("{count}", questionSet.getAttribute("data-count") || "");
    fillSlot([progress, chosen.content.cloneNode(true)]);
    var form = slot.querySelector("form");
    form.setAttribute("data-shown", String(Date.now()));
    var token = document.querySelector("meta[name=csrf-token]");  // not in the template: it is made once for all
    if (token) {
      var field = document.createElement("input");
      field.type = "hidden";
      field.name = "csrf_token";
      field.value = token.getAttribute("content");
      form.insertBefore(field, form.firstChild);
    }
    document.querySelectorAll("a[data-question]").forEach(function (link) {
      if (link.closest(".question-slot")) { return; }
      if (Number(link.getAttribute("data-question")) === index) { link.setAttribute("aria-current", "page"); }
      else { link.removeAttribute("aria-current"); }
    });
    var first = slot.querySelector("input:not([type=hidden]), select");
    if (first) { first.focus(); }
  }

  function showDone() {
    var done = document.createElement("p");
    done.className = "notice offline-done";
    done.setAttribute("role", "status");
    done.textContent = questionSet.getAttribute("data-text-done") || "";
    fillSlot([done]);
    var next = questionSet.getAttribute("data-next-url");  // adaptive practice: the tutor's next question
    if (next) {
      var link = document.createElement("a");
      link.href = next;
      link.className = "button";
      link.setAttribute("data-needs-server", "1");
      link.textContent = questionSet.getAttribute("data-text-next") || "";
      slot.appendChild(link);
    }
  }

  function goOnOffline(entry) {
    // The answer is kept: on to the next question this page holds, without loading a page.
    noteKept(entry);
    var next = questionSet && slot ? nextTemplate(entry.index) : null;
    if (next) { showQuestion(next); } else if (questionSet && slot) { showDone(); }
    return showBanner();
  }

  function sendForm(form, entry) {
    // Online: the page's own form goes to the server, carrying the id the device keeps the answer
    // under; the next page names the records it stored, and the device stops keeping them.
    if (entry) {
      var field = form.querySelector("input[name=record_id]") || document.createElement("input");
      field.type = "hidden";
      field.name = "record_id";
      field.value = entry.record_id;
      form.appendChild(field);
    }
    form.setAttribute("data-checked", "1");
    form.submit();
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.action && /\/signout$/.test(new URL(form.action, location.href).pathname) && window.caches) {
      caches.delete(PAGES_CACHE);  // the next person on this device must not read these pages
      return;
    }
    if (form.method.toLowerCase() === "get" && form.closest(".question-slot") && questionSet &&
        form.getAttribute("data-checked") !== "1") {
      // A hint comes from the server: offline, say so rather than show the browser's error page.
      event.preventDefault();
      serverReachable().then(function (online) {
        if (online) { keepTyped(); form.setAttribute("data-checked", "1"); form.submit(); return; }
        var note = form.querySelector(".needs-server") || document.createElement("p");
        note.className = "notice needs-server";
        note.setAttribute("role", "status");
        note.textContent = questionSet.getAttribute("data-text-hint") || "";
        form.appendChild(note);
      });
      return;
    }
    if (user && form.matches("form.note-tools") && !event.defaultPrevented && form.getAttribute("data-checked") !== "1") {
      event.preventDefault();
      var button = event.submitter && event.submitter.name === "kind" ? event.submitter : noteButton;
      keepNote(form, button && form.contains(button) ? button.value : "note");
      return;
    }
    if (!user || !form.matches("form.question[data-kind]") || form.getAttribute("data-checked") === "1") { return; }
    event.preventDefault();
    var response = formResponse(form);
    if (response === null) {  // nothing chosen: online the server says what is missing
      serverReachable().then(function (online) {
        if (online) { sendForm(form, null); return; }
        var field = form.querySelector("input:not([type=hidden]), select");
        if (field) { field.focus(); }
      });
      return;
    }
    var entry = makeEntry(form, response);
    form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (button) {
      button.disabled = true;
    });
    keep(entry).then(function () {
      return serverReachable().then(function (online) {
        if (!online) { return goOnOffline(entry); }
        // What waited is sent first, so that a later answer to the same question counts last.
        return upload(entry.record_id).then(function () { sendForm(form, entry); });
      });
    }, function (error) {
      // No IndexedDB (a private window, a full phone): the form goes as it would without this script.
      console.warn("classroom: the answer could not be kept on this device", error);
      sendForm(form, null);
    });
  });

  window.addEventListener("pageshow", function (event) {
    // Back to a page the browser kept as it was left (the back button): its form was sent, with
    // its buttons off. Sending it again is a new answer, with an id of its own.
    if (!event.persisted) { return; }
    document.querySelectorAll("form.note-tools[data-checked]").forEach(function (form) {
      form.removeAttribute("data-checked");
      form.querySelectorAll("input.kept-field").forEach(function (field) { field.remove(); });
    });
    document.querySelectorAll("form.question[data-checked]").forEach(function (form) {
      form.removeAttribute("data-checked");
      var field = form.querySelector("input[name=record_id]");
      if (field) { field.remove(); }
      form.querySelectorAll("button[disabled]").forEach(function (button) { button.disabled = false; });
    });
  });

  document.addEventListener("click", function (event) {
    // Offline, a link to another question of this page shows it from what the page holds; a link
    // that needs the server (handing in) says so instead of the browser's "can't be reached".
    var link = event.target.closest && event.target.closest("a[data-question], a[data-needs-server]");
    if (!link || !questionSet || !slot || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
    var chosen = link.hasAttribute("data-question") ? template(link.getAttribute("data-question")) : null;
    if (link.hasAttribute("data-question") && !chosen) { return; }
    event.preventDefault();
    serverReachable().then(function (online) {
      if (online) { location.href = link.href; return; }
      if (chosen) { showQuestion(chosen); } else { showDone(); }
    });
  });

  // -- notes in e-textbooks: kept on the device while the server cannot be reached ------------------
  // The notes form (reader.js has filled in the words) is kept under an id the device makes, then
  // sent: by the form itself when the server answers, else later as JSON. The server stores a note
  // once per id (reader_note.client_id), so a send repeated after a lost reply is not stored twice,
  // nor stored again once the student has deleted it. A note it refuses is kept aside (showRefused).
  // reader.js marks a kept note in the text ("classroom-note-kept") and hears how it went.

  // The notes button tapped, for browsers older than SubmitEvent.submitter (before 2020).
  var noteButton = null;
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("form.note-tools button[name=kind]");
    if (button) { noteButton = button; }
  }, true);

  function noteEntry(form, kind) {
    function value(name) {
      var field = form.elements[name];
      return field && typeof field.value === "string" ? field.value : "";
    }
    return {client_id: newId(), user: user, url: new URL(form.action, location.href).pathname,
            page: location.pathname, kind: kind, text: value("text"), exact: value("exact"),
            prefix: value("prefix"), suffix: value("suffix"), position: value("position"),
            chapter: value("chapter"), lang: value("lang"), pdf_page: value("page"),
            kept_at: new Date().toISOString()};
  }

  function studentsNotes() {  // waiting, and refused (kept aside, with the server's reason in `refused`)
    return withNotes("readonly", function (store) { return store.getAll(); }).then(function (all) {
      return all.filter(function (entry) { return entry.user === user; });
    });
  }

  function keptNotes() {  // those still to be sent
    return studentsNotes().then(function (all) { return all.filter(function (entry) { return !entry.refused; }); });
  }

  function setAside(entry, reason) {
    entry.refused = reason;
    entry.refused_at = new Date().toISOString();
    return withNotes("readwrite", function (store) { return store.put(entry); });
  }

  function forgetNote(clientId) {
    return withNotes("readwrite", function (store) { return store.delete(clientId); });
  }

  function tellReader(name, detail) {
    var event;
    try { event = new CustomEvent(name, {detail: detail}); } catch (error) { return; }
    document.dispatchEvent(event);
  }

  function hiddenField(form, name, value) {
    var field = document.createElement("input");
    field.type = "hidden";
    field.name = name;
    field.value = value;
    field.className = "kept-field";
    form.appendChild(field);
  }

  function submitNoteForm(form, kind, entry) {
    // As without this script; form.submit() sends no button, so the button's kind goes as a field.
    form.querySelectorAll("input.kept-field").forEach(function (field) { field.remove(); });
    hiddenField(form, "kind", kind);
    if (entry) { hiddenField(form, "client_id", entry.client_id); }
    form.setAttribute("data-checked", "1");
    form.submit();
  }

  function keepNote(form, kind) {
    var entry = noteEntry(form, kind);
    withNotes("readwrite", function (store) { return store.put(entry); }).then(function () {
      return serverReachable().then(function (online) {
        if (online) { submitNoteForm(form, kind, entry); return; }
        if ((kind === "note" && !entry.text.trim()) || (kind === "highlight" && !entry.exact)) {
          // Nothing to keep (the server would refuse it): the words are to be written or chosen first.
          tellReader("classroom-note-refused", {entry: entry, message: ""});
          var words = form.elements.text;
          if (words) { words.focus(); }
          return forgetNote(entry.client_id);
        }
        var typed = form.elements.text;
        if (typed) { typed.value = ""; }
        tellReader("classroom-note-kept", {entry: entry, text: form.getAttribute("data-kept-text") || ""});
        return showBanner();
      });
    }, function (error) {
      // No IndexedDB (a private window, a full phone): the form goes as it would without this script.
      console.warn("classroom: the note could not be kept on this device", error);
      submitNoteForm(form, kind, null);
    });
  }

  function sendNote(entry, token) {
    var sent = {client_id: entry.client_id, kind: entry.kind, text: entry.text, exact: entry.exact,
                prefix: entry.prefix, suffix: entry.suffix, position: Number(entry.position) || 0,
                chapter: entry.chapter};
    if (entry.lang) { sent.lang = entry.lang; }
    if (entry.pdf_page) { sent.page = Number(entry.pdf_page); }
    var form = document.querySelector("form.note-tools");
    return fetch(entry.url, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
      body: JSON.stringify(sent)
    }).then(function (response) {
      var reply = response.json().catch(function () { return {}; });
      if (response.status === 200 || response.status === 201) {  // 200: stored before, from an earlier send
        return reply.then(function (note) {
          return forgetNote(entry.client_id).then(function () {
            if (note.deleted) {  // stored before, then deleted by the student: its marks go, as a refused note's
              tellReader("classroom-note-refused", {entry: entry, message: ""});
              return;
            }
            tellReader("classroom-note-saved", {entry: entry, note: note,
                                                text: form ? form.getAttribute("data-saved-text") || "" : ""});
          });
        });
      }
      if (response.status >= 400 && response.status < 500 && response.status !== 401 && response.status !== 403) {
        return reply.then(function (problem) {
          if (problem.error === "csrf") { return "stop"; }  // a stale token: the note is fine, keep it
          // Not sent again (it would be refused again), nor lost: kept aside and shown under the banner.
          var reason = problem.message || (body.getAttribute("data-no-reason-text") || "")
            .replace("{status}", String(response.status)) || String(response.status);
          return setAside(entry, reason).then(function () {
            tellReader("classroom-note-refused", {entry: entry, message: reason});
          });
        });
      }
      return "stop";  // signed out, the disk full (507), 5xx: keep it and try later
    }, function () { return "stop"; });  // the server cannot be reached: keep it
  }

  // What this device kept for the signed-in student (answers, notes), oldest first (`when` names
  // the entry's time), sent one at a time; a send that answers "stop" (the server cannot be reached,
  // its disk is full, the student was signed out) leaves the rest for later.
  function sendInTurn(list, when, sendOne) {
    if (!list.length) { return Promise.resolve(); }
    return session().then(function (me) {
      if (!me || String(me.id) !== user) { return; }  // unreachable, or someone else is signed in
      list.sort(function (a, b) { return a[when] < b[when] ? -1 : 1; });
      return list.reduce(function (chain, entry) {
        return chain.then(function (outcome) { return outcome === "stop" ? outcome : sendOne(entry, me.csrf_token); });
      }, Promise.resolve());
    });
  }

  var sendingNotes = false;

  function uploadNotes() {
    if (sendingNotes || !user || !navigator.onLine) { return Promise.resolve(); }
    sendingNotes = true;
    return keptNotes().then(function (list) {
      return sendInTurn(list, "kept_at", sendNote);
    }).catch(function (error) {
      console.warn("classroom: could not send the kept notes", error);
    }).then(function () {
      sendingNotes = false;
      return showBanner();
    });
  }

  function forgetStoredNotes() {
    // Notes this page shows as stored (sent by its form, or refused on a note's error page).
    var ids = [];
    document.querySelectorAll("[data-note-client]").forEach(function (element) {
      ids.push(element.getAttribute("data-note-client"));
    });
    if (!user || !document.querySelector("form.note-tools, [data-note-client]")) { return Promise.resolve(); }
    return ids.reduce(function (chain, id) {
      return chain.then(function () { return forgetNote(id); });
    }, Promise.resolve()).then(function () {
      var form = document.querySelector("form.note-tools");
      if (!form) { return; }
      return keptNotes().then(function (list) {  // the ones still waiting that belong here: marked again
        list.forEach(function (entry) {
          if (entry.page === location.pathname) {
            tellReader("classroom-note-kept", {entry: entry, text: form.getAttribute("data-kept-text") || ""});
          }
        });
      });
    }).catch(function () {});
  }

  // -- sending ---------------------------------------------------------------------------------

  function uploadOne(entry, token) {
    var sent = {pack_id: entry.pack_id, node_id: entry.node_id, item_id: entry.item_id,
                response: entry.response, record_id: entry.record_id, answered_at: entry.answered_at};
    if (typeof entry.duration_ms === "number") { sent.duration_ms = entry.duration_ms; }
    if (entry.kind === "quiz") {
      sent.assignment_id = entry.assignment_id;
      sent.attempt = entry.attempt;
    }
    return fetch(entry.kind === "quiz" ? "/api/v1/quiz-answers" : "/api/v1/answers", {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
      body: JSON.stringify(sent)
    }).then(function (response) {
      var reply = response.json().catch(function () { return {}; });
      if (response.status === 200 || response.status === 201) {
        diskFull = false;
        return reply.then(function (data) {
          return remove(entry.record_id).then(function () { noteSent(entry, data); });
        });
      }
      if (response.status === 507) {  // the server's disk is full: nothing stored, keep it
        diskFull = true;
        return "stop";
      }
      if (response.status >= 400 && response.status < 500) {
        return reply.then(function (problem) {
          // Signed out, or a stale form token: the answer is fine, the session is not. Keep it.
          if (response.status === 401 || response.status === 403 || problem.error === "csrf") { return "stop"; }
          console.error("classroom: the server refused a saved answer, so it is dropped:",
                        response.status, problem, entry);
          return remove(entry.record_id).then(function () { noteRefused(entry, problem.message || ""); });
        });
      }
      return "stop";  // 5xx: keep it and try later
    }, function () { return "stop"; });  // network error: keep it
  }

  function session() {
    // Who is signed in now, and this session's CSRF token (a page read from the cache may hold an old one).
    return fetch("/api/v1/me", {credentials: "same-origin", cache: "no-store"}).then(function (response) {
      return response.ok ? response.json() : null;
    }, function () { return null; });
  }

  function forgetStored() {
    // Answers this page says the server stored (sent by its form): nothing left to send.
    var ids = [];
    document.querySelectorAll("[data-stored-records], [data-record]").forEach(function (element) {
      (element.getAttribute("data-stored-records") || element.getAttribute("data-record") || "")
        .split(" ").forEach(function (id) { if (id) { ids.push(id); } });
    });
    return ids.reduce(function (chain, id) {
      return chain.then(function () { return remove(id); });
    }, Promise.resolve()).catch(function () {});
  }

  function upload(except) {
    if (uploading || !user || !navigator.onLine) { return showBanner(); }
    uploading = true;
    return queued().then(function (list) {
      return sendInTurn(list.filter(function (entry) { return entry.record_id !== except; }), "answered_at",
                        uploadOne);
    }).catch(function (error) {
      console.warn("classroom: could not send the saved answers", error);
    }).then(function () {
      uploading = false;
      return showBanner();
    });
  }

  // -- assigned pages kept on the device, the reader's place, the quiz clock ----------------------

  function keepAssignedPages() {
    // Fetched through the service worker, which keeps a copy; the header says "not opened yet".
    var list = document.querySelector("[data-prefetch]");
    if (!list || !("serviceWorker" in navigator) || !navigator.onLine) { return; }
    navigator.serviceWorker.ready.then(function () {
      var urls = list.getAttribute("data-prefetch").split(" ").filter(Boolean);
      return urls.reduce(function (chain, url) {
        return chain.then(function () {
          return fetch(url, {credentials: "same-origin", headers: {"X-Classroom-Prefetch": "1"}})
            .catch(function () {});
        });
      }, Promise.resolve());
    });
  }

  function followReading() {
    var article = document.querySelector("article.reader[data-chapter]");
    var token = document.querySelector("input[name=csrf_token]");
    if (!article || !token) { return; }
    function top() { return article.getBoundingClientRect().top + window.scrollY; }
    function fraction() {
      var seen = (window.scrollY + window.innerHeight - top()) / Math.max(1, article.offsetHeight);
      return Math.max(0, Math.min(1, Math.round(seen * 1000) / 1000));
    }
    var start = parseFloat(article.getAttribute("data-position") || "0");
    if (start > 0.02) {
      window.scrollTo(0, Math.max(0, top() + start * article.offsetHeight - window.innerHeight));
    }
    var sent = fraction();
    var timer = null;
    function send() {
      timer = null;
      var now = fraction();
      if (Math.abs(now - sent) < 0.02 && now < 1) { return; }
      sent = now;
      fetch(article.getAttribute("data-position-url") || "/learn/reading-position", {
        method: "POST", credentials: "same-origin", keepalive: true,
        headers: {"Content-Type": "application/json", "X-CSRF-Token": token.value},
        body: JSON.stringify({pack_id: article.getAttribute("data-pack"),
                              chapter_id: article.getAttribute("data-chapter"), fraction: now})
      }).catch(function () {});
    }
    window.addEventListener("scroll", function () {
      if (!timer) { timer = setTimeout(send, 1500); }
    }, {passive: true});
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") { send(); }
    });
    if (sent >= 0.9) { send(); }  // a short chapter is read once it is on the screen
  }

  function runQuizClock() {
    var clock = document.querySelector(".timer[data-seconds-left]");
    if (!clock) { return; }
    var end = Date.now() + parseInt(clock.getAttribute("data-seconds-left"), 10) * 1000;
    var template = clock.getAttribute("data-template");
    function tick() {
      var left = Math.max(0, Math.round((end - Date.now()) / 1000));
      var text = Math.floor(left / 60) + ":" + ("0" + (left % 60)).slice(-2);
      if (template) { clock.textContent = template.replace("%(time)s", text); }
      if (left === 0) {  // the server hands the answers in; offline, reloading would show an error page
        serverReachable().then(function (online) { if (online) { window.location.reload(); } else { setTimeout(tick, 5000); } });
        return;
      }
      setTimeout(tick, 1000);
    }
    tick();
  }

  // What the child typed or chose stays in the question while the page comes back with a hint.
  var TYPED_KEY = "classroom-typed";

  function keepTyped() {
    var answer = document.querySelector(".question-slot form.question[data-item]");
    if (!answer || !window.sessionStorage) { return; }
    var fields = [];
    Array.prototype.forEach.call(answer.elements, function (field) {
      if (!field.name || field.type === "hidden" || field.type === "submit") { return; }
      fields.push([field.name, field.value, field.checked === true]);
    });
    try {
      sessionStorage.setItem(TYPED_KEY, JSON.stringify({page: location.pathname, user: user,
        item: answer.getAttribute("data-item"), fields: fields}));
    } catch (error) { /* storage full or refused: the hint comes all the same */ }
  }

  function restoreTyped() {
    var kept = null;
    try {
      kept = JSON.parse(sessionStorage.getItem(TYPED_KEY) || "null");
      sessionStorage.removeItem(TYPED_KEY);
    } catch (error) { return; }
    var answer = document.querySelector(".question-slot form.question[data-item]");
    if (!kept || !answer || kept.page !== location.pathname || kept.user !== user ||
        kept.item !== answer.getAttribute("data-item")) { return; }
    kept.fields.forEach(function (saved) {
      Array.prototype.forEach.call(answer.elements, function (field) {
        if (field.name !== saved[0]) { return; }
        if (field.type === "radio" || field.type === "checkbox") {
          if (field.value === saved[1]) { field.checked = saved[2]; }
        } else if (field.type !== "hidden") {
          field.value = saved[1];
        }
      });
    });
  }

  function showNewestHint() {
    // Back from "Show a hint" (#hint-N): the new hint has the focus, so a screen reader reads it.
    var newest = document.querySelector(".hints [data-newest]");
    if (newest && location.hash === "#" + newest.id) { newest.focus({preventScroll: true}); }
  }

  keepLessonsReadable();
  restoreTyped();
  showNewestHint();
  keepAssignedPages();
  followReading();
  runQuizClock();
  window.addEventListener("online", function () { upload(); uploadNotes(); });
  window.addEventListener("offline", showBanner);
  setInterval(function () { upload(); uploadNotes(); }, 30000);
  window.classroomUpload = function () {  // lets tests and the console send now
    return Promise.all([upload(), uploadNotes()]);
  };
  forgetStored().then(function () { return upload(); });
  forgetStoredNotes().then(function () { return uploadNotes(); });
})();
