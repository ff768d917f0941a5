// The web chat. Keeps the chat id and the bubbles in sessionStorage only (gone with the tab),
// sets no cookie, and shows every text with textContent, never as HTML.
(function () {
  "use strict";
  var body = document.body;
  var lang = body.getAttribute("data-lang");
  var exitUrl = body.getAttribute("data-exit");
  var log = document.getElementById("log");
  var statusLine = document.getElementById("status");
  var form = document.getElementById("composer");
  var input = document.getElementById("message");
  var store = window.sessionStorage;
  var chatId = store.getItem("chat.id");
  var seq = parseInt(store.getItem("chat.seq") || "0", 10);
  var history = JSON.parse(store.getItem("chat.log") || "[]");
  var streamAbort = null;
  var leaving = false;
  var active = null;  // the buttons on screen: {choices, state}

  // Tell the console the person may have left (or is back). keepalive: it is sent even as the
  // page goes away. Only the chat id and a code travel.
  function signal(reason) {
    if (!chatId) { return; }
    try {
      fetch("/chat/api/left", {
        method: "POST", credentials: "omit", cache: "no-store", keepalive: true,
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ id: chatId, reason: reason })
      }).catch(function () {});
    } catch (e) { /* nothing to tell */ }
  }

  function quickExit() {
    signal("quick_exit");
    leaving = true;
    try { store.clear(); } catch (e) { /* nothing to clear */ }
    if (streamAbort) { streamAbort.abort(); }
    log.textContent = "";
    window.location.replace(exitUrl);
  }
  document.getElementById("quick-exit").addEventListener("click", quickExit);
  // Esc twice in a row leaves. Japanese input uses Esc to cancel a conversion: an Esc while
  // composing (isComposing, or keyCode 229 in older engines) never counts, and breaks a pair.
  var ESC_PAIR_MS = 1000;
  var lastEsc = 0;
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape" && ev.keyCode !== 27 && ev.keyCode !== 229) { lastEsc = 0; return; }
    if (ev.isComposing || ev.keyCode === 229) { lastEsc = 0; return; }
    var now = Date.now();
    if (lastEsc && now - lastEsc <= ESC_PAIR_MS) { quickExit(); return; }
    lastEsc = now;
  });

  function save() {
    if (leaving) { return; }
    store.setItem("chat.log", JSON.stringify(history.slice(-200)));
    store.setItem("chat.seq", String(seq));
  }

  function newId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function safeLink(url) { return /^(tel:[0-9+*#%]+|https:\/\/[^\s"'<>]+)$/.test(url); }

  function clearChoices() {
    Array.prototype.forEach.call(document.querySelectorAll(".choices"), function (el) { el.remove(); });
  }

  function bubble(item, live) {
    var li = document.createElement("li");
    li.className = "bubble " + item.who;
    if (item.who !== "you") {
      var who = document.createElement("span");
      who.className = "who";
      who.textContent = body.getAttribute("data-" + (item.who === "counsellor" ? "counsellor" : "bot"));
      li.appendChild(who);
    }
    if (item.text) {
      var p = document.createElement("p");
      p.textContent = item.text;
      li.appendChild(p);
    }
    (item.links || []).forEach(function (link) {
      if (!safeLink(link[1])) { return; }
      var a = document.createElement("a");
      a.className = "link";
      a.href = link[1];
      a.rel = "noreferrer noopener";
      if (link[1].indexOf("https:") === 0) { a.target = "_blank"; }
      a.textContent = link[0] + (link[3] ? " (" + link[3] + ")" : "");
      li.appendChild(a);
    });
    log.appendChild(li);
    var box = null;
    if (live && item.choices && item.choices.length) {
      box = document.createElement("li");
      box.className = "choices";
      item.choices.forEach(function (choice) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = "choice";
        b.textContent = choice[1];
        b.addEventListener("click", function () { tap(choice[0], choice[1], item.state); });
        box.appendChild(b);
      });
      log.appendChild(box);
      active = { choices: item.choices, state: item.state };
    }
    // The newest buttons (else the newest bubble) end at the bottom of the log, above the
    // composer: on a phone they are on screen after every turn without scrolling.
    (box || li).scrollIntoView({ block: "end" });
  }

  function remember(item) { history.push(item); save(); }

  function post(path, payload) {
    return fetch(path, {
      method: "POST", credentials: "omit", cache: "no-store",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload)
    });
  }

  function showStatus(text) { statusLine.textContent = text || ""; }

  function receive(message) {
    seq = message.seq;
    var who = message.kind === "counsellor" ? "counsellor" : "bot";
    // "Still waiting" comes with no buttons of its own: the ones the person had (back to the
    // bot, end) move under it rather than vanish.
    var keep = message.kind === "waiting" && active ? active : null;
    clearChoices();
    active = null;
    message.replies.forEach(function (r, i) {
      var isLast = i === message.replies.length - 1;
      var choices = isLast && keep && !(r.choices && r.choices.length) ? keep.choices : r.choices;
      var state = choices === r.choices ? message.state : keep.state;
      var item = { who: who, text: r.text, links: r.links, choices: choices, state: state };
      remember({ who: who, text: r.text, links: r.links, choices: isLast ? choices : [], state: state });
      bubble(item, true);
    });
    save();
  }

  function stream() {
    if (leaving || !chatId) { return; }
    streamAbort = new AbortController();
    fetch("/chat/api/stream", {
      method: "POST", credentials: "omit", cache: "no-store", signal: streamAbort.signal,
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ id: chatId, after: seq })
    }).then(function (response) {
      if (response.status === 400) { restart(); return; }
      if (!response.ok || !response.body) { throw new Error("stream " + response.status); }
      showStatus("");
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) { throw new Error("closed"); }
          buffer += decoder.decode(chunk.value, { stream: true });
          var parts = buffer.split("\n\n");
          buffer = parts.pop();
          parts.forEach(function (part) {
            if (part.indexOf("data: ") === 0) { receive(JSON.parse(part.slice(6))); }
          });
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      if (leaving) { return; }
      showStatus(body.getAttribute("data-reconnecting"));
      setTimeout(stream, 2000);
    });
  }

  function send(payload, echo) {
    payload.id = chatId;
    payload.event_id = newId();
    payload.lang = lang;
    if (echo) { var item = { who: "you", text: echo }; remember(item); bubble(item, false); }
    clearChoices();
    return post("/chat/api/send", payload).then(function (r) {
      if (r.status === 400 && chatId === payload.id) {
        // An id the server does not recognise (issued before a key change): a new chat.
        showStatus(body.getAttribute("data-failed"));
        restart();
        return;
      }
      if (r.status === 503) {
        return r.json().then(function (data) { bubble({ who: "bot", text: data.safety }, false); });
      }
      if (!r.ok) { showStatus(body.getAttribute("data-failed")); }
    }).catch(function () { showStatus(body.getAttribute("data-failed")); });
  }

  function tap(choiceId, label, state) { send({ choice: choiceId, from_state: state || null }, label); }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text || !chatId) { return; }
    input.value = "";
    send({ text: text }, text);
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); form.requestSubmit(); }
  });

  function start() {
    post("/chat/api/start", { lang: lang }).then(function (r) { return r.json(); }).then(function (data) {
      if (data.safety) { bubble({ who: "bot", text: data.safety }, false); return; }
      chatId = data.id;
      store.setItem("chat.id", chatId);
      stream();
    }).catch(function () { showStatus(body.getAttribute("data-failed")); });
  }

  function restart() {
    if (leaving) { return; }
    if (streamAbort) { streamAbort.abort(); }
    chatId = null;
    seq = 0;
    store.removeItem("chat.id");
    save();
    start();
  }

  window.addEventListener("pagehide", function () { if (!leaving) { signal("page_hide"); } });

  history.forEach(function (item, i) { bubble(item, i === history.length - 1); });
  if (chatId) {
    signal("back");  // a reload, or back from another page: not gone after all
    stream();
  } else {
    start();
  }
})();
