// The elders' ordering pages: scan one's own member card with the phone camera (@zxing/browser)
// and fill in the card number. No inline scripts (CSP); works without JS (type the number).
// Never a silent failure: when the camera cannot be used, the page says why, in words that
// the template put in data- attributes (the catalog's, in the reader's language).
(function () {
  "use strict";
  var button = document.getElementById("scan-card");
  var video = document.getElementById("scan-video");
  var field = document.getElementById("card_number");
  var status = document.getElementById("scan-status");
  if (!button || !video || !field || !status) return;
  button.hidden = false;
  function say(key) {
    status.textContent = status.getAttribute("data-" + key) || "";
    status.hidden = false;
  }
  var controls = null;
  button.addEventListener("click", function () {
    var usable = window.ZXingBrowser && navigator.mediaDevices && navigator.mediaDevices.getUserMedia;
    if (!usable) {
      say("unsupported");
      field.focus();
      return;
    }
    say("looking");
    video.hidden = false;
    var reader = new window.ZXingBrowser.BrowserMultiFormatReader();
    var started;
    try {
      started = reader.decodeFromVideoDevice(undefined, video, function (result, _err, ctl) {
        controls = ctl;
        if (!result) return;
        // The card's QR holds its signed token; the server accepts it in place of the number.
        field.value = result.getText();
        if (controls) controls.stop();
        video.hidden = true;
        status.hidden = true;
        var pin = document.getElementById("pin");
        if (pin) pin.focus();
      });
    } catch (e) {
      started = Promise.reject(e);
    }
    Promise.resolve(started).catch(function () {
      video.hidden = true;
      say("denied");
      field.focus();
    });
  });
})();
