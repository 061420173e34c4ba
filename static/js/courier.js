// Courier pages: print the manifest; scan the elder's card with the phone camera (ZXing) and
// submit it as proof of delivery. No inline script (CSP); typing the number always works too.
(function () {
  "use strict";
  document.querySelectorAll("[data-print]").forEach(function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
  var start = document.getElementById("scan-start");
  var video = document.getElementById("scan-video");
  var form = document.getElementById("deliver-form");
  if (!start || !video || !form) { return; }
  start.addEventListener("click", function () {
    if (!window.ZXingBrowser) { return; }
    var reader = new window.ZXingBrowser.BrowserQRCodeReader();
    video.hidden = false;
    start.disabled = true;
    reader.decodeFromVideoDevice(undefined, video, function (result, _err, controls) {
      if (!result) { return; }
      controls.stop();
      video.hidden = true;
      form.querySelector("input[name=card]").value = result.getText();
      form.submit();
    }).catch(function () { start.disabled = false; video.hidden = true; });
  });
})();
