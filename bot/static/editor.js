// The conversation editor (/console/editor): edits sent as operations, checked as you type.
// Typing never waits for the server: each field saves after a pause (debounced), one request at
// a time per field, and the checker's issues are drawn on the card they concern.
(function () {
  "use strict";
  var dataNode = document.getElementById("editor-data");
  if (!dataNode) return;
  var data = JSON.parse(dataNode.textContent);
  var csrf = document.body.getAttribute("data-csrf") || "";
  var statusNode = document.getElementById("editor-status");
  var refusedNode = document.getElementById("editor-refused");
  var words = document.getElementById("severity-words").content.firstElementChild;
  var DEBOUNCE_MS = 600;
  var pending = 0;

  function say(key) {
    statusNode.textContent = statusNode.getAttribute("data-" + key) || "";
    statusNode.setAttribute("data-state", key);
  }

  function send(op) {
    op.draft = data.draft;
    pending += 1;
    say("saving");
    return fetch("/console/editor/edit", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(op)
    }).then(function (r) {
      return r.json().catch(function () { return {ok: false, refused: statusNode.getAttribute("data-failed")}; });
    }).then(function (answer) {
      pending -= 1;
      if (answer.stale) {
        say("stale");
        setTimeout(function () { location.reload(); }, 1500);
      } else if (answer.ok) {
        if (!pending) say("saved");
        showVerdict(answer);
      } else if (answer.refused) {
        statusNode.textContent = "";          // refused, not failed: the reason shows where it was asked
        statusNode.setAttribute("data-state", "refused");
      } else {
        say("failed");
      }
      return answer;
    }, function () {
      pending -= 1;
      say("failed");
      return {ok: false, refused: statusNode.getAttribute("data-failed")};
    });
  }

  function issueItem(issue) {
    var li = document.createElement("li");
    li.className = issue.severity;
    var b = document.createElement("b");
    b.textContent = (words.getAttribute("data-" + issue.severity) || issue.severity) + " " + issue.code;
    var where = document.createElement("span");
    where.className = "where";
    where.textContent = issue.where;
    li.appendChild(b);
    li.appendChild(document.createTextNode(" " + issue.text + " "));
    li.appendChild(where);
    return li;
  }

  function showVerdict(v) {
    var lists = document.querySelectorAll("[data-issues-for]");
    for (var i = 0; i < lists.length; i++) {
      var list = lists[i], state = list.getAttribute("data-issues-for");
      list.textContent = "";
      (v.issues[state] || []).forEach(function (issue) { list.appendChild(issueItem(issue)); });
      var card = list.closest(".card");
      if (card) card.classList.toggle("has-error", (v.issues[state] || []).some(function (x) { return x.severity === "error"; }));
    }
    // Issues about a state that has no card (a misspelt name in a file) go to the general list.
    var general = document.getElementById("issues-general");
    Object.keys(v.issues).forEach(function (state) {
      if (state && !document.querySelector('[data-issues-for="' + CSS.escape(state) + '"]')) {
        v.issues[state].forEach(function (issue) { general.appendChild(issueItem(issue)); });
      }
    });
    var button = document.getElementById("publish"), reason = document.getElementById("publish-reason");
    button.disabled = !v.publishable;
    if (!v.publishable) reason.textContent = reason.getAttribute("data-blocked").replace("{n}", v.errors);
    else if (v.warnings) reason.textContent = reason.getAttribute("data-warnings").replace("{n}", v.warnings);
    else reason.textContent = reason.getAttribute("data-clean");
  }

  function redraw() {
    sessionStorage.setItem("editor-scroll", String(window.scrollY));
    location.reload();
  }

  function refuse(node, answer) {
    var target = node || refusedNode;
    target.textContent = answer.refused || "";
    target.classList.toggle("hidden", !answer.refused);
  }

  // Text fields: saved after a pause in typing; the newest text wins.
  var timers = new WeakMap(), sending = new WeakMap();
  function fieldOp(el) {
    var op = {op: el.getAttribute("data-op"), state: el.getAttribute("data-state")};
    if (el.hasAttribute("data-index")) op.index = Number(el.getAttribute("data-index"));
    if (el.hasAttribute("data-choice")) op.choice = el.getAttribute("data-choice");
    if (el.hasAttribute("data-lang")) op.lang = el.getAttribute("data-lang");
    if (op.op === "set_choice_target") op.target = el.value.trim(); else op.text = el.value;
    return op;
  }
  function saveField(el) {
    if (sending.get(el)) { sending.set(el, "again"); return; }
    sending.set(el, true);
    send(fieldOp(el)).then(function (answer) {
      refuse(null, answer.ok ? {} : answer);
      var again = sending.get(el) === "again";
      sending.delete(el);
      if (again) saveField(el);
      else if (answer.ok && answer.redraw) redraw();
    });
  }
  document.addEventListener("input", function (e) {
    var el = e.target;
    if (!el.matches || !el.matches("[data-op]") || el.closest("form")) return;
    if (el.getAttribute("data-op") === "set_choice_target") return;  // chosen, not typed: on change
    clearTimeout(timers.get(el));
    timers.set(el, setTimeout(function () { saveField(el); }, DEBOUNCE_MS));
  });
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el.matches && el.matches('[data-op="set_choice_target"]') && el.value.trim()) saveField(el);
  });

  // Forms: add a state, add a button, rename, remove.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.matches(".op-form")) return;
    e.preventDefault();
    var op = {op: form.getAttribute("data-op")};
    if (form.hasAttribute("data-state")) op.state = form.getAttribute("data-state");
    new FormData(form).forEach(function (value, name) {
      var parts = name.split(".");
      if (parts.length === 2) { op[parts[0]] = op[parts[0]] || {}; op[parts[0]][parts[1]] = String(value); }
      else op[name] = String(value).trim();
    });
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    send(op).then(function (answer) {
      if (button) button.disabled = false;
      refuse(form.querySelector(".refused"), answer.ok ? {} : answer);
      if (answer.ok) redraw();
    });
  });

  // Buttons of a card: move up or down, remove.
  document.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target.closest("[data-move], [data-remove-choice]") : null;
    if (!el) return;
    var op = el.hasAttribute("data-move")
      ? {op: "move_choice", state: el.getAttribute("data-state"), choice: el.getAttribute("data-choice"), to: Number(el.getAttribute("data-move"))}
      : {op: "remove_choice", state: el.getAttribute("data-state"), choice: el.getAttribute("data-remove-choice")};
    send(op).then(function (answer) { refuse(null, answer.ok ? {} : answer); if (answer.ok) redraw(); });
  });

  // Find a card by its name or its texts.
  var search = document.getElementById("card-search");
  search.addEventListener("input", function () {
    var q = search.value.trim().toLowerCase();
    document.querySelectorAll(".part .card").forEach(function (card) {
      var hay = card.getAttribute("data-state").toLowerCase() + " " +
        Array.prototype.map.call(card.querySelectorAll("textarea, input[type=text]"), function (x) { return x.value; }).join(" ").toLowerCase();
      card.classList.toggle("hidden", q !== "" && hay.indexOf(q) < 0);
    });
  });

  // The publish button stays disabled while a change is still being saved.
  document.getElementById("publish-form").addEventListener("submit", function (e) {
    if (pending) e.preventDefault();
  });

  var y = sessionStorage.getItem("editor-scroll");
  if (y !== null) { sessionStorage.removeItem("editor-scroll"); window.scrollTo(0, Number(y)); }
  showVerdict(data.verdict);
})();
