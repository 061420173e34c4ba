// The coverage map with Leaflet, offline: no tile layer (no tile server is reachable), only our own
// shapes on a plain background. Meal points are squares with their walking circle; communities are
// circles sized by registered elders; the suggested next point is a star.
(function () {
  "use strict";
  function init() {
    var el = document.getElementById("coverage-map");
    if (!el || typeof window.L === "undefined") return;
    var data;
    try { data = JSON.parse(el.getAttribute("data-map") || "{}"); } catch (e) { return; }
    var L = window.L;
    var words = data.words || {};
    var map = L.map(el, { attributionControl: false, zoomSnap: 0.25, zoomControl: false });
    L.control.zoom({ zoomInTitle: words.zoom_in || "+", zoomOutTitle: words.zoom_out || "-" }).addTo(map);
    var bounds = [];
    var maxElders = 1;
    (data.communities || []).forEach(function (c) { if (c.elders > maxElders) maxElders = c.elders; });
    (data.communities || []).forEach(function (c) {
      var r = 6 + 24 * Math.sqrt(c.elders / maxElders);
      L.circleMarker([c.lat, c.lon], {
        radius: r, color: "#8e24aa", weight: 1, fillColor: "#ce93d8", fillOpacity: 0.55
      }).bindTooltip(c.name + ": " + c.elders + (c.uncovered ? " (" + c.uncovered + " ✗)" : "")).addTo(map);
      bounds.push([c.lat, c.lon]);
    });
    (data.points || []).forEach(function (p) {
      L.circle([p.lat, p.lon], {
        radius: p.radius_m || data.radius_m || 800, color: "#1f5fa8", weight: 1, fillOpacity: p.open ? 0.08 : 0, dashArray: p.open ? null : "4 4"
      }).addTo(map);
      var icon = L.divIcon({ className: "map-point" + (p.open ? " open" : ""), iconSize: [14, 14] });
      L.marker([p.lat, p.lon], { icon: icon, title: p.name, keyboard: false }).bindTooltip(p.name, { permanent: true, direction: "right", className: "map-label" }).addTo(map);
      bounds.push([p.lat, p.lon]);
    });
    if (data.suggestion) {
      var star = L.divIcon({ className: "map-suggestion", html: "★", iconSize: [24, 24] });
      L.marker([data.suggestion.lat, data.suggestion.lon], { icon: star, keyboard: false })
        .bindTooltip(words.suggestion || ("+" + data.suggestion.covers), { permanent: true, direction: "top", className: "map-label" })
        .addTo(map);
      bounds.push([data.suggestion.lat, data.suggestion.lon]);
    }
    if (bounds.length) map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
    else map.setView([30.27, 120.15], 12);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
