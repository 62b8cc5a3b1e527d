// Binds the page's user text (names, opening hours, notes) to its map layers. The text
// arrives as JSON data, never as script: the server escaped it for HTML, and JSON.parse
// reads it without running anything.
(function () {
  "use strict";
  var island = document.getElementById("map-labels");
  if (!island) { return; }
  var entries = JSON.parse(island.textContent);
  entries.forEach(function (entry) {
    var layer = window[entry.layer];
    if (!layer || typeof layer.bindTooltip !== "function") { return; }
    if (entry.tooltip) { layer.bindTooltip(entry.tooltip, { sticky: !!entry.sticky }); }
    if (entry.popup) { layer.bindPopup(entry.popup, { maxWidth: 340 }); }
  });
})();
