/* The counter page: scan field focus, keyboard, partial swaps, beeps, camera, live tally.
   Loaded with <script src> (the CSP forbids inline script). The server renders every panel;
   this file only moves them into place and decides which one Enter submits. */
(function () {
  "use strict";

  // The receipt page: print on open when asked, and a Print button.
  var receipt = document.querySelector(".receipt");
  if (receipt) {
    var pb = document.getElementById("print-button");
    if (pb) pb.addEventListener("click", function () { window.print(); });
    if (receipt.dataset.autoprint === "1") window.addEventListener("load", function () { window.print(); });
  }

  var root = document.getElementById("counter");
  if (!root) return;

  var site = root.dataset.site;
  var scan = document.getElementById("scan");
  var scanForm = document.getElementById("scan-form");
  var result = document.getElementById("result");
  var tallyBox = document.getElementById("tally");
  var paymentInput = document.getElementById("payment");
  var paymentToggle = document.getElementById("payment-toggle");
  var tools = {
    lookup: document.getElementById("tool-lookup"),
    topup: document.getElementById("tool-topup"),
    void: document.getElementById("tool-void"),
    camera: document.getElementById("tool-camera"),
  };
  var busy = false;
  // F2 belongs to one elder: pressed with no price on screen it arms cash for the next scan only;
  // every new scan (unless armed) and every served elder start again from the balance.
  var paymentArmed = false;
  var idleHtml = result.innerHTML;

  // ------------------------------------------------------------------ helpers

  function csrfToken() {
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  // A partial is a fragment; a whole page (the sign-in page after the session expired, or the
  // error page) becomes a red panel with the page's own message instead of a page in a page.
  function partial(r) {
    return r.text().then(function (text) {
      if (!/^\s*<!doctype/i.test(text)) return text;
      var doc = new DOMParser().parseFromString(text, "text/html");
      var msg = doc.querySelector("main h1, main p, main .error");
      var div = document.createElement("div");
      div.className = "panel panel-refused";
      div.dataset.outcome = "refused";
      div.dataset.code = "http_" + r.status;
      var p = document.createElement("p");
      p.className = "status";
      p.setAttribute("role", "alert");
      p.textContent = "✖ " + ((msg && msg.textContent.trim()) || root.dataset.failed || String(r.status));
      div.appendChild(p);
      if (r.status === 401 || r.redirected) {
        var a = document.createElement("a");
        a.href = "/login?next=" + encodeURIComponent(location.pathname);
        a.className = "button big";
        a.textContent = root.dataset.signin || "Sign in";
        div.appendChild(a);
      }
      return div.outerHTML;
    });
  }

  function failed() {
    return '<div class="panel panel-refused" data-outcome="refused" data-code="network"><p class="status" role="alert"></p></div>';
  }

  function post(url, data, key) {
    var headers = { "x-csrftoken": csrfToken(), "Content-Type": "application/x-www-form-urlencoded" };
    if (key) headers["Idempotency-Key"] = key;
    return fetch(url, { method: "POST", headers: headers, body: new URLSearchParams(data), credentials: "same-origin" })
      .then(partial);
  }

  function getText(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } }).then(partial);
  }

  function openTool() {
    for (var k in tools) if (tools[k] && !tools[k].hidden) return tools[k];
    return null;
  }

  function closeTools() {
    for (var k in tools) if (tools[k]) tools[k].hidden = true;
    stopCamera();
  }

  function focusScan() {
    if (!openTool() && document.activeElement !== scan) scan.focus();
  }

  function chosenSet() {
    var r = document.querySelector('input[name="set_id"]:checked');
    return r ? r.value : "";
  }

  function pending() {
    return result.querySelector("form.pending");
  }

  // The elder on screen (the panel in #result), or null: F7 tops up nobody else.
  function elderOf(panel) {
    return panel && panel.dataset.elderId ? { id: panel.dataset.elderId, name: panel.dataset.elderName || "" } : null;
  }
  function onScreen() {
    return elderOf(result.firstElementChild);
  }

  // ------------------------------------------------------------------ sound

  var audio = null;
  function tone(freq, start, length) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = freq;
      gain.gain.value = 0.08;
      osc.connect(gain);
      gain.connect(audio.destination);
      var t = audio.currentTime + start;
      osc.start(t);
      osc.stop(t + length);
    } catch (e) { /* no sound device: the colour still says it */ }
  }
  function beepOk() { tone(1320, 0, 0.12); }
  function beepBad() { tone(220, 0, 0.18); tone(220, 0.26, 0.18); }

  // ------------------------------------------------------------------ panels

  function show(html, who) {
    result.innerHTML = html;
    var panel = result.firstElementChild;
    var outcome = panel ? panel.dataset.outcome : "";
    // A refusal of the confirm panel's sale is still about that elder (F7 tops them up).
    if (panel && who && outcome === "refused" && !panel.dataset.elderId) {
      panel.dataset.elderId = who.id;
      panel.dataset.elderName = who.name;
    }
    if (panel && panel.dataset.payment) setPayment(panel.dataset.payment);
    if (outcome === "ok") {
      beepOk();
      setPayment("balance");
      paymentArmed = false;
      refreshTally();
    } else if (outcome === "refused") {
      beepBad();
    }
    busy = false;
    scan.value = "";
    focusScan();
  }

  function networkDown() {
    busy = false;
    var tmp = document.createElement("div");
    tmp.innerHTML = failed();
    tmp.querySelector(".status").textContent = "✖ " + (root.dataset.failed || "");
    show(tmp.innerHTML);
  }

  function idle() {
    result.innerHTML = idleHtml;
  }

  // A new elder: the balance again, unless F2 armed cash for exactly this scan.
  function newElder() {
    if (!paymentArmed) setPayment("balance");
    paymentArmed = false;
  }

  function previewWith(data) {
    if (busy) return;
    busy = true;
    post("/counter/" + site + "/preview", data).then(show, networkDown);
  }

  function previewCard(text) {
    newElder();
    previewWith({ card: text, set_id: chosenSet(), payment: paymentInput.value });
  }

  function submitPending(form) {
    if (busy || !form) return;
    busy = true;
    var key = form.dataset.key;
    var who = elderOf(form.closest(".panel"));
    // Once sent, this panel cannot be sent again; a retry reuses the same key anyway.
    form.classList.remove("pending");
    post(form.getAttribute("action"), new FormData(form), key).then(function (html) { show(html, who); }, function () {
      // The answer was lost, not necessarily the sale: Enter again retries with the same key.
      form.classList.add("pending");
      networkDown();
      result.prepend(form.closest(".panel") || form);
    });
  }

  function rePreview(changes) {
    var form = pending();
    if (!form || form.dataset.kind !== "confirm") return false;
    var data = new FormData(form);
    for (var k in changes) data.set(k, changes[k]);
    data.delete("full_price_ok");
    previewWith(data);
    return true;
  }

  function walkInOffer() {
    getText("/counter/" + site + "/walk-in?set_id=" + encodeURIComponent(chosenSet())).then(show);
  }

  // ------------------------------------------------------------------ payment and meal set

  function setPayment(value) {
    paymentInput.value = value;
    var cash = value === "cash";
    paymentToggle.setAttribute("aria-pressed", cash ? "true" : "false");
    paymentToggle.textContent = (cash ? paymentToggle.dataset.cash : paymentToggle.dataset.balance) + " (F2)";
    paymentToggle.classList.toggle("on", cash);
  }

  function togglePayment() {
    setPayment(paymentInput.value === "cash" ? "balance" : "cash");
    paymentArmed = !rePreview({ payment: paymentInput.value }) && paymentInput.value === "cash";
  }

  function chooseSet(n) {
    var r = document.querySelector('input[name="set_id"][data-key="' + n + '"]');
    if (!r) return;
    r.checked = true;
    rePreview({ set_id: r.value });
  }

  // ------------------------------------------------------------------ tally (live)

  var tallyTimer = null;
  function refreshTally() {
    clearTimeout(tallyTimer);
    tallyTimer = setTimeout(function () {
      getText(tallyBox.dataset.url).then(function (html) { tallyBox.innerHTML = html; });
    }, 150);
  }

  if (window.EventSource && tallyBox.dataset.live) {
    try {
      var live = new EventSource(tallyBox.dataset.live);
      var paused = document.getElementById("live-paused");
      // The stream says "live" or "paused" (Redis away): check-ins go on either way, only the
      // live tally waits; a dropped stream counts as paused until it says otherwise.
      var showPaused = function (yes) { if (paused) { paused.hidden = !yes; } };
      live.onmessage = function () { showPaused(false); refreshTally(); };
      live.addEventListener("status", function (e) {
        showPaused(e.data !== "live");
        if (e.data === "live") { refreshTally(); }
      });
      live.onerror = function () { showPaused(true); };
      window.addEventListener("pagehide", function () { live.close(); });
    } catch (e) { /* the tally still refreshes after each action here */ }
  }

  // ------------------------------------------------------------------ tools

  function openLookup() {
    closeTools();
    tools.lookup.hidden = false;
    document.getElementById("manual-form").hidden = true;
    document.getElementById("lookup-q").focus();
  }

  // The server names whose balance it is (masked card, balance now); with nobody on screen it
  // answers in words and offers the look-up, never the previous elder.
  function showTopup(html) {
    tools.topup.innerHTML = html;
    tools.topup.hidden = false;
    var target = document.getElementById("topup-amount") || tools.topup.querySelector("[data-tool]");
    if (target) target.focus();
  }

  function openTopup(elder) {
    closeTools();
    elder = elder || onScreen();
    var url = "/counter/" + site + "/topup" + (elder ? "?elder_id=" + encodeURIComponent(elder.id) : "");
    getText(url).then(function (html) {
      if (html.indexOf('id="topup-form"') === -1) { show(html); return; } // refused: a red panel
      showTopup(html);
    });
  }

  // The void tool comes from the server: the site's last voidable meals (every till's), and the
  // chosen meal's name, time, set and amount above the reason field.
  function loadVoid(mealId) {
    var url = tools.void.dataset.url + (mealId ? "?meal_id=" + encodeURIComponent(mealId) : "");
    getText(url).then(function (html) {
      if (html.indexOf('id="void-title"') === -1) { closeTools(); show(html); return; }
      tools.void.innerHTML = html;
      tools.void.hidden = false;
      var target = document.getElementById("void-reason") ||
        (document.getElementById("void-error") && document.getElementById("void-meal")) ||
        tools.void.querySelector("[data-void-pick]") || document.getElementById("void-meal");
      if (target) target.focus();
    });
  }

  function openVoid() {
    closeTools();
    loadVoid("");
  }

  var cameraReader = null;
  var cameraControls = null;
  function stopCamera() {
    try {
      if (cameraControls) cameraControls.stop();
      if (window.ZXingBrowser && ZXingBrowser.BrowserCodeReader && ZXingBrowser.BrowserCodeReader.releaseAllStreams) {
        ZXingBrowser.BrowserCodeReader.releaseAllStreams();
      }
    } catch (e) { /* already stopped */ }
    cameraControls = null;
  }

  function openCamera() {
    closeTools();
    var status = document.getElementById("camera-status");
    tools.camera.hidden = false;
    tools.camera.querySelector("[data-close]").focus();
    if (!window.ZXingBrowser) { status.textContent = "QR reader not available"; return; }
    cameraReader = cameraReader || new ZXingBrowser.BrowserQRCodeReader();
    var video = document.getElementById("camera-video");
    cameraReader.decodeOnceFromVideoDevice(undefined, video).then(function (res) {
      var text = res.getText ? res.getText() : String(res.text || "");
      closeTools();
      scan.value = text;
      scan.focus();
      previewCard(text);
    }, function (err) {
      status.textContent = String((err && err.message) || err);
    });
  }

  function runTool(name, el) {
    if (name === "lookup") openLookup();
    else if (name === "topup") openTopup(elderOf(el && el.closest(".panel")));
    else if (name === "void") openVoid();
    else if (name === "camera") openCamera();
    else if (name === "walkin") { closeTools(); walkInOffer(); }
  }

  function afterTool(html) {
    closeTools();
    show(html);
  }

  // ------------------------------------------------------------------ events

  scanForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = scan.value.trim();
    if (text) previewCard(text);
    else submitPending(pending());
  });

  result.addEventListener("submit", function (e) {
    e.preventDefault();
    submitPending(e.target.closest("form"));
  });

  document.getElementById("lookup-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var q = document.getElementById("lookup-q").value.trim();
    if (!q) return;
    getText("/counter/" + site + "/lookup?q=" + encodeURIComponent(q)).then(function (html) {
      var box = document.getElementById("lookup-results");
      box.innerHTML = html;
      var first = box.querySelector("button[data-pick]");
      if (first) first.focus();
    });
  });

  document.getElementById("lookup-results").addEventListener("click", function (e) {
    var b = e.target.closest("button[data-pick]");
    if (!b) return;
    var form = document.getElementById("manual-form");
    document.getElementById("manual-elder").value = b.dataset.pick;
    document.getElementById("manual-name").textContent = b.dataset.name;
    form.hidden = false;
    document.getElementById("manual-reason").focus();
  });

  document.getElementById("manual-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var reason = document.getElementById("manual-reason");
    var error = document.getElementById("manual-error");
    if (reason.value.trim().length < 2) {
      error.hidden = false;
      reason.setAttribute("aria-invalid", "true");
      reason.focus();
      return;
    }
    error.hidden = true;
    reason.removeAttribute("aria-invalid");
    var data = {
      elder_id: document.getElementById("manual-elder").value, reason: reason.value.trim(),
      set_id: chosenSet(), payment: paymentInput.value,
    };
    closeTools();
    newElder();
    data.payment = paymentInput.value;
    previewWith(data);
  });

  document.querySelector("[data-topup-manual]").addEventListener("click", function () {
    openTopup({ id: document.getElementById("manual-elder").value,
      name: document.getElementById("manual-name").textContent });
  });

  tools.topup.addEventListener("submit", function (e) {
    e.preventDefault();
    var form = e.target;
    post(form.getAttribute("action"), new FormData(form), form.dataset.key).then(function (html) {
      if (html.indexOf('id="topup-form"') !== -1) {
        tools.topup.innerHTML = html; // errors in words next to the field
        document.getElementById("topup-amount").focus();
      } else {
        afterTool(html);
      }
    });
  });

  tools.void.addEventListener("click", function (e) {
    var b = e.target.closest("[data-void-pick]");
    if (b) loadVoid(b.dataset.voidPick);
  });

  tools.void.addEventListener("submit", function (e) {
    e.preventDefault();
    var form = e.target;
    if (form.id === "void-find") {
      loadVoid(document.getElementById("void-meal").value.trim());
      return;
    }
    var reason = document.getElementById("void-reason");
    var error = document.getElementById("void-reason-error");
    if (reason.value.trim().length < 2) {
      error.hidden = false;
      reason.setAttribute("aria-invalid", "true");
      reason.focus();
      return;
    }
    post(form.getAttribute("action"), new FormData(form)).then(afterTool);
  });

  paymentToggle.addEventListener("click", togglePayment);

  root.addEventListener("click", function (e) {
    var t = e.target.closest("[data-tool]");
    if (t) { runTool(t.dataset.tool, t); return; }
    if (e.target.closest("[data-close]")) { closeTools(); focusScan(); return; }
  });

  // Three faces after a meal: the elder taps one; the answer replaces the buttons.
  result.addEventListener("click", function (e) {
    var face = e.target.closest("[data-score]");
    var box = face && face.closest("[data-rate-url]");
    if (!box) return;
    post(box.dataset.rateUrl, { meal_id: box.dataset.meal, score: face.dataset.score })
      .then(function (html) { box.innerHTML = html; })
      .catch(function () { /* a lost rating is not worth interrupting the queue */ })
      .finally(focusScan);
  });

  document.querySelectorAll('input[name="set_id"]').forEach(function (r) {
    r.addEventListener("change", function () { rePreview({ set_id: r.value }); focusScan(); });
  });

  // Keep the scan field focused: after any click on nothing in particular, and when focus is
  // simply lost (a click on the page, the window coming back). Moving on with Tab is allowed,
  // so a keyboard user is never trapped; every action brings focus back afterwards.
  scan.addEventListener("blur", function (e) {
    if (e.relatedTarget) return;
    setTimeout(focusScan, 0);
  });
  document.addEventListener("click", function (e) {
    if (e.target.closest("input, select, textarea, a, button, summary, label, video")) {
      if (e.target.closest("button, label, summary") && !openTool()) setTimeout(focusScan, 0);
      return;
    }
    focusScan();
  });
  window.addEventListener("focus", focusScan);

  document.addEventListener("keydown", function (e) {
    var inScan = document.activeElement === scan;
    var k = e.key;
    if (k === "Escape") {
      e.preventDefault();
      if (openTool()) closeTools();
      else { idle(); setPayment("balance"); paymentArmed = false; }
      scan.value = "";
      busy = false;
      scan.focus();
      return;
    }
    if (k === "F2") { e.preventDefault(); togglePayment(); return; }
    if (k === "F3") {
      // The allergen panel's reason box: never focused by itself, so a scan cannot land in it.
      var why = document.getElementById("override-reason");
      if (why) { e.preventDefault(); why.focus(); }
      return;
    }
    if (k === "F4") { e.preventDefault(); runTool("walkin"); return; }
    if (k === "F6") { e.preventDefault(); openLookup(); return; }
    if (k === "F7") {
      e.preventDefault();
      // In the look-up, the elder just chosen there; otherwise the elder on screen, or nobody.
      var manual = document.getElementById("manual-form");
      openTopup(!tools.lookup.hidden && !manual.hidden
        ? { id: document.getElementById("manual-elder").value, name: document.getElementById("manual-name").textContent }
        : null);
      return;
    }
    if (k === "F8") { e.preventDefault(); openVoid(); return; }
    if (k === "F9") { e.preventDefault(); openCamera(); return; }
    if (/^[1-9]$/.test(k) && !e.ctrlKey && !e.metaKey) {
      // Digits start card numbers too: without Alt they choose a set only while a price is shown.
      if (e.altKey || (inScan && !scan.value && pending())) {
        e.preventDefault();
        chooseSet(k);
      }
      return;
    }
    if (k === "Enter" && inScan) {
      e.preventDefault();
      var text = scan.value.trim();
      if (text) previewCard(text);
      else submitPending(pending());
    }
  });

  setPayment("balance");
  scan.focus();
})();
