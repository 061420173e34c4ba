// Draws every <canvas class="js-chart" data-chart='{type, labels, series, stacked}'> with Chart.js.
// The numbers behind each chart are in a table on the page (in a <details> beside it): the chart
// is for looking, the table for reading, copying and exporting.
(function () {
  "use strict";
  var COLOURS = ["#1f5fa8", "#b35900", "#2e7d32", "#8e24aa", "#c62828", "#00838f"];
  function draw(canvas) {
    if (typeof window.Chart === "undefined") return;
    var spec;
    try { spec = JSON.parse(canvas.getAttribute("data-chart") || "{}"); } catch (e) { return; }
    if (!spec.labels || !spec.labels.length) return;
    var datasets = (spec.series || []).map(function (s, i) {
      var colour = COLOURS[i % COLOURS.length];
      return { label: s.label, data: s.data, backgroundColor: colour, borderColor: colour, fill: false, tension: 0.2 };
    });
    var stacked = !!spec.stacked;
    new window.Chart(canvas, {
      type: spec.type || "bar",
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { stacked: stacked }, y: { stacked: stacked, beginAtZero: true } },
        plugins: { legend: { display: datasets.length > 1 } }
      }
    });
  }
  function init() { document.querySelectorAll("canvas.js-chart").forEach(draw); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
