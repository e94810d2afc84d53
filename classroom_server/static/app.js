/* Classroom: the device side of offline use. Registers the service worker, says when the page is
   offline and how many answers wait, keeps practice answers made offline in IndexedDB and sends
   them to POST /api/v1/answers when the school server can be reached again. No framework. */
(function () {
  "use strict";

  var DB_NAME = "classroom";
  var STORE = "answers";
  var PAGES_CACHE = "classroom-pages-v1";
  var body = document.body;
  var user = body.getAttribute("data-user") || "";
  var banner = null;
  var uploading = false;

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", {scope: "/"}).catch(function (error) {
      console.warn("classroom: the service worker was not registered", error);
    });
  }

  // -- IndexedDB -------------------------------------------------------------------------------

  function openDb() {
    return new Promise(function (resolve, reject) {
      if (!window.indexedDB) { reject(new Error("no IndexedDB")); return; }
      var request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () {
        if (!request.result.objectStoreNames.contains(STORE)) {
          request.result.createObjectStore(STORE, {keyPath: "record_id"});
        }
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function withStore(mode, work) {
    return openDb().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var result = work(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(result && "result" in result ? result.result : result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
        tx.onabort = function () { db.close(); reject(tx.error); };
      });
    });
  }

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
    var count = user ? queued().then(function (list) { return list.length; }, function () { return 0; })
                     : Promise.resolve(0);
    return count.then(function (waiting) {
      var parts = [];
      if (!navigator.onLine) { parts.push(body.getAttribute("data-offline-text") || ""); }
      if (waiting > 0) {
        parts.push((body.getAttribute("data-queued-text") || "").replace("{count}", String(waiting)));
      }
      var text = parts.join(" ");
      if (banner.textContent !== text) { banner.textContent = text; }
      banner.hidden = text === "";
      banner.setAttribute("data-waiting", String(waiting));
    });
  }

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

  // -- the practice form -----------------------------------------------------------------------

  var ANSWER_PATH = /^\/learn\/practice\/([^/]+)\/([^/]+)\/([^/]+)$/;

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

  function saveOffline(form) {
    var match = ANSWER_PATH.exec(new URL(form.action, location.href).pathname);
    var response = formResponse(form);
    if (!match || response === null) {
      var field = form.querySelector("input, select");
      if (field) { field.focus(); }
      return Promise.resolve();
    }
    var shownAt = Number(form.elements.shown_at && form.elements.shown_at.value);
    var duration = shownAt > 0 ? Math.max(0, Math.round(Date.now() - shownAt)) : null;
    var entry = {
      record_id: crypto.randomUUID(), user: user,
      pack_id: decodeURIComponent(match[1]), node_id: decodeURIComponent(match[2]),
      item_id: decodeURIComponent(match[3]), response: response,
      duration_ms: duration, answered_at: new Date().toISOString()
    };
    return withStore("readwrite", function (store) { return store.put(entry); }).then(function () {
      var note = form.querySelector(".saved-offline");
      if (!note) {
        note = document.createElement("p");
        note.className = "notice saved-offline";
        note.setAttribute("role", "status");
        form.appendChild(note);
      }
      note.textContent = body.getAttribute("data-saved-text") || "";
      form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (button) {
        button.disabled = true;
      });
      return showBanner();
    });
  }

  function serverReachable() {
    return fetch("/sw.js", {method: "HEAD", cache: "no-store"}).then(function () { return true; },
                                                                     function () { return false; });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.action && /\/signout$/.test(new URL(form.action, location.href).pathname) && window.caches) {
      caches.delete(PAGES_CACHE);  // the next person on this device must not read these pages
      return;
    }
    if (!user || !form.classList.contains("question") || form.method.toLowerCase() !== "post" ||
        !ANSWER_PATH.test(new URL(form.action, location.href).pathname)) { return; }
    if (form.getAttribute("data-checked") === "1") { return; }
    event.preventDefault();
    var reach = navigator.onLine ? serverReachable() : Promise.resolve(false);
    reach.then(function (online) {
      if (online) {
        form.setAttribute("data-checked", "1");
        form.submit();
      } else {
        saveOffline(form).catch(function (error) { console.error("classroom: could not keep the answer", error); });
      }
    });
  });

  // -- uploading -------------------------------------------------------------------------------

  function remove(recordId) {
    return withStore("readwrite", function (store) { return store.delete(recordId); });
  }

  function uploadOne(entry, token) {
    var sent = {pack_id: entry.pack_id, node_id: entry.node_id, item_id: entry.item_id,
                response: entry.response, record_id: entry.record_id, answered_at: entry.answered_at};
    if (typeof entry.duration_ms === "number") { sent.duration_ms = entry.duration_ms; }
    return fetch("/api/v1/answers", {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
      body: JSON.stringify(sent)
    }).then(function (response) {
      if (response.status === 200 || response.status === 201) { return remove(entry.record_id); }
      if (response.status >= 400 && response.status < 500) {
        return response.json().catch(function () { return {}; }).then(function (problem) {
          // Signed out, or a stale form token: the answer is fine, the session is not. Keep it.
          if (response.status === 401 || response.status === 403 || problem.error === "csrf") { return "stop"; }
          console.error("classroom: the server refused a saved answer, so it is dropped:",
                        response.status, problem, entry);
          return remove(entry.record_id);
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

  function upload() {
    if (uploading || !user || !navigator.onLine) { return showBanner(); }
    uploading = true;
    return queued().then(function (list) {
      if (!list.length) { return; }
      return session().then(function (me) {
        if (!me || String(me.id) !== user) { return; }  // unreachable, or someone else is signed in
        var chain = Promise.resolve();
        var stopped = false;
        list.sort(function (a, b) { return a.answered_at < b.answered_at ? -1 : 1; });
        list.forEach(function (entry) {
          chain = chain.then(function () {
            if (stopped) { return; }
            return uploadOne(entry, me.csrf_token).then(function (outcome) {
              if (outcome === "stop") { stopped = true; }
            });
          });
        });
        return chain;
      });
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
      if (left === 0) { window.location.reload(); return; }  // the server hands the answers in
      setTimeout(tick, 1000);
    }
    tick();
  }

  keepLessonsReadable();
  keepAssignedPages();
  followReading();
  runQuizClock();
  window.addEventListener("online", upload);
  window.addEventListener("offline", showBanner);
  setInterval(upload, 30000);
  window.classroomUpload = upload;  // lets tests and the console send now
  upload();
})();
