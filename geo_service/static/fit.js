// Opens the map on its data rather than the whole area: fits the view to the layers the
// page names (its cells or gaps). Rolled-up squares (gi_class null), which can span the
// whole area, count only when nothing finer is drawn. With nothing drawn the view stays.
(function () {
  "use strict";
  var island = document.getElementById("map-fit");
  if (!island || typeof L === "undefined") { return; }
  var spec = JSON.parse(island.textContent);
  var map = window[spec.map];
  if (!map) { return; }
  var fine = L.latLngBounds([]);
  var all = L.latLngBounds([]);
  spec.layers.forEach(function (name) {
    var layer = window[name];
    if (!layer || typeof layer.eachLayer !== "function") { return; }
    layer.eachLayer(function (part) {
      if (typeof part.getBounds !== "function") { return; }
      var props = part.feature && part.feature.properties;
      all.extend(part.getBounds());
      if (!props || props.gi_class !== null) { fine.extend(part.getBounds()); }
    });
  });
  var target = fine.isValid() ? fine : all;
  if (target.isValid()) { map.fitBounds(target, { padding: [8, 8], maxZoom: 16, animate: false }); }
})();
