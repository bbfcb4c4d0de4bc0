// The hpcbot chat page: a conversation with streamed replies (queued while one streams),
// a 7-day calendar of free GPUs to start a booking from, and the person's bookings.
// No dependencies, no build step, works offline. Every time is shown in the server's time
// zone (the one the assistant reads typed times in), named next to it.
"use strict";

const $ = (sel) => document.querySelector(sel);
const meta = (name) => (document.querySelector(`meta[name="${name}"]`) || {}).content || "";

// ---- Settings the server put into the page.
/** The server's time zone; UTC if the page was served without one or with an unknown one. */
const TZ = (() => {
  const z = meta("hpcbot-timezone");
  try { new Intl.DateTimeFormat("en-GB", { timeZone: z }); return z || "UTC"; } catch { return "UTC"; }
})();
const CURRENCY = meta("hpcbot-currency") || "USD";
/** API.md: a message is 1..=4000 characters after trimming. */
const MAX_CHARS = 4000;
/** A turn that has not finished by then is given up (the server's deadline is 30 s). */
const TURN_TIMEOUT_MS = 40000;
/** How often the page asks whether the server is back while it cannot reach it. */
const RECONNECT_MS = 2000;
/** How often the calendar and bookings are re-read (the "now" line moves). */
const REFRESH_MS = 60000;
/** Calendar: days shown and hours per cell. */
const CAL_DAYS = 7, CAL_STEP_H = 3;

const state = {
  session: localStorage.getItem("hpcbot.session"),
  queue: [],          // turns waiting to be sent, oldest first
  current: null,      // the turn being sent
  offline: false,
  bookings: [],       // the caller's bookings, as last read
  timeline: null,     // /api/timeline, hourly
  tab: "upcoming",
};

// ---- Requests. With `auth = token` the server answers 401: ask once for a token.
async function api(url, opts = {}) {
  const withToken = () => {
    const token = localStorage.getItem("hpcbot.token");
    const headers = Object.assign({}, opts.headers || {}, token ? { authorization: "Bearer " + token } : {});
    return window.fetch(url, Object.assign({}, opts, { headers }));
  };
  let res = await withToken();
  if (res.status === 401) {
    const token = window.prompt("This server needs an access token (ask your operator):");
    if (token) {
      localStorage.setItem("hpcbot.token", token.trim());
      res = await withToken();
    }
  }
  return res;
}
/** The error object of a failed reply, or a generic one. */
async function errorOf(res) {
  const body = await res.json().catch(() => null);
  return (body && body.error) || { code: "http_" + res.status, message: `The server answered ${res.status}.` };
}
/** A fresh key for `Idempotency-Key` (crypto.randomUUID needs a secure context; this does not). */
function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// ---- Times, always in the server's zone.
const fmtDay = new Intl.DateTimeFormat("en-GB", { timeZone: TZ, weekday: "short", day: "numeric", month: "short" });
const fmtTime = new Intl.DateTimeFormat("en-GB", { timeZone: TZ, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const fmtParts = new Intl.DateTimeFormat("en-GB", { timeZone: TZ, year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", hourCycle: "h23", timeZoneName: "short" });
/** Wall-clock fields of `d` in the server's zone, with the zone's short name. */
function wall(d) {
  const p = {};
  for (const { type, value } of fmtParts.formatToParts(d)) p[type] = value;
  return { y: +p.year, m: +p.month, d: +p.day, h: +p.hour % 24, min: +p.minute, zone: p.timeZoneName || TZ };
}
/** The instant of a wall-clock time in the server's zone (hour may be 24: next midnight). */
function zoned(y, m, d, h) {
  const guess = Date.UTC(y, m - 1, d, h);
  const off = (t) => { const w = wall(new Date(t)); return Date.UTC(w.y, w.m - 1, w.d, w.h, w.min) - t; };
  let t = guess - off(guess);
  t = guess - off(t);
  return new Date(t);
}
const zoneOf = (d) => wall(d).zone;
const day = (d) => fmtDay.format(d);
const time = (d) => fmtTime.format(d);
const sameDay = (a, b) => { const x = wall(a), y = wall(b); return x.y === y.y && x.m === y.m && x.d === y.d; };
/** "Mon 30 Nov 09:00–12:00 UTC" (the end's day only when it differs). */
function fmtSpan(start, end) {
  const s = new Date(start), e = new Date(end);
  const endsAtMidnight = time(e) === "00:00" && sameDay(s, new Date(e - 1));
  const endText = endsAtMidnight ? "24:00" : sameDay(s, e) ? time(e) : `${day(e)} ${time(e)}`;
  return `${day(s)} ${time(s)}–${endText} ${zoneOf(s)}`;
}
function money(x) {
  try { return new Intl.NumberFormat("en-GB", { style: "currency", currency: CURRENCY, currencyDisplay: "narrowSymbol" }).format(x); }
  catch { return `${Number(x).toFixed(2)} ${CURRENCY}`; }
}

// ---- Markdown, safely: everything is escaped first, then a small subset is formatted.
function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function inline(s) {
  return s
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[\s(])\*([^*\s][^*]*?)\*/g, "$1<em>$2</em>")
    .replace(/(^|[\s(])_([^_\s][^_]*?)_/g, "$1<em>$2</em>");
}
function cellsOf(row) {
  return row.replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
}
function table(rows) {
  const isSep = (r) => cellsOf(r).every((c) => /^:?-{2,}:?$/.test(c) || c === "");
  const head = cellsOf(rows[0]);
  const body = rows.slice(1).filter((r) => !isSep(r));
  const headHtml = head.some((c) => c !== "") ? "<thead><tr>" + head.map((c) => `<th scope="col">${inline(c)}</th>`).join("") + "</tr></thead>" : "";
  return '<div class="table-wrap"><table>' + headHtml + "<tbody>" + body.map((r) => "<tr>" + cellsOf(r).map((c) => `<td>${inline(c)}</td>`).join("") + "</tr>").join("") + "</tbody></table></div>";
}
function markdown(src) {
  const lines = escapeHtml(src).split("\n");
  let html = "";
  const isItem = (l) => /^\s*([-*]|\d+\.) /.test(l);
  for (let i = 0; i < lines.length; ) {
    const line = lines[i];
    if (line.trim().startsWith("|")) {
      const rows = [];
      while (i < lines.length && lines[i].trim().startsWith("|")) rows.push(lines[i++].trim());
      html += table(rows);
    } else if (isItem(line)) {
      const tag = /^\s*\d+\. /.test(line) ? "ol" : "ul";
      html += `<${tag}>`;
      while (i < lines.length && isItem(lines[i])) html += "<li>" + inline(lines[i++].replace(/^\s*([-*]|\d+\.) /, "")) + "</li>";
      html += `</${tag}>`;
    } else if (/^#{1,4} /.test(line)) {
      html += "<p><strong>" + inline(line.replace(/^#+ /, "")) + "</strong></p>";
      i++;
    } else if (line.trim() === "") {
      i++;
    } else {
      const para = [];
      while (i < lines.length && lines[i].trim() !== "" && !lines[i].trim().startsWith("|") && !isItem(lines[i])) para.push(inline(lines[i++]));
      html += "<p>" + para.join("<br>") + "</p>";
    }
  }
  return html;
}

// ---- The conversation view; the newest message is kept in view unless the person scrolled up.
const scroller = () => $("#scroller");
function nearBottom() {
  const s = scroller();
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}
function keepInView(force) {
  const s = scroller();
  if (force || state.stick) s.scrollTop = s.scrollHeight;
}
scroller().addEventListener("scroll", () => { state.stick = nearBottom(); }, { passive: true });
state.stick = true;
function showWelcome() {
  $("#welcome").hidden = $("#messages").children.length > 0;
}
function addMessage(role, text) {
  const li = document.createElement("li");
  li.className = "msg " + role;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role === "user" ? "You" : role === "note" ? "Note" : "Assistant";
  const body = document.createElement("div");
  body.className = "body";
  if (role === "assistant") body.innerHTML = markdown(text);
  else body.textContent = text;
  li.append(who, body);
  $("#messages").append(li);
  showWelcome();
  keepInView(role !== "assistant");
  return li;
}
/** A line in the chat that the page itself says (a cancel, an expired chat). */
function note(text) {
  return addMessage("note", text);
}

// ---- Proposals: the server says what a reply waits for a yes to (`proposal`: book, change,
// cancel, or null), so the buttons never depend on the wording.
const PROPOSAL_YES = { book: "Book it", change: "Change it", cancel: "Cancel it" };
function clearProposalButtons() {
  for (const el of document.querySelectorAll("#messages .choices")) el.remove();
}
function proposalButtons(li, kind) {
  const bar = document.createElement("div");
  bar.className = "choices";
  bar.setAttribute("role", "group");
  bar.setAttribute("aria-label", "Answer the proposal");
  const mk = (label, cls, fn) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = cls;
    b.textContent = label;
    b.addEventListener("click", fn);
    bar.append(b);
    return b;
  };
  const first = mk(PROPOSAL_YES[kind] || "Yes", "primary book-it", () => { clearProposalButtons(); send("yes"); $("#input").focus(); });
  if (kind !== "cancel") mk("Change", "change", () => {
    clearProposalButtons();
    const input = $("#input");
    input.placeholder = "Say what to change, e.g. “3 GPUs instead”, “Friday 10-14” or “an H100”";
    $("#compose-hint").textContent = "Say what to change; the assistant will propose it again.";
    input.focus();
  });
  mk(kind === "cancel" ? "Keep it" : "No", "no", () => { clearProposalButtons(); send("no"); $("#input").focus(); });
  li.append(bar);
  return first;
}

// ---- Booking cards (in the chat and in "My bookings").
function bookingCard(b) {
  const card = document.createElement("article");
  const now = new Date();
  const upcoming = b.status === "confirmed" && new Date(b.end) > now;
  card.className = "card " + b.status + (upcoming ? "" : " over");
  card.dataset.booking = b.id;
  const h = document.createElement("h3");
  h.tabIndex = -1;
  const status = b.status === "cancelled" ? "cancelled" : upcoming ? (new Date(b.start) <= now ? "running" : "booked") : "past";
  h.innerHTML = `${escapeHtml(String(b.count))} × ${escapeHtml(b.model)} <span class="badge ${status}">${status}</span>`;
  const dl = document.createElement("dl");
  for (const [k, v] of [["When", fmtSpan(b.start, b.end)], ["GPUs", b.gpus.join(", ")], ["Price", money(b.price_total)], ["Id", b.id.slice(0, 8)]]) {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = v;
    dl.append(dt, dd);
  }
  card.append(h, dl);
  if (upcoming) {
    const bar = document.createElement("div");
    bar.className = "card-actions";
    const what = `${b.count} ${b.model}, ${fmtSpan(b.start, b.end)}`;
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "cancel";
    cancel.textContent = "Cancel";
    cancel.setAttribute("aria-label", `Cancel booking of ${what}`);
    cancel.addEventListener("click", () => askCancel(card, b));
    const extend = document.createElement("button");
    extend.type = "button";
    extend.className = "extend";
    extend.textContent = "Extend";
    extend.setAttribute("aria-label", `Extend booking of ${what}`);
    extend.addEventListener("click", () => askExtend(card, b));
    const ics = document.createElement("a");
    ics.className = "ics";
    ics.href = `/api/bookings/${encodeURIComponent(b.id)}/ics${sessionQuery()}`;
    ics.download = `booking-${b.id.slice(0, 8)}.ics`;
    ics.textContent = "Add to calendar";
    ics.setAttribute("aria-label", `Add booking of ${what} to your calendar (.ics file)`);
    bar.append(cancel, extend, ics);
    card.append(bar);
  }
  return card;
}
/** Replaces a card's buttons with a question and two answers; focus goes to the first answer. */
function confirmBar(card, question, yesLabel, onYes, extra, opener) {
  const bar = card.querySelector(".card-actions");
  const old = [...bar.childNodes];
  const ask = document.createElement("div");
  ask.className = "card-actions asking";
  ask.setAttribute("role", "group");
  ask.setAttribute("aria-label", question);
  const q = document.createElement("span");
  q.textContent = question;
  ask.append(q);
  if (extra) ask.append(extra);
  const yes = document.createElement("button");
  yes.type = "button";
  yes.className = "primary confirm";
  yes.textContent = yesLabel;
  const no = document.createElement("button");
  no.type = "button";
  no.className = "keep";
  no.textContent = "Keep it";
  const restore = () => { ask.replaceWith(bar); bar.replaceChildren(...old); (bar.querySelector(opener) || bar.firstChild).focus(); };
  no.addEventListener("click", restore);
  ask.addEventListener("keydown", (e) => { if (e.key === "Escape") restore(); });
  yes.addEventListener("click", async () => {
    yes.disabled = no.disabled = true;
    const err = await onYes();
    if (err) {
      yes.disabled = no.disabled = false;
      let p = ask.querySelector(".card-error");
      if (!p) { p = document.createElement("p"); p.className = "card-error"; p.setAttribute("role", "alert"); ask.append(p); }
      p.textContent = err;
      yes.focus();
    }
  });
  ask.append(yes, no);
  bar.replaceWith(ask);
  (extra ? extra : yes).focus();
}
function askCancel(card, b) {
  const key = newKey(); // one per decision: a retry after a network error reuses it
  confirmBar(card, "Cancel this booking?", "Yes, cancel it", async () => {
    const res = await api(`/api/bookings/${encodeURIComponent(b.id)}${sessionQuery()}`, {
      method: "DELETE", headers: { "idempotency-key": key },
    }).catch(() => null);
    if (!res) return "Cannot reach the server; the booking is unchanged. Try again.";
    if (!res.ok) return (await errorOf(res)).message;
    const done = await res.json();
    note(`Cancelled: ${done.count} × ${done.model}, ${fmtSpan(done.start, done.end)}.`);
    await afterChange(card, done);
    return null;
  }, null, ".cancel");
}
function askExtend(card, b) {
  const pick = document.createElement("select");
  pick.className = "extend-by";
  pick.setAttribute("aria-label", "Extend by");
  for (const [h, label] of [[1, "by 1 hour"], [2, "by 2 hours"], [4, "by 4 hours"], [24, "by 1 day"]]) {
    const o = document.createElement("option");
    o.value = h;
    o.textContent = label;
    pick.append(o);
  }
  const keys = {}; // one key per chosen end: a retry reuses it, another choice gets its own
  confirmBar(card, "Extend the end", "Extend", async () => {
    const end = new Date(new Date(b.end).getTime() + Number(pick.value) * 3600e3);
    const res = await api(`/api/bookings/${encodeURIComponent(b.id)}${sessionQuery()}`, {
      method: "PATCH",
      headers: { "content-type": "application/json", "idempotency-key": (keys[pick.value] ||= newKey()) },
      body: JSON.stringify({ end: end.toISOString() }),
    }).catch(() => null);
    if (!res) return "Cannot reach the server; the booking is unchanged. Try again.";
    if (!res.ok) return (await errorOf(res)).message;
    const done = await res.json();
    note(`Extended: ${done.count} × ${done.model}, now ${fmtSpan(done.start, done.end)}.`);
    await afterChange(card, done);
    return null;
  }, pick, ".extend");
}
/** After a cancel or change: every card of that booking shows the new state, the lists are
 * re-read, and focus stays where the person was (the same card, or the list's tab). */
async function afterChange(card, b) {
  const inList = !!card.closest("#bookings");
  for (const old of document.querySelectorAll(`#messages .card[data-booking="${CSS.escape(b.id)}"]`)) old.replaceWith(bookingCard(b));
  await refreshPanel();
  const again = inList
    ? document.querySelector(`#bookings .card[data-booking="${CSS.escape(b.id)}"] h3`) || $(`#tab-${state.tab}`)
    : document.querySelector(`#messages .card[data-booking="${CSS.escape(b.id)}"] h3`);
  (again || $("#input")).focus();
}

// ---- Status banner (connection trouble, refused input).
function showStatus(text, kind, retry) {
  const el = $("#status");
  el.hidden = false;
  el.className = "status" + (kind ? " " + kind : "");
  el.dataset.kind = kind || "";
  el.textContent = text;
  if (retry) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = "Retry";
    b.className = "retry";
    b.addEventListener("click", () => { hideStatus(); retry(); });
    el.append(b);
  }
}
function hideStatus() {
  $("#status").hidden = true;
  $("#status").dataset.kind = "";
}
/** The server could not be reached: say so and ask /health until it answers, then clear. */
function goneOffline() {
  showStatus("Cannot reach the server. Your message is kept: press Retry once it is back.", "offline", retryFailed);
  if (state.offline) return;
  state.offline = true;
  const probe = async () => {
    const ok = await window.fetch("/health", { cache: "no-store" }).then((r) => r.ok).catch(() => false);
    if (ok) {
      state.offline = false;
      if ($("#status").dataset.kind === "offline") hideStatus();
      refreshPanel();
    } else setTimeout(probe, RECONNECT_MS);
  };
  setTimeout(probe, RECONNECT_MS);
}

// ---- Sessions (this browser's list lives in localStorage; the server keeps the history).
function sessionsList() {
  try { return JSON.parse(localStorage.getItem("hpcbot.sessions") || "[]"); } catch { return []; }
}
function remember(id, title) {
  const old = sessionsList().find((s) => s.id === id);
  const list = sessionsList().filter((s) => s.id !== id);
  list.unshift({ id, title: (old && old.title) || title.slice(0, 40), at: new Date().toISOString() });
  localStorage.setItem("hpcbot.sessions", JSON.stringify(list.slice(0, 20)));
  setSession(id);
  renderSessions();
}
function setSession(id) {
  state.session = id;
  if (id) localStorage.setItem("hpcbot.session", id); else localStorage.removeItem("hpcbot.session");
}
function forget(id) {
  localStorage.setItem("hpcbot.sessions", JSON.stringify(sessionsList().filter((s) => s.id !== id)));
  if (state.session === id) setSession(null);
  renderSessions();
}
/** The chat's session, created on the server first when the chat is new, so that every turn
 * names its session: the `hpcbot_sid` cookie still names the chat before "New chat", and a
 * turn sent without a session would land in it (a yes there booked the old proposal). */
async function ensureSession(signal) {
  if (state.session) return state.session;
  const res = await api("/api/sessions", { method: "POST", signal });
  if (!res.ok) throw { error: await errorOf(res) };
  const s = await res.json();
  setSession(s.session_id);
  return s.session_id;
}
function sessionQuery() {
  return state.session ? `?session_id=${encodeURIComponent(state.session)}` : "";
}
function renderSessions() {
  const sel = $("#sessions");
  sel.replaceChildren();
  const first = document.createElement("option");
  first.value = "";
  first.textContent = "Earlier chats…";
  sel.append(first);
  for (const s of sessionsList()) {
    const o = document.createElement("option");
    o.value = s.id;
    o.textContent = `${day(new Date(s.at))} — ${s.title}`;
    if (s.id === state.session) o.selected = true;
    sel.append(o);
  }
}
const EXPIRED = "That chat has expired or the server no longer knows it, so a new chat has started. Your bookings are still listed under “My bookings”.";
async function openSession(id) {
  const res = await api(`/api/sessions/${encodeURIComponent(id)}`).catch(() => null);
  if (!res) { goneOffline(); return; }
  $("#messages").replaceChildren();
  if (res.status === 404) {
    forget(id);
    note(EXPIRED);
    refreshPanel();
    return;
  }
  const s = await res.json();
  setSession(s.session_id);
  for (const m of s.messages) addMessage(m.role, m.content);
  renderSessions();
  showWelcome();
  keepInView(true);
  refreshPanel();
}

// ---- Turns: queued in order, each with its own Idempotency-Key (kept for a retry).
function send(text) {
  const job = { text, key: newKey(), li: addMessage("user", text) };
  clearProposalButtons();
  resetHint();
  enqueue(job);
}
function enqueue(job) {
  job.li.classList.remove("failed");
  const old = job.li.querySelector(".msg-state");
  if (old) old.remove();
  state.queue.push(job);
  if (state.current) markQueued(job);
  pump();
}
function markQueued(job) {
  const tag = document.createElement("span");
  tag.className = "msg-state queued";
  tag.textContent = "Queued — sent when the reply above is done";
  job.li.append(tag);
}
function retryFailed() {
  for (const job of state.failed || []) enqueue(job);
  state.failed = [];
}
function markFailed(job, why) {
  job.li.classList.add("failed");
  const tag = document.createElement("span");
  tag.className = "msg-state failed";
  tag.append(why + " ");
  const retry = document.createElement("button");
  retry.type = "button";
  retry.className = "retry";
  retry.textContent = "Retry";
  retry.addEventListener("click", () => { state.failed = (state.failed || []).filter((j) => j !== job); hideStatus(); enqueue(job); });
  const edit = document.createElement("button");
  edit.type = "button";
  edit.className = "edit";
  edit.textContent = "Edit";
  edit.addEventListener("click", () => {
    state.failed = (state.failed || []).filter((j) => j !== job);
    job.li.remove();
    $("#input").value = job.text;
    updateCounter();
    $("#input").focus();
    showWelcome();
  });
  tag.append(retry, edit);
  job.li.append(tag);
  state.failed = (state.failed || []).concat(job);
}
async function pump() {
  if (state.current || !state.queue.length) return;
  const job = state.queue.shift();
  state.current = job;
  const q = job.li.querySelector(".msg-state.queued");
  if (q) q.remove();
  $("#stop").hidden = false;
  try {
    await runTurn(job);
  } finally {
    state.current = null;
    $("#stop").hidden = true;
    pump();
  }
}
/** Sends one turn and streams its reply. On Stop or an error, the bookings are re-read so
 * that a booking the turn did make is shown as booked, and nothing else is claimed. */
async function runTurn(job) {
  job.sentAt = Date.now();
  const li = addMessage("assistant", "");
  li.classList.add("streaming");
  const body = li.querySelector(".body");
  body.innerHTML = '<span class="typing" aria-label="The assistant is writing">…</span>';
  keepInView(true);
  const shown = new Set();
  let acc = "";
  const controller = new AbortController();
  job.controller = controller;
  const timer = setTimeout(() => { job.timedOut = true; controller.abort(); }, TURN_TIMEOUT_MS);
  try {
    const post = async () => api("/api/chat/stream", {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": job.key },
      body: JSON.stringify({ message: job.text, session_id: await ensureSession(controller.signal) }),
      signal: controller.signal,
    });
    let res = await post();
    if (res.status === 404) {
      const e = await errorOf(res);
      if (e.code !== "session_not_found") throw { error: e };
      forget(state.session);
      note(EXPIRED);
      job.key = newKey(); // another body (no session): another key
      res = await post();
    }
    if (!res.ok) throw { error: await errorOf(res) };
    state.offline = false;
    if ($("#status").dataset.kind === "offline") hideStatus();
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "", finished = false;
    while (!finished) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut).replace(/^\r?\n\r?\n/, "");
        const ev = (block.match(/^event: ?(.*)$/m) || [])[1];
        const dataLine = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.replace(/^data: ?/, "")).join("\n");
        if (!ev || !dataLine) continue;
        const data = JSON.parse(dataLine);
        if (ev === "delta") {
          acc += data.text;
          body.innerHTML = markdown(acc);
          keepInView();
        } else if (ev === "action") {
          if (data.booking) { shown.add(data.booking.id); li.append(bookingCard(data.booking)); keepInView(); }
        } else if (ev === "done") {
          remember(data.session_id, job.text);
          body.innerHTML = markdown(data.response);
          li.classList.remove("streaming");
          if (data.proposal) proposalButtons(li, data.proposal);
          finished = true;
        } else if (ev === "error") {
          throw { error: data.error, streamed: true };
        }
      }
    }
    if (!finished) throw { error: { code: "cut_off", message: "The reply was cut off." } };
    keepInView();
  } catch (e) {
    li.classList.remove("streaming");
    if (job.stopped || job.timedOut) {
      body.innerHTML = markdown((acc ? acc + "\n\n" : "") + (job.stopped ? "_Stopped._" : "_No reply in time._"));
      if (job.timedOut) markFailed(job, "No reply in time.");
      await reconcile(job, li, shown);
    } else if (e instanceof TypeError || (e && e.name === "TypeError")) {
      // fetch could not reach the server (or the connection broke mid-reply).
      if (acc) body.innerHTML = markdown(acc + "\n\n_The connection broke._");
      else li.remove();
      markFailed(job, "Not sent: the server cannot be reached.");
      goneOffline();
      if (acc) await reconcile(job, li, shown);
    } else if (e && e.error && e.error.code === "invalid_message") {
      li.remove();
      markFailed(job, e.error.message);
    } else {
      const msg = (e && e.error && e.error.message) || "Something went wrong.";
      body.innerHTML = markdown((acc ? acc + "\n\n" : "") + "_" + msg.replace(/_/g, " ") + "_");
      markFailed(job, "No reply.");
      await reconcile(job, li, shown);
    }
  } finally {
    clearTimeout(timer);
    keepInView();
    refreshPanel();
  }
}
/** After a stopped or failed turn: shows any booking made since it was sent (the server may
 * have finished it), or says that nothing was booked. */
async function reconcile(job, li, shown) {
  const list = await loadBookings();
  if (!list) return;
  const since = job.sentAt - 5000;
  const made = list.filter((b) => !shown.has(b.id) && b.status === "confirmed" && new Date(b.created_at).getTime() >= since);
  const p = document.createElement("p");
  p.className = "reconciled";
  p.textContent = made.length ? "This booking was made before the reply ended:" : "Nothing was booked by this message.";
  li.append(p);
  for (const b of made) li.append(bookingCard(b));
}

// ---- The side panel: GPUs, calendar, bookings.
async function loadBookings() {
  let res = await api(`/api/bookings${sessionQuery()}`).catch(() => null);
  if (res && res.status === 404 && state.session) res = await api("/api/bookings").catch(() => null);
  if (!res || !res.ok) return null;
  state.bookings = (await res.json()).bookings;
  return state.bookings;
}
let refreshing = null;
function refreshPanel() {
  // One refresh at a time; a call during one waits for it and runs once more.
  if (refreshing) { refreshing.again = true; return refreshing.done; }
  const r = { again: false };
  r.done = (async () => {
    do {
      r.again = false;
      await refreshOnce();
    } while (r.again);
    refreshing = null;
  })();
  refreshing = r;
  return r.done;
}
async function refreshOnce() {
  try {
    const [gpus, timeline] = await Promise.all([
      getJson("/api/gpus"),
      getJson(`/api/timeline?days=${CAL_DAYS + 1}&step_hours=1`),
      loadBookings(),
    ]);
    renderInventory(gpus.gpus);
    await loadAccount();
    await loadNotices();
    state.timeline = timeline;
    renderModelPicker(timeline.models.map((m) => m.model));
    renderCalendar();
    renderBookings();
  } catch (e) {
    if (e && e.error) showStatus(`Cannot load the GPUs and the calendar: ${e.error.message}`, "error", refreshPanel);
    else if (!state.offline) goneOffline();
  }
}
/**
 * What happened to the person's bookings without them doing it (maintenance, a waitlist
 * offer, a start coming up), newest first; the last seen is remembered so a reload shows
 * only what is new.
 */
async function loadNotices() {
  const after = Number(localStorage.getItem("hpcbot.notices_seen") || 0);
  const q = sessionQuery();
  const res = await api(`/api/notices${q}${q ? "&" : "?"}after=${after}`).catch(() => null);
  if (!res || !res.ok) return;
  const { notices } = await res.json();
  if (!notices.length) return;
  const ul = $("#notices");
  for (const n of notices) {
    const li = document.createElement("li");
    li.textContent = noticeText(n);
    ul.prepend(li);
  }
  $("#news").hidden = false;
  localStorage.setItem("hpcbot.notices_seen", String(notices[notices.length - 1].seq));
}
function noticeText(n) {
  const b = n.booking, what = b ? `${b.count} × ${b.model}, ${fmtSpan(b.start, b.end)}` : "";
  if (n.type === "maintenance.affected") {
    const why = (n.data.maintenance && n.data.maintenance.reason) || "maintenance";
    return n.data.outcome === "moved"
      ? `Maintenance (${why}) moved your booking ${what} to other GPUs: ${b.gpus.join(", ")}. Same times and price.`
      : `Maintenance (${why}) cancelled your booking ${what}: no other GPUs were free. Its price is released.`;
  }
  if (n.type === "waitlist.offered") {
    const h = n.data.hold;
    return `From the waitlist: ${h.count} × ${h.model}, ${fmtSpan(h.start, h.end)} are held for you — ask the assistant to book them.`;
  }
  return `Starting soon: ${what}.`;
}
/** The caller's quotas with their use and the project's money, beside "My bookings". */
async function loadAccount() {
  const res = await api(`/api/account${sessionQuery()}`).catch(() => null);
  if (!res || !res.ok) return;
  const a = await res.json();
  const num = (x) => (Number.isInteger(x) ? String(x) : x.toFixed(2));
  const lines = [];
  for (const q of a.quotas) {
    if (q.quota === "max_gpus_at_once") lines.push(`GPUs at once: ${num(q.used)} of ${num(q.limit)} held now`);
    else if (q.quota === "max_gpu_hours_per_week") lines.push(`GPU-hours this week: ${num(q.used)} of ${num(q.limit)}`);
    else if (q.quota === "max_booking_duration") lines.push(`Longest booking: ${num(q.limit)} h`);
    else if (q.quota === "min_notice" && q.limit > 0) lines.push(`Notice before a start: ${num(q.limit)} h`);
  }
  const p = a.project;
  lines.push(p.budget == null
    ? `Project ${p.name}: no budget set (${money(p.committed)} committed, ${money(p.spent)} spent)`
    : `Project ${p.name}: ${money(p.remaining)} of ${money(p.budget)} left`);
  const ul = $("#account");
  ul.replaceChildren(...lines.map((t) => {
    const li = document.createElement("li");
    li.textContent = t;
    return li;
  }));
}
/**
 * The private calendar feed URL: asked for only on a click (asking again revokes the URL
 * a calendar app may already be subscribed to, so the button says so).
 */
async function getFeed() {
  const out = $("#feed-url"), why = $("#feed-note");
  const res = await api(`/api/calendar/feed${sessionQuery()}`, { method: "POST" }).catch(() => null);
  if (!res || !res.ok) {
    why.textContent = res ? (await errorOf(res)).message : "The server cannot be reached; try again.";
    return;
  }
  const { url } = await res.json();
  out.value = url;
  out.hidden = false;
  why.textContent = "Subscribe to this URL in your calendar app. Keep it private: anyone with it sees your bookings. Getting a new one stops this one.";
  $("#feed-get").textContent = "Replace feed URL";
  out.focus();
  out.select();
}
/** GET a JSON body; a non-2xx answer throws `{error}`, an unreachable server a TypeError. */
async function getJson(url) {
  const res = await api(url);
  if (!res.ok) throw { error: await errorOf(res) };
  return res.json();
}
function renderInventory(gpus) {
  const tbody = $("#inventory tbody");
  tbody.replaceChildren();
  for (const g of gpus) {
    const tr = document.createElement("tr");
    for (const v of [`${g.model} (${g.memory_gb} GB)`, `${g.available_now} / ${g.total}`, money(g.price_per_hour)]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.append(td);
    }
    tbody.append(tr);
  }
}
function renderBookings() {
  const now = new Date();
  const groups = { upcoming: [], past: [], cancelled: [] };
  for (const b of state.bookings) {
    if (b.status === "cancelled") groups.cancelled.push(b);
    else if (new Date(b.end) > now) groups.upcoming.push(b);
    else groups.past.push(b);
  }
  groups.upcoming.sort((a, b) => new Date(a.start) - new Date(b.start));
  for (const tab of document.querySelectorAll(".tabs [role=tab]")) {
    const name = tab.dataset.tab;
    tab.textContent = `${name[0].toUpperCase()}${name.slice(1)} (${groups[name].length})`;
    tab.setAttribute("aria-selected", String(name === state.tab));
    tab.tabIndex = name === state.tab ? 0 : -1;
  }
  const ul = $("#bookings");
  ul.setAttribute("aria-labelledby", `tab-${state.tab}`);
  ul.replaceChildren();
  const list = groups[state.tab];
  if (!list.length) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = { upcoming: "No upcoming bookings. Ask in the chat, or pick a free slot in the calendar.", past: "No past bookings.", cancelled: "No cancelled bookings." }[state.tab];
    ul.append(li);
  }
  for (const b of list) {
    const li = document.createElement("li");
    li.append(bookingCard(b));
    ul.append(li);
  }
}
function selectTab(name, focus) {
  state.tab = name;
  renderBookings();
  if (focus) $(`#tab-${name}`).focus();
}
for (const tab of document.querySelectorAll(".tabs [role=tab]")) {
  tab.addEventListener("click", () => selectTab(tab.dataset.tab, true));
  tab.addEventListener("keydown", (e) => {
    const names = ["upcoming", "past", "cancelled"];
    const i = names.indexOf(state.tab);
    if (e.key === "ArrowRight") { e.preventDefault(); selectTab(names[(i + 1) % 3], true); }
    if (e.key === "ArrowLeft") { e.preventDefault(); selectTab(names[(i + 2) % 3], true); }
  });
}

// ---- The calendar: days as columns, 3-hour cells, free count of the chosen model.
function renderModelPicker(models) {
  const sel = $("#cal-model");
  const keep = sel.value || localStorage.getItem("hpcbot.calModel") || "";
  if ([...sel.options].map((o) => o.value).join() !== models.join()) {
    sel.replaceChildren(...models.map((m) => { const o = document.createElement("option"); o.value = m; o.textContent = m; return o; }));
  }
  sel.value = models.includes(keep) ? keep : models[0] || "";
}
$("#cal-model").addEventListener("change", (e) => { localStorage.setItem("hpcbot.calModel", e.target.value); renderCalendar(); });
/** The calendar's cells: for each day and 3-hour slot, its times and the free count per model. */
function calendarCells() {
  const t = state.timeline;
  const t0 = new Date(t.start).getTime(), step = t.step_hours * 3600e3;
  const today = wall(new Date());
  const days = [];
  for (let i = 0; i < CAL_DAYS; i++) {
    const noon = zoned(today.y, today.m, today.d + i, 12);
    const w = wall(noon);
    const cells = [];
    for (let h = 0; h < 24; h += CAL_STEP_H) {
      const start = zoned(w.y, w.m, w.d, h), end = zoned(w.y, w.m, w.d, h + CAL_STEP_H);
      const free = {};
      for (const m of t.models) {
        let least = null;
        for (let k = 0; k < m.free.length; k++) {
          const s = t0 + k * step;
          if (s + step > start.getTime() && s < end.getTime()) least = least === null ? m.free[k] : Math.min(least, m.free[k]);
        }
        free[m.model] = { free: least, total: m.total };
      }
      const mine = state.bookings.filter((b) => b.status === "confirmed" && new Date(b.start) < end && new Date(b.end) > start);
      cells.push({ start, end, free, mine, past: end <= new Date() });
    }
    days.push({ noon, cells });
  }
  return days;
}
const cal = { days: [], focus: { d: 0, r: 0 }, anchor: null, sel: null, dragging: false };
function renderCalendar() {
  if (!state.timeline) return;
  cal.days = calendarCells();
  const model = $("#cal-model").value;
  const grid = $("#calendar");
  const had = grid.contains(document.activeElement);
  grid.replaceChildren();
  const rows = 24 / CAL_STEP_H;
  const head = document.createElement("div");
  head.setAttribute("role", "row");
  head.className = "cal-row cal-headrow";
  const corner = document.createElement("div");
  corner.className = "cal-corner";
  corner.setAttribute("role", "columnheader");
  corner.textContent = zoneOf(new Date());
  corner.title = TZ;
  head.append(corner);
  for (const d of cal.days) {
    const h = document.createElement("div");
    h.setAttribute("role", "columnheader");
    h.className = "cal-day" + (sameDay(d.noon, new Date()) ? " today" : "");
    const [wd, ...rest] = day(d.noon).split(" ");
    h.innerHTML = `<span>${escapeHtml(wd)}</span> <span>${escapeHtml(rest.join(" "))}</span>`;
    head.append(h);
  }
  grid.append(head);
  const labelled = new Set();
  for (let r = 0; r < rows; r++) {
    const row = document.createElement("div");
    row.setAttribute("role", "row");
    row.className = "cal-row";
    const th = document.createElement("div");
    th.setAttribute("role", "rowheader");
    th.className = "cal-time";
    th.textContent = time(cal.days[0].cells[r].start);
    row.append(th);
    cal.days.forEach((d, di) => {
      const c = d.cells[r];
      const f = c.free[model] || { free: null, total: 0 };
      const cell = document.createElement("div");
      cell.setAttribute("role", "gridcell");
      cell.className = "cal-cell";
      cell.dataset.d = di;
      cell.dataset.r = r;
      cell.dataset.start = c.start.toISOString();
      cell.dataset.free = f.free === null ? "" : f.free;
      cell.tabIndex = di === cal.focus.d && r === cal.focus.r ? 0 : -1;
      if (c.past) cell.classList.add("past");
      else if (f.free === 0) cell.classList.add("full");
      else if (f.total && f.free < f.total) cell.classList.add("some");
      if (!c.past && f.total) cell.style.setProperty("--ratio", String(f.free / f.total));
      const num = document.createElement("span");
      num.className = "n";
      num.textContent = c.past || f.free === null ? "" : String(f.free);
      cell.append(num);
      if (c.mine.length) {
        cell.classList.add("mine");
        for (const b of c.mine) {
          const key = `${b.id}:${di}`;
          if (labelled.has(key)) continue;
          labelled.add(key);
          const tag = document.createElement("span");
          tag.className = "mine-label";
          tag.dataset.booking = b.id;
          tag.textContent = `${b.count}× ${b.model.split("-")[0]}`;
          tag.title = `Your booking: ${b.count} × ${b.model}, ${fmtSpan(b.start, b.end)}`;
          cell.append(tag);
        }
      }
      cell.setAttribute("aria-label", cellText(c, model));
      cell.title = cellText(c, null);
      row.append(cell);
    });
    grid.append(row);
  }
  // The "now" line, in today's column, at the current time.
  const now = new Date();
  const todayCol = cal.days.findIndex((d) => sameDay(d.noon, now));
  if (todayCol >= 0) {
    const w = wall(now);
    const r = Math.floor(w.h / CAL_STEP_H);
    const cell = grid.querySelector(`.cal-cell[data-d="${todayCol}"][data-r="${r}"]`);
    if (cell) {
      const line = document.createElement("span");
      line.className = "now-line";
      line.style.top = `${(((w.h % CAL_STEP_H) * 60 + w.min) / (CAL_STEP_H * 60)) * 100}%`;
      line.title = `Now: ${time(now)} ${zoneOf(now)}`;
      cell.append(line);
    }
  }
  paintSelection();
  renderCalendarTable(model);
  if (had) focusCell(cal.focus.d, cal.focus.r);
}
/** What a cell says to a person: its time, the free counts and their own bookings. */
function cellText(c, model) {
  const when = `${day(c.start)} ${time(c.start)}–${time(c.end) === "00:00" ? "24:00" : time(c.end)} ${zoneOf(c.start)}`;
  if (c.past) return `${when}: past`;
  const models = model ? [model] : Object.keys(c.free);
  const counts = models.map((m) => `${m} ${c.free[m].free ?? "?"} of ${c.free[m].total} free`).join(model ? "" : "; ");
  const mine = c.mine.length ? `. Yours: ${c.mine.map((b) => `${b.count} × ${b.model}`).join(", ")}` : "";
  return `${when}: ${counts}${mine}`;
}
function renderCalendarTable(model) {
  const t = $("#cal-table");
  const models = state.timeline.models.map((m) => m.model);
  let html = `<caption>Free GPUs per model in 3-hour slots, times in ${escapeHtml(TZ)}</caption><thead><tr><th scope="col">Day</th><th scope="col">Time</th>`;
  html += models.map((m) => `<th scope="col">${escapeHtml(m)}</th>`).join("") + '<th scope="col">Your bookings</th></tr></thead><tbody>';
  for (const d of cal.days) {
    for (const c of d.cells) {
      if (c.past) continue;
      html += `<tr><th scope="row">${escapeHtml(day(c.start))}</th><td>${escapeHtml(time(c.start))}–${escapeHtml(time(c.end) === "00:00" ? "24:00" : time(c.end))}</td>`;
      html += models.map((m) => `<td>${c.free[m].free ?? "?"} / ${c.free[m].total}</td>`).join("");
      html += `<td>${escapeHtml(c.mine.map((b) => `${b.count} × ${b.model}`).join(", "))}</td></tr>`;
    }
  }
  t.innerHTML = html + "</tbody>";
  t.dataset.model = model;
}
function cellEl(d, r) {
  return $(`#calendar .cal-cell[data-d="${d}"][data-r="${r}"]`);
}
function focusCell(d, r) {
  const rows = 24 / CAL_STEP_H;
  d = Math.max(0, Math.min(CAL_DAYS - 1, d));
  r = Math.max(0, Math.min(rows - 1, r));
  const old = $("#calendar .cal-cell[tabindex='0']");
  if (old) old.tabIndex = -1;
  cal.focus = { d, r };
  const el = cellEl(d, r);
  if (el) { el.tabIndex = 0; el.focus(); }
  detail(d, r);
}
function detail(d, r) {
  const c = cal.days[d] && cal.days[d].cells[r];
  if (c) $("#cal-detail").textContent = cellText(c, null);
}
function paintSelection() {
  for (const el of document.querySelectorAll("#calendar .selected")) el.classList.remove("selected");
  if (!cal.sel) return;
  for (let r = cal.sel.r0; r <= cal.sel.r1; r++) {
    const el = cellEl(cal.sel.d, r);
    if (el) el.classList.add("selected");
  }
}
function select(d, r0, r1) {
  cal.sel = { d, r0: Math.min(r0, r1), r1: Math.max(r0, r1) };
  paintSelection();
}
/** Puts the selected range into the message box as a booking request; the assistant then
 * proposes it and asks for a yes. A range with a past or full cell is refused with a reason. */
function prefillSelection() {
  const s = cal.sel;
  if (!s) return;
  const model = $("#cal-model").value;
  const cells = cal.days[s.d].cells.slice(s.r0, s.r1 + 1);
  if (cells.some((c) => c.past)) { $("#cal-detail").textContent = "That time has passed; pick a later one."; return; }
  const least = Math.min(...cells.map((c) => c.free[model].free ?? 0));
  if (least < 1) { $("#cal-detail").textContent = `No ${model} is free for all of that range; pick free cells.`; return; }
  // A slot that has begun starts at the next full hour.
  const now = new Date();
  const start = cells[0].start > now ? cells[0].start : new Date(Math.ceil(now.getTime() / 3600e3) * 3600e3);
  const end = cells[cells.length - 1].end;
  if (start >= end) { $("#cal-detail").textContent = "That slot is nearly over; pick a later one."; return; }
  const text = `book 1 ${model} on ${day(start)} from ${time(start)} to ${time(end) === "00:00" ? "24:00" : time(end)}`;
  const input = $("#input");
  input.value = text;
  updateCounter();
  $("#compose-hint").textContent = `Change the number or times if you like, then press Enter. ${least} free for all of that time.`;
  input.focus();
  input.setSelectionRange(text.length, text.length);
}
const grid = $("#calendar");
grid.addEventListener("pointerdown", (e) => {
  const el = e.target.closest(".cal-cell");
  if (!el || e.button !== 0) return;
  e.preventDefault();
  cal.dragging = true;
  cal.anchor = { d: +el.dataset.d, r: +el.dataset.r };
  select(cal.anchor.d, cal.anchor.r, cal.anchor.r);
  focusCell(cal.anchor.d, cal.anchor.r);
  if (el.hasPointerCapture && el.releasePointerCapture) el.releasePointerCapture(e.pointerId);
});
grid.addEventListener("pointerover", (e) => {
  const el = e.target.closest(".cal-cell");
  if (!el) return;
  detail(+el.dataset.d, +el.dataset.r);
  if (cal.dragging && cal.anchor && +el.dataset.d === cal.anchor.d) select(cal.anchor.d, cal.anchor.r, +el.dataset.r);
});
window.addEventListener("pointercancel", () => { cal.dragging = false; });
window.addEventListener("pointerup", () => {
  if (!cal.dragging) return;
  cal.dragging = false;
  prefillSelection();
});
grid.addEventListener("focusin", (e) => {
  const el = e.target.closest(".cal-cell");
  if (el) detail(+el.dataset.d, +el.dataset.r);
});
grid.addEventListener("keydown", (e) => {
  const el = e.target.closest(".cal-cell");
  if (!el) return;
  const d = +el.dataset.d, r = +el.dataset.r;
  const moves = { ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0], Home: [-d, 0], End: [CAL_DAYS, 0] };
  if (moves[e.key]) {
    e.preventDefault();
    const [dd, dr] = moves[e.key];
    if (e.shiftKey && dr) {
      // Shift+Up/Down widens the selection within the day.
      if (!cal.sel || cal.sel.d !== d) { cal.anchor = { d, r }; }
      const nr = Math.max(0, Math.min(24 / CAL_STEP_H - 1, r + dr));
      select(d, cal.anchor.r, nr);
      focusCell(d, nr);
      return;
    }
    cal.sel = null;
    paintSelection();
    focusCell(d + dd, r + dr);
  } else if (e.key === "Enter" || e.key === " ") {
    e.preventDefault();
    if (!cal.sel || cal.sel.d !== d || r < cal.sel.r0 || r > cal.sel.r1) select(d, r, r);
    prefillSelection();
  }
});

// ---- The message box: length counter, Enter sends, a too-long message is refused.
function chars(s) {
  return [...s.trim()].length;
}
function updateCounter() {
  const n = chars($("#input").value);
  const el = $("#counter");
  el.textContent = `${n} / ${MAX_CHARS}`;
  el.classList.toggle("over", n > MAX_CHARS);
  el.classList.toggle("near", n > MAX_CHARS * 0.9 && n <= MAX_CHARS);
}
function resetHint() {
  $("#input").placeholder = "Ask about GPUs, or e.g. “book 2 A100s tomorrow 9-17”";
  $("#compose-hint").textContent = "Enter sends, Shift+Enter starts a new line, Esc stops a reply.";
}
$("#input").addEventListener("input", updateCounter);
$("#composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("#input");
  const text = input.value;
  if (!text.trim()) return;
  const n = chars(text);
  if (n > MAX_CHARS) {
    showStatus(`Your message is ${n} characters long; the limit is ${MAX_CHARS}. Shorten it and send again — your text is still in the box.`, "error");
    input.focus();
    return;
  }
  if ($("#status").dataset.kind === "error") hideStatus();
  input.value = "";
  updateCounter();
  cal.sel = null;
  paintSelection();
  send(text);
  input.focus();
});
$("#input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $("#composer").requestSubmit();
  } else if (e.key === "Escape" && state.current) {
    stop();
  }
});
function stop() {
  const job = state.current;
  if (job && job.controller) { job.stopped = true; job.controller.abort(); }
}
$("#stop").addEventListener("click", () => { stop(); $("#input").focus(); });
$("#feed-get").addEventListener("click", getFeed);
/** Leaves the chat on screen: queued messages are dropped, the streaming one stopped. */
function leaveChat() {
  for (const job of state.queue.splice(0)) job.li.remove();
  stop();
  state.failed = [];
}
$("#new-chat").addEventListener("click", () => {
  leaveChat();
  $("#messages").replaceChildren();
  setSession(null);
  hideStatus();
  resetHint();
  renderSessions();
  showWelcome();
  refreshPanel();
  $("#input").focus();
});
$("#sessions").addEventListener("change", (e) => { if (e.target.value) { leaveChat(); openSession(e.target.value); } });
for (const b of document.querySelectorAll("#welcome .example")) {
  b.addEventListener("click", () => { send(b.textContent); $("#input").focus(); });
}

// ---- Start. The chat fills the window below the header (whose height varies with width).
function fitChat() {
  document.documentElement.style.setProperty("--head", $(".top").offsetHeight + "px");
}
new ResizeObserver(fitChat).observe($(".top"));
fitChat();
renderSessions();
showWelcome();
updateCounter();
if (state.session) openSession(state.session); else refreshPanel();
setInterval(() => { if (!document.hidden && !state.offline) refreshPanel(); }, REFRESH_MS);
$("#input").focus();
