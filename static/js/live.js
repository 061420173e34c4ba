// Live tables: an element with data-live-url (a server-sent event stream) and data-refresh-url
// (an HTML partial) is re-rendered whenever an event arrives. No inline script (CSP).
(function () {
  "use strict";
  document.querySelectorAll("[data-live-url]").forEach(function (box) {
    var refreshing = false;
    function refresh() {
      if (refreshing) { return; }
      refreshing = true;
      fetch(box.dataset.refreshUrl, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) { box.innerHTML = html; })
        .catch(function () { /* the next event or the reconnect retries */ })
        .finally(function () { refreshing = false; });
    }
    var source = new EventSource(box.dataset.liveUrl);
    source.onmessage = refresh;
    // The stream says "live" or "paused" (Redis away) on connect and every few seconds.
    source.addEventListener("status", function (e) {
      var status = document.getElementById("live-status");
      if (status) { status.dataset.state = e.data === "live" ? "live" : "paused"; }
    });
    source.onerror = function () {
      var status = document.getElementById("live-status");
      if (status) { status.dataset.state = "reconnecting"; }
    };
    // A slow poll as well, so a dropped event stream never leaves the numbers stale for long.
    setInterval(refresh, 30000);
  });
})();
