// The month slider and its previous/next buttons show one month's layer at a time and say
// which month it is and its total ("March 2026 — 41 reports"). The month names and layer
// names arrive as JSON data, never as script.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var slider = document.getElementById("month");
  var island = document.getElementById("trend-months");
  if (!slider || !island) { return; }
  var spec = JSON.parse(island.textContent);
  var map = window[spec.map];
  var label = document.getElementById("month-label");
  var previous = document.getElementById("month-previous");
  var next = document.getElementById("month-next");
  var last = spec.months.length - 1;

  function show(step) {
    step = Math.max(0, Math.min(last, step));
    slider.value = String(step);
    spec.months.forEach(function (month, i) {
      var layer = window[month.layer];
      if (!map || !layer) { return; }
      if (i === step && !map.hasLayer(layer)) { map.addLayer(layer); }
      if (i !== step && map.hasLayer(layer)) { map.removeLayer(layer); }
    });
    label.textContent = spec.months[step].words;
    slider.setAttribute("aria-valuetext", spec.months[step].words);
    previous.disabled = step <= 0;
    next.disabled = step >= last;
  }

  slider.addEventListener("input", function () { show(Number(slider.value)); });
  previous.addEventListener("click", function () { show(Number(slider.value) - 1); });
  next.addEventListener("click", function () { show(Number(slider.value) + 1); });
  show(Number(slider.value));
});
