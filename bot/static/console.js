// The counsellors' console: live updates by server-sent events. Every text from a person is
// inserted with textContent, never as HTML.
(function () {
  "use strict";
  var body = document.body;
  // Once a form is sent or the page is left, a live update must not reload over the navigation.
  var navigating = false;
  window.addEventListener("beforeunload", function () { navigating = true; });
  document.addEventListener("submit", function (ev) {
    if (ev.target.id !== "reply-form") { navigating = true; }
  });
  var labels = {};

  // The screen's own updates say so (X-Console-Live): they do not keep an idle login alive.
  // When the login has ended (401), the screen goes to the login page.
  function live(url, accept) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": accept, "X-Console-Live": "1" } })
      .then(function (r) {
        if (r.status === 401 && !navigating) { navigating = true; window.location.assign("/console/login"); }
        return r;
      });
  }

  function get(url) { return live(url, "application/json"); }

  // Ticked conversations stay ticked when the live list is redrawn.
  function ticked() {
    return Array.prototype.map.call(document.querySelectorAll("#queue input.pick:checked"),
                                    function (box) { return box.value; });
  }

  function wireQueue() {
    var all = document.getElementById("select-all");
    if (!all) { return; }
    all.addEventListener("change", function () {
      Array.prototype.forEach.call(document.querySelectorAll("#queue input.pick"),
                                   function (box) { box.checked = all.checked; });
    });
  }

  function refreshQueue() {
    live("/console/queue?fragment=1", "text/html")
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var keep = ticked();
        document.getElementById("queue").innerHTML = html;
        var boxes = document.querySelectorAll("#queue input.pick");
        Array.prototype.forEach.call(boxes, function (box) { box.checked = keep.indexOf(box.value) >= 0; });
        var all = document.getElementById("select-all");
        if (all) { all.checked = boxes.length > 0 && keep.length === boxes.length; }
        wireQueue();
      });
  }

  function lineElement(line) {
    var li = document.createElement("li");
    li.className = "line " + line.author;
    li.setAttribute("data-id", line.id);
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = labels[line.author] || line.author;
    var text = document.createElement("span");
    text.className = "text";
    text.textContent = line.text;
    var at = document.createElement("time");
    at.textContent = line.at;
    li.appendChild(who); li.appendChild(text); li.appendChild(at);
    return li;
  }

  function setupHandoff(section) {
    var id = section.getAttribute("data-handoff");
    var status = section.getAttribute("data-status");
    var mine = section.getAttribute("data-mine");
    var list = document.getElementById("lines");
    var supervisor = section.getAttribute("data-supervisor") || "0";
    ["person", "counsellor", "bot", "supervisor"].forEach(function (author) {
      labels[author] = section.getAttribute("data-label-" + author) || author;
    });
    var busy = false;

    function pull() {
      if (busy) { return; }
      busy = true;
      var last = section.getAttribute("data-last");
      get("/console/handoff/" + encodeURIComponent(id) + "/messages?after=" + encodeURIComponent(last))
        .then(function (r) {
          if (r.status === 404) { gone(); return null; }
          // No longer one's to read (handed on, taken over, taken by a colleague): the page says so.
          if (r.status === 403) { if (!navigating) { window.location.reload(); } return null; }
          return r.json();
        })
        .then(function (data) {
          if (!data) { return; }
          showLeft(data.left);
          data.lines.forEach(function (line) {
            list.appendChild(lineElement(line));
            section.setAttribute("data-last", line.id);
          });
          if (data.crisis) { document.getElementById("crisis-alert").classList.remove("hidden"); }
          var nowMine = data.mine ? "yes" : "no";
          // Taken, transferred, taken over, closed, or a supervisor joined: the page says so.
          var changedHands = data.status !== status || nowMine !== mine || String(data.supervisor || 0) !== supervisor;
          if (changedHands && !navigating) { window.location.reload(); }
          list.scrollTop = list.scrollHeight;
        })
        .catch(function () {})
        .then(function () { busy = false; });
    }

    // The person may have left (quick exit, the chat closed, silence): say so, offer closing.
    var leftAlert = document.getElementById("left-alert");
    function showLeft(reason) {
      leftAlert.classList.toggle("hidden", !reason);
      document.getElementById("left-why").textContent = reason ? (leftAlert.getAttribute("data-" + reason) || "") : "";
    }
    // Erased (LINE block or unfollow, "forget me"): nothing reaches the person any more.
    function gone() {
      document.getElementById("gone-alert").classList.remove("hidden");
      leftAlert.classList.add("hidden");
      Array.prototype.forEach.call(section.querySelectorAll("form"), function (f) { f.classList.add("hidden"); });
    }
    var offer = document.getElementById("offer-close");
    if (offer) {
      offer.addEventListener("click", function () {
        var outcome = document.getElementById("outcome");
        outcome.value = "person_left";
        outcome.dispatchEvent(new Event("change"));
        document.getElementById("close-form").scrollIntoView({ block: "center" });
        document.getElementById("close").focus();
      });
    }

    var canned = document.getElementById("canned");
    var textarea = document.getElementById("reply-text");
    if (canned && textarea) {
      canned.addEventListener("change", function () {
        if (canned.value) { textarea.value = textarea.value ? textarea.value + "\n" + canned.value : canned.value; }
        canned.value = "";
        textarea.focus();
      });
      wireReady(textarea, canned);
    }
    var form = document.getElementById("reply-form");
    if (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        if (!textarea.value.trim()) { return; }
        fetch(form.action, { method: "POST", credentials: "same-origin", body: new FormData(form),
                             headers: { "Accept": "application/json" } })
          .then(function (r) { if (r.ok) { textarea.value = ""; } pull(); });
      });
    }
    setInterval(pull, 30000);  // silence shows without any event
    return pull;
  }

  // Ready replies by keyboard: "/" and the start of a short name (the select's data-name) lists
  // the matches in the file's order; Enter, Tab or a click puts the text in place of "/name".
  function wireReady(textarea, select) {
    var list = document.getElementById("ready-list");
    if (!list) { return; }
    var items = [];
    Array.prototype.forEach.call(select.options, function (o) {
      if (o.value) { items.push({ name: o.getAttribute("data-name") || "", text: o.value }); }
    });
    var shown = [];
    var active = 0;
    function token() {  // the "/name" just before the caret (a full-width "／" from Japanese input too)
      var before = textarea.value.slice(0, textarea.selectionStart);
      var m = /(^|\s)[\/\uff0f]([^\s\/\uff0f]*)$/.exec(before);
      return m ? { start: before.length - m[2].length - 1, prefix: m[2].toLowerCase() } : null;
    }
    function hide() { list.classList.add("hidden"); shown = []; }
    function insert(item) {
      var tok = token();
      if (!tok) { hide(); return; }
      var end = textarea.selectionStart;
      textarea.value = textarea.value.slice(0, tok.start) + item.text + textarea.value.slice(end);
      var caret = tok.start + item.text.length;
      textarea.setSelectionRange(caret, caret);
      hide();
      textarea.focus();
    }
    function draw() {
      var tok = token();
      shown = tok ? items.filter(function (it) { return it.name.toLowerCase().indexOf(tok.prefix) === 0; }) : [];
      list.textContent = "";
      if (!shown.length) { hide(); return; }
      active = Math.min(active, shown.length - 1);
      shown.forEach(function (item, i) {
        var li = document.createElement("li");
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", i === active ? "true" : "false");
        li.className = "ready-item" + (i === active ? " active" : "");
        li.setAttribute("data-name", item.name);
        var name = document.createElement("strong");
        name.textContent = "/" + item.name;
        var text = document.createElement("span");
        text.textContent = item.text;
        li.appendChild(name);
        li.appendChild(text);
        // mousedown, not click: the textarea keeps its focus and caret
        li.addEventListener("mousedown", function (ev) { ev.preventDefault(); insert(item); });
        list.appendChild(li);
      });
      list.classList.remove("hidden");
    }
    textarea.addEventListener("input", function () { active = 0; draw(); });
    textarea.addEventListener("keydown", function (ev) {
      if (!shown.length || ev.isComposing) { return; }  // Enter confirms a Japanese conversion
      if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
        ev.preventDefault();
        active = (active + (ev.key === "ArrowDown" ? 1 : shown.length - 1)) % shown.length;
        draw();
      } else if (ev.key === "Enter" || ev.key === "Tab") {
        ev.preventDefault();
        insert(shown[active]);
      } else if (ev.key === "Escape") {
        ev.preventDefault();
        hide();
      }
    });
    textarea.addEventListener("blur", hide);
  }

  var onChange = null;
  var section = document.getElementById("handoff");
  if (document.getElementById("queue")) {
    wireQueue();
    onChange = function () { refreshQueue(); };
    setInterval(refreshQueue, 60000);  // "may have left" after silence comes without an event
  } else if (document.getElementById("supervise")) {
    // The supervisor's list of every conversation, redrawn on every change.
    var refreshSupervise = function () {
      live("/console/supervise?fragment=1", "text/html")
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html !== null) { document.getElementById("supervise").innerHTML = html; } });
    };
    onChange = refreshSupervise;
    setInterval(refreshSupervise, 60000);
  } else if (section) {
    var pull = setupHandoff(section);
    var id = section.getAttribute("data-handoff");
    onChange = function (msg) { if (!msg.id || msg.id === id) { pull(); } };
  }
  // The alert strip (console-alerts.js, on every page of a role that converses) hears every change.
  var alerts = window.consoleAlerts;
  if ((onChange || alerts) && window.EventSource) {
    var changed = function (msg) {
      if (onChange) { onChange(msg); }
      if (alerts) { alerts.refresh(); }
    };
    var connect = function () {
      var source = new EventSource("/console/events");
      source.onmessage = function (ev) {
        try { changed(JSON.parse(ev.data)); } catch (e) { /* ignore a bad message */ }
      };
      source.onopen = function () { changed({}); };
      // The browser gives up on a stream the server refuses (the login ended: logged out
      // elsewhere, account disabled, idle): ask once with this page's own address, which goes
      // to the login page on a 401, instead of leaving a conversation on screen. Anything else
      // (a restart): listen again a little later.
      source.onerror = function () {
        if (source.readyState !== EventSource.CLOSED || navigating) { return; }
        live(window.location.pathname + window.location.search, "text/html").then(function (r) {
          if (r.status !== 401) { setTimeout(connect, 5000); }
        }, function () { setTimeout(connect, 5000); });
      };
    };
    connect();
  }
})();
