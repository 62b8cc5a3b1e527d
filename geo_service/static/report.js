// The report page: one question per screen, then where (a square of the program's grid,
// never a position), then when (an hour or a day, never minutes). Every report is kept in
// this phone's IndexedDB queue first and sent from there with its own Idempotency-Key, so
// no signal, a reload or a second tab still stores it once. Words come only from the data
// island (web/report_words.py); text is always set as text, never as markup.
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var W = DATA.words;
  var screen = document.getElementById("screen");
  var banner = document.getElementById("waiting");
  var DB_NAME = "geo-report";
  var STORE = "queue";
  var FLUSH_EVERY_MS = 30000;
  var CLOSE_ZOOM = 16;
  var report = null;  // {type, answers, cell, when}: what the peer has said so far
  var gridConfig = null;
  var grid = null;
  var flushing = null;
  var signedOut = false;

  // ---- small helpers ---------------------------------------------------------------
  function word(key, n) {
    var text = Object.prototype.hasOwnProperty.call(W, key) ? W[key] : key;
    return n === undefined ? text : text.replace("{n}", String(n));
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  var SVG = "http://www.w3.org/2000/svg";
  // Icons drawn for this page (24x24 paths): a syringe, a bag with tongs, a heart with a
  // cross, a box. They carry the meaning for people who do not read the words.
  var ICONS = {
    needles_here: ["M19 2l3 3M17.5 3.5l3 3M18.5 5.5l-9 9-3-3 9-9z", "M9.5 14.5L4 20",
      "M8 9l2 2M10.5 6.5l2 2"],
    cleanup_done: ["M5 9h14l-1.5 12h-11z", "M9 9V6a3 3 0 0 1 6 0v3", "M14 2l6 8M20 2l-4 8"],
    overdose_helped: ["M12 21s-8-5-8-11a4.5 4.5 0 0 1 8-2.8A4.5 4.5 0 0 1 20 10c0 6-8 11-8 11z",
      "M12 9v6M9 12h6"],
    supplies_needed: ["M3 8l9-5 9 5v9l-9 5-9-5z", "M3 8l9 5 9-5M12 13v9"]
  };

  function icon(type) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    ICONS[type].forEach(function (d) {
      var path = document.createElementNS(SVG, "path");
      path.setAttribute("d", d);
      svg.appendChild(path);
    });
    return svg;
  }

  function big(text, onTap, className) {
    var button = el("button", "big" + (className ? " " + className : ""), text);
    button.type = "button";
    button.addEventListener("click", onTap);
    return button;
  }

  function show(name, heading) {
    screen.textContent = "";
    screen.setAttribute("data-step", name);
    if (heading) { screen.appendChild(el("h1", "", heading)); }
    window.scrollTo(0, 0);
    return screen;
  }

  // ---- the questions ------------------------------------------------------------------
  var TYPES = ["needles_here", "cleanup_done", "overdose_helped", "supplies_needed"];
  var STEPPER = ["1", "2-5", "6-20", "more"];
  var QUESTIONS = {
    needles_here: [
      { field: "count", ask: "how_many_needles", choices: STEPPER, words: "count_" },
      { field: "picked_up", ask: "picked_up_question", choices: [true, false],
        words: { "true": "yes_picked", "false": "no_left" } },
      { field: "place", ask: "place_question", words: "place_",
        choices: ["park", "lane", "stairwell", "building", "other"] }
    ],
    cleanup_done: [
      { field: "count", ask: "how_many_picked", choices: STEPPER, words: "count_" },
      { field: "minutes", ask: "minutes_question", choices: [15, 30, 60, 120], words: "minutes_" }
    ],
    overdose_helped: [
      { field: "naloxone_doses", ask: "doses_question", choices: [0, 1, 2, 3, 4, 5],
        words: { "5": "doses_5" } },
      { field: "outcome", ask: "outcome_question", choices: ["ok", "hospital", "died"],
        words: "outcome_" }
    ],
    supplies_needed: [
      { field: "supplies", ask: "supplies_question", many: true, words: "supply_",
        choices: ["needles", "naloxone", "pipes", "sharps_bin"] }
    ]
  };

  function choiceWords(question, value) {
    var key = String(value);
    if (typeof question.words === "string") { return word(question.words + key); }
    return question.words[key] ? word(question.words[key]) : key;
  }

  function start() {
    report = { type: null, answers: {}, cell: null, when: null };
    var page = show("choose", word("choose"));
    var list = el("div", "choices");
    TYPES.forEach(function (type) {
      var button = big("", function () { report.type = type; ask(0); }, "type " + type);
      button.appendChild(icon(type));
      button.appendChild(el("span", "", word(type)));
      list.appendChild(button);
    });
    page.appendChild(list);
  }

  function ask(index) {
    var questions = QUESTIONS[report.type];
    if (index >= questions.length) { where(); return; }
    var question = questions[index];
    var page = show("q-" + question.field, word(question.ask));
    if (question.many) { askMany(page, question, index); return; }
    question.choices.forEach(function (value) {
      page.appendChild(big(choiceWords(question, value), function () {
        if (question.field === "outcome" && value === "died") { confirmDied(index); return; }
        report.answers[question.field] = value;
        ask(index + 1);
      }, "answer"));
    });
    page.appendChild(big(word("back"), function () { back(index); }, "quiet"));
  }

  function back(index) {
    if (index > 0) { ask(index - 1); } else { start(); }
  }

  function askMany(page, question, index) {
    var picked = report.answers[question.field] || [];
    var next = big(word("next"), function () {
      report.answers[question.field] = picked.slice();
      ask(index + 1);
    }, "go");
    next.disabled = picked.length === 0;
    question.choices.forEach(function (value) {
      var button = big(choiceWords(question, value), function () {
        var at = picked.indexOf(value);
        if (at < 0) { picked.push(value); } else { picked.splice(at, 1); }
        button.setAttribute("aria-pressed", at < 0 ? "true" : "false");
        next.disabled = picked.length === 0;
      }, "answer toggle");
      button.setAttribute("aria-pressed", picked.indexOf(value) >= 0 ? "true" : "false");
      page.appendChild(button);
    });
    page.appendChild(next);
    page.appendChild(big(word("back"), function () { back(index); }, "quiet"));
  }

  function confirmDied(index) {
    var page = show("q-died", word("died_confirm"));
    page.appendChild(big(word("died_yes"), function () {
      report.answers.outcome = "died";
      ask(index + 1);
    }, "answer"));
    page.appendChild(big(word("died_back"), function () { ask(index); }, "quiet"));
  }

  // ---- where: a square of the grid ---------------------------------------------------
  function loadGrid() {
    if (gridConfig) { return Promise.resolve(gridConfig); }
    return fetch(DATA.grid, { credentials: "same-origin" }).then(function (answer) {
      if (!answer.ok) { throw new Error("grid " + answer.status); }
      return answer.json();
    }).then(function (config) {
      gridConfig = config;
      grid = window.GeoGrid.make(config);
      return config;
    });
  }

  function decodeStreets(body) {
    var lon = 0, lat = 0;  // each point is a step from the one before, across lines too
    return body.lines.map(function (flat) {
      var line = [];
      for (var i = 0; i + 1 < flat.length; i += 2) {
        lon += flat[i];
        lat += flat[i + 1];
        line.push([lat / body.scale, lon / body.scale]);
      }
      return line;
    });
  }

  function drawStreets(map) {
    if (!DATA.streets) { return; }
    fetch(DATA.streets, { credentials: "same-origin" }).then(function (answer) {
      return answer.ok ? answer.json() : null;
    }).then(function (body) {
      if (body && body.format === "streets-1") {
        L.polyline(decodeStreets(body), {
          color: "#8c8c8c", weight: 2, interactive: false, className: "report-street"
        })
          .addTo(map);
      }
    }).catch(function () { /* the outline and the squares still show */ });
  }

  function where() {
    var page = show("where", word("where"));
    var note = el("p", "note", "");
    var box = el("div", "map");
    box.id = "report-map";
    page.appendChild(box);
    page.appendChild(note);
    var locate = big(word("use_location"), function () { useLocation(); }, "locate");
    page.appendChild(locate);
    var next = big(word("next"), function () { when(); }, "go");
    next.disabled = !report.cell;
    page.appendChild(next);
    page.appendChild(big(word("back"), function () {
      ask(QUESTIONS[report.type].length - 1);
    }, "quiet"));
    loadGrid().then(function (config) { drawMap(config, box, note, next, locate); })
      .catch(function () { note.textContent = word("location_failed"); });
  }

  function drawMap(config, box, note, next, locate) {
    if (window.reportMap) { window.reportMap.remove(); }  // the last report's map, let go
    var map = L.map(box, { zoomControl: true, attributionControl: false });
    window.reportMap = map;  // the browser tests tap known points through it
    var outline = L.geoJSON(config.outline, {
      style: { color: "#1d5c63", weight: 3, fill: false }, interactive: false
    }).addTo(map);
    map.fitBounds(outline.getBounds());
    drawStreets(map);
    var square = null;
    var size = config.sizes[report.type];

    function choose(cell) {
      var corners = cell && grid.inside(cell) ? grid.corners(cell) : null;
      if (!corners) {
        note.textContent = word("outside");
        return;
      }
      report.cell = cell;
      if (square) { map.removeLayer(square); }
      square = L.polygon(corners, {
        color: "#b35900", weight: 3, fillColor: "#f2a93b", fillOpacity: 0.5, interactive: false
      }).addTo(map);
      note.textContent = word("square_chosen");
      next.disabled = false;
      return square;
    }

    // A square is a few pixels across the whole area: come closer to it (never to a
    // position), so a second tap can move it to the next square with a finger.
    function closer() {
      var centre = report.cell ? grid.centre(report.cell) : null;
      if (centre && map.getZoom() < CLOSE_ZOOM) {
        map.setView(centre, CLOSE_ZOOM, { animate: false });
      }
    }

    if (report.cell && choose(report.cell)) { closer(); }
    map.on("click", function (event) {
      var lon = event.latlng.lng, lat = event.latlng.lat;
      var cell = config.projection ? grid.snap(lon, lat, size) : listedSquare(lon, lat, size);
      if (choose(cell)) { closer(); }
    });
    if (!config.projection) {
      locate.hidden = true;
      note.textContent = word("no_location");
    }
    useLocation = function () {
      if (!navigator.geolocation) { note.textContent = word("location_failed"); return; }
      note.textContent = word("locating");
      navigator.geolocation.getCurrentPosition(function (position) {
        // Snapped at once; the position goes out of scope with this callback.
        var shown = choose(grid.snap(position.coords.longitude, position.coords.latitude, size));
        if (shown) { closer(); }
      }, function () {
        note.textContent = word("location_failed");
      }, { enableHighAccuracy: true, maximumAge: 0, timeout: 20000 });
    };
  }

  var useLocation = function () { /* set once the map is drawn */ };

  // Without a projection the phone can repeat, the tapped square is the listed square whose
  // corners (from the server) hold the tap.
  function listedSquare(lon, lat, size) {
    var runs = (gridConfig.cells || {})[String(size)] || [];
    for (var r = 0; r < runs.length; r++) {
      for (var ix = runs[r][1]; ix <= runs[r][2]; ix++) {
        var id = size + ":" + ix + ":" + runs[r][0];
        if (holds(grid.corners(id), lat, lon)) { return id; }
      }
    }
    return null;
  }

  function holds(ring, lat, lon) {
    if (!ring) { return false; }
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var a = ring[i], b = ring[j];
      if ((a[0] > lat) !== (b[0] > lat) &&
          lon < (b[1] - a[1]) * (lat - a[0]) / (b[0] - a[0]) + a[1]) { inside = !inside; }
    }
    return inside;
  }

  // ---- when: an hour or a day ---------------------------------------------------------
  function two(n) { return (n < 10 ? "0" : "") + n; }

  function localDate(d) {
    return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate());
  }

  function bucketFor(when) {
    var now = new Date();
    if (when === "yesterday") {
      return localDate(new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1));
    }
    if (when === "earlier_today") { return localDate(now); }
    var offset = -now.getTimezoneOffset();
    var sign = offset < 0 ? "-" : "+";
    offset = Math.abs(offset);
    return localDate(now) + "T" + two(now.getHours()) + ":00" + sign +
      two(Math.floor(offset / 60)) + ":" + two(offset % 60);
  }

  function when() {
    var page = show("when", word("when"));
    ["now", "earlier_today", "yesterday"].forEach(function (choice) {
      page.appendChild(big(word(choice), function () {
        report.when = choice;
        review();
      }, "answer"));
    });
    page.appendChild(big(word("back"), where, "quiet"));
  }

  // ---- review and send ----------------------------------------------------------------
  function answerLines() {
    var lines = [];
    QUESTIONS[report.type].forEach(function (question) {
      var value = report.answers[question.field];
      if (value === undefined) { return; }
      var values = Array.isArray(value) ? value : [value];
      lines.push(values.map(function (v) { return choiceWords(question, v); }).join(", "));
    });
    return lines;
  }

  function review() {
    var page = show("review", word("review"));
    var list = el("dl", "review");
    list.appendChild(el("dt", "", word("review_what")));
    list.appendChild(el("dd", "", [word(report.type)].concat(answerLines()).join(" · ")));
    list.appendChild(el("dt", "", word("review_where")));
    list.appendChild(el("dd", "", word("review_where_text")));
    list.appendChild(el("dt", "", word("review_when")));
    list.appendChild(el("dd", "", word(report.when)));
    page.appendChild(list);
    var send = big(word("send"), function () { send.disabled = true; sendReport(); }, "go");
    page.appendChild(send);
    page.appendChild(big(word("start_over"), start, "quiet"));
  }

  function reportBody() {
    var body = { type: report.type, cell: report.cell, bucket: bucketFor(report.when) };
    Object.keys(report.answers).forEach(function (field) {
      body[field] = report.answers[field];
    });
    return body;
  }

  function sendReport() {
    var entry = { id: uuid(), body: reportBody() };
    queuePut(entry).then(function () {
      // A send already under way may have read the queue before this entry: wait for it.
      return (flushing || Promise.resolve()).then(flush);
    }).then(function (outcomes) {
      done(outcomes[entry.id] || { status: "waiting" });
    }).catch(function () { done({ status: "waiting" }); });
  }

  function done(outcome) {
    var page;
    if (outcome.status === "stored") {
      page = show("thanks", word("thanks"));
      var link = el("a", "big link", word("see_map"));
      link.href = outcome.map;
      page.appendChild(link);
    } else if (outcome.status === "refused") {
      page = show("refused", word("refused"));
      page.appendChild(el("p", "reason", outcome.reason));
    } else {
      page = show("saved", word("saved_waiting"));
    }
    page.appendChild(big(word("another"), start, "go"));
  }

  // ---- the queue (IndexedDB): id, body and a refusal's reason, nothing else ------------
  function uuid() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); });
    return [hex.slice(0, 4), hex.slice(4, 6), hex.slice(6, 8), hex.slice(8, 10), hex.slice(10)]
      .map(function (part) { return part.join(""); }).join("-");
  }

  var dbOpen = null;
  function db() {
    if (!dbOpen) {
      dbOpen = new Promise(function (resolve, reject) {
        var request = indexedDB.open(DB_NAME, 1);
        request.onupgradeneeded = function () {
          request.result.createObjectStore(STORE, { keyPath: "id" });
        };
        request.onsuccess = function () {
          // Another tab clearing the phone must not wait for this one.
          request.result.onversionchange = function () { request.result.close(); dbOpen = null; };
          resolve(request.result);
        };
        request.onerror = function () { dbOpen = null; reject(request.error); };
      });
    }
    return dbOpen;
  }

  function tx(mode, work) {
    return db().then(function (handle) {
      return new Promise(function (resolve, reject) {
        var t = handle.transaction(STORE, mode);
        var result = work(t.objectStore(STORE));
        t.oncomplete = function () { resolve(result && "result" in result ? result.result : result); };
        t.onerror = function () { reject(t.error); };
      });
    });
  }

  function queuePut(entry) { return tx("readwrite", function (s) { return s.put(entry); }); }
  function queueDelete(id) { return tx("readwrite", function (s) { return s.delete(id); }); }
  function queueAll() { return tx("readonly", function (s) { return s.getAll(); }); }

  // ---- sending --------------------------------------------------------------------------
  function fetchToken() {
    return fetch(DATA.token, { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) {
        if (answer.status === 401) { throw { signIn: true }; }
        if (!answer.ok) { throw new Error("token " + answer.status); }
        return answer.json();
      }).then(function (body) { return body.token; });
  }

  function post(entry, token) {
    var headers = { "Content-Type": "application/json", "Idempotency-Key": entry.id };
    headers[DATA.token_header] = token;
    return fetch(DATA.reports, {
      method: "POST", credentials: "same-origin", cache: "no-store", headers: headers,
      body: JSON.stringify(entry.body)
    }).then(function (answer) {
      return answer.json().catch(function () { return {}; }).then(function (body) {
        return { status: answer.status, body: body };
      });
    });
  }

  // Send one entry; a 403 for the token gets one new token and one more try.
  function sendOne(entry, session) {
    return post(entry, session.token).then(function (answer) {
      if (answer.status === 403 && answer.body.code === "form_token" && !session.renewed) {
        session.renewed = true;
        return fetchToken().then(function (token) {
          session.token = token;
          return post(entry, token);
        });
      }
      return answer;
    });
  }

  function judge(entry, answer, outcomes) {
    if (answer.status === 201) {
      outcomes[entry.id] = { status: "stored", map: answer.body.map };
      return queueDelete(entry.id);
    }
    if (answer.status === 401) { throw { signIn: true }; }
    var passing = answer.status === 408 || answer.status === 429 || answer.status >= 500;
    if (passing) { throw new Error("try later"); }
    // The server's words for what the phone must fix; kept until the peer removes it.
    entry.reason = answer.body.detail || answer.body.title || String(answer.status);
    outcomes[entry.id] = { status: "refused", reason: entry.reason };
    return queuePut(entry);
  }

  function flushAll() {
    var outcomes = {};
    return queueAll().then(function (entries) {
      var due = entries.filter(function (entry) { return !entry.reason; });
      if (!due.length) { return outcomes; }
      return fetchToken().then(function (token) {
        var session = { token: token, renewed: false };
        return due.reduce(function (chain, entry) {
          return chain.then(function () {
            return sendOne(entry, session).then(function (answer) {
              return judge(entry, answer, outcomes);
            });
          });
        }, Promise.resolve()).then(function () { return outcomes; });
      });
    }).catch(function (error) {
      if (error && error.signIn) { signedOut = true; }
      return outcomes;  // no signal: everything not sent stays in the queue
    });
  }

  function flush() {
    if (signedOut) { return showQueue().then(function () { return {}; }); }
    if (!flushing) {
      flushing = flushAll().then(function (outcomes) {
        flushing = null;
        return showQueue().then(function () { return outcomes; });
      });
    }
    return flushing;
  }

  // On every screen while anything is kept: how many wait, and each refusal with Remove.
  function showQueue() {
    return queueAll().then(function (entries) {
      banner.textContent = "";
      var waiting = entries.filter(function (entry) { return !entry.reason; }).length;
      if (signedOut) {
        var link = el("a", "signin", word("sign_in_again"));
        link.href = DATA.join;
        banner.appendChild(link);
      }
      if (waiting) {
        banner.appendChild(el("p", "count", waiting === 1 ? word("waiting_one")
          : word("waiting_many", waiting)));
        banner.appendChild(big(word("send_now"), function () { flush(); }, "quiet"));
      }
      entries.filter(function (entry) { return entry.reason; }).forEach(function (entry) {
        var item = el("div", "refused-entry");
        item.appendChild(el("p", "", word("refused") + " " + word(entry.body.type)));
        item.appendChild(el("p", "reason", entry.reason));
        item.appendChild(big(word("remove"), function () {
          queueDelete(entry.id).then(showQueue);
        }, "quiet remove"));
        banner.appendChild(item);
      });
      banner.hidden = banner.childNodes.length === 0;
    }).catch(function () { banner.hidden = true; });
  }

  // ---- clearing the phone ---------------------------------------------------------------
  function clearPhone() {
    var page = show("clear", word("clear_confirm"));
    page.appendChild(big(word("clear_yes"), function () {
      wipe().then(function () {
        banner.hidden = true;
        var cleared = show("cleared", word("cleared"));
        var link = el("a", "big link", word("sign_in_again"));
        link.href = DATA.join;
        cleared.appendChild(link);
      });
    }, "danger"));
    page.appendChild(big(word("clear_no"), start, "quiet"));
  }

  function signOut() {
    return fetchToken().then(function (token) {
      return fetch(DATA.signout, {
        method: "POST", credentials: "same-origin", cache: "no-store",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: "csrf_token=" + encodeURIComponent(token)
      });
    }).catch(function () { /* no signal or already signed out: the phone is wiped anyway */ });
  }

  function wipe() {
    var closing = dbOpen ? dbOpen.then(function (handle) { handle.close(); }) : Promise.resolve();
    dbOpen = null;
    var steps = [signOut()];
    steps.push(closing.then(function () {
      return new Promise(function (resolve) {
        var request = indexedDB.deleteDatabase(DB_NAME);
        request.onsuccess = request.onerror = request.onblocked = function () { resolve(); };
      });
    }));
    if (window.caches) {
      steps.push(caches.keys().then(function (names) {
        return Promise.all(names.map(function (name) { return caches.delete(name); }));
      }));
    }
    if (navigator.serviceWorker) {
      steps.push(navigator.serviceWorker.getRegistrations().then(function (all) {
        return Promise.all(all.map(function (registration) { return registration.unregister(); }));
      }));
    }
    signedOut = true;
    return Promise.all(steps).catch(function () { return null; });
  }

  // ---- start ----------------------------------------------------------------------------
  var clear = document.getElementById("clear");
  clear.textContent = word("clear_phone");
  clear.addEventListener("click", clearPhone);
  document.title = word("page_title");
  start();
  flush();
  window.addEventListener("online", function () { flush(); });
  setInterval(function () { if (navigator.onLine) { flush(); } }, FLUSH_EVERY_MS);
  if (navigator.serviceWorker && window.isSecureContext) {
    navigator.serviceWorker.register(DATA.worker, { scope: DATA.scope })
      .catch(function () { /* the page still works online */ });
  }
  window.reportQueue = { flush: flush, all: queueAll };  // for the browser tests
}());
