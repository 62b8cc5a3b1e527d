// Folds the map legend behind its "Legend" button on a narrow screen, where it would cover
// the map. A page whose legend sits beside or below the map (a side panel) keeps it open.
(function () {
  "use strict";
  var narrow = window.matchMedia("(max-width: 480px)").matches;
  var beside = !!document.querySelector(".side-panel");
  document.querySelectorAll("details.map-legend").forEach(function (legend) {
    legend.open = !narrow || beside;
  });
})();
