// The hpcbot chat page: conversation with streamed replies, and a panel with the GPUs,
// a 7-day availability picture and the user's bookings. No dependencies, works offline.
"use strict";

const $ = (sel) => document.querySelector(sel);
const TURN_TIMEOUT_MS = 40000;
const state = { session: localStorage.getItem("hpcbot.session"), busy: false, controller: null, stopped: false, lastText: null };

// ---- Requests: with `auth = token` the server answers 401; ask once for a token.
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
  return "<table>" + headHtml + "<tbody>" + body.map((r) => "<tr>" + cellsOf(r).map((c) => `<td>${inline(c)}</td>`).join("") + "</tr>").join("") + "</tbody></table>";
}
function markdown(src) {
  const lines = escapeHtml(src).split("\n");
  let html = "";
  for (let i = 0; i < lines.length; ) {
    const line = lines[i];
    if (line.trim().startsWith("|")) {
      const rows = [];
      while (i < lines.length && lines[i].trim().startsWith("|")) rows.push(lines[i++].trim());
      html += table(rows);
    } else if (/^\s*[-*] /.test(line)) {
      html += "<ul>";
      while (i < lines.length && /^\s*[-*] /.test(lines[i])) html += "<li>" + inline(lines[i++].replace(/^\s*[-*] /, "")) + "</li>";
      html += "</ul>";
    } else if (line.trim() === "") {
      i++;
    } else {
      const para = [];
      while (i < lines.length && lines[i].trim() !== "" && !lines[i].trim().startsWith("|") && !/^\s*[-*] /.test(lines[i])) para.push(inline(lines[i++]));
      html += "<p>" + para.join("<br>") + "</p>";
    }
  }
  return html;
}

// ---- Conversation view.
function addMessage(role, text) {
  const li = document.createElement("li");
  li.className = "msg " + role;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role === "user" ? "You" : "Assistant";
  const body = document.createElement("div");
  body.className = "body";
  if (role === "user") body.textContent = text;
  else body.innerHTML = markdown(text);
  li.append(who, body);
  $("#messages").append(li);
  li.scrollIntoView({ block: "end" });
  return body;
}
function fmtSpan(start, end) {
  const s = new Date(start), e = new Date(end);
  const day = { weekday: "short", day: "numeric", month: "short" }, hm = { hour: "2-digit", minute: "2-digit" };
  const same = s.toDateString() === e.toDateString();
  return `${s.toLocaleDateString(undefined, day)} ${s.toLocaleTimeString(undefined, hm)} – ${same ? "" : e.toLocaleDateString(undefined, day) + " "}${e.toLocaleTimeString(undefined, hm)}`;
}
function bookingCard(b, withCancel) {
  const card = document.createElement("article");
  card.className = "card" + (b.status === "cancelled" ? " cancelled" : "");
  card.dataset.booking = b.id;
  const h = document.createElement("h3");
  h.textContent = `${b.count} × ${b.model} — ${b.status}`;
  const dl = document.createElement("dl");
  for (const [k, v] of [["When", fmtSpan(b.start, b.end)], ["GPUs", b.gpus.join(", ")], ["Price", "$" + Number(b.price_total).toFixed(2)], ["Id", b.id.slice(0, 8)]]) {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k;
    dd.textContent = v;
    dl.append(dt, dd);
  }
  card.append(h, dl);
  if (withCancel && b.status === "confirmed" && new Date(b.end) > new Date()) {
    const btn = document.createElement("button");
    btn.type = "button";
    btn.className = "cancel";
    btn.textContent = "Cancel";
    btn.setAttribute("aria-label", `Cancel booking of ${b.count} ${b.model}, ${fmtSpan(b.start, b.end)}`);
    btn.addEventListener("click", () => cancelBooking(b));
    card.append(btn);
  }
  return card;
}

// ---- Status line (errors with a retry, never a silent hang).
function showStatus(text, kind, retry) {
  const el = $("#status");
  el.hidden = false;
  el.className = "status" + (kind === "error" ? " error" : "");
  el.textContent = text;
  if (retry) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = "Retry";
    b.addEventListener("click", () => { hideStatus(); retry(); });
    el.append(b);
  }
}
function hideStatus() {
  $("#status").hidden = true;
}
function setBusy(busy) {
  state.busy = busy;
  $("#input").disabled = busy;
  $("#send").disabled = busy;
  $("#stop").hidden = !busy;
  if (!busy) $("#input").focus();
}

// ---- Sessions (this browser's list lives in localStorage; the server keeps the history).
function sessionsList() {
  try { return JSON.parse(localStorage.getItem("hpcbot.sessions") || "[]"); } catch { return []; }
}
function remember(id, title) {
  const list = sessionsList().filter((s) => s.id !== id);
  const old = sessionsList().find((s) => s.id === id);
  list.unshift({ id, title: (old && old.title) || title.slice(0, 40), at: new Date().toISOString() });
  localStorage.setItem("hpcbot.sessions", JSON.stringify(list.slice(0, 20)));
  localStorage.setItem("hpcbot.session", id);
  state.session = id;
  renderSessions();
}
function renderSessions() {
  const sel = $("#sessions");
  sel.innerHTML = '<option value="">Earlier chats…</option>';
  for (const s of sessionsList()) {
    const o = document.createElement("option");
    o.value = s.id;
    o.textContent = `${new Date(s.at).toLocaleDateString()} — ${s.title}`;
    if (s.id === state.session) o.selected = true;
    sel.append(o);
  }
}
async function newSession() {
  const res = await api("/api/sessions", { method: "POST" });
  if (!res.ok) throw { status: res.status };
  const s = await res.json();
  state.session = s.session_id;
  localStorage.setItem("hpcbot.session", s.session_id);
  return s.session_id;
}
async function openSession(id) {
  const res = await api(`/api/sessions/${encodeURIComponent(id)}`);
  $("#messages").innerHTML = "";
  if (res.status === 404) {
    localStorage.setItem("hpcbot.sessions", JSON.stringify(sessionsList().filter((s) => s.id !== id)));
    if (state.session === id) { state.session = null; localStorage.removeItem("hpcbot.session"); }
    renderSessions();
    return;
  }
  const s = await res.json();
  state.session = s.session_id;
  localStorage.setItem("hpcbot.session", s.session_id);
  for (const m of s.messages) addMessage(m.role, m.content);
  renderSessions();
  refreshPanel();
}

// ---- A turn, streamed.
async function send(text) {
  if (state.busy || !text.trim()) return;
  state.lastText = text;
  hideStatus();
  setBusy(true);
  state.stopped = false;
  addMessage("user", text);
  const body = addMessage("assistant", "…");
  let acc = "";
  const controller = new AbortController();
  state.controller = controller;
  const timer = setTimeout(() => controller.abort(), TURN_TIMEOUT_MS);
  try {
    if (!state.session) await newSession();
    let res = await api("/api/chat/stream", {
      method: "POST", headers: { "content-type": "application/json", "idempotency-key": Date.now().toString(36) + Math.random().toString(36).slice(2) },
      body: JSON.stringify({ message: text, session_id: state.session }), signal: controller.signal,
    });
    if (res.status === 404) {
      // The session expired: start a fresh one and send again.
      await newSession();
      res = await api("/api/chat/stream", { method: "POST", headers: { "content-type": "application/json", "idempotency-key": Date.now().toString(36) + Math.random().toString(36).slice(2) }, body: JSON.stringify({ message: text, session_id: state.session }), signal: controller.signal });
    }
    if (!res.ok) {
      const e = await res.json().catch(() => null);
      throw { status: res.status, error: e && e.error };
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const ev = (block.match(/^event: ?(.*)$/m) || [])[1];
        const data = JSON.parse((block.match(/^data: ?(.*)$/m) || [, "null"])[1]);
        if (ev === "delta") { acc += data.text; body.innerHTML = markdown(acc); }
        else if (ev === "action") body.parentElement.append(bookingCard(data.booking, false));
        else if (ev === "done") { remember(data.session_id, text); body.innerHTML = markdown(data.response); }
        else if (ev === "error") throw { status: 0, error: data.error };
      }
    }
  } catch (e) {
    if (state.stopped) {
      body.innerHTML = markdown((acc ? acc + "\n\n" : "") + "_Stopped._");
    } else if (e && e.name === "AbortError") {
      body.innerHTML = markdown("_No reply in time._");
      showStatus("The reply took too long.", "error", () => send(text));
    } else if (e && e.status === 503) {
      body.innerHTML = markdown("_The server is busy._");
      showStatus((e.error && e.error.message) || "The server is busy right now.", "error", () => send(text));
    } else if (e && e.error) {
      body.innerHTML = markdown("_" + e.error.message + "_");
      showStatus(e.error.message, "error", () => send(text));
    } else {
      body.innerHTML = markdown("_Could not reach the server._");
      showStatus("Cannot reach the server — is it running?", "error", () => send(text));
    }
  } finally {
    clearTimeout(timer);
    state.controller = null;
    setBusy(false);
    refreshPanel();
  }
}

// ---- The side panel.
async function refreshPanel() {
  try {
    const [gpus, timeline, bookings] = await Promise.all([
      api("/api/gpus").then((r) => r.json()),
      api("/api/timeline?days=7&step_hours=3").then((r) => r.json()),
      state.session ? api(`/api/bookings?session_id=${encodeURIComponent(state.session)}`).then((r) => r.json()) : Promise.resolve({ bookings: [] }),
    ]);
    const tbody = $("#inventory tbody");
    tbody.innerHTML = "";
    for (const g of gpus.gpus) {
      const tr = document.createElement("tr");
      for (const v of [`${g.model} (${g.memory_gb} GB)`, `${g.available_now} / ${g.total}`, "$" + g.price_per_hour.toFixed(2)]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.append(td);
      }
      tbody.append(tr);
    }
    renderTimeline(timeline);
    const ul = $("#bookings");
    ul.innerHTML = "";
    if (!bookings.bookings.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = "No bookings in this chat yet.";
      ul.append(li);
    }
    for (const b of bookings.bookings) {
      const li = document.createElement("li");
      li.append(bookingCard(b, true));
      ul.append(li);
    }
  } catch {
    showStatus("Cannot load GPUs and bookings — the server may be down.", "error", refreshPanel);
  }
}
function renderTimeline(t) {
  const ns = "http://www.w3.org/2000/svg";
  const slots = t.models.length ? t.models[0].free.length : 0;
  const w = 320, label = 90, rowH = 18, cell = (w - label) / Math.max(slots, 1);
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${t.models.length * (rowH + 6) + 14}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Booked and free GPUs per model over the next 7 days");
  t.models.forEach((m, row) => {
    const y = row * (rowH + 6);
    const text = document.createElementNS(ns, "text");
    text.setAttribute("x", 0);
    text.setAttribute("y", y + 13);
    text.setAttribute("font-size", "10");
    text.textContent = m.model;
    svg.append(text);
    m.free.forEach((free, i) => {
      const booked = m.total - free;
      const r = document.createElementNS(ns, "rect");
      r.setAttribute("x", label + i * cell);
      r.setAttribute("y", y);
      r.setAttribute("width", Math.max(cell - 0.5, 0.5));
      r.setAttribute("height", rowH);
      r.setAttribute("fill", booked === 0 ? "#d7f5dd" : `rgba(207, 34, 46, ${0.25 + 0.75 * booked / m.total})`);
      r.dataset.model = m.model;
      r.dataset.booked = booked;
      const start = new Date(new Date(t.start).getTime() + i * t.step_hours * 3600e3);
      const title = document.createElementNS(ns, "title");
      title.textContent = `${m.model} ${start.toLocaleString()}: ${booked} booked, ${free} free of ${m.total}`;
      r.append(title);
      svg.append(r);
    });
  });
  const days = document.createElementNS(ns, "text");
  days.setAttribute("x", label);
  days.setAttribute("y", t.models.length * (rowH + 6) + 10);
  days.setAttribute("font-size", "9");
  days.textContent = "now → 7 days";
  svg.append(days);
  $("#timeline").replaceChildren(svg);
}
async function cancelBooking(b) {
  if (!confirm(`Cancel the booking of ${b.count} × ${b.model} (${fmtSpan(b.start, b.end)})?`)) return;
  const res = await api(`/api/bookings/${b.id}?session_id=${encodeURIComponent(state.session || "")}`, { method: "DELETE" }).catch(() => null);
  if (!res || !res.ok) showStatus("Could not cancel the booking.", "error", () => cancelBooking(b));
  refreshPanel();
}

// ---- Wiring.
$("#composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("#input").value;
  $("#input").value = "";
  send(text);
});
$("#input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    $("#composer").requestSubmit();
  }
});
$("#stop").addEventListener("click", () => {
  if (state.controller) { state.stopped = true; state.controller.abort(); }
});
$("#new-chat").addEventListener("click", async () => {
  if (state.busy) return;
  $("#messages").innerHTML = "";
  hideStatus();
  try { await newSession(); } catch { showStatus("Cannot reach the server.", "error"); }
  renderSessions();
  refreshPanel();
  $("#input").focus();
});
$("#sessions").addEventListener("change", (e) => { if (e.target.value) openSession(e.target.value); });

renderSessions();
if (state.session) openSession(state.session); else refreshPanel();
$("#input").focus();
