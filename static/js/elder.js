// The elders' ordering pages: scan one's own member card with the phone camera (@zxing/browser)
// and fill in the card number. No inline scripts (CSP); works without JS (type the number).
(function () {
  "use strict";
  var button = document.getElementById("scan-card");
  var video = document.getElementById("scan-video");
  var field = document.getElementById("card_number");
  if (!button || !video || !field || !window.ZXingBrowser || !navigator.mediaDevices) return;
  button.hidden = false;
  var controls = null;
  button.addEventListener("click", function () {
    video.hidden = false;
    var reader = new window.ZXingBrowser.BrowserMultiFormatReader();
    reader.decodeFromVideoDevice(undefined, video, function (result, _err, ctl) {
      controls = ctl;
      if (!result) return;
      // The card's QR holds its signed token; the server accepts it in place of the number.
      field.value = result.getText();
      if (controls) controls.stop();
      video.hidden = true;
      var pin = document.getElementById("pin");
      if (pin) pin.focus();
    }).catch(function () { video.hidden = true; });
  });
})();
