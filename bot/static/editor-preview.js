// The flow editor's preview chat: runs the draft (or a chosen version) on the server, one turn
// at a time, and shows after each bot turn which rule matched and the state reached. The
// conversation's session lives only in this page (sent back with each turn); nothing is stored.
(function () {
  "use strict";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function setup(root) {
    var api = root.dataset.api;
    var words = JSON.parse(root.dataset.words || "{}");
    var version = root.querySelector(".preview-version");
    var locale = root.querySelector(".preview-locale");
    var stateSel = root.querySelector(".preview-state");
    var log = root.querySelector(".preview-log");
    var errors = root.querySelector(".preview-errors");
    var form = root.querySelector(".preview-send");
    var input = root.querySelector(".preview-text");
    var session = null;
    var current = "";
    var busy = false;
    // A restart (another state, language or version chosen) supersedes a turn still on its way:
    // its answer, when it comes, belongs to a conversation that is no longer shown.
    var epoch = 0;

    function csrf() { return document.body.dataset.csrf || ""; }

    function showError(text) {
      errors.textContent = text || "";
      errors.classList.toggle("hidden", !text);
    }

    function loadOptions(keepState) {
      return fetch(api + "/options?version=" + encodeURIComponent(version.value), {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (data) {
          var chosen = version.value;
          version.textContent = "";
          var draft = el("option", "", words.the_draft); draft.value = "draft"; version.appendChild(draft);
          (data.versions || []).forEach(function (v) {
            var o = el("option", "", words.version.replace("{id}", v.id) + (v.status === "published" ? " (" + words.published + ")" : "") + (v.note ? " – " + v.note : ""));
            o.value = String(v.id);
            version.appendChild(o);
          });
          version.value = chosen;
          var wanted = keepState || stateSel.value;
          stateSel.textContent = "";
          var start = el("option", "", words.from_start); start.value = ""; stateSel.appendChild(start);
          (data.states || []).forEach(function (s) {
            var o = el("option", "", s.id + (s.title ? " – " + s.title : "")); o.value = s.id; stateSel.appendChild(o);
          });
          if (wanted && (data.states || []).some(function (s) { return s.id === wanted; })) stateSel.value = wanted;
          if (data.broken) {
            showError(words.broken + " " + (data.errors || []).map(function (i) { return i.where + " " + i.text; }).join(" / "));
          } else {
            showError("");
          }
        });
    }

    function ruleText(t) {
      var kind = words["rule_" + t.kind] || t.kind;
      var out = kind + " · " + t.matched;
      if (t.because && t.because.length) out += " · " + words.decided_by + ": " + t.because.join(", ");
      if (t.negated && t.negated.length) out += " · " + words.negated + ": " + t.negated.join(", ");
      return out;
    }

    function showTurn(t) {
      (t.replies || []).forEach(function (r, i) {
        var li = el("li", "bubble bot");
        if (r.text) li.appendChild(el("p", "", r.text));
        (r.links || []).forEach(function (l) { li.appendChild(el("span", "link", l.label)); });
        if (r.choices && r.choices.length) {
          var row = el("div", "choices");
          r.choices.forEach(function (c) {
            var b = el("button", "choice", c.label);
            b.type = "button";
            b.dataset.choice = c.id;
            b.addEventListener("click", function () { turn({kind: "tap", choice: c.id, from_state: current}, c.label); });
            row.appendChild(b);
          });
          li.appendChild(row);
        }
        if (li.childNodes.length) log.appendChild(li);
      });
      var rule = el("li", "rule", ruleText(t));
      rule.dataset.matched = t.matched;
      rule.dataset.kind = t.kind;
      rule.dataset.state = t.state;
      var reached = el("span", "reached", " → " + words.reached + ": " + t.state + (t.tags && t.tags.length ? " [" + t.tags.join(", ") + "]" : ""));
      rule.appendChild(reached);
      log.appendChild(rule);
      log.scrollTop = log.scrollHeight;
    }

    function turn(payload, shown) {
      if (busy) return Promise.resolve();
      busy = true;
      var mine = epoch;
      payload.version = version.value;
      payload.locale = locale.value;
      if (session) payload.session = session;
      else if (stateSel.value && payload.kind !== "enter") payload.state = stateSel.value;
      if (shown) log.appendChild(el("li", "bubble you", shown));
      return fetch(api + "/turn", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf()},
        body: JSON.stringify(payload)
      }).then(function (r) {
        return r.json().then(function (data) { return {ok: r.ok, data: data}; });
      }).then(function (res) {
        if (mine !== epoch) return;
        if (!res.ok) { showError(words.failed + " (" + (res.data.error || "") + ")"); return; }
        showError("");
        session = res.data.session;
        current = res.data.state;
        showTurn(res.data);
      }).catch(function () { if (mine === epoch) showError(words.failed); })
        .then(function () { if (mine === epoch) busy = false; });
    }

    function restart() {
      epoch += 1;
      busy = false;
      session = null;
      current = "";
      log.textContent = "";
      if (stateSel.value) {
        log.appendChild(el("li", "note", words.standing.replace("{state}", stateSel.value)));
        return turn({kind: "enter", state: stateSel.value});
      }
      return turn({kind: "start"});
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var text = input.value.trim();
      if (!text) return;
      input.value = "";
      turn({kind: "text", text: text}, text);
    });
    root.querySelector(".preview-restart").addEventListener("click", restart);
    stateSel.addEventListener("change", restart);
    locale.addEventListener("change", restart);
    version.addEventListener("change", function () { loadOptions().then(restart); });
    loadOptions(root.dataset.startState).then(restart);
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll(".editor-preview"), setup);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
