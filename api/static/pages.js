// Shared by every page: calls to the JSON API with the session cookie and the CSRF token, the page's language (t()),
// numbers and times as the terminal shows them, a little DOM building (text only, never HTML from data), form errors.
"use strict";

const API = "/qmt/trade/api";
const CSRF_TOKEN = document.querySelector('meta[name="csrf-token"]').content;
const PAGE = document.getElementById("page");
const ACCOUNTS = JSON.parse(PAGE.dataset.accounts || "[]");
const RUNNING = ["queued", "started", "deferred", "scheduled"];  // a job that has not ended (common.desk.verdicts.RUNNING)
const OPEN_ORDER = [48, 49, 50, 51, 52, 55];  // xtquant statuses of an order that can still be cancelled

// -- language: t("English msgid", {name: value}) is the catalogue's translation (api/i18n.py puts it in the page) ---
const MESSAGES = JSON.parse(document.getElementById("i18n").textContent || "{}");

function t(msgid, values) {
  const text = MESSAGES[msgid] || msgid;
  return values ? text.replace(/\{([a-z_]+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole)) : text;
}

// -- numbers and times as the terminal shows them -------------------------------------------------------------------
const DECIMALS = JSON.parse(PAGE.dataset.priceDecimals || "{}");  // exchange -> code prefix -> decimals (common.rules.symbols)
const GROUPED = "en-US";  // 1,234,567.89: the grouping the terminal shows in either language

// Decimals of a price of `symbol` (600000.SH: 2, a fund or bond: 3); the longest matching prefix wins, as in the router.
function priceDecimals(symbol) {
  const [code, exchange] = String(symbol || "").split(".");
  let best = ["", 2];
  for (const [prefix, decimals] of Object.entries(DECIMALS[exchange] || {})) {
    if (code.startsWith(prefix) && prefix.length > best[0].length) best = [prefix, decimals];
  }
  return best[1];
}

function price(value, symbol) {  // to the instrument's tick; "" when there is none
  if (value === null || value === undefined || value === "" || Number.isNaN(Number(value))) return "";
  const decimals = priceDecimals(symbol);
  return Number(value).toLocaleString(GROUPED, { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

function yuan(value) {
  if (value === null || value === undefined || value === "") return "";
  return Number(value).toLocaleString(GROUPED, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

function number(value) {
  return value === null || value === undefined ? "" : Number(value).toLocaleString(GROUPED);
}

function signedPct(value) {  // +1.23% / -0.50%: percent points
  if (value === null || value === undefined || value === "") return "";
  const n = Number(value);
  return `${n > 0 ? "+" : ""}${n.toFixed(2)}%`;
}

// Red up, green down (China's convention) unless the user switched (remembered in this browser).
const COLOURS_KEY = "router.colours";
function upIsRed() {
  return localStorage.getItem(COLOURS_KEY) !== "green-up";
}

function trend(value) {  // the class that colours a change: up or down in the user's convention
  const n = Number(value);
  if (!n) return "";
  return n > 0 ? "trend-up" : "trend-down";
}

function trendText(text, value) {
  return h("span", { class: trend(value) }, text);
}

function applyColours() {
  document.body.classList.toggle("green-up", !upIsRed());
  const button = document.getElementById("colour-switch");
  if (button) {  // on a phone just the arrow in the colour a rise has: the words from a small tablet up
    button.replaceChildren(h("span", { class: "trend-up" }, "▲"), h("span", { class: "d-none d-sm-inline ms-1" }, upIsRed() ? t("Red up") : t("Green up")));
    button.setAttribute("aria-label", upIsRed() ? t("Red up") : t("Green up"));
  }
}

const SHANGHAI = { timeZone: "Asia/Shanghai", hour12: false };

function clockTime(unixSeconds) {
  if (!unixSeconds) return "";
  return new Date(unixSeconds * 1000).toLocaleTimeString("en-GB", SHANGHAI);
}

function stamp(unixSeconds) {  // 12-01 14:57:03, Beijing time
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", { ...SHANGHAI, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" })
    .formatToParts(new Date(unixSeconds * 1000)).map((part) => [part.type, part.value]));
  return `${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}`;
}

function isoClock(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  return Number.isNaN(moment.getTime()) ? iso : stamp(moment.getTime() / 1000);
}

// -- the words of states and sides --------------------------------------------------------------------------------
const SIDES = { buy: t("buy"), sell: t("sell"), 23: t("buy"), 24: t("sell") };
const JOB_STATES = {
  queued: t("queued"), started: t("started"), deferred: t("deferred"), scheduled: t("scheduled"), finished: t("finished"),
  failed: t("failed"), expired: t("expired"), canceled: t("canceled"), stopped: t("stopped"), unknown: t("unknown"),
};
const ORDER_STATES = {
  unreported: t("unreported"), wait_reporting: t("wait_reporting"), reported: t("reported"), reported_cancel_pending: t("reported_cancel_pending"),
  part_filled_cancel_pending: t("part_filled_cancel_pending"), part_cancelled: t("part_cancelled"), cancelled: t("cancelled"),
  part_filled: t("part_filled"), filled: t("filled"), rejected: t("rejected"), unknown: t("unknown"),
};

const OUTCOMES = {  // common.store.payloads.OrderOutcome
  submitted: t("submitted"), rejected: t("rejected by the broker"), not_submitted: t("not sent"), expired: t("expired unsent"),
  unknown: t("outcome unknown"),
};

function sideName(side) {
  return SIDES[side] || side || "";
}

function orderState(status) {
  return ORDER_STATES[status] || status || "";
}

// One API call. Never throws: {status, ok, data}; status 0 when the router did not answer.
async function api(method, path, body, extraHeaders = {}) {
  const headers = { Accept: "application/json", ...extraHeaders };
  if (method !== "GET") headers["X-CSRFToken"] = CSRF_TOKEN;
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 45000);
  init.signal = controller.signal;
  try {
    const answer = await fetch(API + path, init);
    let data;
    try {
      data = await answer.json();
    } catch (_) {
      data = { success: false, error: `HTTP ${answer.status}` };
    }
    if (answer.status === 401 && !headers["X-Signature"]) window.location.assign("/login");  // the login ended (logout elsewhere)
    return { status: answer.status, ok: answer.ok, data };
  } catch (error) {
    return { status: 0, ok: false, data: { success: false, error: t("no answer from the router ({reason})", { reason: error.name }) } };
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// h("td", {class: "x"}, "text", child): an element; attributes "on…" are listeners, children are nodes or text.
function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// A small responsive table; `rows` are arrays of cells (text or nodes), or {cells, class}.
function table(headers, rows, empty) {
  if (!rows.length) return h("p", { class: "text-body-secondary small m-2" }, empty || t("none"));
  const body = rows.map((row) => {
    const cells = Array.isArray(row) ? row : row.cells;
    return h("tr", { class: Array.isArray(row) ? null : row.class }, cells.map((cell) => h("td", null, cell)));
  });
  return h("div", { class: "table-responsive" },
    h("table", { class: "table table-sm table-hover align-middle mb-0 small" },
      h("thead", null, h("tr", null, headers.map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", null, body)));
}

function accountName(index) {
  const account = ACCOUNTS.find((a) => a.index === index);
  return account ? `${account.name} (${account.account})` : index === null || index === undefined ? t("all accounts") : `#${index}`;
}

const STATUS_COLOURS = { finished: "success", failed: "danger", expired: "danger", canceled: "secondary", stopped: "secondary" };

function jobBadge(status) {
  return h("span", { class: `badge text-bg-${STATUS_COLOURS[status] || "warning"} job-status`, "data-status": status }, JOB_STATES[status] || status);
}

// What a job came to, in one line: the broker's verdict on an order, a cancel's count, or the error.
function jobOutcome(job) {
  if (job.error) return job.error;
  const result = job.result;
  if (!result || typeof result !== "object") return "";
  const parts = [];
  if (result.outcome) parts.push(OUTCOMES[result.outcome] || result.outcome);
  if (result.order_id) parts.push(t("order {order_id}", { order_id: result.order_id }));
  const order = job.order || {};
  const state = order.status || result.status;
  const message = order.status_msg || result.status_msg;
  if (state) parts.push(orderState(state) + (message ? `: ${message}` : ""));
  if (order.traded_volume || result.traded_volume) parts.push(t("filled {volume}", { volume: number(order.traded_volume || result.traded_volume) }));
  if (Array.isArray(result.cancelled)) {
    parts.push(t("{count} cancelled", { count: result.cancelled.length }));
    if (result.refused && result.refused.length) parts.push(t("{count} refused", { count: result.refused.length }));
  }
  if (result.error) parts.push(result.error);
  return parts.join(" · ");
}

function jobLink(jobId) {
  return h("a", { href: `/job/${encodeURIComponent(jobId)}`, class: "font-monospace" }, jobId);
}

// Follow a job until it ends, drawing one waiting slot at a time; `onChange(view)` on every answer.
async function followJob(jobId, onChange) {
  for (let tries = 0; tries < 200; tries += 1) {
    const started = Date.now();
    const answer = await api("GET", `/jobs/${encodeURIComponent(jobId)}?wait=10`);
    if (!answer.ok) {
      onChange({ job_id: jobId, status: "unknown", error: answer.data.error });
      if (answer.status === 404) return answer.data;
      await sleep(2000);
      continue;
    }
    onChange(answer.data);
    if (!RUNNING.includes(answer.data.status)) return answer.data;
    if (Date.now() - started < 1000) await sleep(1000);  // answered at once (no waiting slot free): poll gently
  }
  return null;
}

// A fresh Idempotency-Key per submission: a double click or a retried fetch places one order, not two.
function idempotencyKey() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// The API's 4xx answer next to the fields it names ({field, error} or errors: [{field, message}]);
// `aliases` maps API field names to the form's (trade_price -> price). What names no field goes on top.
function showErrors(form, data, aliases = {}) {
  clearErrors(form);
  const errors = data.errors && data.errors.length ? data.errors : [{ field: data.field, message: data.error }];
  const loose = [];
  for (const { field, message } of errors) {
    const top = field ? field.split(".")[0] : null;  // routines.0.time is the routines field's
    const name = field ? aliases[field] || aliases[top] || top : null;
    const input = name ? form.querySelector(`[name="${CSS.escape(name)}"]`) : null;
    if (!input) {
      loose.push(field && field !== "body" ? `${field}: ${message}` : message);
      continue;
    }
    input.classList.add("is-invalid");
    const feedback = input.closest(".field").querySelector(".invalid-feedback");
    const text = field.includes(".") ? `${field}: ${message}` : message;  // where inside a nested value (routines.0.time)
    feedback.textContent = feedback.textContent ? `${feedback.textContent}; ${text}` : text;
  }
  const top = form.querySelector(".form-error");
  if (loose.length) {
    top.textContent = loose.join("; ");
    top.hidden = false;
  }
}

function clearErrors(form) {
  form.querySelectorAll(".is-invalid").forEach((input) => input.classList.remove("is-invalid"));
  form.querySelectorAll(".invalid-feedback").forEach((feedback) => { feedback.textContent = ""; });
  const top = form.querySelector(".form-error");
  if (top) {
    top.hidden = true;
    top.textContent = "";
  }
}

function flash(container, kind, text) {
  container.replaceChildren(h("div", { class: `alert alert-${kind} py-2 mb-2`, role: "status" }, text));
}

document.getElementById("colour-switch")?.addEventListener("click", () => {
  localStorage.setItem(COLOURS_KEY, upIsRed() ? "green-up" : "red-up");
  applyColours();
});
applyColours();

// -- routine states (the config page's; the status page may show them too) ------------------------------------------
// GET /routines gives each routine a `state` of exactly one kind (common.desk.routine_runs.RoutineState): next, ran,
// skipped or missed. routineStateView(routine) is that state in one line, in the trader's words, with the run's jobs.
const ROUTINE_SKIPS = {
  disabled: t("disabled"), weekend: t("weekend, the market is closed"), holiday: t("holiday, the market is closed"),
  calendar_unknown: t("the trading calendar has no data for today"), kill_switch: t("the kill switch is on"),
};
const ROUTINE_OUTCOMES = { running: t("running"), done: t("done"), no_op: t("nothing to do"), failed: t("failed") };
const ROUTINE_STATE_COLOURS = { next: "secondary", running: "primary", done: "success", no_op: "secondary", failed: "danger", skipped: "warning", missed: "danger" };

function shortClock(iso) {  // 12-02 14:57, Beijing time
  return iso ? isoClock(iso).slice(0, 11) : "";
}

function routineStateView(routine) {
  const state = routine.state || { kind: "next", at: routine.next_fire };
  const parts = [];
  let colour = ROUTINE_STATE_COLOURS[state.kind];
  if (state.kind === "next") {
    parts.push(state.at ? t("Next run {at}", { at: shortClock(state.at) }) : t("No next run known"));
    if (state.reason === "saved_after_time") parts.push(t("saved after today's time: it first runs the next trading day"));
    if (state.reason === "kill_switch") parts.push(t("the kill switch is on: it will be skipped unless released"));
  } else if (state.kind === "ran") {
    colour = ROUTINE_STATE_COLOURS[state.outcome];
    parts.push(state.forced ? t("Ran at {at} (forced)", { at: isoClock(state.at).slice(6) }) : t("Ran at {at}", { at: isoClock(state.at).slice(6) }));
    const amounts = state.amounts || {};
    if (state.outcome === "done" && "lent" in amounts) parts.push(t("done: lent {amount} yuan", { amount: yuan(amounts.lent) }));
    else if (state.outcome === "done" && "bought" in amounts) parts.push(t("done: bought {amount} yuan", { amount: yuan(amounts.bought) }));
    else parts.push(ROUTINE_OUTCOMES[state.outcome] || state.outcome);
    if (state.why && state.outcome !== "done") parts.push(state.why);
  } else if (state.kind === "skipped") {
    parts.push(t("Skipped today: {why}", { why: ROUTINE_SKIPS[state.reason] || state.reason }));
    if (state.reason !== "kill_switch") colour = "secondary";
  } else if (state.kind === "missed") {
    parts.push(t("Missed {at}: no scheduler was running then", { at: shortClock(state.at) }));
  }
  const jobs = (state.job_ids || []).flatMap((jobId) => [" ", jobLink(jobId)]);
  return h("div", { class: `routine-state text-${colour}-emphasis bg-${colour}-subtle rounded px-2 py-1`, "data-kind": state.kind, "data-outcome": state.outcome || state.reason || "" },
    parts.join(" · "), jobs.length ? h("span", { class: "routine-jobs small" }, " · ", t("jobs:"), jobs) : null);
}
