// smsflow dashboard front end: plain JS, charts drawn as inline SVG (no network libraries).
"use strict";

const $ = (id) => document.getElementById(id);
const FILTERS = ["from", "to", "subaccount", "country", "operator"];
const NUMERIC = /^(U?Int|Decimal|Float)/;
let META = null;

class ApiError extends Error {}

async function api(path) {
  const resp = await fetch(path, { headers: { Accept: "application/json" } });
  let body;
  try { body = await resp.json(); } catch (e) { body = { error: `HTTP ${resp.status}` }; }
  if (!resp.ok) throw new ApiError(body.error || `HTTP ${resp.status}`);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? ""));
  return node;
}

function currentFilters() {
  const f = {};
  for (const name of FILTERS) {
    const v = $(name).value.trim();
    if (v) f[name] = v;
  }
  return f;
}

function query(f, extra = {}) {
  const q = new URLSearchParams({ ...f, ...extra });
  const s = q.toString();
  return s ? `?${s}` : "";
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

function renderTable(target, res, { onRow = null } = {}) {
  const box = typeof target === "string" ? $(target) : target;
  box.replaceChildren();
  if (!res.rows.length) {
    box.append(el("p", { class: "muted" }, "No rows."));
    return;
  }
  const numeric = (res.types || []).map((t) => NUMERIC.test(t));
  const money = res.money || null;  // money columns shown rounded, the exact value as a tooltip
  const isMoney = res.columns.map((c) => Boolean(money && money.columns.includes(c)));
  const cur = money ? res.columns.indexOf(money.currency) : -1;
  const head = el("tr", {}, ...res.columns.map((c) => el("th", {}, c)));
  const body = el("tbody");
  const td = (v, j, row) => {
    const text = v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
    if (!isMoney[j] || !text) return el("td", numeric[j] ? { class: "num" } : {}, text);
    return el("td", { class: "num money", title: text },
      moneyText(text, row[cur], money.decimals));
  };
  res.rows.forEach((row, i) => {
    const tr = el("tr", {}, ...row.map((v, j) => td(v, j, row)));
    if (onRow) tr.addEventListener("click", () => onRow(row, i));
    body.append(tr);
  });
  box.append(el("table", {}, el("thead", {}, head), body));
}

function col(res, name) {
  const i = res.columns.indexOf(name);
  return res.rows.map((r) => r[i]);
}

// ------------------------------------------------------------------ charts (inline SVG)
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}

function firstAmount(v) { return Number(String(v).split(";")[0]) || 0; }

function chart(id, labels, values, kind, maxValue = null, short = (label) => label.slice(5)) {
  const box = $(id);
  box.replaceChildren();
  if (!labels.length) { box.append(el("p", { class: "muted" }, "No data.")); return; }
  const W = 600, H = 160, L = 40, B = 20, T = 8;
  const nums = values.map(firstAmount);
  const max = (maxValue ?? Math.max(...nums, 0)) || 1;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none",
    role: "img", "aria-label": id });
  const step = (W - L) / labels.length;
  const y = (v) => H - B - (v / max) * (H - B - T);
  root.append(svg("text", { x: 2, y: T + 6 }, String(max)), svg("text", { x: 2, y: H - B }, "0"));
  const points = [];
  labels.forEach((label, i) => {
    const x = L + i * step;
    const title = svg("title", {}, `${label}: ${values[i]}`);
    if (kind === "bar") {
      const r = svg("rect", { class: "bar", x: x + step * 0.1, y: y(nums[i]),
        width: Math.max(step * 0.8, 1), height: H - B - y(nums[i]) });
      r.append(title);
      root.append(r);
    } else {
      const c = svg("circle", { class: "dot", cx: x + step / 2, cy: y(nums[i]), r: 2.5 });
      c.append(title);
      root.append(c);
      points.push(`${x + step / 2},${y(nums[i])}`);
    }
    if (labels.length <= 16 || i % Math.ceil(labels.length / 8) === 0) {
      root.append(svg("text", { x: x + 1, y: H - 6 }, short(label)));
    }
  });
  if (points.length) root.prepend(svg("polyline", { class: "line", points: points.join(" ") }));
  box.append(root);
}

// Money as `smsflow report` shows it in a terminal (sinks/table_fit.py money_for_table): each
// ';'-separated amount in its currency's usual decimals, rounded half-up on the decimal text
// (no float): 1913.02409780 EUR -> 1913.02. The decimals come from the API (res.money.decimals,
// Babel's CLDR data as in the terminal), not from Intl: the browser's ICU data is another CLDR
// version and may differ, and then the page and the terminal would show other digits.
function roundMoney(text, places) {
  const m = /^([-+]?)(\d*)(?:\.(\d*))?$/.exec(String(text).trim());
  if (!m || !(m[2] || m[3])) return String(text);
  const frac = (m[3] || "").padEnd(places + 1, "0");
  let scaled = BigInt((m[2] || "0") + frac.slice(0, places));
  if (frac[places] >= "5") scaled += 1n;
  let digits = scaled.toString().padStart(places + 1, "0");
  if (places > 0) digits = `${digits.slice(0, -places)}.${digits.slice(-places)}`;
  return `${m[1] === "-" ? "-" : ""}${digits}`;  // Decimal keeps the sign of -0.00 too
}

function moneyText(amount, currency, decimals = {}) {
  const text = amount === null || amount === undefined ? "" : String(amount);
  if (!text) return text;
  const amounts = text.split(";");
  let codes = currency ? String(currency).split(";") : [];
  if (codes.length !== amounts.length) {
    codes = amounts.map(() => (codes.length === 1 ? codes[0] : ""));
  }
  return amounts.map((a, i) => roundMoney(a, decimals[codes[i]] ?? 2)).join(";");
}

// ------------------------------------------------------------------ sections
function renderDashboard(res) {
  const rows = res.rows;
  const total = rows[rows.length - 1];
  const c = (name) => total[res.columns.indexOf(name)];
  const cost = String(c("Cost")).split(";");
  const cur = String(c("Currency")).split(";");
  const decimals = (res.money && res.money.decimals) || {};
  $("tile-total").textContent = c("Total SMS");
  $("tile-rate").textContent = `${c("Delivery Rate")} %`;
  $("tile-cost").textContent = cost.map((a, i) => `${moneyText(a, cur[i] || "", decimals)} ${
    cur[i] || ""}`.trim()).join(" + ");
  $("tile-cost").title = cost.map((a, i) => `${a} ${cur[i] || ""}`.trim()).join(" + ");
  $("tile-countries").textContent = c("Destination Countries");
  const days = { columns: res.columns, rows: rows.slice(0, -1) };
  const labels = col(days, "Period");
  chart("chart-count", labels, col(days, "Total SMS"), "bar");
  chart("chart-rate", labels, col(days, "Delivery Rate"), "line", 100);
  chart("chart-cost", labels, col(days, "Average Cost"), "bar");
  const empty = Number(c("Total SMS")) === 0;
  $("empty").hidden = !empty;
}

function detail(box, title, fields) {
  const dl = el("dl");
  for (const [k, v] of Object.entries(fields)) {
    dl.append(el("dt", {}, k),
      el("dd", { "data-field": k }, v === null ? "" : typeof v === "object" ? JSON.stringify(v) : v));
  }
  box.replaceChildren(el("h3", {}, title), dl);
  box.hidden = false;
}

function renderCampaigns(res) {
  $("campaign-count").textContent = `(${res.rows.length})`;
  $("campaign-detail").hidden = true;
  renderTable("table-campaigns", res, {
    onRow: (row) => detail($("campaign-detail"), `Campaign ${row[0]}`,
      Object.fromEntries(res.columns.map((c, i) => [c, row[i]]))),
  });
}

async function showMessage(umid) {
  try {
    const m = await api(`api/messages/${encodeURIComponent(umid)}`);
    const box = $("message-detail");
    detail(box, `Message ${m.umid}`, m.fields);
    box.append(el("h4", {}, "Timeline (input events)"));
    const tl = el("div", { class: "table", id: "timeline" });
    box.append(tl);
    renderTable(tl, m.timeline);
    showError("");
  } catch (e) { showError(e.message); }
}

function renderLog(res) {
  const i = Math.max(res.columns.indexOf("Message ID"), res.columns.indexOf("message_id"));
  renderTable("table-logs", res, { onRow: (row) => showMessage(row[i]) });
}

async function search(ev) {
  if (ev) ev.preventDefault();
  const q = $("search-q").value.trim();
  try {
    const res = await api(`api/messages${query({ q })}`);
    $("search-status").textContent = `${res.rows.length} message(s) match “${q}”`;
    renderLog(res);
    showError("");
    if (res.rows.length === 1) await showMessage(res.rows[0][0]);
  } catch (e) { showError(e.message); }
}

// ------------------------------------------------------------------ delivery quality
const asIs = (label) => label;

function renderLatency(res) {
  renderTable("table-latency", res);
  const dates = col(res, "Date");
  const last = dates.length ? dates[dates.length - 1] : "";
  const day = { columns: res.columns, rows: res.rows.filter((r, i) => dates[i] === last) };
  $("latency-day").textContent = last || "no data";
  const labels = day.rows.map((r) => `${r[1]}/${r[2]}`);
  const p95 = col(day, "Submit-Delivered p95 (s)").map((v) => v ?? 0);
  chart("chart-latency", labels, p95, "bar", null, asIs);
}

function renderPending(res) {
  renderTable("table-pending", res);
  const ops = { columns: res.columns, rows: res.rows.slice(0, -1) };  // without Total
  chart("chart-coverage", col(ops, "Operator"), col(ops, "DLR Coverage"), "bar", 100, asIs);
  const ages = ["< 1 h", "1-6 h", "6-24 h", "24-48 h", "Expired"];
  const total = res.rows[res.rows.length - 1];  // the Total row: pending receipts by age
  chart("chart-ageing", ages, ages.map((a) => total[res.columns.indexOf(a)]), "bar", null, asIs);
}

function renderErrors(res) {
  renderTable("table-errors", res);
  const top = [...res.rows].sort((a, b) => b[5] - a[5]).slice(0, 12);
  chart("chart-errors", top.map((r) => `${r[1]} ${r[3] ?? ""}`.trim()), top.map((r) => r[5]),
    "bar", null, asIs);
}

function renderReplies(res) {
  renderTable("table-replies", res);
  const labels = res.rows.map((r) => `${r[0]}/${r[1]}`);
  chart("chart-replies", labels, col(res, "Reply Rate"), "bar", 100, asIs);
  chart("chart-optouts", labels, col(res, "Opt-outs"), "bar", null, asIs);
}

function renderAlerts(res) {
  const state = res.columns.indexOf("State");
  const open = res.rows.filter((r) => r[state] !== "resolved").length;
  $("alert-count").textContent = `(${open} open, ${res.rows.length} in all)`;
  renderTable("table-alerts", res);
  $("table-alerts").querySelectorAll("tbody tr").forEach((tr, i) => {
    tr.classList.add(`alert-${res.rows[i][state]}`);
  });
}

// ------------------------------------------------------------------ loading
async function load() {
  const f = currentFilters();
  history.replaceState(null, "", query({ ...f, period: $("period").value }) || location.pathname);
  $("daily-csv").href = `api/reports/daily${query(f, { format: "csv" })}`;
  $("loading").hidden = false;
  document.body.dataset.state = "loading";
  try {
    const names = ["dashboard", "daily", "countries", "campaigns", "conversions", "latency",
      "pending", "errors", "replies"];
    const [dash, daily, countries, campaigns, conversions, latency, pending, errors, replies,
      logs, dead, alerts] = await Promise.all([
      ...names.map((n) => api(`api/reports/${n}${query(f)}`)),
      api(`api/reports/logs${query(f, { limit: 200 })}`),
      api("api/reports/deadletters"),  // failures are not messages: the filters do not apply
      api("api/alerts"),  // alerts are not filtered either
    ]);
    showError("");
    $("content").hidden = false;
    renderDashboard(dash);
    renderTable("table-daily", daily);
    renderTable("table-countries", countries);
    renderCampaigns(campaigns);
    renderTable("table-conversions", conversions);
    chart("chart-conversions", col(conversions, "Date"), col(conversions, "Conversion Rate"),
      "line", 100);
    $("search-status").textContent = `Message log: ${logs.rows.length} message(s), oldest first (at most 200)`;
    renderLog(logs);
    renderTable("table-deadletters", dead);
    renderLatency(latency);
    renderPending(pending);
    renderErrors(errors);
    renderReplies(replies);
    renderAlerts(alerts);
    document.body.dataset.state = "ready";
  } catch (e) {
    $("empty").hidden = true;
    $("content").hidden = true;
    showError(e.message);
    document.body.dataset.state = "error";
  } finally {
    $("loading").hidden = true;
  }
}

function shiftDay(day, delta) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + delta);
  return d.toISOString().slice(0, 10);
}

function applyPeriod() {
  const p = $("period").value;
  const last = META && META.last_day;
  if (p === "custom") return;
  if (p === "all" || !last) { $("from").value = ""; $("to").value = ""; return; }
  $("to").value = last;
  if (p === "last7") $("from").value = shiftDay(last, -6);
  if (p === "last30") $("from").value = shiftDay(last, -29);
  if (p === "month") $("from").value = `${last.slice(0, 8)}01`;
}

function fill(id, values) {
  $(id).replaceChildren(...values.map((v) => el("option", { value: v })));
}

async function init() {
  const params = new URLSearchParams(location.search);
  for (const name of FILTERS) $(name).value = params.get(name) || "";
  $("period").value = params.get("period") ||
    (params.get("from") || params.get("to") ? "custom" : "all");
  try {
    META = await api("api/meta");
    $("source").textContent = `data: ${META.source}`;
    fill("subaccounts", META.subaccounts);
    fill("countries", META.countries);
    fill("operators", META.operators);
  } catch (e) { showError(e.message); }
  $("period").addEventListener("change", () => { applyPeriod(); load(); });
  for (const name of ["from", "to"]) {
    $(name).addEventListener("input", () => { $("period").value = "custom"; });
  }
  $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  $("reset").addEventListener("click", () => {
    for (const name of FILTERS) $(name).value = "";
    $("period").value = "all";
    load();
  });
  $("search").addEventListener("submit", search);
  $("search-clear").addEventListener("click", () => { $("search-q").value = ""; load(); });
  await load();
}

init();
