// The report page's service worker: keeps the page and what it needs so it opens with no
// signal. Network first for the page and its JSON (fresh when there is signal), cache first
// for static files. It never keeps /v1/* (reports go through the page's own queue),
// /report/token (a token must never sit in a cache), or anything from another origin.
"use strict";
var CACHE = "geo-report-v1";  // named by the kept files' digest when served (web/report.py)
var KEPT = [
  "/report", "/report/grid.json", "/report/manifest.webmanifest",
  "/report/icon-192.png", "/report/icon-512.png",
  "/static/report.js", "/static/report.css", "/static/grid.js",
  "/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/leaflet.css"
];
var FRESH_FIRST = ["/report", "/report/grid.json", "/report/manifest.webmanifest",
  "/maps/streets.json"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    // One by one: a file that fails now is fetched (and kept) on its first use instead.
    return Promise.all(KEPT.map(function (path) {
      return fetch(path, { credentials: "same-origin" }).then(function (answer) {
        return keep(cache, path, answer);
      }).catch(function () { return null; });
    }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) { return name !== CACHE; })
      .map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

function keep(cache, key, answer) {
  // Only our own complete answers: no redirect (a sign-in page), no error, no other origin.
  if (answer && answer.ok && answer.type === "basic" && !answer.redirected) {
    return cache.put(key, answer.clone());
  }
  return null;
}

function never(url) {
  return url.origin !== self.location.origin || url.pathname.indexOf("/v1/") === 0 ||
    url.pathname === "/report/token" || url.pathname === "/signout";
}

function freshFirst(request, key) {
  return caches.open(CACHE).then(function (cache) {
    return fetch(request).then(function (answer) {
      keep(cache, key, answer);
      return answer;
    }).catch(function () {
      return cache.match(key).then(function (kept) {
        return kept || Response.error();
      });
    });
  });
}

function keptFirst(request, key) {
  return caches.open(CACHE).then(function (cache) {
    return cache.match(key).then(function (kept) {
      return kept || fetch(request).then(function (answer) {
        keep(cache, key, answer);
        return answer;
      });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (never(url)) { return; }
  var path = url.pathname;
  if (FRESH_FIRST.indexOf(path) >= 0) {
    // The page is kept without its query; the streets with theirs (it names the version).
    var key = path === "/maps/streets.json" ? path + url.search : path;
    event.respondWith(freshFirst(request, key));
  } else if (KEPT.indexOf(path) >= 0 || path.indexOf("/static/") === 0) {
    event.respondWith(keptFirst(request, path + url.search));
  }
});
