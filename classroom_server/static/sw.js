/* The classroom service worker: keeps the app shell and the pages a student opened readable
   offline. Pages: network first, then the copy kept here. Content-addressed files: cache first.
   Never POSTs, never /api/. Served as /sw.js with Service-Worker-Allowed: / (scope "/"). */
"use strict";

var SHELL = "classroom-shell-v1";
var RUNTIME = "classroom-pages-v1";
var SHELL_FILES = [
  "/static/style.css", "/static/app.js", "/static/icon.svg", "/static/manifest.webmanifest",
  "/static/pictures/apple.svg", "/static/pictures/car.svg", "/static/pictures/cat.svg",
  "/static/pictures/dog.svg", "/static/pictures/fish.svg", "/static/pictures/star.svg",
  "/static/pictures/sun.svg", "/static/pictures/tree.svg"
];
var PAGE_PREFIXES = ["/learn/", "/library/", "/content/"];
var CONTENT_ADDRESSED = /^\/content\/[0-9a-f]{64}(\/|$)/;

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL).then(function (cache) {
    // One missing file must not stop the others from being kept.
    return Promise.all(SHELL_FILES.map(function (url) {
      return cache.add(new Request(url, {cache: "reload"})).catch(function () {});
    }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name !== SHELL && name !== RUNTIME;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

function keep(request, response) {
  // Only whole, successful answers from this server; never a partial (Range) reply.
  if (response && response.status === 200 && response.type === "basic" && !request.headers.has("range")) {
    var copy = response.clone();
    caches.open(RUNTIME).then(function (cache) { return cache.put(request, copy); });
  }
  return response;
}

function networkFirst(request, anyVersion) {
  return fetch(request).then(function (response) {
    return keep(request, response);
  }).catch(function (error) {
    return caches.match(request).then(function (found) {
      // Pages ask for static files by version (/static/app.js?v=...); the shell keeps them
      // without one: offline, any version is better than none.
      return found || (anyVersion ? caches.match(request, {ignoreSearch: true}) : undefined);
    }).then(function (found) {
      if (found) { return found; }
      throw error;
    });
  });
}

function cacheFirst(request) {
  return caches.match(request).then(function (found) {
    return found || fetch(request).then(function (response) { return keep(request, response); });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.indexOf("/api/") === 0) { return; }
  if (request.headers.has("range")) { return; }  // audio and video seeking go straight through
  var path = url.pathname;
  if (CONTENT_ADDRESSED.test(path)) {
    event.respondWith(cacheFirst(request));
  } else if (path.indexOf("/static/") === 0) {
    event.respondWith(networkFirst(request, true));
  } else if (PAGE_PREFIXES.some(function (prefix) { return path.indexOf(prefix) === 0; })) {
    event.respondWith(networkFirst(request));
  }
});
