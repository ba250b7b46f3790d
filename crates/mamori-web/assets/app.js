// mamori console. Every page is drawn here from the JSON API; values are
// only ever put into the page as text (never as HTML). No outside request.

const state = {
  lang: localStorage.getItem("mamori.lang") || "ja",
  msgs: {},
  session: null,
};

// ---- helpers ---------------------------------------------------------------

function m(key, args) {
  let s = state.msgs["ui." + key] || key;
  for (const [k, v] of Object.entries(args || {})) s = s.split("{" + k + "}").join(String(v));
  return s;
}

// h("tag#id.class", {attr: value, onclick: fn}, child, "text", …)
function h(spec, attrs, ...children) {
  const parts = spec.match(/^[a-z0-9]+|[.#][^.#]+/gi);
  const el = document.createElement(parts[0]);
  for (const p of parts.slice(1)) {
    if (p[0] === "#") el.id = p.slice(1);
    else el.classList.add(p.slice(1));
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || "HTTP " + status);
    this.status = status;
    this.body = body || {};
  }
}

async function api(path, opts = {}) {
  const headers = { Accept: "application/json" };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  if (state.session && state.session.csrf) headers["X-CSRF-Token"] = state.session.csrf;
  const r = await fetch(path, {
    method: opts.method || "GET",
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    credentials: "same-origin",
  });
  let body = null;
  const text = await r.text();
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = { error: text }; }
  if (!r.ok) {
    if (r.status === 401 && !opts.quiet401 && state.session) {
      state.session = null;
      location.hash = "#/login";
    }
    throw new ApiError(r.status, body);
  }
  return body;
}

function flash(text, kind) {
  const f = document.getElementById("flash");
  f.replaceChildren();
  if (text) f.append(h("p." + (kind || "error"), {}, text));
}

function time(s) {
  if (!s) return "–";
  const d = typeof s === "number" ? new Date(s / 1e6) : new Date(s);
  if (isNaN(d)) return String(s);
  return d.toLocaleString(state.lang === "ja" ? "ja-JP" : "en-GB", { hour12: false });
}

function can(role) {
  const rank = { viewer: 1, analyst: 2, admin: 3 };
  return state.session && rank[state.session.role] >= rank[role];
}

function levelBadge(level) {
  return h("span.badge.level-" + (level || "none"), {}, m("level." + (level || "none")));
}

function table(headers, rows, opts = {}) {
  return h("table" + (opts.cls ? "." + opts.cls : ""), {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td.muted", { colspan: headers.length }, m("common.none")))));
}

function field(label, input) {
  if (!input.id) input.id = "f-" + Math.random().toString(36).slice(2, 9);
  return h("div.field", {}, h("label", { for: input.id }, label), input);
}

function formFromFields(onsubmit, ...children) {
  return h("form", {
    onsubmit: async (e) => {
      e.preventDefault();
      const btn = e.target.querySelector("button[type=submit]");
      if (btn) btn.disabled = true;
      try { await onsubmit(e.target); } catch (err) { flash(err.message); } finally { if (btn) btn.disabled = false; }
    },
  }, ...children);
}

// ---- language and layout ---------------------------------------------------

async function loadMessages() {
  const r = await fetch("/api/v1/messages?lang=" + encodeURIComponent(state.lang));
  const j = await r.json();
  state.msgs = j.messages || {};
  document.documentElement.lang = state.lang;
}

async function setLang(lang) {
  state.lang = lang;
  localStorage.setItem("mamori.lang", lang);
  await loadMessages();
  header();
  route();
}

function header() {
  const top = document.getElementById("top");
  const other = state.lang === "ja" ? "en" : "ja";
  const langBtn = h("button.link#lang-switch", { type: "button", onclick: () => setLang(other), lang: other },
    other === "ja" ? "日本語" : "English");
  const nav = [];
  if (state.session) {
    const links = [["#/", "nav.dashboard"], ["#/alerts", "nav.alerts"], ["#/search", "nav.search"],
      ["#/sources", "nav.sources"], ["#/rules", "nav.rules"]];
    if (can("admin")) links.push(["#/users", "nav.users"]);
    links.push(["#/settings", "nav.settings"]);
    for (const [href, key] of links) nav.push(h("a", { href, id: "nav-" + key.split(".")[1] }, m(key)));
  }
  const right = [langBtn];
  if (state.session) {
    right.unshift(h("span.muted#whoami", {}, state.session.user + " (" + m("role." + state.session.role) + ")"));
    right.push(h("button.link#logout", {
      type: "button",
      onclick: async () => {
        try { await api("/api/v1/logout", { method: "POST" }); } catch (_) { /* gone anyway */ }
        state.session = null;
        header();
        location.hash = "#/login";
      },
    }, m("nav.logout")));
  }
  top.replaceChildren(h("div.brand", {}, h("img", { src: "/favicon.svg", alt: "", width: 22, height: 22 }), "mamori ", h("span.muted", {}, "守り")),
    h("nav", { "aria-label": m("nav.label") }, nav), h("div.right", {}, right));
}

function page(title, ...content) {
  document.title = title + " – mamori";
  const main = document.getElementById("main");
  main.replaceChildren(h("h1", {}, title), ...content);
}

// ---- routing ---------------------------------------------------------------

const routes = [
  [/^#\/setup\/([A-Za-z0-9_-]+)$/, setupPage, false],
  [/^#\/login$/, loginPage, false],
  [/^#\/?$/, dashboardPage, true],
  [/^#\/alerts$/, alertsPage, true],
  [/^#\/alerts\/(\d+)$/, alertPage, true],
  [/^#\/search$/, searchPage, true],
  [/^#\/sources$/, sourcesPage, true],
  [/^#\/rules$/, rulesPage, true],
  [/^#\/users$/, usersPage, true],
  [/^#\/settings$/, settingsPage, true],
];

async function route() {
  flash("");
  const hash = location.hash || "#/";
  const [path, query] = hash.split("?");
  for (const [re, fn, needsLogin] of routes) {
    const match = path.match(re);
    if (!match) continue;
    if (needsLogin && !state.session) { location.hash = "#/login"; return; }
    try {
      await fn(match.slice(1), new URLSearchParams(query || ""));
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) flash(err.message);
    }
    document.getElementById("main").focus({ preventScroll: true });
    return;
  }
  page(m("common.not_found"));
}

// ---- login and setup ---------------------------------------------------------

function loginPage() {
  let step = "password";
  let enrollToken = null;
  const user = h("input", { name: "username", autocomplete: "username", required: true });
  const pass = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const code = h("input", { name: "code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: 6 });
  const codeField = field(m("login.code"), code);
  codeField.hidden = true;
  const enrollBox = h("div#enroll");
  const done = async (s) => {
    state.session = s;
    header();
    location.hash = "#/";
  };
  const form = formFromFields(async () => {
    try {
      if (step === "enroll") {
        await done(await api("/api/v1/login/enroll", { method: "POST", body: { token: enrollToken, code: code.value } }));
        return;
      }
      const r = await api("/api/v1/login", {
        method: "POST", quiet401: true,
        body: { username: user.value, password: pass.value, code: code.value || null },
      });
      if (r.enroll) {
        step = "enroll";
        enrollToken = r.enroll.token;
        enrollBox.replaceChildren(
          h("p", {}, m("login.enroll_intro")),
          r.enroll.qr ? h("img#totp-qr", { src: r.enroll.qr, alt: m("login.enroll_qr"), width: 200, height: 200 }) : null,
          h("p", {}, m("login.enroll_secret"), " ", h("code#totp-secret", {}, r.enroll.secret)),
          h("p.small", {}, m("login.enroll_uri"), " ", h("code#totp-uri", {}, r.enroll.uri)));
        codeField.hidden = false;
        code.required = true;
        code.focus();
        return;
      }
      await done(r);
    } catch (err) {
      if (err.body && err.body.totp_required) {
        codeField.hidden = false;
        code.required = true;
        code.focus();
        flash(m("login.totp_needed"), "info");
        return;
      }
      throw err;
    }
  }, field(m("login.username"), user), field(m("login.password"), pass), enrollBox, codeField,
  h("button#login-submit", { type: "submit" }, m("login.submit")));
  page(m("login.title"), form);
  user.focus();
}

function setupPage([token]) {
  const user = h("input", { name: "username", autocomplete: "username", required: true, value: "admin" });
  const pass = h("input", { type: "password", autocomplete: "new-password", required: true, minlength: 10 });
  const pass2 = h("input", { type: "password", autocomplete: "new-password", required: true, minlength: 10 });
  page(m("setup.title"), h("p", {}, m("setup.intro")), formFromFields(async () => {
    if (pass.value !== pass2.value) { flash(m("setup.mismatch")); return; }
    await api("/api/v1/setup", { method: "POST", body: { token, username: user.value, password: pass.value } });
    location.hash = "#/login";
    setTimeout(() => flash(m("setup.done"), "info"), 50);
  }, field(m("login.username"), user), field(m("login.password"), pass), field(m("setup.again"), pass2),
  h("button#setup-submit", { type: "submit" }, m("setup.submit"))));
}

// ---- dashboard -----------------------------------------------------------------

function barChart(buckets, label) {
  const w = 720, hgt = 140, pad = 24;
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const bw = (w - pad) / Math.max(1, buckets.length);
  const chart = svg("svg", { viewBox: `0 0 ${w} ${hgt + 20}`, role: "img", "aria-label": label, class: "chart" });
  buckets.forEach((b, i) => {
    const bh = Math.round((b.count / max) * (hgt - 10));
    const rect = svg("rect", { x: pad + i * bw + 1, y: hgt - bh, width: Math.max(1, bw - 2), height: bh, class: "bar" });
    rect.append(svg("title", {}, time(b.start) + ": " + b.count));
    chart.append(rect);
  });
  chart.append(svg("text", { x: 0, y: 12, class: "axis" }, String(max)));
  if (buckets.length) {
    chart.append(svg("text", { x: pad, y: hgt + 16, class: "axis" }, time(buckets[0].start)));
    chart.append(svg("text", { x: w, y: hgt + 16, class: "axis", "text-anchor": "end" }, time(buckets[buckets.length - 1].start)));
  }
  return chart;
}

async function dashboardPage() {
  const d = await api("/api/v1/dashboard");
  const levels = ["critical", "high", "medium", "low", "informational"];
  const open = {};
  let openTotal = 0, ack = 0;
  for (const c of d.alerts.counts) {
    if (c.status === "open") { open[c.level] = (open[c.level] || 0) + c.count; openTotal += c.count; }
    if (c.status === "acknowledged") ack += c.count;
  }
  const silent = d.sources.filter((s) => s.silent);
  const verify = d.store.last_verify;
  const allWell = openTotal === 0 && silent.length === 0 && !d.store.paused && (!verify || verify.ok);
  const summary = h("section.summary." + (allWell ? "ok" : "warn"), { id: "status" },
    h("h2", {}, allWell ? m("dash.all_well") : m("dash.attention")));
  const cards = h("div.cards", {},
    h("section.card#open-alerts", {}, h("h2", {}, m("dash.open_alerts")),
      h("p.big", {}, String(openTotal)),
      h("ul.levels", {}, levels.filter((l) => open[l]).map((l) => h("li", {}, levelBadge(l), " ", String(open[l])))),
      h("p.muted", {}, m("dash.acknowledged", { n: ack }))),
    h("section.card", {}, h("h2", {}, m("dash.store")),
      h("p", {}, m("dash.events_stored", { n: d.store.events.toLocaleString() })),
      h("p", {}, m("dash.disk", { mb: (d.store.bytes / 1048576).toFixed(1) })),
      d.store.paused ? h("p.error", {}, m("dash.paused")) : null,
      h("p#verify-status", {}, verify
        ? (verify.ok ? m("dash.verify_ok", { when: time(verify.time) }) : m("dash.verify_bad", { when: time(verify.time), n: verify.problems }))
        : m("dash.verify_never"))),
    h("section.card", {}, h("h2", {}, m("dash.index")),
      h("p", {}, m("dash.searchable", { n: d.index.docs.toLocaleString() })),
      d.index.lag > 0 ? h("p.muted", {}, m("dash.lag", { n: d.index.lag })) : null));
  const newest = table([m("alerts.level"), m("alerts.rule"), m("alerts.entities"), m("alerts.last_seen")],
    d.alerts.newest.map((a) => h("tr", {},
      h("td", {}, levelBadge(a.level)),
      h("td", {}, h("a", { href: "#/alerts/" + a.id }, ruleTitle(a))),
      h("td", {}, entities(a)),
      h("td", {}, time(a.last_seen_ns)))));
  const sources = sourceHealth(d.sources);
  page(m("nav.dashboard"), summary, cards,
    h("section", {}, h("h2", {}, m("dash.newest")), newest),
    h("section", {}, h("h2", {}, m("dash.per_hour")), barChart(d.events_per_hour, m("dash.per_hour"))),
    h("section", {}, h("h2", {}, m("dash.sources")), sources));
}

function ruleTitle(a) {
  return state.lang === "ja" && a.rule_title_ja ? a.rule_title_ja : a.rule_title;
}

function sourceHealth(list) {
  return table([m("sources.name"), m("sources.last_seen"), m("sources.state"), m("sources.received")],
    list.map((s) => h("tr" + (s.silent ? ".warn" : ""), {},
      h("td", {}, s.name),
      h("td", {}, time(s.last_seen)),
      h("td", {}, s.silent ? h("span.badge.level-high", {}, m("sources.silent")) : h("span.badge.ok", {}, m("sources.ok"))),
      h("td.num", {}, String(s.events_since_start)))), { cls: "sources" });
}

function entities(a) {
  return [a.entities.host, a.entities.user, a.entities.ip].filter(Boolean).join(" · ");
}

// ---- alerts ------------------------------------------------------------------------

async function alertsPage(_, params) {
  const status = params.get("status") || "open";
  const level = params.get("level") || "";
  const q = new URLSearchParams({ limit: "200" });
  if (status !== "all") q.set("status", status);
  if (level) q.set("level", level);
  const d = await api("/api/v1/alerts?" + q);
  const statusSel = h("select#filter-status", {}, ["open", "acknowledged", "closed", "all"].map((s) =>
    h("option", { value: s, selected: s === status }, m("status." + s))));
  const levelSel = h("select#filter-level", {}, ["", "low", "medium", "high", "critical"].map((l) =>
    h("option", { value: l, selected: l === level }, l ? m("level." + l) : m("common.any"))));
  const filters = formFromFields(async () => {
    location.hash = "#/alerts?" + new URLSearchParams({ status: statusSel.value, level: levelSel.value });
  }, h("div.row", {}, field(m("alerts.status"), statusSel), field(m("alerts.level"), levelSel),
    h("button", { type: "submit" }, m("common.apply"))));
  const rows = d.alerts.map((a) => h("tr", { "data-id": a.id },
    h("td", {}, h("a", { href: "#/alerts/" + a.id }, "#" + a.id)),
    h("td", {}, levelBadge(a.level)),
    h("td", {}, m("status." + a.status)),
    h("td", {}, h("a", { href: "#/alerts/" + a.id }, ruleTitle(a))),
    h("td", {}, entities(a)),
    h("td.num", {}, String(a.count)),
    h("td", {}, time(a.last_seen_ns))));
  page(m("nav.alerts"), filters, table(["ID", m("alerts.level"), m("alerts.status"), m("alerts.rule"),
    m("alerts.entities"), m("alerts.count"), m("alerts.last_seen")], rows, { cls: "alerts" }));
}

async function alertPage([id]) {
  const d = await api("/api/v1/alerts/" + id);
  const a = d.alert, rule = d.rule || {};
  const comment = h("textarea#alert-comment", { rows: 2 });
  const assignee = h("input#alert-assignee", { value: a.assignee || "" });
  const act = (action) => async () => {
    try {
      await api(`/api/v1/alerts/${id}/${action}`, { method: "POST", body: { comment: comment.value, assignee: assignee.value } });
      await alertPage([id]);
      flash(m("alert.done"), "info");
    } catch (err) { flash(err.message); }
  };
  const actions = can("analyst") ? h("section.actions", {}, h("h2", {}, m("alert.act")),
    field(m("alert.comment"), comment),
    h("div.row", {},
      a.status === "open" ? h("button#alert-ack", { type: "button", onclick: act("ack") }, m("alert.ack")) : null,
      a.status !== "closed" ? h("button#alert-close", { type: "button", onclick: act("close") }, m("alert.close")) : null,
      a.status !== "open" ? h("button#alert-reopen", { type: "button", onclick: act("reopen") }, m("alert.reopen")) : null,
      h("button#alert-comment-add", { type: "button", onclick: act("comment") }, m("alert.add_comment"))),
    h("div.row", {}, field(m("alert.assignee"), assignee), h("button#alert-assign", { type: "button", onclick: act("assign") }, m("alert.assign")))) : null;
  const response = state.lang === "ja" ? (rule.response_ja || rule.response_en) : (rule.response_en || rule.response_ja);
  const title = state.lang === "ja" && rule.title_ja ? rule.title_ja : a.rule_title;
  const info = h("dl.grid", {},
    h("dt", {}, m("alerts.status")), h("dd#alert-status", {}, m("status." + a.status)),
    h("dt", {}, m("alerts.level")), h("dd", {}, levelBadge(a.level)),
    h("dt", {}, m("alerts.entities")), h("dd", {}, entities(a) || "–"),
    h("dt", {}, m("alerts.count")), h("dd", {}, String(a.count)),
    h("dt", {}, m("alert.first_seen")), h("dd", {}, time(a.first_seen_ns)),
    h("dt", {}, m("alerts.last_seen")), h("dd", {}, time(a.last_seen_ns)),
    h("dt", {}, m("alert.tags")), h("dd", {}, (a.tags || []).join(", ") || "–"),
    h("dt", {}, m("alert.assignee")), h("dd", {}, a.assignee || "–"));
  const events = table([m("search.time"), m("search.host"), m("search.event")], d.events.map((e) =>
    h("tr", {}, h("td", {}, time(e.time)), h("td", {}, e.host || ""), h("td.raw", {}, e.raw || JSON.stringify(e.fields)))));
  const notes = table([m("search.time"), m("alert.who"), m("alert.what"), m("alert.comment")], (a.notes || []).map((n) =>
    h("tr", {}, h("td", {}, time(n.time_ns)), h("td", {}, n.actor), h("td", {}, n.action), h("td", {}, n.comment))));
  page("#" + a.id + " " + title, info,
    rule.description ? h("section", {}, h("h2", {}, m("alert.description")), h("p.pre", {}, rule.description)) : null,
    response ? h("section.response", {}, h("h2", {}, m("alert.response")), h("p.pre#alert-response", {}, response)) : null,
    actions,
    h("section", {}, h("h2", {}, m("alert.events")), events),
    h("section", {}, h("h2", {}, m("alert.history")), notes));
}

// ---- search ------------------------------------------------------------------------

async function searchPage(_, params) {
  const qv = params.get("q") || "";
  const from = params.has("from") ? params.get("from") : "24h";
  const to = params.get("to") || "";
  const q = h("input#search-q", { value: qv, placeholder: 'user.name:yamada AND source.ip:10.0.0.0/8', size: 60 });
  const fromSel = h("select#search-from", {}, ["1h", "24h", "7d", "30d", "365d", ""].map((f) =>
    h("option", { value: f, selected: f === from }, f ? m("search.last", { span: f }) : m("search.all_time"))));
  const toIn = h("input#search-to", { value: to, placeholder: "2026-11-24T10:00:00+09:00" });
  const results = h("div#search-results");
  const form = formFromFields(async () => {
    location.hash = "#/search?" + new URLSearchParams({ q: q.value, from: fromSel.value, to: toIn.value });
  }, h("div.row", {}, field(m("search.query"), q), field(m("search.from"), fromSel), field(m("search.to"), toIn),
    h("button#search-submit", { type: "submit" }, m("search.submit"))),
  h("p.small.muted", {}, m("search.help")));
  page(m("nav.search"), form, results);
  if (!params.has("q")) return;
  const sp = new URLSearchParams({ q: qv, limit: "200", buckets: "48" });
  if (from) sp.set("from", from);
  if (to) sp.set("to", to);
  const d = await api("/api/v1/search?" + sp);
  const csv = new URLSearchParams(sp);
  csv.set("format", "csv");
  csv.set("limit", "10000");
  csv.delete("buckets");
  const detail = h("pre#event-detail.detail");
  detail.hidden = true;
  const rows = d.events.map((e) => h("tr.clickable", {
    tabindex: 0,
    onclick: () => { detail.hidden = false; detail.textContent = JSON.stringify(e, null, 2); },
    onkeydown: (ev) => { if (ev.key === "Enter") { detail.hidden = false; detail.textContent = JSON.stringify(e, null, 2); } },
  }, h("td", {}, time(e.time)), h("td", {}, e.source), h("td", {}, e.host || ""), h("td.raw", {}, e.raw || "")));
  results.replaceChildren(
    h("p#search-total", {}, m("search.total", { n: d.total, ms: d.took_ms })),
    d.histogram.length ? barChart(d.histogram, m("search.histogram")) : null,
    h("p", {}, h("a#search-csv", { href: "/api/v1/search?" + csv, download: "mamori-search.csv" }, m("search.csv"))),
    table([m("search.time"), m("search.source"), m("search.host"), m("search.event")], rows, { cls: "events" }),
    detail);
}

// ---- sources, rules, users -------------------------------------------------------------

async function sourcesPage() {
  const d = await api("/api/v1/sources");
  page(m("nav.sources"),
    h("section", {}, h("h2", {}, m("sources.listeners")), table([m("sources.listener"), m("sources.address")],
      d.listeners.map((l) => h("tr", {}, h("td", {}, l.listener), h("td", {}, l.address))))),
    h("section", {}, h("h2", {}, m("sources.configured")), table([m("sources.name"), m("sources.decoder"), m("sources.encoding"), m("sources.timezone")],
      d.sources.map((s) => h("tr", {}, h("td", {}, s.name), h("td", {}, s.decoder), h("td", {}, s.encoding), h("td", {}, s.timezone))))),
    h("section", {}, h("h2", {}, m("dash.sources")), sourceHealth(d.health)),
    h("section", {}, h("h2", {}, m("sources.tokens")), table([m("sources.name"), m("sources.kind"), m("sources.created")],
      d.tokens.map((t) => h("tr", {}, h("td", {}, t.name), h("td", {}, t.kind.kind + (t.kind.source ? ": " + t.kind.source : "")), h("td", {}, time(t.created)))))),
    h("p.small.muted", {}, m("sources.help")));
}

async function rulesPage() {
  const d = await api("/api/v1/rules");
  const rows = d.rules.map((r) => {
    const toggle = can("admin") ? h("button.small", {
      type: "button", "data-key": r.key,
      onclick: async () => {
        try { await api(`/api/v1/rules/${encodeURIComponent(r.key)}/${r.enabled ? "disable" : "enable"}`, { method: "POST" }); await rulesPage(); }
        catch (err) { flash(err.message); }
      },
    }, r.enabled ? m("rules.disable") : m("rules.enable")) : null;
    return h("tr" + (r.enabled ? "" : ".muted"), {},
      h("td", {}, state.lang === "ja" && r.title_ja ? r.title_ja : r.title),
      h("td", {}, levelBadge(r.level)),
      h("td.small", {}, (r.tags || []).join(", ")),
      h("td", {}, r.enabled ? m("rules.on") : m("rules.off")),
      h("td", {}, toggle));
  });
  const ruleIn = h("textarea#rule-yaml", { rows: 10, spellcheck: "false" });
  const eventsIn = h("textarea#rule-events", { rows: 6, spellcheck: "false" });
  const out = h("div#rule-test-result");
  const tester = can("analyst") ? h("section", {}, h("h2", {}, m("rules.test")), h("p.small.muted", {}, m("rules.test_help")),
    formFromFields(async () => {
      const r = await api("/api/v1/rules/test", { method: "POST", body: { rule: ruleIn.value, events: eventsIn.value } });
      out.replaceChildren(
        r.errors.length ? h("ul.error", {}, r.errors.map((e) => h("li", {}, e))) : h("p", {}, m("rules.loaded", { n: r.loaded })),
        table([m("rules.line"), m("rules.result"), m("search.decoder")], r.results.map((x) => h("tr", {},
          h("td.num", {}, String(x.line)), h("td", {}, x.matched ? m("rules.matched", { rules: x.rules.join(", ") }) : m("rules.no_match")),
          h("td", {}, x.decoder)))));
    }, field(m("rules.yaml"), ruleIn), field(m("rules.events"), eventsIn), h("button#rule-test-submit", { type: "submit" }, m("rules.run")), out)) : null;
  page(m("nav.rules"), h("p", {}, m("rules.count", { n: d.rules.length })),
    table([m("rules.title"), m("alerts.level"), m("rules.tags"), m("rules.state"), ""], rows, { cls: "rules" }), tester);
}

async function usersPage() {
  const d = await api("/api/v1/users");
  const name = h("input#new-user-name", { required: true, autocomplete: "off" });
  const role = h("select#new-user-role", {}, ["viewer", "analyst", "admin"].map((r) => h("option", { value: r }, m("role." + r))));
  const pw = h("input#new-user-password", { type: "password", required: true, minlength: 10, autocomplete: "new-password" });
  const act = (u, action, body) => async () => {
    if (action === "remove" && !confirm(m("users.confirm_remove", { name: u }))) return;
    try { await api(`/api/v1/users/${encodeURIComponent(u)}/${action}`, { method: "POST", body }); await usersPage(); flash(m("alert.done"), "info"); }
    catch (err) { flash(err.message); }
  };
  page(m("nav.users"),
    table([m("login.username"), m("users.role"), m("users.totp"), m("users.locked"), ""], d.users.map((u) => h("tr", {},
      h("td", {}, u.name), h("td", {}, m("role." + u.role)),
      h("td", {}, u.totp_enrolled ? m("users.yes") : m("users.no")),
      h("td", {}, u.locked_until * 1000 > Date.now() ? time(u.locked_until * 1e9) : "–"),
      h("td", {}, h("button.small", { type: "button", onclick: act(u.name, "reset-totp") }, m("users.reset_totp")), " ",
        h("button.small", { type: "button", onclick: act(u.name, "remove") }, m("users.remove")))))),
    h("section", {}, h("h2", {}, m("users.add")), h("p.small.muted", {}, m("users.add_help")),
      formFromFields(async () => {
        await api("/api/v1/users", { method: "POST", body: { username: name.value, role: role.value, password: pw.value } });
        await usersPage();
        flash(m("alert.done"), "info");
      }, h("div.row", {}, field(m("login.username"), name), field(m("users.role"), role), field(m("login.password"), pw),
        h("button#new-user-submit", { type: "submit" }, m("users.add"))))));
}

function settingsPage() {
  const lang = h("select#settings-lang", {}, [["ja", "日本語"], ["en", "English"]].map(([v, label]) =>
    h("option", { value: v, selected: v === state.lang }, label)));
  lang.addEventListener("change", () => setLang(lang.value));
  const current = h("input#settings-current", { type: "password", required: true, autocomplete: "current-password" });
  const next = h("input#settings-new", { type: "password", required: true, minlength: 10, autocomplete: "new-password" });
  page(m("nav.settings"),
    field(m("settings.language"), lang),
    h("section", {}, h("h2", {}, m("settings.password")), formFromFields(async () => {
      await api("/api/v1/account/password", { method: "POST", body: { current: current.value, new: next.value } });
      current.value = ""; next.value = "";
      flash(m("alert.done"), "info");
    }, field(m("settings.current"), current), field(m("settings.new"), next),
    h("button#settings-save", { type: "submit" }, m("settings.save")))),
    h("p.small.muted", {}, m("settings.config")));
}

// ---- start -------------------------------------------------------------------------------

async function start() {
  await loadMessages();
  try {
    state.session = await api("/api/v1/session", { quiet401: true });
  } catch (err) {
    state.session = null;
    if (err.body && err.body.setup_needed && !location.hash.startsWith("#/setup/")) {
      header();
      page(m("setup.title"), h("p", {}, m("setup.need_link")));
      window.addEventListener("hashchange", route);
      return;
    }
  }
  header();
  window.addEventListener("hashchange", route);
  if (!state.session && !location.hash.startsWith("#/setup/")) location.hash = "#/login";
  await route();
}

start();
