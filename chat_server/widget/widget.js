/*
 * SDR Agent Desk visitor chat widget. Embed with one tag:
 *   <script src="https://CHAT-SERVER/widget.js" async></script>
 * Plain JS, no build step. Renders inside a shadow root (the host page's CSS can't break it, ours can't
 * leak out). Everything from the network is rendered with textContent: never innerHTML with data.
 * Wire protocol sdr.v1 (docs/protocol.md): visitor_hello / visitor_message / page_view / visitor_typing /
 * book_slot / dismiss_engage; the server answers ack/error by ref and pushes events (message_created) and
 * typing frames. A rep's message while the chat is closed pops up over the launcher (a proactive chat, or a
 * reply): clicking it opens the chat, its x dismisses it (dismiss_engage: a proactive chat is then closed).
 */
(function () {
  "use strict";
  if (window.__sdrWidgetLoaded) return;
  window.__sdrWidgetLoaded = true;

  var script = document.currentScript || (function () {
    var all = document.querySelectorAll("script[src*='widget.js']");
    return all[all.length - 1];
  })();
  var BASE = new URL(script && script.src ? script.src : "/widget.js", location.href);
  var ORIGIN = BASE.origin;
  var WS_URL = (BASE.protocol === "https:" ? "wss://" : "ws://") + BASE.host + "/visitor";
  var TOKEN_KEY = "sdrWidget.token:" + BASE.host;
  var OPEN_KEY = "sdrWidget.open:" + BASE.host;
  var FATAL = { 4001: 1, 4003: 1, 4004: 1 };

  // ------------------------------------------------------------------ tiny DOM helpers (text only)
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function svg(pathD, size) {
    var ns = "http://www.w3.org/2000/svg";
    var s = document.createElementNS(ns, "svg");
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("width", size || 24);
    s.setAttribute("height", size || 24);
    s.setAttribute("aria-hidden", "true");
    var p = document.createElementNS(ns, "path");
    p.setAttribute("d", pathD);
    p.setAttribute("fill", "currentColor");
    s.appendChild(p);
    return s;
  }
  var ICON_CHAT = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z";
  var ICON_CLOSE = "M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z";
  var ICON_SEND = "M3 20.5 21 12 3 3.5v6.6L15 12 3 13.9z";
  var ICON_CLOCK = "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm0 18a8 8 0 1 1 0-16 8 8 0 0 1 0 16zm.5-13H11v6l5.2 3.1.8-1.3-4.5-2.7z";
  var ICON_CHECK = "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm-2 15-5-5 1.4-1.4 3.6 3.6 7.6-7.6L19 8z";
  var ICON_CAL = "M19 4h-1V2h-2v2H8V2H6v2H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2V6a2 2 0 0 0-2-2zm0 16H5V10h14zm0-12H5V6h14z";
  function withIcon(cls, pathD, text) {
    var node = el("div", cls + " sdr-with-icon");
    node.appendChild(svg(pathD, 16));
    node.appendChild(el("span", "", text));
    return node;
  }

  var seq = 0;
  function newId(prefix) {
    seq += 1;
    var rnd = Math.random().toString(36).slice(2, 10);
    return (prefix || "w") + Date.now().toString(36) + rnd + seq;
  }
  function storageGet(key) { try { return localStorage.getItem(key) || ""; } catch (e) { return ""; } }
  function storageSet(key, value) { try { localStorage.setItem(key, value); } catch (e) { /* private mode */ } }

  function utm() {
    var out = {};
    try {
      new URLSearchParams(location.search).forEach(function (v, k) {
        if (k.indexOf("utm_") === 0) out[k] = v.slice(0, 200);
      });
    } catch (e) { /* old browser */ }
    return out;
  }
  var visitorZone = (function () {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
  })();

  // ------------------------------------------------------------------ layout
  var host = el("div");
  host.id = "sdr-chat-widget";
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  var css = el("link");
  css.rel = "stylesheet";
  css.href = ORIGIN + "/widget.css";
  root.appendChild(css);

  var wrap = el("div", "sdr-wrap");
  var panel = el("section", "sdr-panel");
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", "Chat with us");
  panel.hidden = true;

  var header = el("header", "sdr-header");
  var avatar = el("div", "sdr-avatar");
  avatar.appendChild(svg(ICON_CHAT, 20));
  var heading = el("div", "sdr-heading");
  var title = el("div", "sdr-title", "Chat with Sales");
  var status = el("div", "sdr-status", "Connecting…");
  heading.appendChild(title);
  heading.appendChild(status);
  var closeBtn = el("button", "sdr-icon-btn sdr-close");
  closeBtn.type = "button";
  closeBtn.setAttribute("aria-label", "Close chat");
  closeBtn.appendChild(svg(ICON_CLOSE, 20));
  header.appendChild(avatar);
  header.appendChild(heading);
  header.appendChild(closeBtn);

  var log = el("div", "sdr-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  var prompt = el("div", "sdr-msg sdr-from-bot sdr-prompt");
  var promptBubble = el("div", "sdr-bubble", "Hi there! 👋 How can we help?");
  prompt.appendChild(promptBubble);
  log.appendChild(prompt);

  var typing = el("div", "sdr-typing");
  typing.hidden = true;
  var typingDots = el("span", "sdr-dots");
  typingDots.appendChild(el("i"));
  typingDots.appendChild(el("i"));
  typingDots.appendChild(el("i"));
  var typingText = el("span", "sdr-typing-text", "");
  typing.appendChild(typingDots);
  typing.appendChild(typingText);

  var form = el("form", "sdr-composer");
  var input = el("textarea", "sdr-input");
  input.rows = 1;
  input.placeholder = "Write a message…";
  input.setAttribute("aria-label", "Message");
  input.maxLength = 4000;
  var sendBtn = el("button", "sdr-send");
  sendBtn.type = "submit";
  sendBtn.setAttribute("aria-label", "Send");
  sendBtn.appendChild(svg(ICON_SEND, 20));
  form.appendChild(input);
  form.appendChild(sendBtn);

  var footer = el("div", "sdr-footer", "");
  panel.appendChild(header);
  panel.appendChild(log);
  panel.appendChild(typing);
  panel.appendChild(form);
  panel.appendChild(footer);

  var launcher = el("button", "sdr-launcher");
  launcher.type = "button";
  launcher.setAttribute("aria-label", "Open chat");
  launcher.appendChild(svg(ICON_CHAT, 28));
  var badge = el("span", "sdr-badge", "");
  badge.hidden = true;
  launcher.appendChild(badge);

  // the pop-up bubble: a rep's message while the chat is closed (plain text, like everything else)
  var peek = el("div", "sdr-peek");
  peek.hidden = true;
  peek.setAttribute("role", "status");
  var peekBody = el("button", "sdr-peek-body");
  peekBody.type = "button";
  var peekAuthor = el("div", "sdr-peek-author", "");
  var peekText = el("div", "sdr-peek-text", "");
  peekBody.appendChild(peekAuthor);
  peekBody.appendChild(peekText);
  var peekClose = el("button", "sdr-icon-btn sdr-peek-close");
  peekClose.type = "button";
  peekClose.setAttribute("aria-label", "Dismiss");
  peekClose.appendChild(svg(ICON_CLOSE, 16));
  peek.appendChild(peekBody);
  peek.appendChild(peekClose);

  wrap.appendChild(panel);
  wrap.appendChild(peek);
  wrap.appendChild(launcher);
  root.appendChild(wrap);

  function mount() { document.body.appendChild(host); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);

  // ------------------------------------------------------------------ state
  var ws = null;
  var token = storageGet(TOKEN_KEY);
  var visitor = null;
  var rendered = {}; // message id -> node
  var pendingSends = {}; // command id -> {node, text}
  var outbox = []; // frames to (re)send after reconnect
  var waiters = {}; // command id -> callback(frame)
  var attempt = 0;
  var connectedAt = 0;
  var stopped = false;
  var unread = 0;
  var typingTimer = null;
  var myTypingSent = 0;
  var myTypingIdle = null;
  var chatEmail = ""; // an email address the visitor wrote in the chat (prefills the booking card)
  var EMAIL_RE = /[^@\s<>()"',;:]+@[^@\s<>()"',;:]+\.[a-z]{2,}/i;

  function setOpen(open) {
    if (open) hidePeek();
    panel.hidden = !open;
    wrap.classList.toggle("sdr-open", open);
    launcher.setAttribute("aria-label", open ? "Close chat" : "Open chat");
    launcher.replaceChildren(svg(open ? ICON_CLOSE : ICON_CHAT, 28), badge);
    storageSet(OPEN_KEY, open ? "1" : "");
    if (open) {
      unread = 0;
      badge.hidden = true;
      setTimeout(function () { input.focus(); }, 0);
      scrollDown();
    }
  }
  launcher.addEventListener("click", function () { setOpen(panel.hidden); });
  peekBody.addEventListener("click", function () { setOpen(true); });
  peekClose.addEventListener("click", function () {
    hidePeek();
    // the server closes a proactive chat the visitor never answered (and ignores it otherwise)
    call({ type: "dismiss_engage", id: newId("d") }, function () { /* nothing to show */ });
  });

  function showPeek(m) {
    peekAuthor.textContent = m.author_name || "Sales team";
    peekText.textContent = m.text.length > 240 ? m.text.slice(0, 239) + "…" : m.text;
    peek.hidden = false;
  }
  function hidePeek() { peek.hidden = true; }
  closeBtn.addEventListener("click", function () { setOpen(false); });

  function scrollDown() { log.scrollTop = log.scrollHeight; }

  function fmtTime(seconds) {
    try {
      return new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" }).format(new Date(seconds * 1000));
    } catch (e) { return ""; }
  }

  // ------------------------------------------------------------------ rendering (textContent only)
  // ``live``: it arrived now (not in the welcome's transcript), so it may pop up
  function renderMessage(m, live) {
    if (m.private) return;
    var existing = rendered[m.id];
    if (existing) return;
    if (m.client_id && pendingSends[m.client_id]) {
      var pending = pendingSends[m.client_id];
      delete pendingSends[m.client_id];
      pending.node.classList.remove("sdr-pending");
      pending.node.dataset.id = m.id;
      rendered[m.id] = pending.node;
      return;
    }
    var kind = m.author_kind;
    var row = el("div", "sdr-msg sdr-from-" + kind);
    row.dataset.id = m.id;
    if (kind === "agent" || kind === "bot") {
      row.appendChild(el("div", "sdr-author", m.author_name || (kind === "bot" ? "Assistant" : "Sales team")));
    }
    var bubble = el("div", "sdr-bubble", m.text);
    row.appendChild(bubble);
    if (m.card && m.card.slots && m.card.slots.length) row.appendChild(renderCard(m.card));
    if (kind !== "system") row.appendChild(el("div", "sdr-meta", fmtTime(m.created_at)));
    rendered[m.id] = row;
    log.appendChild(row);
    var hasCard = row.querySelector(".sdr-card") !== null;
    if (kind !== "visitor") {
      hideTyping();
      if (panel.hidden) {
        unread += 1;
        badge.textContent = String(unread);
        badge.hidden = false;
        if (live && kind === "agent") showPeek(m);
      }
    }
    if (hasCard) showTop(row); else scrollDown();
  }

  // a booking card is taller than the log: show its start (who, how long, the time zone), not its end
  function showTop(row) {
    var target = row.querySelector(".sdr-card") || row;
    var offset = target.getBoundingClientRect().top - log.getBoundingClientRect().top;
    log.scrollTop = Math.max(0, log.scrollTop + offset - 8);
  }

  function renderCard(card) {
    var box = el("div", "sdr-card");
    box.dataset.agent = String(card.agent_id);
    var mins = card.duration_minutes || 30;
    box.appendChild(el("div", "sdr-card-title", "Book a " + mins + "-minute call with " + card.agent_name));
    if (card.description) box.appendChild(el("div", "sdr-card-desc", card.description));
    box.appendChild(withIcon("sdr-card-zone", ICON_CLOCK, zoneLabel(new Date(card.slots[0].start * 1000))));
    var dayFmt, timeFmt;
    try {
      dayFmt = new Intl.DateTimeFormat(undefined, { weekday: "short", month: "short", day: "numeric" });
      timeFmt = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
    } catch (e) {
      dayFmt = { format: function (d) { return d.toDateString(); } };
      timeFmt = { format: function (d) { return d.toTimeString().slice(0, 5); } };
    }
    var emailRow = null;
    var emailInput = null;
    if (!visitor || !visitor.email) {
      emailRow = el("label", "sdr-card-email");
      emailRow.appendChild(el("span", "", "Your email for the invite"));
      emailInput = el("input");
      emailInput.type = "email";
      emailInput.placeholder = "you@company.com";
      emailInput.autocomplete = "email";
      emailInput.maxLength = 200;
      emailInput.value = chatEmail; // the address the visitor already typed in the chat, if any
      emailRow.appendChild(emailInput);
      box.appendChild(emailRow);
    }
    var days = el("div", "sdr-days");
    var lastDay = "";
    var group = null;
    card.slots.forEach(function (slot) {
      var start = new Date(slot.start * 1000);
      var day = dayFmt.format(start);
      if (day !== lastDay) {
        lastDay = day;
        var dayBox = el("div", "sdr-day");
        dayBox.appendChild(el("div", "sdr-day-name", day));
        group = el("div", "sdr-slots");
        dayBox.appendChild(group);
        days.appendChild(dayBox);
      }
      var btn = el("button", "sdr-slot", timeFmt.format(start));
      var abbr = zoneAbbr(start);
      btn.type = "button";
      btn.dataset.start = String(slot.start);
      btn.setAttribute("aria-label", "Book " + day + " at " + timeFmt.format(start) + (abbr ? " " + abbr : ""));
      btn.title = "Book " + day + ", " + timeFmt.format(start) + (abbr ? " " + abbr : "");
      btn.addEventListener("click", function () { book(card, slot, box, btn, emailInput); });
      group.appendChild(btn);
    });
    var note = el("div", "sdr-card-note", ""); // above the slots, where the visitor is looking
    note.setAttribute("role", "status");
    box.appendChild(note);
    box.appendChild(days);
    return box;
  }

  function say(note, text) {
    note.textContent = text;
    if (text && note.scrollIntoView) note.scrollIntoView({ block: "nearest" });
  }

  function book(card, slot, box, btn, emailInput) {
    var note = box.querySelector(".sdr-card-note");
    var email = emailInput ? emailInput.value.trim() : "";
    if (emailInput && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
      say(note, "Please enter your email so we can send the invite.");
      emailInput.focus();
      return;
    }
    var buttons = box.querySelectorAll(".sdr-slot");
    buttons.forEach(function (b) { b.disabled = true; });
    btn.classList.add("sdr-busy");
    note.textContent = "Booking…";
    var frame = { type: "book_slot", id: newId("b"), agent_id: card.agent_id, start: slot.start };
    if (email) frame.email = email;
    if (visitor && visitor.name) frame.name = visitor.name;
    call(frame, function (reply) {
      btn.classList.remove("sdr-busy");
      if (reply.type === "ack" && reply.result && reply.result.meeting) {
        showBooked(box, reply.result.meeting, card);
      } else {
        buttons.forEach(function (b) { if (!b.classList.contains("sdr-taken")) b.disabled = false; });
        if (reply.code === "conflict" || reply.code === "invalid") {
          // gone: strike it out here and in every other card for the same calendar, keep the rest
          markTaken(card.agent_id, slot.start);
          var left = box.querySelectorAll(".sdr-slot:not(.sdr-taken)").length;
          say(note, left
            ? "That time was just taken — pick another."
            : "That time was just taken, and there are no other open times. Leave your email in the chat and we'll reach out.");
        } else {
          say(note, String(reply.message || "Booking failed — please try again."));
        }
      }
    });
  }

  function markTaken(agentId, start) {
    log.querySelectorAll(".sdr-card").forEach(function (c) {
      if (c.dataset.agent !== agentId) return;
      c.querySelectorAll(".sdr-slot").forEach(function (b) {
        if (Number(b.dataset.start) !== start) return;
        b.disabled = true;
        b.classList.add("sdr-taken");
        b.title = "No longer available";
        b.setAttribute("aria-label", (b.getAttribute("aria-label") || "") + " (taken)");
      });
    });
  }

  // "PST", "CET", or "GMT-3" where the browser knows no abbreviation: labels each time shown
  function zoneAbbr(date) {
    var name = "";
    try {
      var parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(date);
      parts.forEach(function (p) { if (p.type === "timeZoneName") name = p.value; });
    } catch (e) { /* old browser */ }
    return name;
  }

  function zoneLabel(date) {
    // "Times in your time zone: Central European Standard Time (Europe/Berlin)"
    var name = "";
    try {
      var parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "long" }).formatToParts(date);
      parts.forEach(function (p) { if (p.type === "timeZoneName") name = p.value; });
    } catch (e) { /* old browser */ }
    if (name && visitorZone) return "Times in your time zone: " + name + " (" + visitorZone + ")";
    if (name || visitorZone) return "Times in your time zone: " + (name || visitorZone);
    return "Times are in your time zone";
  }

  function showBooked(box, meeting, card) {
    box.replaceChildren();
    box.classList.add("sdr-booked");
    box.appendChild(withIcon("sdr-card-title", ICON_CHECK, "You're booked!"));
    var when = new Date(meeting.start * 1000);
    var day, time, zone;
    try {
      day = new Intl.DateTimeFormat(undefined, { weekday: "long", month: "long", day: "numeric" }).format(when);
      time = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" }).format(when) + " – " +
        new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" }).format(new Date(meeting.end * 1000));
      var abbr = zoneAbbr(when);
      if (abbr) time += " " + abbr; // "10:00 AM – 10:30 AM PST"
      zone = zoneLabel(when).replace("Times in your time zone: ", "");
    } catch (e) { day = when.toString(); time = ""; zone = ""; }
    box.appendChild(el("div", "sdr-booked-when", day));
    if (time) box.appendChild(el("div", "sdr-booked-time", time));
    if (zone) box.appendChild(el("div", "sdr-card-zone", zone));
    var who = card && card.agent_name ? card.agent_name : "";
    var mins = Math.round((meeting.end - meeting.start) / 60);
    box.appendChild(el("div", "sdr-card-desc",
      mins + "-minute call" + (who ? " with " + who : "") + (meeting.visitor_email ? " · invite for " + meeting.visitor_email : "")));
    if (meeting.ics_url) {
      var url = new URL(meeting.ics_url, ORIGIN);
      if (url.protocol === "http:" || url.protocol === "https:") {
        var link = el("a", "sdr-ics sdr-with-icon");
        link.appendChild(svg(ICON_CAL, 16));
        link.appendChild(el("span", "", "Add to your calendar (.ics)"));
        link.href = url.href;
        link.rel = "noopener";
        link.download = "meeting.ics";
        box.appendChild(link);
      }
    }
  }

  function showTyping(name) {
    typingText.textContent = (name || "Someone") + " is typing…";
    typing.hidden = false;
    scrollDown();
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, 6000);
  }
  function hideTyping() {
    typing.hidden = true;
    clearTimeout(typingTimer);
  }

  function setStatus(text, cls) {
    status.textContent = text;
    status.className = "sdr-status" + (cls ? " " + cls : "");
  }

  // ------------------------------------------------------------------ connection
  function send(frame) {
    if (ws && ws.readyState === 1) {
      ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function call(frame, callback) {
    waiters[frame.id] = callback;
    if (!send(frame)) outbox.push(frame);
  }

  function connect() {
    if (stopped) return;
    setStatus(attempt ? "Reconnecting…" : "Connecting…", "sdr-off");
    try {
      ws = new WebSocket(WS_URL, "sdr.v1");
    } catch (e) {
      scheduleReconnect();
      return;
    }
    var helloId = newId("h");
    ws.onopen = function () {
      connectedAt = Date.now();
      ws.send(JSON.stringify({
        type: "visitor_hello", id: helloId, version: 1, visitor_token: token,
        page_url: location.href, page_title: document.title, referrer: document.referrer,
        utm: utm(), timezone: visitorZone,
      }));
    };
    ws.onmessage = function (ev) {
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      handle(frame, helloId);
    };
    ws.onclose = function (ev) {
      ws = null;
      hideTyping();
      if (FATAL[ev.code]) {
        stopped = true;
        setStatus("Chat unavailable", "sdr-off");
        return;
      }
      if (Date.now() - connectedAt > 10000) attempt = 0; // a connection that lived resets the backoff
      scheduleReconnect();
    };
    ws.onerror = function () { /* onclose follows */ };
  }

  function scheduleReconnect() {
    attempt += 1;
    var cap = Math.min(30000, 500 * Math.pow(2, attempt));
    var delay = 300 + Math.random() * cap; // full jitter
    setStatus("Reconnecting…", "sdr-off");
    setTimeout(connect, delay);
  }

  function handle(frame, helloId) {
    switch (frame.type) {
      case "visitor_welcome":
        if (frame.ref !== helloId) return;
        token = frame.visitor_token;
        storageSet(TOKEN_KEY, token);
        visitor = frame.visitor;
        setStatus("We typically reply in under a minute", "sdr-on");
        (frame.messages || []).forEach(function (m) { renderMessage(m, false); });
        // a rep's proactive chat the visitor has not answered yet pops up again on the next page
        var msgs = frame.messages || [];
        var open = frame.conversation && frame.conversation.status !== "closed";
        var answered = msgs.some(function (m) { return m.author_kind === "visitor"; });
        var lastAgent = msgs.filter(function (m) { return m.author_kind === "agent"; }).pop();
        if (open && !answered && lastAgent && panel.hidden) showPeek(lastAgent);
        var queued = outbox;
        outbox = [];
        queued.forEach(function (f) { send(f); });
        break;
      case "event":
        var e = frame.event || {};
        if (e.kind === "message_created" && e.message) renderMessage(e.message, true);
        else if (e.kind === "visitor_updated" && e.visitor) visitor = e.visitor;
        else if (e.kind === "meeting_booked" && e.meeting) { /* shown by the card that booked it */ }
        break;
      case "typing":
        if (frame.author_kind === "agent") {
          // defaults are omitted on the wire: a missing "active" means true
          if (frame.active !== false) showTyping(frame.author_name); else hideTyping();
        }
        break;
      case "ack":
      case "error":
        var waiter = waiters[frame.ref];
        if (waiter) {
          delete waiters[frame.ref];
          waiter(frame);
        } else if (frame.type === "ack" && frame.result && frame.result.message) {
          renderMessage(frame.result.message);
        }
        if (frame.type === "ack" && frame.result && frame.result.visitor) visitor = frame.result.visitor;
        break;
      default:
        break;
    }
  }

  // ------------------------------------------------------------------ composer
  function sendMessage(text) {
    var found = EMAIL_RE.exec(text);
    if (found) chatEmail = found[0];
    var id = newId("m");
    var row = el("div", "sdr-msg sdr-from-visitor sdr-pending");
    row.appendChild(el("div", "sdr-bubble", text));
    log.appendChild(row);
    pendingSends[id] = { node: row, text: text };
    scrollDown();
    call({ type: "visitor_message", id: id, text: text }, function (reply) {
      if (reply.type === "ack" && reply.result && reply.result.message) {
        renderMessage(reply.result.message);
      } else if (reply.type === "error") {
        row.classList.add("sdr-failed");
        row.appendChild(el("div", "sdr-meta", reply.message || "Not sent"));
        delete pendingSends[id];
      }
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    autosize();
    typingDone();
    sendMessage(text);
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  });
  function autosize() {
    input.style.height = "auto";
    input.style.height = Math.min(120, input.scrollHeight) + "px";
  }
  input.addEventListener("input", function () {
    autosize();
    var now = Date.now();
    if (input.value.trim() && now - myTypingSent > 1500) {
      myTypingSent = now;
      send({ type: "visitor_typing", id: newId("t"), active: true, preview: input.value.slice(0, 500) });
    }
    clearTimeout(myTypingIdle);
    myTypingIdle = setTimeout(typingDone, 4000);
  });
  function typingDone() {
    clearTimeout(myTypingIdle);
    if (myTypingSent) {
      myTypingSent = 0;
      send({ type: "visitor_typing", id: newId("t"), active: false });
    }
  }

  // ------------------------------------------------------------------ page views (single-page apps too)
  var lastUrl = location.href;
  function pageChanged() {
    if (location.href === lastUrl) return;
    lastUrl = location.href;
    var frame = { type: "page_view", id: newId("p"), url: location.href, title: document.title };
    if (!send(frame)) outbox.push(frame);
  }
  ["pushState", "replaceState"].forEach(function (name) {
    var original = history[name];
    if (typeof original !== "function") return;
    history[name] = function () {
      var result = original.apply(this, arguments);
      setTimeout(pageChanged, 0);
      return result;
    };
  });
  window.addEventListener("popstate", pageChanged);
  window.addEventListener("hashchange", pageChanged);

  // ------------------------------------------------------------------ config, then connect
  fetch(ORIGIN + "/widget/config.json?page=" + encodeURIComponent(location.href), { credentials: "omit" })
    .then(function (r) { return r.ok ? r.json() : {}; })
    .then(function (cfg) {
      if (cfg.title) title.textContent = cfg.title;
      if (cfg.prompt) promptBubble.textContent = cfg.prompt;
      if (cfg.footer) footer.textContent = cfg.footer;
      if (cfg.color && /^#[0-9a-fA-F]{3,8}$/.test(cfg.color)) wrap.style.setProperty("--sdr-accent", cfg.color);
    })
    .catch(function () { /* defaults are fine */ });

  window.SdrChatWidget = {
    open: function () { setOpen(true); },
    close: function () { setOpen(false); },
    reset: function () { storageSet(TOKEN_KEY, ""); },
  };
  if (storageGet(OPEN_KEY)) setOpen(true);
  connect();
})();
