// Opens the map on its data rather than the whole area: fits the view to the layers the
// page names (its cells, gaps, candidate sites). Rolled-up squares (gi_class null, or
// rolled_up), which can span the whole area, count only when nothing finer is drawn.
// Points (site markers) count as their position. With nothing drawn the view stays.
(function () {
  "use strict";
  var island = document.getElementById("map-fit");
  if (!island || typeof L === "undefined") { return; }
  var spec = JSON.parse(island.textContent);
  var map = window[spec.map];
  if (!map) { return; }
  var fine = L.latLngBounds([]);
  var all = L.latLngBounds([]);
  function extent(part) {
    if (typeof part.getBounds === "function") { return part.getBounds(); }
    if (typeof part.getLatLng === "function") { return L.latLngBounds([part.getLatLng()]); }
    return null;
  }
  spec.layers.forEach(function (name) {
    var layer = window[name];
    if (!layer || typeof layer.eachLayer !== "function") { return; }
    layer.eachLayer(function (part) {
      var box = extent(part);
      if (!box || !box.isValid()) { return; }
      var props = part.feature && part.feature.properties;
      all.extend(box);
      if (!props || (props.gi_class !== null && props.rolled_up !== true)) { fine.extend(box); }
    });
  });
  var target = fine.isValid() ? fine : all;
  if (target.isValid()) { map.fitBounds(target, { padding: [8, 8], maxZoom: 16, animate: false }); }
})();
