// The offline base map. When the page has no tiles, or its tiles fail or never arrive
// (no signal, a blocked tile host), draw the program's streets under the squares and name
// the service sites beside their circles, so a peer can still find their way. The streets
// are fetched once per network (the browser keeps them) and only when needed: with working
// tiles nothing is fetched. Sites' names arrive escaped in the labels' JSON data.
(function () {
  "use strict";
  var island = document.getElementById("map-streets");
  if (!island || typeof L === "undefined") { return; }
  var spec = JSON.parse(island.textContent);
  var map = window[spec.map];
  if (!map) { return; }
  var tiles = spec.tiles ? window[spec.tiles] : null;
  var WAIT_FOR_TILES_MS = 4000;
  var shown = false;

  function decode(body) {
    var lon = 0;  // each point is a step from the one before, across lines too
    var lat = 0;
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

  function drawStreets() {
    if (!spec.streets || typeof fetch !== "function") { return; }
    // Under the tiles (z-index 200): tiles that do load cover the streets where they are.
    var pane = map.createPane("streets");
    pane.style.zIndex = 150;
    pane.style.pointerEvents = "none";
    fetch(spec.streets, { credentials: "same-origin" })
      .then(function (answer) {
        if (!answer.ok) { throw new Error("streets: " + answer.status); }
        return answer.json();
      })
      .then(function (body) {
        if (body.format !== "streets-1") { return; }
        window.streetBase = L.polyline(decode(body), {
          pane: "streets", className: "street-base", color: "#8c8c8c", weight: 2,
          opacity: 0.9, interactive: false, smoothFactor: 1
        }).addTo(map);
      })
      .catch(function () { /* no streets: the outline and the squares still show */ });
  }

  // Names that would cover a name already shown are hidden until the view makes room.
  function declutter() {
    var kept = [];
    var names = map.getContainer().querySelectorAll(".leaflet-tooltip.site-name");
    Array.prototype.forEach.call(names, function (name) {
      name.style.visibility = "";
      var box = name.getBoundingClientRect();
      var covers = kept.some(function (other) {
        return box.left < other.right && other.left < box.right &&
          box.top < other.bottom && other.top < box.bottom;
      });
      if (covers) { name.style.visibility = "hidden"; } else { kept.push(box); }
    });
  }

  function nameSites() {
    var labels = document.getElementById("map-labels");
    if (!labels) { return; }
    map.on("zoomend moveend overlayadd", function () { window.setTimeout(declutter, 0); });
    window.setTimeout(declutter, 0);
    JSON.parse(labels.textContent).forEach(function (entry) {
      var layer = window[entry.layer];
      if (!entry.name || !layer || typeof layer.bindTooltip !== "function") { return; }
      // The name stays beside the circle; its details move to a tap (there is no hover).
      layer.unbindTooltip();
      if (entry.tooltip) { layer.bindPopup(entry.tooltip, { maxWidth: 340 }); }
      layer.bindTooltip(entry.name, {
        permanent: true, direction: "right", offset: [8, 0], className: "site-name"
      });
    });
  }

  function fallBack() {
    if (shown) { return; }
    shown = true;
    map.getContainer().classList.add("offline-base");
    drawStreets();
    nameSites();
  }

  if (!tiles) { fallBack(); return; }
  var arrived = false;
  tiles.on("tileerror", fallBack);
  tiles.on("tileload", function () { arrived = true; });
  var container = tiles.getContainer();
  var images = container ? container.querySelectorAll("img") : [];
  for (var i = 0; i < images.length; i += 1) {
    // Tiles that failed, or loaded, before this script ran.
    if (images[i].complete && images[i].naturalWidth === 0) { fallBack(); }
    if (images[i].classList.contains("leaflet-tile-loaded")) { arrived = true; }
  }
  window.setTimeout(function () { if (!arrived) { fallBack(); } }, WAIT_FOR_TILES_MS);
})();
