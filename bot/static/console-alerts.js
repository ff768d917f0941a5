// The alert strip on every console page: who is waiting and for how long (counted here, from
// the server's timestamps), crisis first and marked, the count in the tab's title, a sound
// (made with WebAudio, mutable) and a browser notification for a new handoff or a message from
// someone waiting, and a distinct alert when a crisis arrives while this counsellor is in a
// conversation. Notifications say only that someone waits, never what they wrote.
// console.js calls window.consoleAlerts.refresh() on every live update.
(function () {
  "use strict";
  var strip = document.getElementById("alerts");
  if (!strip) { return; }
  var list = document.getElementById("alerts-list");
  var busyBanner = document.getElementById("alerts-busy");
  var soundButton = document.getElementById("alerts-sound");
  var baseTitle = document.title;
  var store = window.localStorage;
  var skew = 0;            // server clock minus this clock, in seconds
  var known = null;        // id -> {crisis, last}; null until the first snapshot (no alert for it)
  var crisisWhileBusy = {};  // crisis ids that arrived while busy, until taken or closed
  var audio = null;
  var busy = false;

  function text(name) { return strip.getAttribute("data-" + name) || ""; }
  function minutesText(n) { return text("minutes").replace("{n}", String(n)); }
  function muted() { return store.getItem("console.muted") === "1"; }

  // ---- sound and notifications ----------------------------------------------------------------

  function context() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) { return null; }
    if (!audio) { audio = new Ctx(); }
    if (audio.state === "suspended" && audio.resume) { audio.resume(); }
    return audio;
  }

  // A few short sine tones: two for a new handoff or message, a rising five for a crisis.
  function beep(crisis) {
    if (muted()) { return; }
    var ctx = context();
    if (!ctx) { return; }
    var notes = crisis ? [880, 1175, 880, 1175, 1568] : [660, 880];
    notes.forEach(function (freq, i) {
      var start = ctx.currentTime + i * 0.18;
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.25, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.15);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(start);
      osc.stop(start + 0.16);
    });
  }

  function notify(message, id, urgent) {
    if (!window.Notification || window.Notification.permission !== "granted") { return; }
    try {
      var n = new window.Notification(message, { tag: "console-" + id, requireInteraction: !!urgent });
      n.onclick = function () { window.focus(); window.location.assign("/console/handoff/" + encodeURIComponent(id)); };
    } catch (e) { /* some browsers allow notifications only from a service worker */ }
  }

  // Permission is asked once, on the first click (browsers want a gesture); so is the sound
  // (audio may start only after one).
  document.addEventListener("click", function first() {
    document.removeEventListener("click", first, true);
    context();
    if (window.Notification && window.Notification.permission === "default" && !store.getItem("console.notify-asked")) {
      store.setItem("console.notify-asked", "1");
      window.Notification.requestPermission();
    }
  }, true);

  function showSound() {
    if (!soundButton) { return; }
    soundButton.textContent = soundButton.getAttribute(muted() ? "data-off" : "data-on");
    soundButton.setAttribute("aria-pressed", muted() ? "false" : "true");
  }
  if (soundButton) {
    soundButton.addEventListener("click", function () {
      store.setItem("console.muted", muted() ? "0" : "1");
      showSound();
    });
    showSound();
  }

  // ---- the strip ------------------------------------------------------------------------------

  function minutesSince(since) {
    return Math.max(0, Math.floor((Date.now() / 1000 + skew - since) / 60));
  }

  // Every waiting time on the page counts up: the strip's and the queue's (data-since).
  function tick() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-since]"), function (el) {
      el.textContent = minutesText(minutesSince(parseFloat(el.getAttribute("data-since"))));
    });
  }

  function item(h) {
    var li = document.createElement("li");
    li.className = "alert-item" + (h.crisis ? " crisis" : "") + (crisisWhileBusy[h.id] ? " busy" : "") +
      (h.transfer_to_me ? " transfer" : "");
    li.setAttribute("data-handoff", h.id);
    var a = document.createElement("a");
    a.href = "/console/handoff/" + encodeURIComponent(h.id);
    if (h.crisis) {
      var flag = document.createElement("span");
      flag.className = "flag";
      flag.textContent = text("crisis");
      a.appendChild(flag);
    }
    if (h.transfer_from) {
      var moved = document.createElement("span");
      moved.className = "flag transfer";
      moved.textContent = text("transfer-flag").replace("{name}", h.transfer_from);
      a.appendChild(moved);
    }
    if (h.left_message) {
      var note = document.createElement("span");
      note.className = "flag note";
      note.textContent = text("left");
      a.appendChild(note);
    }
    var wait = document.createElement("span");
    wait.className = "since";
    wait.setAttribute("data-since", String(h.since));
    a.appendChild(wait);
    var meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = h.locale + " · " + h.channel;
    a.appendChild(meta);
    li.appendChild(a);
    return li;
  }

  function alertChanges(waiting) {
    var next = {};
    var sound = null;
    waiting.forEach(function (h) {
      next[h.id] = { crisis: h.crisis, last: h.last_person_at || 0 };
      if (known === null) { return; }
      var before = known[h.id];
      var newCrisis = h.crisis && (!before || !before.crisis);
      if (!before && h.transfer_to_me) {
        // A colleague handed this conversation to me: alerted like a new handoff, saying from whom.
        notify(text("transfer").replace("{name}", h.transfer_from), h.id, h.crisis);
        sound = h.crisis ? "crisis" : (sound || "new");
      } else if (newCrisis && busy) {
        crisisWhileBusy[h.id] = true;
        notify(text("busy"), h.id, true);
        sound = "crisis";
      } else if (!before) {
        notify(text(h.crisis ? "new-crisis" : "new"), h.id, h.crisis);
        sound = sound || (h.crisis ? "crisis" : "new");
      } else if (newCrisis) {
        notify(text("new-crisis"), h.id, true);
        sound = "crisis";
      } else if ((h.last_person_at || 0) > before.last) {
        notify(text("message"), h.id, false);
        sound = sound || "new";
      }
    });
    Object.keys(crisisWhileBusy).forEach(function (id) { if (!next[id]) { delete crisisWhileBusy[id]; } });
    known = next;
    if (sound) { beep(sound === "crisis"); }
  }

  function draw(waiting) {
    list.textContent = "";
    waiting.forEach(function (h) { list.appendChild(item(h)); });
    strip.classList.toggle("hidden", waiting.length === 0);
    var anyCrisis = waiting.some(function (h) { return h.crisis; });
    var busyCrisis = Object.keys(crisisWhileBusy).length > 0;
    strip.classList.toggle("has-crisis", anyCrisis);
    strip.classList.toggle("crisis-busy", busyCrisis);
    busyBanner.classList.toggle("hidden", !busyCrisis);
    document.title = waiting.length
      ? "(" + waiting.length + ") " + (anyCrisis ? text("crisis") + " · " : "") + baseTitle
      : baseTitle;
    tick();
  }

  var pending = false;
  var again = false;       // a change came while a snapshot was on its way: fetch once more
  function refresh() {
    if (pending) { again = true; return; }
    pending = true;
    again = false;
    fetch("/console/alerts", { credentials: "same-origin", headers: { "Accept": "application/json", "X-Console-Live": "1" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        skew = data.now - Date.now() / 1000;
        // Transfers to this counsellor not yet opened come first in the strip; then who waits.
        var transfers = (data.transfers || []).map(function (h) { h.transfer_to_me = true; return h; });
        busy = data.mine.filter(function (id) {
          return !transfers.some(function (h) { return h.id === id; });
        }).length > 0;
        var shown = transfers.concat(data.waiting);
        alertChanges(shown);
        draw(shown);
      })
      .catch(function () {})
      .then(function () { pending = false; if (again) { refresh(); } });
  }

  window.consoleAlerts = { refresh: refresh };
  setInterval(tick, 5000);
  refresh();
})();
