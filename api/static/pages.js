// Shared by every page: calls to the JSON API with the session cookie and the CSRF token,
// a little DOM building (text only, never HTML from data), formats and inline form errors.
"use strict";

const API = "/qmt/trade/api";
const CSRF_TOKEN = document.querySelector('meta[name="csrf-token"]').content;
const PAGE = document.getElementById("page");
const ACCOUNTS = JSON.parse(PAGE.dataset.accounts || "[]");
const RUNNING = ["queued", "started", "deferred", "scheduled"];  // a job that has not ended (common.desk.verdicts.RUNNING)
const OPEN_ORDER = [48, 49, 50, 51, 52, 55];  // xtquant statuses of an order that can still be cancelled

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
    return { status: 0, ok: false, data: { success: false, error: `no answer from the router (${error.name})` } };
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
  if (!rows.length) return h("p", { class: "text-body-secondary small m-2" }, empty || "none");
  const body = rows.map((row) => {
    const cells = Array.isArray(row) ? row : row.cells;
    return h("tr", { class: Array.isArray(row) ? null : row.class }, cells.map((cell) => h("td", null, cell)));
  });
  return h("div", { class: "table-responsive" },
    h("table", { class: "table table-sm table-hover align-middle mb-0 small" },
      h("thead", null, h("tr", null, headers.map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", null, body)));
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

function yuan(value) {
  if (value === null || value === undefined || value === "") return "";
  return Number(value).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

function number(value) {
  return value === null || value === undefined ? "" : Number(value).toLocaleString("en-US");
}

function accountName(index) {
  const account = ACCOUNTS.find((a) => a.index === index);
  return account ? `${account.name} (${account.account})` : index === null || index === undefined ? "all" : `#${index}`;
}

const STATUS_COLOURS = { finished: "success", failed: "danger", expired: "danger", canceled: "secondary", stopped: "secondary" };

function jobBadge(status) {
  return h("span", { class: `badge text-bg-${STATUS_COLOURS[status] || "warning"} job-status`, "data-status": status }, status);
}

// What a job came to, in one line: the broker's verdict on an order, a cancel's count, or the error.
function jobOutcome(job) {
  if (job.error) return job.error;
  const result = job.result;
  if (!result || typeof result !== "object") return "";
  const parts = [];
  if (result.outcome) parts.push(result.outcome);
  if (result.order_id) parts.push(`order ${result.order_id}`);
  const order = job.order || {};
  const state = order.status || result.status;
  const message = order.status_msg || result.status_msg;
  if (state) parts.push(state + (message ? `: ${message}` : ""));
  if (order.traded_volume || result.traded_volume) parts.push(`filled ${number(order.traded_volume || result.traded_volume)}`);
  if (Array.isArray(result.cancelled)) {
    parts.push(`${result.cancelled.length} cancelled` + (result.refused && result.refused.length ? `, ${result.refused.length} refused` : ""));
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
