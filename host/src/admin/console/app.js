// wasmgate operator console. Plain JavaScript, no dependencies: it calls
// the admin API the README documents, with the token from the login form
// (kept in this tab's sessionStorage, sent only in the Authorization header).
"use strict";

const TOKEN_KEY = "wasmgate.admin-token";
const PAGES = ["overview", "locker", "plate", "exec", "chat", "smarthome"];
const $ = (id) => document.getElementById(id);

// ---- the API --------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function request(method, path, body, raw) {
  const headers = {};
  const t = token();
  if (t) headers["Authorization"] = "Bearer " + t;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (e) {
    throw new ApiError(0, "the host does not answer: " + e.message);
  }
  if (r.status === 401) {
    logout("The token was refused: log in again.");
    throw new ApiError(401, "unauthorized");
  }
  if (raw && r.ok) return r;
  const text = await r.text();
  let v = null;
  try {
    v = JSON.parse(text);
  } catch (_) {
    if (r.ok) return text;
  }
  if (!r.ok) throw new ApiError(r.status, (v && v.error) || text || r.statusText);
  return v;
}

const get = (path) => request("GET", path);
const admin = (plugin, body) => request("POST", "/admin/" + encodeURIComponent(plugin), body);

// ---- small helpers ----------------------------------------------------------

// An element with attributes and children (strings become text: nothing
// the host or a client sends is ever parsed as HTML).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function when(ms) {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms);
  const ago = Math.round((Date.now() - ms) / 1000);
  let rel;
  if (ago < 0) rel = "in " + span(-ago);
  else rel = span(ago) + " ago";
  return d.toISOString().replace("T", " ").slice(0, 19) + " (" + rel + ")";
}

function span(s) {
  if (s < 90) return s + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  if (s < 172800) return Math.round(s / 3600) + " h";
  return Math.round(s / 86400) + " d";
}

function show(id, text, ok) {
  const m = $(id);
  m.textContent = text || "";
  m.classList.toggle("ok", !!ok);
  m.classList.toggle("error", !ok && !!text);
}

// Runs an operation; its error (the plugin's message) goes to `msgId`.
async function act(msgId, fn, done) {
  try {
    const v = await fn();
    show(msgId, done ? done(v) : "done", true);
    return v;
  } catch (e) {
    if (e.status !== 401) show(msgId, (e.status ? e.status + ": " : "") + e.message, false);
    return undefined;
  }
}

// ---- log in / out, pages ------------------------------------------------------

let plugins = [];
let timer = null;

function logout(why) {
  sessionStorage.removeItem(TOKEN_KEY);
  $("nav").hidden = true;
  for (const p of PAGES) $("page-" + p).hidden = true;
  $("page-login").hidden = false;
  show("login-msg", why || "", false);
  if (timer) clearInterval(timer);
  timer = null;
}

async function login(t) {
  sessionStorage.setItem(TOKEN_KEY, t);
  try {
    plugins = await get("/plugins");
  } catch (e) {
    if (e.status !== 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      show("login-msg", e.message, false);
    }
    return;
  }
  show("login-msg", "");
  $("page-login").hidden = true;
  $("nav").hidden = false;
  fillPluginSelects();
  await sampleMetrics();
  route();
  if (!timer) timer = setInterval(tick, 2000);
}

function fillPluginSelects() {
  for (const s of document.querySelectorAll(".plugin-select")) {
    const mine = plugins.filter((p) => p.world === s.dataset.world).map((p) => p.name);
    const keep = s.value;
    s.replaceChildren(...mine.map((n) => el("option", { value: n }, n)));
    if (mine.includes(keep)) s.value = keep;
    s.hidden = mine.length < 2;
  }
}

function current() {
  const p = location.hash.replace(/^#/, "");
  return PAGES.includes(p) ? p : "overview";
}

let shownPage = null;

function route() {
  if (!token() && token() !== "") return;
  const page = current();
  if (page !== shownPage) {
    // a token shown once is not shown again when the operator comes back
    for (const id of ["minted", "created"]) $(id).hidden = true;
    for (const id of ["minted-token", "created-token"]) $(id).value = "";
    shownPage = page;
  }
  for (const p of PAGES) {
    $("page-" + p).hidden = p !== page;
    $("nav-" + p).classList.toggle("here", p === page);
  }
  refresh(page);
}

async function refresh(page) {
  const f = { overview, locker, plate, exec, chat, smarthome }[page];
  try {
    await f();
  } catch (e) {
    if (e.status !== 401) console.warn(page, e);
  }
}

// Every 2 s: metrics for the charts, and the page on screen.
async function tick() {
  await sampleMetrics();
  const page = current();
  if (page === "overview") await refresh(page);
  else if (++ticks % 2 === 0) await refresh(page);
}
let ticks = 0;

function pluginOf(world) {
  const s = document.querySelector('.plugin-select[data-world="' + world + '"]');
  return s && s.value ? s.value : null;
}

function noPlugin(msgId, world) {
  show(msgId, "No plugin of world " + world + " in this host's configuration.", false);
}

// ---- overview ---------------------------------------------------------------------

// Prometheus text → [{name, labels, value}]
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: parseFloat(m[4]) });
  }
  return out;
}

const HISTORY = 150; // samples: 5 minutes at 2 s
let samples = []; // {t, m: parsed metrics}

async function sampleMetrics() {
  let text;
  try {
    text = await get("/metrics");
  } catch (_) {
    return;
  }
  samples.push({ t: Date.now() / 1000, m: parseMetrics(text) });
  if (samples.length > HISTORY + 1) samples.shift();
}

function sum(m, name, match) {
  return m
    .filter((x) => x.name === name && Object.entries(match || {}).every(([k, v]) => x.labels[k] === v))
    .reduce((a, x) => a + x.value, 0);
}

// Per interval between samples: f(prev, next, dt) → value
function series(f) {
  const out = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = samples[i].t - samples[i - 1].t;
    out.push(dt > 0 ? f(samples[i - 1].m, samples[i].m, dt) : 0);
  }
  return out;
}

const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

function chart(canvas, lines) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 28;
  ctx.clearRect(0, 0, w, h);
  let max = 0;
  for (const l of lines) for (const v of l.values) max = Math.max(max, v);
  max = max > 0 ? max * 1.15 : 1;
  ctx.strokeStyle = "#ccc";
  ctx.fillStyle = "#555";
  ctx.font = "11px sans-serif";
  ctx.beginPath();
  ctx.moveTo(pad, 4);
  ctx.lineTo(pad, h - 14);
  ctx.lineTo(w - 4, h - 14);
  ctx.stroke();
  ctx.fillText(max >= 10 ? max.toFixed(0) : max.toPrecision(2), 2, 12);
  ctx.fillText("0", 2, h - 14);
  ctx.fillText("−5 min", pad, h - 2);
  ctx.fillText("now", w - 26, h - 2);
  const x = (i) => pad + ((w - pad - 6) * (HISTORY - 1 - i)) / (HISTORY - 1);
  lines.forEach((l, k) => {
    ctx.strokeStyle = l.colour || COLOURS[k % COLOURS.length];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    const n = l.values.length;
    l.values.forEach((v, i) => {
      const px = x(n - 1 - i), py = h - 14 - ((h - 20) * v) / max;
      if (i === 0) ctx.moveTo(px, py);
      else ctx.lineTo(px, py);
    });
    ctx.stroke();
  });
}

function drawCharts() {
  const rate = (name) => (a, b, dt) => Math.max(0, sum(b, name) - sum(a, name)) / dt;
  chart($("chart-msgs"), [{ values: series(rate("wasmgate_messages_in_total")) }]);
  const errs = ["wasmgate_plugin_errors_total", "wasmgate_plugin_traps_total", "wasmgate_plugin_timeouts_total",
    "wasmgate_plugin_busy_total", "wasmgate_malformed_total"];
  chart($("chart-errors"), [{
    colour: "#d62728",
    values: series((a, b, dt) => errs.reduce((s, n) => s + rate(n)(a, b, dt), 0)),
  }]);
  const names = plugins.map((p) => p.name);
  const lines = names.map((p) => ({
    values: series((a, b) => {
      const c = sum(b, "wasmgate_plugin_call_seconds_count", { plugin: p }) - sum(a, "wasmgate_plugin_call_seconds_count", { plugin: p });
      const s = sum(b, "wasmgate_plugin_call_seconds_sum", { plugin: p }) - sum(a, "wasmgate_plugin_call_seconds_sum", { plugin: p });
      return c > 0 ? (1000 * s) / c : 0;
    }),
  }));
  chart($("chart-latency"), lines);
  $("latency-legend").replaceChildren(...names.map((n, k) => el("span", { class: "key", "data-colour": k }, n)));
  for (const s of $("latency-legend").children) s.style.color = COLOURS[s.dataset.colour % COLOURS.length];
}

async function overview() {
  const [health, list] = await Promise.all([
    fetch("/health", { cache: "no-store" }).then((r) => r.json()).catch(() => null),
    get("/plugins"),
  ]);
  plugins = list;
  fillPluginSelects();
  $("health").textContent = health ? health.status : "no answer";
  $("health").className = "badge " + (health && health.status === "ok" ? "good" : "bad");
  fill($("plugins-table").tBodies[0], list.map((p) => el("tr", { "data-plugin": p.name },
    el("td", {}, p.name), el("td", {}, p.world), el("td", {}, p.file || "—"),
    el("td", { class: p.loaded ? "good" : "bad" }, p.loaded ? "yes" : "no"),
    el("td", {}, p.generation ?? "—"),
    el("td", { class: "mono", title: p.sha256 || "" }, p.sha256 ? p.sha256.slice(0, 12) + "…" : "—"),
    el("td", {}, when(p.loaded_at_ms)),
    el("td", { class: p.last_reload_error ? "bad" : "" }, p.last_reload_error || "—"),
    el("td", {}, el("button", {
      type: "button", class: "reload", "data-plugin": p.name,
      onclick: () => act("reload-msg", () => request("POST", "/plugins/" + encodeURIComponent(p.name) + "/reload"),
        (o) => p.name + ": " + JSON.stringify(o)).then(overview),
    }, "Reload")))));
  const last = samples[samples.length - 1], prev = samples[samples.length - 2];
  if (last) {
    const ls = last.m.filter((x) => x.name === "wasmgate_connections_open");
    const r = (name, l) => prev ? Math.max(0, sum(last.m, name, { listener: l }) - sum(prev.m, name, { listener: l })) / (last.t - prev.t) : 0;
    fill($("listeners-table").tBodies[0], ls.map((x) => {
      const l = x.labels.listener;
      return el("tr", { "data-listener": l }, el("td", {}, l), el("td", {}, x.labels.protocol || ""), el("td", {}, x.value),
        el("td", {}, r("wasmgate_messages_in_total", l).toFixed(1)), el("td", {}, r("wasmgate_messages_out_total", l).toFixed(1)),
        el("td", {}, sum(last.m, "wasmgate_malformed_total", { listener: l })),
        el("td", {}, sum(last.m, "wasmgate_connections_refused_total", { listener: l })));
    }));
  }
  drawCharts();
}

// ---- locker ---------------------------------------------------------------------------

let board = null; // the board shown

async function locker() {
  const p = pluginOf("locker");
  if (!p) return noPlugin("locker-list-msg", "locker");
  const { boards } = await admin(p, { op: "boards" });
  show("locker-list-msg", boards.length ? "" : "No board has reported yet.", true);
  if (!board && boards.length) board = boards[0].device;
  fill($("boards-table").tBodies[0], boards.map((b) => el("tr", {
    "data-device": b.device, class: b.device === board ? "selected" : "",
    onclick: () => { board = b.device; locker(); },
  },
  el("td", {}, b.device), el("td", {}, when(b.last_report_ms)), el("td", {}, b.connection ?? "—"),
  el("td", {}, b.wifi_state ?? "—"), el("td", {}, b.gsm_state ?? "—"), el("td", {}, (b.state || []).join(",") || "—"),
  el("td", {}, b.cols && b.rows ? b.cols + "×" + b.rows : "—"),
  el("td", { class: b.blocked ? "bad" : "" }, b.blocked ? "blocked" : "no"), el("td", {}, b.active_codes))));
  if (board) await showBoard(p, board);
}

async function showBoard(p, device) {
  let s;
  try {
    s = await admin(p, { op: "status", device });
  } catch (e) {
    show("locker-msg", e.message, false);
    return;
  }
  $("board").hidden = false;
  $("board-title").textContent = "Board " + s.device;
  $("board-flags").textContent = "last report " + when(s.last_report_ms) + " · connection " + (s.connection ?? "—") +
    " · WiFi " + (s.wifi_state ?? "—") + " · GSM " + (s.gsm_state ?? "—") + " · STATE " + ((s.state || []).join(",") || "—") +
    " · " + s.connected_locks + " locks connected" + (s.blocked ? " · BLOCKED" : "") + (s.reset_pending ? " · reset pending" : "");
  const now = Date.now();
  const codes = new Map(s.cells.map((c) => [c.cell, c]));
  const gone = new Map((s.expired || []).map((c) => [c.cell, c])); // expired in the last hour
  const opened = new Map();
  for (const h of s.history) if (now - h.at_ms < 600000) opened.set(h.cell, h.at_ms);
  const grid = $("grid");
  grid.replaceChildren();
  if (!s.cols || !s.rows) {
    grid.textContent = "The board has not reported its COLS × ROWS yet.";
  } else {
    grid.style.gridTemplateColumns = "repeat(" + s.cols + ", minmax(4.5em, 1fr))";
    for (let r = 0; r < s.rows; r++) {
      for (let c = 0; c < s.cols; c++) {
        const n = r * s.cols + c + 1;
        const lock = s.act_con ? !!(s.act_con[r] && s.act_con[r][c]) : null;
        const code = codes.get(n) || gone.get(n);
        const expired = code && (gone.has(n) || code.expires_at_ms <= now);
        const cls = ["cell", lock === false ? "nolock" : "lock"];
        if (code) cls.push(expired ? "expired" : "active");
        if (opened.has(n)) cls.push("opened");
        grid.append(el("div", {
          class: cls.join(" "), "data-cell": n, title: "cell " + n,
          onclick: () => { $("assign-cell").value = n; },
        },
        el("b", {}, n),
        el("span", {}, lock === null ? "" : lock ? "lock" : "no lock"),
        code ? el("span", { class: "code" }, code.code) : null,
        code ? el("span", {}, expired ? "expired" : code.minutes_left + " min") : null,
        opened.has(n) ? el("span", {}, "opened " + span(Math.round((now - opened.get(n)) / 1000)) + " ago") : null));
      }
    }
  }
  fill($("history-table").tBodies[0], s.history.slice().reverse().slice(0, 100).map((h) =>
    el("tr", {}, el("td", {}, when(h.at_ms)), el("td", {}, h.cell))));
}

function lockerOp(op, extra, what) {
  const p = pluginOf("locker");
  if (!p || !board) return;
  act("locker-msg", () => admin(p, Object.assign({ op, device: board }, extra)), what).then(locker);
}

// ---- plate -------------------------------------------------------------------------------

const photoCache = new Map(); // plugin/camera/identify → object URL, or null: not kept

async function plate() {
  const p = pluginOf("plate");
  if (!p) return noPlugin("plate-msg", "plate");
  const { recognitions } = await admin(p, { op: "recent", limit: 20 });
  fill($("recent-table").tBodies[0], recognitions.map((r) => el("tr", { "data-camera": r.camera, "data-identify": r.identify },
    el("td", {}, when(r.at_ms)), el("td", {}, r.camera), el("td", {}, r.identify), el("td", { class: "plate" }, r.plate || "—"),
    el("td", {}, r.colour || "—"),
    el("td", { class: r.plate ? "good" : "bad" }, r.plate ? "0 success" : "1 errCode " + r.err_code + " (" + r.failure + ")"))));
  const shown = recognitions.slice(0, 6);
  const figures = [];
  for (const r of shown) {
    const key = p + "/" + r.camera + "/" + r.identify;
    if (!photoCache.has(key)) {
      try {
        const resp = await request("GET", "/images/" + [p, r.camera, r.identify].map(encodeURIComponent).join("/"), undefined, true);
        photoCache.set(key, URL.createObjectURL(await resp.blob()));
      } catch (e) {
        if (e.status === 401) return;
        photoCache.set(key, null);
      }
    }
    figures.push(photoFigure(r, photoCache.get(key)));
  }
  $("photos").replaceChildren(...figures);
}

function photoFigure(r, url) {
  const caption = el("figcaption", {}, (r.plate || "no plate") + " · " + r.camera + " · " + when(r.at_ms));
  if (!url) return el("figure", { class: "photo", "data-camera": r.camera, "data-identify": r.identify }, el("p", {}, "image not kept"), caption);
  const canvas = el("canvas", { class: "photo-canvas", width: 320, height: 180 });
  const fig = el("figure", { class: "photo", "data-camera": r.camera, "data-identify": r.identify }, canvas, caption);
  const img = new Image();
  img.onload = () => {
    const scale = Math.min(480 / img.naturalWidth, 1);
    canvas.width = Math.round(img.naturalWidth * scale);
    canvas.height = Math.round(img.naturalHeight * scale);
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    if (r.corners) {
      ctx.strokeStyle = "#ff2d2d";
      ctx.lineWidth = 3;
      ctx.beginPath();
      r.corners.forEach(([x, y], i) => (i ? ctx.lineTo(x * scale, y * scale) : ctx.moveTo(x * scale, y * scale)));
      ctx.closePath();
      ctx.stroke();
      fig.dataset.box = "drawn";
    }
    fig.dataset.loaded = "1";
  };
  img.src = url;
  return fig;
}

// ---- remote execute --------------------------------------------------------------------

async function exec() {
  const p = pluginOf("exec");
  if (!p) return noPlugin("exec-msg", "exec");
  const { tokens } = await admin(p, { op: "list-tokens" });
  fill($("tokens-table").tBodies[0], tokens.map((t) => el("tr", { "data-id": t.id },
    el("td", { class: "mono" }, t.id), el("td", {}, when(t.created_ms)),
    el("td", {}, t.expires_ms ? when(t.expires_ms) : "never"), el("td", {}, t.connected),
    el("td", { class: "mono" }, t.session_id),
    el("td", {}, el("button", {
      type: "button", class: "revoke", "data-id": t.id,
      onclick: () => act("exec-msg", () => admin(p, { op: "revoke-token", id: t.id }),
        (v) => "revoked " + v.revoked + ", " + v.closed + " connection(s) closed").then(exec),
    }, "Revoke")))));
}

// ---- chat ------------------------------------------------------------------------------------

async function chat() {
  const p = pluginOf("chat");
  if (!p) return noPlugin("chat-msg", "chat");
  const [{ online }, { users }] = await Promise.all([admin(p, { op: "online" }), admin(p, { op: "users" })]);
  fill($("online-table").tBodies[0], online.map((u) => el("tr", { "data-name": u.name },
    el("td", {}, u.name), el("td", {}, u.guest ? "guest" : "registered"))));
  fill($("users-table").tBodies[0], users.map((n) => el("tr", { "data-name": n }, el("td", {}, n),
    el("td", {}, el("button", {
      type: "button", class: "delete-user", "data-name": n,
      onclick: () => {
        if (!confirm("Delete the user " + n + "?")) return;
        act("chat-msg", () => admin(p, { op: "delete-user", name: n }), (v) => v.deleted ? "deleted " + n : n + " was not registered").then(chat);
      },
    }, "Delete")))));
}

// ---- smart-home ---------------------------------------------------------------------------

async function smarthome() {
  const p = pluginOf("smarthome");
  if (!p) return noPlugin("smarthome-msg", "smarthome");
  let s = null;
  try {
    s = (await admin(p, { op: "current" })).serving;
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  const rows = s
    ? [["name", s.name], ["size", s.bytes + " bytes"], ["sha256", s.sha256], ["uploaded", when(s.uploaded_at_ms)]]
    : [["database", "none uploaded yet: clients get an error frame"]];
  fill($("db-info").tBodies[0], rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", { class: k === "sha256" ? "mono" : "" }, v))));
  const tables = (s && s.tables) || [];
  $("tables-list").replaceChildren(...tables.map((t) => el("li", {}, t.name + (t.type && t.type !== "table" ? " (" + t.type + ")" : ""))));
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ""));
    r.onerror = () => reject(new Error("cannot read " + file.name));
    r.readAsDataURL(file);
  });
}

// ---- wiring -------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const t = $("token").value.trim();
    $("token").value = "";
    login(t);
  });
  $("logout").addEventListener("click", () => logout(""));
  window.addEventListener("hashchange", route);
  for (const s of document.querySelectorAll(".plugin-select")) s.addEventListener("change", () => { board = null; route(); });

  $("assign-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const cell = parseInt($("assign-cell").value, 10);
    const minutes = parseInt($("assign-minutes").value, 10);
    lockerOp("assign", { cell, code: $("assign-code").value.trim(), minutes },
      (v) => "code " + v.code + " on cell " + v.cell + " until " + when(v.expires_at_ms));
  });
  $("revoke-btn").addEventListener("click", () =>
    lockerOp("revoke", { cell: parseInt($("assign-cell").value, 10) }, (v) => v.revoked ? "revoked" : "no code there"));
  $("block-btn").addEventListener("click", () => lockerOp("block", {}, () => "blocked: STATE=3 in every answer"));
  $("unblock-btn").addEventListener("click", () => lockerOp("unblock", {}, () => "unblocked"));
  $("reset-btn").addEventListener("click", () => lockerOp("reset", {}, () => "RESET=1 in the next answer"));

  $("mint-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const p = pluginOf("plate");
    const v = await act("plate-msg", () => admin(p, { op: "mint-token", ttl_s: parseInt($("mint-ttl").value, 10) }),
      (v) => "minted, valid until " + when(v.expires_at_s * 1000));
    $("minted").hidden = !v;
    $("minted-token").value = v ? v.token : "";
  });

  $("create-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const p = pluginOf("exec");
    const ttl = $("create-ttl").value.trim();
    const body = { op: "create-token" };
    if (ttl) body.ttl_s = parseInt(ttl, 10);
    const v = await act("exec-msg", () => admin(p, body), (v) => "created token " + v.id);
    $("created").hidden = !v;
    $("created-token").value = v ? v.token : "";
    exec();
  });

  $("upload-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const p = pluginOf("smarthome");
    const f = $("upload-file").files[0];
    if (!f) return show("smarthome-msg", "choose a file first", false);
    await act("smarthome-msg", async () => admin(p, { op: "upload", name: f.name, data_base64: await readBase64(f) }),
      (v) => "serving " + v.serving.name + " (" + v.serving.bytes + " bytes)");
    smarthome();
  });

  const t = token();
  if (t !== null) login(t);
});
