// The status page: vitals from /health, the kill switch, the last jobs, each account's money, positions, orders and
// trades, the routines and the event stream. Live without reload: one long poll on /events?wait= at a time (it draws
// on the router's waiting budget; when none is free the answer comes at once and the page waits before asking again),
// and each panel is fetched again when an event concerns it, at most every few seconds; the account queries accept an
// answer 3 s old (max_age), so many open pages share one query job for each.
"use strict";

const HEALTH_EVERY_MS = 10000;  // a stale worker shows within about 16 s (stale after 6 s)
const FOLLOW_GAP_MS = 2000;  // at least this between two reads of the event stream: a busy stream is read in batches
const SHARED_MAX_AGE = 3;  // seconds: an answer this old will do, so every open status page shares one query job for it
const LIVE_WAIT_S = 20;
const state = { health: null, healthError: null, killSwitch: null, cursor: null };

// -- vitals and alerts ------------------------------------------------------------------------------
function setVital(id, level, text, detail) {
  const card = document.getElementById(id);
  card.dataset.level = level;  // ok, off, warn, bad: colour (pages.css) and the words say the same
  card.querySelector(".vital-state").textContent = text;
  card.querySelector(".vital-detail").textContent = detail || "";
}

function seconds(value) {
  return value === null || value === undefined ? "never" : `${Number(value).toFixed(1)} s ago`;
}

function renderVitals() {
  const health = state.health;
  if (!health) {
    setVital("vital-worker", "bad", "UNKNOWN", state.healthError || "");
    return;
  }
  const worker = health.worker;
  setVital("vital-worker", worker.alive ? "ok" : "bad", worker.alive ? "Alive" : "STALE",
    `heartbeat ${seconds(worker.heartbeat_age)}${worker.broker ? ` · ${worker.broker}` : ""}`);
  const scheduler = health.scheduler;
  setVital("vital-scheduler", scheduler.alive ? "ok" : "warn", scheduler.alive ? "Alive" : "Not running", `heartbeat ${seconds(scheduler.heartbeat_age)}`);
  const calendar = health.calendar;
  if (!calendar) setVital("vital-calendar", "warn", "No verdict yet", "the scheduler publishes today's verdict");
  else if (calendar.session === null) setVital("vital-calendar", "bad", "UNKNOWN", `${calendar.today}: ${calendar.warning || "no calendar data for today"}`);
  else setVital("vital-calendar", calendar.warning ? "warn" : calendar.session ? "ok" : "off", calendar.session ? "Trading day" : "Closed today",
    `${calendar.today} · ${calendar.source || ""}${calendar.warning ? ` · ${calendar.warning}` : ""}`);
  const queues = health.queues || {};
  const waiting = Object.values(queues).reduce((a, b) => a + b, 0);
  setVital("vital-queues", waiting > 20 ? "warn" : "ok", `${waiting} waiting`, Object.entries(queues).map(([name, depth]) => `${name} ${depth}`).join(" · "));
  document.getElementById("connections").replaceChildren(...health.accounts.map((account) => {
    // what a stale worker last wrote is no longer known to be true
    const [colour, words] = !worker.alive ? ["warning", "UNKNOWN: worker stale"] : account.connected ? ["success", "connected"] : ["danger", "DISCONNECTED"];
    return h("li", { class: `list-group-item d-flex py-1 ${colour === "success" ? "" : `list-group-item-${colour} fw-semibold`}`, "data-connected": String(account.connected) },
      h("span", { class: "me-auto" }, accountName(account.index)), h("span", { class: `badge text-bg-${colour}` }, words));
  }));
}

function renderKillSwitch() {
  const on = state.killSwitch;
  if (on === null) setVital("vital-kill-switch", "warn", "UNKNOWN", "could not read it");
  else setVital("vital-kill-switch", on ? "bad" : "ok", on ? "ON: trading halted" : "Off", on ? "new orders are refused; admins release it" : "orders accepted");
}

function renderAlerts() {
  const problems = [];
  const health = state.health;
  if (!health) problems.push(["health", `The router's health is unknown: ${state.healthError || "no answer"}`]);
  else {
    if (!health.worker.alive) problems.push(["worker", `Worker is STALE: last heartbeat ${seconds(health.worker.heartbeat_age)}. Orders wait in the queue and expire unsent.`]);
    for (const account of health.accounts.filter((a) => !a.connected)) {
      problems.push(["account", `Account ${accountName(account.index)} is DISCONNECTED from the broker.`]);
    }
    if (health.calendar && health.calendar.session === null) problems.push(["calendar", `Trading calendar UNKNOWN for ${health.calendar.today}: scheduled routines will not fire.`]);
  }
  if (state.killSwitch) problems.push(["kill-switch", "KILL SWITCH IS ON: new orders are refused. An admin releases it on the Config page."]);
  document.getElementById("alerts").replaceChildren(...problems.map(([kind, text]) =>
    h("div", { class: "alert alert-danger fw-semibold py-2 mb-2", role: "alert", "data-alert": kind }, "⚠ ", text)));
}

async function loadHealth() {
  const answer = await api("GET", "/health");
  state.health = answer.ok ? answer.data : null;
  state.healthError = answer.ok ? null : answer.data.error;
  renderVitals();
  renderAlerts();
}

async function loadKillSwitch() {
  const answer = await api("GET", "/risk/kill_switch");
  state.killSwitch = answer.ok ? answer.data.on : null;
  renderKillSwitch();
  renderAlerts();
}

// -- jobs, accounts, routines, events ---------------------------------------------------------------
async function loadJobs() {
  const answer = await api("GET", "/jobs?limit=15");
  const box = document.getElementById("jobs");
  if (!answer.ok) return flash(box, "warning", answer.data.error);
  box.replaceChildren(table(["When", "Status", "What", "Account", "Outcome", "Job"], answer.data.jobs.map((job) => ({
    class: "job-row",
    cells: [clockTime(job.accepted_at), jobBadge(job.status),
      [job.kind, job.side, job.symbol, job.volume ? number(job.volume) : "", job.price ? `@ ${job.price}` : ""].filter(Boolean).join(" "),
      accountName(job.account_index), jobOutcome(job), jobLink(job.job_id)],
  })), "no jobs yet"));
  document.getElementById("jobs-updated").textContent = `updated ${clockTime(Date.now() / 1000)}`;
  if (answer.data.jobs.some((job) => RUNNING.includes(job.status))) setTimeout(() => refresh.jobs(), 2000);  // until they end
}

function accountPanel(account) {
  let panel = document.getElementById(`account-${account.index}`);
  if (panel) return panel;
  panel = h("section", { class: "card mb-3 account-panel", id: `account-${account.index}` },
    h("div", { class: "card-header py-1 d-flex flex-wrap gap-2" }, h("span", { class: "fw-semibold me-auto" }, `Account ${accountName(account.index)}`),
      h("span", { class: "small updated" })),
    h("div", { class: "card-body p-2" },
      h("div", { class: "row g-2 mb-2 money" }),
      h("h2", { class: "h6 mt-2" }, "Positions"), h("div", { class: "positions" }),
      h("h2", { class: "h6 mt-3" }, "Today's orders"), h("div", { class: "orders" }),
      h("h2", { class: "h6 mt-3" }, "Today's trades"), h("div", { class: "trades" })));
  document.getElementById("account-panels").append(panel);
  return panel;
}

function money(label, value) {
  return h("div", { class: "col-6 col-md-3" }, h("div", { class: "small text-body-secondary" }, label), h("div", { class: "fw-semibold" }, value));
}

// One account's four queries, one after the other: each is a job for the worker, so a page never floods it.
async function loadAccount(account, maxAge) {
  const shared = `max_age=${maxAge.toFixed(2)}`;
  const panel = accountPanel(account);
  const problems = [];
  const portfolio = await api("GET", `/portfolio/${account.index}?${shared}`);
  if (portfolio.ok) {
    const p = portfolio.data.portfolio;
    panel.querySelector(".money").replaceChildren(money("Total asset", yuan(p.total_asset)), money("Cash", yuan(p.cash)),
      money("Market value", yuan(p.market_value)), money("Floating P&L", `${yuan(p.profit)} (${p.profit_ratio}%)`));
  } else problems.push(portfolio.data.error);
  const positions = await api("GET", `/positions/${account.index}?${shared}`);
  if (positions.ok) {
    panel.querySelector(".positions").replaceChildren(table(["Symbol", "Name", "Volume", "Available", "Cost", "Price", "Value", "P&L"],
      positions.data.positions.map((p) => [p.symbol, p.name, number(p.volume), number(p.can_use_volume), p.avg_price, p.current_price, yuan(p.market_value),
        `${yuan(p.profit)} (${p.profit_ratio}%)`]), "no positions"));
  } else problems.push(positions.data.error);
  const orders = await api("POST", `/orders?${shared}`, { trader_index: account.index });
  if (orders.ok) {
    panel.querySelector(".orders").replaceChildren(table(["Time", "Status", "Side", "Symbol", "Volume", "Price", "Filled", "Order"],
      orders.data.orders.map((o) => ({ class: "order-row", cells: [clockTime(o.order_time), o.status + (o.status_msg ? `: ${o.status_msg}` : ""), o.side,
        o.symbol, number(o.volume), o.price, number(o.traded_volume), o.order_id] })), "no orders today"));
  } else problems.push(orders.data.error);
  const trades = await api("GET", `/trades/${account.index}?${shared}`);
  if (trades.ok) {
    panel.querySelector(".trades").replaceChildren(table(["Time", "Order", "Side", "Symbol", "Volume", "Price", "Amount"],
      trades.data.trades.map((t) => ({ class: "trade-row", cells: [clockTime(t.traded_time), t.order_id, t.side, t.symbol, number(t.traded_volume),
        t.traded_price, yuan(t.traded_amount)] })), "no trades today"));
  } else problems.push(trades.data.error);
  const note = panel.querySelector(".updated");
  note.textContent = problems.length ? `not updated: ${problems[0]}` : `updated ${clockTime(Date.now() / 1000)}`;
  note.classList.toggle("text-danger", problems.length > 0);
}

async function loadAccounts(maxAge = SHARED_MAX_AGE) {
  for (const account of ACCOUNTS) {
    if (state.health && !state.health.worker.alive) {  // its queries would only wait out QUERY_TIMEOUT, holding a web thread each
      const note = accountPanel(account).querySelector(".updated");
      note.textContent = "not updated: the worker is not running";
      note.classList.add("text-danger");
      continue;
    }
    await loadAccount(account, maxAge);
  }
}

async function loadRoutines() {
  const answer = await api("GET", "/routines");
  const box = document.getElementById("routines");
  if (!answer.ok) return flash(box, "warning", answer.data.error);
  box.replaceChildren(table(["Routine", "Kind", "Time", "Enabled", "Next run", "Today", "Last outcome"], answer.data.routines.map((r) => [
    r.name, r.kind, r.time, r.enabled ? "yes" : "no", r.next_fire ? isoClock(r.next_fire) : "—", r.today || "",
    r.last ? `${r.last.day}: ${r.last.state}${r.last.reason ? ` (${r.last.reason})` : ""}` : "never ran"]), "no routines"));
}

function describe(event) {
  switch (event.kind) {
    case "job": return `job ${event.job_id} ${event.stage}${event.symbol ? ` ${event.side} ${event.symbol}` : ""}${event.reason ? `: ${event.reason}` : ""}`;
    case "order": return `order ${event.order_id} ${event.side} ${event.symbol} ${number(event.volume)} @ ${event.price}: ${event.status || event.order_status}${event.status_msg ? ` (${event.status_msg})` : ""}`;
    case "trade": return `fill ${event.side} ${event.symbol} ${number(event.traded_volume)} @ ${event.traded_price}`;
    case "order_error": case "cancel_error": return `${event.kind.replace("_", " ")} ${event.order_id}: ${event.error_msg}`;
    case "kill_switch": return `kill switch ${event.on ? "THROWN" : "released"} by ${event.by}`;
    case "config": return `${event.what} changed by ${event.by}`;
    case "risk": return `refused by risk limits: ${event.reason}`;
    case "routine": return `routine ${event.name} ${event.state}${event.reason ? `: ${event.reason}` : ""}`;
    case "worker": return `worker ${event.state}${event.reason ? `: ${event.reason}` : ""}`;
    case "connected": case "disconnected": return `broker session ${event.kind}${event.account_id ? ` (${event.account_id})` : ""}`;
    case "account_status": return `account ${event.account_id} status ${event.status}`;
    case "calendar": return `calendar: ${event.message}`;
    default: return event.message || event.kind;
  }
}

const BAD_EVENTS = ["order_error", "cancel_error", "disconnected", "risk", "kill_switch"];

function addEvents(found) {
  const list = document.getElementById("events");
  for (const event of found) {
    const bad = BAD_EVENTS.includes(event.kind) && !(event.kind === "kill_switch" && !event.on);
    list.prepend(h("li", { class: `list-group-item py-1 event ${bad ? "list-group-item-danger" : ""}`, "data-kind": event.kind },
      h("span", { class: "text-body-secondary me-2 font-monospace" }, clockTime(event.ts)), describe(event)));
  }
  while (list.children.length > 40) list.lastChild.remove();
}

// -- refreshing on events ---------------------------------------------------------------------------
// A panel is fetched again at most once per `gapMs`, a little after the event that concerns it; `load(maxAge)` is told
// how old an answer may be: not older than the event that called for it (an answer shared with other pages may be).
function refresher(load, gapMs) {
  let pending = false;
  let calledAgain = null;  // when an event came while a load was under way: it may have missed it, so one more
  let last = 0;
  const run = async () => {
    if (pending) {
      calledAgain = calledAgain || Date.now();
      return;
    }
    pending = true;
    const called = Date.now();
    await sleep(Math.max(300, last + gapMs - Date.now()));
    last = Date.now();
    try {
      await load(Math.min(SHARED_MAX_AGE, (Date.now() - called) / 1000));
    } finally {
      pending = false;
    }
    if (calledAgain) {
      calledAgain = null;
      run();
    }
  };
  return run;
}

const refresh = {
  jobs: refresher(loadJobs, 5000),  // gaps measured with tests/bench/bench_pages.py: 20 open pages must not slow the API
  accounts: refresher(loadAccounts, 15000),
  routines: refresher(loadRoutines, 3000),
  killSwitch: refresher(loadKillSwitch, 0),
  health: refresher(loadHealth, 0),
};

function react(found) {
  const kinds = new Set(found.map((e) => e.kind));
  if (kinds.has("job") || kinds.has("order")) refresh.jobs();
  if (["order", "trade", "order_error", "cancel_error"].some((k) => kinds.has(k))) refresh.accounts();
  if (kinds.has("routine") || kinds.has("config")) refresh.routines();
  if (kinds.has("kill_switch") || kinds.has("config")) refresh.killSwitch();
  if (["connected", "disconnected", "worker", "calendar"].some((k) => kinds.has(k))) refresh.health();
}

async function follow() {
  const live = document.getElementById("live-state");
  for (;;) {
    const path = state.cursor === null ? "/events?last=25" : `/events?after=${encodeURIComponent(state.cursor)}&wait=${LIVE_WAIT_S}&limit=200`;
    const started = Date.now();
    const answer = await api("GET", path);
    if (answer.ok) {
      const first = state.cursor === null;
      state.cursor = answer.data.next;
      addEvents(answer.data.events);
      if (!first) react(answer.data.events);
      live.textContent = "● live";
      live.className = "small updated text-success";
      if (!answer.data.events.length && Date.now() - started < 1000) await sleep(5000);  // no waiting slot free: ask again later
      else await sleep(Math.max(0, started + FOLLOW_GAP_MS - Date.now()));
    } else {
      if (answer.status === 410) state.cursor = null;  // older than the oldest event kept: start again from the last few
      live.textContent = `○ reconnecting: ${answer.data.error}`;
      live.className = "small updated text-danger";
      await sleep(3000);
    }
  }
}

async function everyMs(ms, load) {
  for (;;) {
    await sleep(ms);
    await load();
  }
}

loadHealth();
loadKillSwitch();
loadJobs();
loadRoutines();
loadAccounts();
follow();
everyMs(HEALTH_EVERY_MS, loadHealth);
everyMs(15000, loadKillSwitch);
everyMs(60000, loadAccounts);
everyMs(60000, loadRoutines);
