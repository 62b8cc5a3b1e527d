// The month slider picks the matching base layer in Leaflet's layer control.
document.addEventListener("DOMContentLoaded", function () {
  var slider = document.getElementById("month");
  if (!slider) { return; }
  slider.addEventListener("input", function () {
    var radios = document.querySelectorAll(".leaflet-control-layers-base input");
    var radio = radios[Number(slider.value)];
    if (radio && !radio.checked) { radio.click(); }
  });
});
