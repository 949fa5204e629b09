// The status page: vitals from /health, the kill switch, the last jobs, each account's money, positions, reverse repo,
// orders and trades, the routines and the event stream.
//
// Live without reload, and honest when it is not: /health is asked every second while the page is visible (with a
// short timeout), so a web server, Redis or worker that stops answering turns the page red within 2 s, and every panel
// fed by it greys with its age ticking. The event stream is followed by one long poll at a time (it draws on the
// router's waiting budget; when none is free the answer comes at once and the page waits before asking again); an
// order or a fill is drawn into its account's tables at once from the event's own fields, and the account's panel is
// fetched again lazily (at most every 15 s, with answers up to 3 s old shared by every open page: max_age), so many
// open pages never flood the worker with query jobs (gaps measured with tests/bench/bench_pages.py).
"use strict";

// /health while the page is visible: cheap, unauthenticated, no worker job. Twice a second, so a silence (0.9 s) is red
// within 1.4 s at worst, leaving margin under the 2 s promise on a loaded machine (once a second measured 1.55 s).
const HEALTH_EVERY_MS = 500;
const HEALTH_TIMEOUT_MS = 900;  // a web server that does not answer within this is down: red within 2 s
const FOLLOW_GAP_MS = 250;  // at least this between two reads of the event stream: a busy stream is read in batches
const SHARED_MAX_AGE = 3;  // seconds: an answer this old will do, so every open status page shares one query job for it
const LIVE_WAIT_S = 20;
const EVENTS_KEPT = 300;  // the events list keeps this many (filtered on the page)
const FIX_PRICE = 11;  // xtquant's limit price type; every other type is a market order (common.rules.orders)
const REPO_PREFIXES = { SH: ["204"], SZ: ["1318"] };  // reverse repo codes (common.rules.symbols, Board.REPO)

const state = { health: null, healthError: null, healthAt: 0, down: null, killSwitch: null, cursor: null };
const panelAges = {};  // data-panel -> {at: ms of the last good load, failed: why the last load failed, or null}
const books = {};  // account index -> {orders: Map, trades: Map, asked: {orders, trades}}: the tables, events drawn in

// -- words ----------------------------------------------------------------------------------------------------------
const EVENT_KINDS = {
  order: t("Order"), trade: t("Fill"), order_error: t("Order refused"), cancel_error: t("Cancel refused"), job: t("Job"),
  risk: t("Risk refusal"), kill_switch: t("Kill switch"), config: t("Settings change"), routine: t("Routine"),
  worker: t("Worker"), connected: t("Broker connected"), disconnected: t("Broker disconnected"),
  account_status: t("Account status"), calendar: t("Trading calendar"),
};
const JOB_STAGES = {
  accepted: t("accepted"), sent: t("sent to the broker"), rejected: t("refused"), expired: t("expired unsent"),
  unknown: t("outcome unknown"), not_submitted: t("not sent"),
};
const JOB_KINDS = { order: t("order"), cancel: t("cancel"), query: t("query"), sim_day: t("simulator day") };
const ROUTINE_RUNS = {
  firing: t("firing"), fired: t("fired"), done: t("done"), no_op: t("nothing to do"), failed: t("failed"),
  missed: t("missed"), skipped: t("skipped"),
};
const ACCOUNT_STATUSES = {  // xtconstant.ACCOUNT_STATUS_*
  "-1": t("invalid"), 0: t("normal"), 1: t("connecting"), 2: t("logging in"), 3: t("failed"), 4: t("initialising"),
  5: t("correcting data"), 6: t("after the close"), 7: t("secondary link down"), 8: t("disabled by the system"), 9: t("disabled by the user"),
};
const CONFIG_WHATS = { risk_limits: t("Risk limits"), routines: t("Scheduled routines") };

function isRepo(symbol) {
  const [code, exchange] = String(symbol || "").split(".");
  return (REPO_PREFIXES[exchange] || []).some((prefix) => code.startsWith(prefix));
}

function sideText(side, symbol) {  // a reverse-repo loan is placed as a sell, but it is a loan, not a sale
  return isRepo(symbol) ? t("reverse repo") : sideName(side);
}

function rateText(value) {  // a repo order's "price" is its annualised rate in percent
  return value === null || value === undefined || value === "" ? "" : `${Number(value).toFixed(3)}%`;
}

function priceText(value, symbol) {
  return isRepo(symbol) ? rateText(value) : price(value, symbol);
}

function seconds(value) {
  return Math.max(0, Math.round(value));
}

function ago(unixSeconds) {
  return t("{seconds} s ago", { seconds: seconds(Date.now() / 1000 - unixSeconds) });
}

function accountOf(event) {  // the account index an event is about, or null (the router's own events)
  if (event.account_index !== null && event.account_index !== undefined) return event.account_index;
  if (!event.account_id) return null;
  const account = ACCOUNTS.find((a) => a.account === event.account_id);  // both masked the same way
  return account ? account.index : null;
}

// A table whose lesser columns hide on a phone: `columns` are [label, "opt" or ""], rows {cells, class, data}.
function grid(columns, rows, empty, extraClass = "") {
  if (!rows.length) return h("p", { class: "text-body-secondary small m-2 empty" }, empty);
  const cellClass = (i) => (columns[i][1] === "opt" ? "d-none d-md-table-cell" : null);
  return h("div", { class: "table-responsive" },
    h("table", { class: `table table-sm table-hover align-middle mb-0 small status-table ${extraClass}` },
      h("thead", null, h("tr", null, columns.map(([label], i) => h("th", { scope: "col", class: cellClass(i) }, label)))),
      h("tbody", null, rows.map((row) => h("tr", { class: row.class, ...(row.data || {}) },
        row.cells.map((cell, i) => h("td", { class: [cellClass(i), row.cellClasses?.[i]].filter(Boolean).join(" ") || null }, cell)))))));
}

function named(symbol, name) {  // the code, and under it the name in small print
  return [h("span", { class: "font-monospace symbol" }, symbol), name ? h("div", { class: "text-body-secondary small name" }, name) : null];
}

function signedMoney(profit, ratio) {  // +1,234.00 (+1.50%), red up / green down as the user chose
  const sign = Number(profit) > 0 ? "+" : "";
  return trendText(`${sign}${yuan(profit)}${ratio === undefined ? "" : ` (${signedPct(ratio)})`}`, profit);
}

// -- how fresh each panel is ----------------------------------------------------------------------------------------
function updated(panel, failed = null) {
  const previous = panelAges[panel] || { at: 0 };
  panelAges[panel] = { at: failed ? previous.at : Date.now(), failed };
  renderAges();
}

function workerSilent() {
  return Boolean(state.health && state.health.worker.silent);
}

// Which panels cannot be trusted now: all of them when the web or Redis does not answer; the worker's (accounts,
// connections) when the worker does not; any panel whose own last load failed.
function renderAges() {
  for (const panel of document.querySelectorAll("[data-panel]")) {
    const age = panelAges[panel.dataset.panel] || { at: 0, failed: null };
    const why = state.down ? state.down.words : panel.dataset.needs === "worker" && workerSilent() ? t("the worker is not answering") : age.failed;
    panel.classList.toggle("stale", Boolean(why));
    const note = panel.querySelector(".updated:not(#live-state)");
    if (!note) continue;
    if (why) {
      const when = age.at ? t("updated {seconds} s ago", { seconds: seconds((Date.now() - age.at) / 1000) }) : t("not updated");
      note.textContent = [when, why].join(" · ");
    } else note.textContent = age.at ? t("updated {time}", { time: clockTime(age.at / 1000) }) : "";
    note.classList.toggle("text-danger", Boolean(why));
    note.classList.toggle("fw-semibold", Boolean(why));
  }
}

// -- vitals and alerts ----------------------------------------------------------------------------------------------
function setVital(id, level, text, detail) {
  const card = document.getElementById(id);
  card.dataset.level = level;  // ok, off, warn, bad: colour (pages.css) and the words say the same
  card.querySelector(".vital-state").textContent = text;
  card.querySelector(".vital-detail").textContent = detail || "";
}

function heartbeat(age) {  // the age the last answer gave, plus the time since that answer
  if (age === null || age === undefined) return t("no heartbeat");
  return t("heartbeat {seconds} s ago", { seconds: seconds(age + (Date.now() - state.healthAt) / 1000) });
}

function workerAge(worker) {  // by Redis's clock when the worker says so (api/health.py), else by the two machines' clocks
  return worker.silent_for !== undefined && worker.silent_for !== null ? worker.silent_for : worker.heartbeat_age;
}

function renderVitals() {
  const health = state.health;
  const routerState = document.getElementById("router-state");
  routerState.dataset.state = state.down ? "down" : health && !health.worker.silent ? "live" : "degraded";
  routerState.textContent = "● " + (state.down ? state.down.words : !health ? t("no answer yet") : health.worker.silent ? t("the worker is not answering") : t("router answering"));
  routerState.className = `me-auto fw-semibold ${state.down || !health || health.worker.silent ? "text-danger" : "text-success"}`;
  if (!health) {
    setVital("vital-worker", "bad", t("UNKNOWN"), state.healthError || "");
    return;
  }
  const worker = health.worker;
  const [level, words] = worker.stopped ? ["bad", t("Stopped")] : worker.silent ? ["bad", t("NOT ANSWERING")] : worker.alive ? ["ok", t("Alive")] : ["bad", t("STALE")];
  setVital("vital-worker", state.down ? "bad" : level, words, `${heartbeat(workerAge(worker))}${worker.broker ? ` · ${worker.broker}` : ""}`);
  const scheduler = health.scheduler;
  setVital("vital-scheduler", scheduler.alive ? "ok" : "warn", scheduler.alive ? t("Alive") : t("Not running"), heartbeat(scheduler.heartbeat_age));
  const calendar = health.calendar;
  if (!calendar) setVital("vital-calendar", "warn", t("No verdict yet"), t("the scheduler publishes today's verdict"));
  else if (calendar.session === null) setVital("vital-calendar", "bad", t("UNKNOWN"), calendar.today + ": " + (calendar.warning || t("no calendar data for today")));
  else setVital("vital-calendar", calendar.warning ? "warn" : calendar.session ? "ok" : "off", calendar.session ? t("Trading day") : t("Closed today"),
    `${calendar.today} · ${calendar.source || ""}${calendar.warning ? ` · ${calendar.warning}` : ""}`);
  const queues = health.queues || {};
  const waiting = Object.values(queues).reduce((a, b) => a + b, 0);
  setVital("vital-queues", waiting > 20 ? "warn" : "ok", t("{count} waiting", { count: number(waiting) }),
    Object.entries(queues).map(([name, depth]) => `${name} ${number(depth)}`).join(" · "));
  document.getElementById("connections").replaceChildren(...health.accounts.map((account) => {
    // what a silent worker last wrote is no longer known to be true
    const [colour, text] = state.down ? ["warning", t("UNKNOWN")] : worker.silent ? ["warning", t("UNKNOWN: worker stale")]
      : account.connected ? ["success", t("connected")] : ["danger", t("DISCONNECTED")];
    return h("li", { class: `list-group-item d-flex py-1 ${colour === "success" ? "" : `list-group-item-${colour} fw-semibold`}`, "data-connected": String(account.connected) },
      h("span", { class: "me-auto" }, accountName(account.index)), h("span", { class: `badge text-bg-${colour}` }, text));
  }));
}

function renderKillSwitch() {
  const on = state.killSwitch;
  if (on === null) setVital("vital-kill-switch", "warn", t("UNKNOWN"), t("could not read it"));
  else setVital("vital-kill-switch", on ? "bad" : "ok", on ? t("ON: trading halted") : t("Off"), on ? t("new orders are refused; admins release it") : t("orders accepted"));
}

function renderAlerts() {
  const problems = [];
  const health = state.health;
  if (state.down) problems.push(["router", state.down.alert()]);
  else if (!health) problems.push(["health", t("The router's health is unknown: {reason}", { reason: state.healthError || t("no answer") })]);
  if (health && !state.down) {  // with the router not answering, what it last said of the worker is no news
    const worker = health.worker;
    const age = workerAge(worker) === null ? null : seconds(workerAge(worker) + (Date.now() - state.healthAt) / 1000);
    if (worker.stopped) problems.push(["worker", t("Worker STALE: it stopped (last heartbeat {seconds} s ago). Orders wait in the queue and expire unsent.", { seconds: age })]);
    else if (worker.silent) {
      problems.push(["worker", age === null ? t("Worker STALE: no heartbeat. Orders wait in the queue and expire unsent.")
        : t("Worker STALE: not answering, last heartbeat {seconds} s ago. Orders wait in the queue and expire unsent.", { seconds: age })]);
    }
    for (const account of health.accounts.filter((a) => !a.connected && !worker.silent)) {
      problems.push(["account", t("Account {account} is DISCONNECTED from the broker.", { account: accountName(account.index) })]);
    }
    if (health.calendar && health.calendar.session === null) problems.push(["calendar", t("Trading calendar UNKNOWN for {day}: scheduled routines will not fire.", { day: health.calendar.today })]);
  }
  if (state.killSwitch) problems.push(["kill-switch", t("KILL SWITCH IS ON: new orders are refused. An admin releases it on the Config page.")]);
  const box = document.getElementById("alerts");
  const wanted = problems.map(([kind, text]) => `${kind}:${text}`).join("\n");
  if (box.dataset.shown === wanted) return;  // redrawn each second only when the words change (screen readers)
  box.dataset.shown = wanted;
  box.replaceChildren(...problems.map(([kind, text]) =>
    h("div", { class: "alert alert-danger fw-semibold py-2 mb-2", role: "alert", "data-alert": kind }, "⚠ ", text)));
}

// The router is down when /health has no answer in time (web), or answers 5xx (503: Redis, the job store).
function downFrom(status, reason) {
  const since = state.down ? state.down.since : Date.now();
  const silentFor = () => seconds((Date.now() - (state.healthAt || since)) / 1000);
  if (status === 503) {
    return { what: "redis", since, words: t("Redis is not answering"),
      alert: () => t("Redis (the job store) is NOT ANSWERING for {seconds} s: no order can be taken. The page shows what it last knew.", { seconds: silentFor() }) };
  }
  return { what: "web", since, words: t("the router is not answering"),
    alert: () => t("The router is NOT ANSWERING for {seconds} s ({reason}). The page shows what it last knew.", { seconds: silentFor(), reason }) };
}

async function askHealth() {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), HEALTH_TIMEOUT_MS);
  try {
    const answer = await fetch(`${API}/health`, { headers: { Accept: "application/json" }, cache: "no-store", signal: controller.signal });
    let data = null;
    try {
      data = await answer.json();
    } catch (_) { /* not JSON: a proxy's error page */ }
    return { status: answer.status, ok: answer.ok && data !== null, data: data || { error: `HTTP ${answer.status}` } };
  } catch (error) {
    return { status: 0, ok: false, data: { error: error.name === "AbortError" ? t("no answer within {ms} ms", { ms: HEALTH_TIMEOUT_MS }) : t("no connection") } };
  } finally {
    clearTimeout(timer);
  }
}

async function loadHealth() {
  const answer = await askHealth();
  if (answer.ok) {
    const wasDown = state.down !== null;
    const workerWasSilent = workerSilent();
    state.health = answer.data;
    state.healthAt = Date.now();
    state.healthError = null;
    state.down = null;
    updated("vitals");
    updated("connections");
    if (wasDown || (workerWasSilent && !answer.data.worker.silent)) catchUp();  // back: fetch what was missed
  } else {
    state.healthError = answer.data.error;
    state.down = answer.status >= 500 || answer.status === 0 ? downFrom(answer.status, answer.data.error) : null;
  }
  renderVitals();
  renderAlerts();
  renderAges();
}

async function loadKillSwitch() {
  const answer = await api("GET", "/risk/kill_switch");
  state.killSwitch = answer.ok ? answer.data.on : null;
  renderKillSwitch();
  renderAlerts();
}

// -- jobs -----------------------------------------------------------------------------------------------------------
async function loadJobs() {
  const answer = await api("GET", "/jobs?limit=15");
  const box = document.getElementById("jobs");
  if (!answer.ok) return updated("jobs", answer.data.error);
  box.replaceChildren(grid([[t("Time"), ""], [t("Status"), ""], [t("What"), ""], [t("Account"), "opt"], [t("Outcome"), "opt"], [t("Job"), ""]],
    answer.data.jobs.map((job) => ({
      class: "job-row",
      cells: [clockTime(job.accepted_at), jobBadge(job.status),
        [JOB_KINDS[job.kind] || job.kind, job.side ? sideText(job.side, job.symbol) : "", job.symbol, job.volume ? number(job.volume) : "",
          job.price ? `@ ${priceText(job.price, job.symbol)}` : ""].filter(Boolean).join(" "),
        accountName(job.account_index), jobOutcome(job), jobLink(job.job_id)],
      cellClasses: [null, null, "wrap", null, "wrap", "job-id"],
    })), t("no jobs yet")));
  updated("jobs");
  if (answer.data.jobs.some((job) => RUNNING.includes(job.status))) setTimeout(() => refresh.jobs(), 2000);  // until they end
}

// -- accounts -------------------------------------------------------------------------------------------------------
function accountPanel(account) {
  let panel = document.getElementById(`account-${account.index}`);
  if (panel) return panel;
  panel = h("section", { class: "card mb-3 account-panel status-panel", id: `account-${account.index}`, "data-panel": `account-${account.index}`, "data-needs": "worker" },
    h("div", { class: "card-header py-1 d-flex flex-wrap gap-2" }, h("span", { class: "fw-semibold me-auto" }, t("Account {account}", { account: accountName(account.index) })),
      h("span", { class: "small updated" })),
    h("div", { class: "card-body p-2" },
      h("div", { class: "row g-2 mb-2 money" }),
      h("h2", { class: "h6 mt-2" }, t("Positions")), h("div", { class: "positions" }),
      h("h2", { class: "h6 mt-3" }, t("Reverse repo")), h("div", { class: "repo" }),
      h("h2", { class: "h6 mt-3" }, t("Today's orders")), h("div", { class: "orders" }),
      h("h2", { class: "h6 mt-3" }, t("Today's trades")), h("div", { class: "trades" })));
  document.getElementById("account-panels").append(panel);
  return panel;
}

function book(index) {
  books[index] = books[index] || { orders: new Map(), trades: new Map(), asked: { orders: 0, trades: 0 } };
  return books[index];
}

function money(label, value, cls) {
  return h("div", { class: `col-6 col-md-3 ${cls}` }, h("div", { class: "small text-body-secondary" }, label), h("div", { class: "fw-semibold" }, value));
}

function renderMoney(panel, p) {
  panel.querySelector(".money").replaceChildren(money(t("Total asset"), yuan(p.total_asset), "total-asset"), money(t("Available cash"), yuan(p.cash), "cash"),
    money(t("Market value"), yuan(p.market_value), "market-value"), money(t("Floating P&L"), signedMoney(p.profit, p.profit_ratio), "profit"));
}

function renderPositions(panel, positions) {
  const stocks = positions.filter((p) => !isRepo(p.symbol));  // a repo loan is no stock position: its own panel
  panel.querySelector(".positions").replaceChildren(grid(
    [[t("Symbol"), ""], [t("Volume"), ""], [t("Available"), "opt"], [t("Cost"), "opt"], [t("Price"), ""], [t("Value"), "opt"], [t("P&L"), ""]],
    stocks.map((p) => ({
      class: "position-row", data: { "data-symbol": p.symbol },
      cells: [named(p.symbol, p.name), number(p.volume), number(p.can_use_volume), price(p.avg_price, p.symbol), price(p.current_price, p.symbol),
        yuan(p.market_value), signedMoney(p.profit, p.profit_ratio)],
    })), t("no positions")));
}

// Each loan: amount lent, days, rate, expected interest, and the days the cash can trade again and leave the account.
// `repo_loans` comes with the portfolio where the broker lists loans (the simulator: a list, maybe empty); a real terminal
// has none (null) and lists the repo code as a position only: then its amount, and no loan's rate or days.
function renderRepo(panel, portfolio, positions) {
  const box = panel.querySelector(".repo");
  const loans = portfolio && Array.isArray(portfolio.repo_loans) ? portfolio.repo_loans : null;
  const columns = [[t("Symbol"), ""], [t("Amount lent"), ""], [t("Days"), "opt"], [t("Rate (annual)"), ""], [t("Expected interest"), ""],
    [t("Cash back"), ""]];
  if (loans) {
    const total = loans.reduce((sum, loan) => sum + loan.amount, 0);
    const interest = loans.reduce((sum, loan) => sum + loan.interest, 0);
    box.replaceChildren(grid(columns, loans.map((loan) => ({
      class: "repo-row", data: { "data-symbol": loan.symbol },
      cells: [named(loan.symbol, t("lent {date}", { date: loan.traded_on.slice(5) })), yuan(loan.amount), t("{days} days", { days: loan.days }),
        rateText(loan.rate), trendText(`+${yuan(loan.interest)}`, loan.interest),
        [h("div", null, t("usable"), " ", h("span", { class: "usable-on" }, loan.principal_back ? t("back in cash") : loan.usable_on.slice(5))),
          h("div", null, t("withdrawable"), " ", h("span", { class: "withdrawable-on" }, loan.withdrawable_on.slice(5)))]],
      cellClasses: [null, "amount", "days", "rate", "interest", "dates"],
    })), t("no reverse repo lent")), ...(loans.length ? [h("div", { class: "small text-body-secondary mt-1 repo-total" },
      t("{amount} yuan lent, {interest} yuan interest expected", { amount: yuan(total), interest: yuan(interest) }))] : []));
    return;
  }
  const held = (positions || []).filter((p) => isRepo(p.symbol) && p.volume);
  box.replaceChildren(grid(columns, held.map((p) => ({
    class: "repo-row", data: { "data-symbol": p.symbol },
    cells: [named(p.symbol, p.name), yuan(p.volume * 100), "—", "—", "—", "—"],
  })), t("no reverse repo lent")), ...(held.length ? [h("div", { class: "small text-body-secondary mt-1" }, t("The broker does not list each loan's rate and days."))] : []));
}

function orderPrice(o) {  // a market order is 市价, and once filled its average fill price; never "0"
  if (Number(o.price_type) === FIX_PRICE || isRepo(o.symbol)) return priceText(o.price, o.symbol);
  return [h("span", { class: "market" }, t("market")),
    o.traded_volume > 0 && o.traded_price ? h("div", { class: "small fill-price" }, t("avg {price}", { price: priceText(o.traded_price, o.symbol) })) : null];
}

function orderStateCell(o) {
  const rejected = o.status === "rejected" || o.order_status === 57;
  return [h("span", { class: `order-state ${rejected ? "text-danger fw-semibold" : ""}` }, orderState(o.status)),
    o.status_msg ? h("div", { class: `small status-msg ${rejected ? "text-danger" : "text-body-secondary"}` }, o.status_msg) : null];
}

function renderOrders(index, fresh = null) {
  const panel = accountPanel({ index });
  const orders = [...book(index).orders.values()].sort((a, b) => (b.order_time - a.order_time) || (b.order_id - a.order_id));
  panel.querySelector(".orders").replaceChildren(grid(
    [[t("Time"), "opt"], [t("Symbol"), ""], [t("Side"), ""], [t("Volume"), ""], [t("Price"), ""], [t("Filled"), "opt"], [t("State"), ""], [t("Order"), "opt"]],
    orders.map((o) => ({
      class: `order-row${o.order_id === fresh ? " fresh" : ""}`, data: { "data-order-id": String(o.order_id), "data-status": o.status || "" },
      cells: [clockTime(o.order_time), named(o.symbol, o.name), sideText(o.side, o.symbol), number(o.volume), orderPrice(o),
        number(o.traded_volume), orderStateCell(o), o.order_id],
      cellClasses: [null, null, null, null, "price", "filled", "state", null],
    })), t("no orders today"), "orders-table"));
}

function tradeKey(trade) {
  return trade.traded_id || `${trade.order_id}:${trade.traded_time}:${trade.traded_volume}`;
}

function renderTrades(index, fresh = null) {
  const panel = accountPanel({ index });
  const trades = [...book(index).trades.values()].sort((a, b) => (b.traded_time - a.traded_time) || String(tradeKey(b)).localeCompare(tradeKey(a)));
  panel.querySelector(".trades").replaceChildren(grid(
    [[t("Time"), ""], [t("Symbol"), ""], [t("Side"), ""], [t("Volume"), ""], [t("Price"), ""], [t("Amount"), "opt"], [t("Order"), "opt"]],
    trades.map((tr) => ({
      class: `trade-row${tradeKey(tr) === fresh ? " fresh" : ""}`, data: { "data-order-id": String(tr.order_id) },
      cells: [clockTime(tr.traded_time), named(tr.symbol, tr.name), sideText(tr.side, tr.symbol), number(tr.traded_volume),
        priceText(tr.traded_price, tr.symbol), yuan(isRepo(tr.symbol) ? tr.traded_volume * 100 : tr.traded_amount), tr.order_id],
      cellClasses: [null, null, null, null, "price", null, null],
    })), t("no trades today")));
}

// A query's answer replaces the table, but an order or fill an event drew after the query was asked stays.
function merge(map, found, key, asked) {
  const merged = new Map(found.map((item) => [key(item), item]));
  for (const [k, item] of map) {
    if (item.seen && item.seen > asked) merged.set(k, item);
  }
  return merged;
}

// One account's four queries, one after the other: each is a job for the worker, so a page never floods it.
async function loadAccount(account, maxAge) {
  const shared = `max_age=${maxAge.toFixed(2)}`;
  const panel = accountPanel(account);
  const mine = book(account.index);
  const problems = [];
  const portfolio = await api("GET", `/portfolio/${account.index}?${shared}`);
  if (portfolio.ok) renderMoney(panel, portfolio.data.portfolio);
  else problems.push(portfolio.data.error);
  const positions = await api("GET", `/positions/${account.index}?${shared}`);
  if (positions.ok) renderPositions(panel, positions.data.positions);
  else problems.push(positions.data.error);
  if (portfolio.ok || positions.ok) renderRepo(panel, portfolio.ok ? portfolio.data.portfolio : null, positions.ok ? positions.data.positions : null);
  let asked = Date.now() - maxAge * 1000;
  const orders = await api("POST", `/orders?${shared}`, { trader_index: account.index });
  if (orders.ok) {
    mine.orders = merge(mine.orders, orders.data.orders, (o) => o.order_id, asked);
    renderOrders(account.index);
  } else problems.push(orders.data.error);
  asked = Date.now() - maxAge * 1000;
  const trades = await api("GET", `/trades/${account.index}?${shared}`);
  if (trades.ok) {
    mine.trades = merge(mine.trades, trades.data.trades, tradeKey, asked);
    renderTrades(account.index);
  } else problems.push(trades.data.error);
  updated(`account-${account.index}`, problems.length ? problems[0] : null);
}

async function loadAccounts(maxAge = SHARED_MAX_AGE) {
  for (const account of ACCOUNTS) {
    accountPanel(account);
    if (state.down || workerSilent()) continue;  // its queries would only wait out QUERY_TIMEOUT, holding a web thread each
    await loadAccount(account, maxAge);
  }
  renderAges();
}

// An order's new state or a fill, drawn at once from the event's own fields (the query that follows confirms it).
function drawFromEvent(event) {
  const index = accountOf(event);
  if (index === null || !ACCOUNTS.some((a) => a.index === index)) return;
  const mine = book(index);
  const seen = Date.now();
  if (event.kind === "order") {
    const before = mine.orders.get(event.order_id) || {};
    mine.orders.set(event.order_id, { ...before, ...event, seen });
    renderOrders(index, event.order_id);
  } else if (event.kind === "trade") {
    const trade = { ...event, seen };
    mine.trades.set(tradeKey(trade), trade);
    renderTrades(index, tradeKey(trade));
    const order = mine.orders.get(event.order_id);
    if (order && (order.traded_volume || 0) < event.traded_volume) renderOrders(index);
  } else if (event.kind === "order_error") {
    const order = mine.orders.get(event.order_id);
    if (order) {
      mine.orders.set(event.order_id, { ...order, status: "rejected", order_status: 57, status_msg: event.error_msg, seen });
      renderOrders(index, event.order_id);
    }
  }
}

// -- routines -------------------------------------------------------------------------------------------------------
function routineState(routine) {  // the routine's one state in a trader's words (pages.js, shared with the config page)
  return routineStateView(routine);
}

async function loadRoutines() {
  const answer = await api("GET", "/routines");
  const box = document.getElementById("routines");
  if (!answer.ok) return updated("routines", answer.data.error);
  box.replaceChildren(grid([[t("Routine"), ""], [t("Time"), ""], [t("State"), ""]], answer.data.routines.map((r) => ({
    class: "routine-row",
    cells: [[h("div", { class: "fw-semibold" }, r.name), h("div", { class: "small text-body-secondary" }, r.kind)], r.time, routineState(r)],
    cellClasses: [null, null, "wrap"],
  })), t("no routines")));
  updated("routines");
}

// -- events ---------------------------------------------------------------------------------------------------------
function describe(event) {
  const who = (side, symbol) => `${sideText(side, symbol)} ${symbol}`;
  switch (event.kind) {
    case "job": return [t("Job {job}: {stage}", { job: event.job_id, stage: JOB_STAGES[event.stage] || event.stage }),
      event.symbol ? ` · ${who(event.side, event.symbol)}${event.volume ? ` ${number(event.volume)}` : ""}` : "", event.reason ? ` · ${event.reason}` : ""].join("");
    case "order": return t("Order {order_id} {what} {volume} @ {price}: {state}", {
      order_id: event.order_id, what: who(event.side, event.symbol), volume: number(event.volume), state: orderState(event.status),
      price: Number(event.price_type) === FIX_PRICE || isRepo(event.symbol) ? priceText(event.price, event.symbol) : t("market"),
    }) + (event.status_msg ? ` (${event.status_msg})` : "");
    case "trade": return t("Filled {what} {volume} @ {price}", { what: who(event.side, event.symbol), volume: number(event.traded_volume), price: priceText(event.traded_price, event.symbol) });
    case "order_error": return t("The broker refused order {order_id}: {reason}", { order_id: event.order_id, reason: event.error_msg });
    case "cancel_error": return t("The broker refused to cancel order {order_id}: {reason}", { order_id: event.order_id, reason: event.error_msg });
    case "kill_switch": return event.on ? t("Kill switch THROWN by {by}", { by: event.by }) + (event.reason ? `: ${event.reason}` : "") : t("Kill switch released by {by}", { by: event.by });
    case "config": return t("{what} changed by {by}", { what: CONFIG_WHATS[event.what] || event.what, by: event.by });
    case "risk": return t("Refused by the risk limits: {reason}", { reason: event.reason });
    case "routine": return t("Routine {name}: {state}", { name: event.name, state: ROUTINE_RUNS[event.state] || event.state }) + (event.reason ? ` · ${event.reason}` : "");
    case "worker": return (event.state === "up" ? t("Worker started") : t("Worker stopped")) + (event.reason ? ` · ${event.reason}` : "");
    case "connected": return t("Broker session connected");
    case "disconnected": return t("Broker session DISCONNECTED");
    case "account_status": return t("Account status at the broker: {status}", { status: ACCOUNT_STATUSES[event.status] || event.status });
    case "calendar": return t("Trading calendar: {message}", { message: event.message || "" });
    default: return event.message || event.kind;
  }
}

const BAD_EVENTS = ["order_error", "cancel_error", "disconnected", "risk", "kill_switch"];

function eventShown(item) {
  const kind = document.getElementById("event-kind").value;
  const account = document.getElementById("event-account").value;
  return (!kind || item.dataset.kind === kind) && (!account || item.dataset.account === account);
}

function filterEvents() {
  const items = [...document.querySelectorAll("#events .event")];
  let shown = 0;
  for (const item of items) {
    item.hidden = !eventShown(item);
    if (!item.hidden) shown += 1;
  }
  const note = document.getElementById("events-shown");
  note.textContent = shown === items.length ? "" : t("{shown} of {count} shown", { shown, count: items.length });
  const empty = document.getElementById("events-empty");
  if (empty) empty.hidden = shown > 0;
}

function addEvents(found) {
  const list = document.getElementById("events");
  for (const event of found) {
    const bad = BAD_EVENTS.includes(event.kind) && !(event.kind === "kill_switch" && !event.on);
    const index = accountOf(event);
    const item = h("li", { class: `list-group-item py-1 event d-flex gap-2 ${bad ? "list-group-item-danger" : ""}`, "data-kind": event.kind, "data-account": index === null ? "system" : String(index) },
      h("span", { class: "text-body-secondary font-monospace flex-shrink-0" }, clockTime(event.ts)),
      h("span", { class: "flex-grow-1" },
        h("span", { class: "badge text-bg-light border me-1 event-kind" }, EVENT_KINDS[event.kind] || event.kind),
        describe(event),
        index !== null || event.account_id ? h("span", { class: "text-body-secondary ms-1 event-account" }, `· ${index !== null ? accountName(index) : event.account_id}`) : null));
    item.hidden = !eventShown(item);
    list.prepend(item);
  }
  while (list.querySelectorAll(".event").length > EVENTS_KEPT) list.querySelector(".event:last-of-type").remove();
  filterEvents();
}

function eventKindOptions() {
  const select = document.getElementById("event-kind");
  select.append(...Object.entries(EVENT_KINDS).map(([kind, label]) => h("option", { value: kind }, label)));
  select.addEventListener("change", filterEvents);
  document.getElementById("event-account").addEventListener("change", filterEvents);
  document.getElementById("events").after(h("p", { class: "text-body-secondary small m-2", id: "events-empty", hidden: true }, t("no events of this kind")));
}

// -- refreshing on events -------------------------------------------------------------------------------------------
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
  accounts: refresher(loadAccounts, 15000),  // orders and fills are drawn from the events at once; this confirms them
  routines: refresher(loadRoutines, 3000),
  killSwitch: refresher(loadKillSwitch, 0),
};

function react(found) {
  for (const event of found) drawFromEvent(event);
  const kinds = new Set(found.map((e) => e.kind));
  if (kinds.has("job") || kinds.has("order")) refresh.jobs();
  if (["order", "trade", "order_error", "cancel_error"].some((k) => kinds.has(k))) refresh.accounts();
  if (kinds.has("routine") || kinds.has("config")) refresh.routines();
  if (kinds.has("kill_switch") || kinds.has("config")) refresh.killSwitch();
}

function catchUp() {  // the router answers again: what the page missed meanwhile
  refresh.jobs();
  refresh.accounts();
  refresh.routines();
  refresh.killSwitch();
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
      live.textContent = "● " + t("live");
      live.className = "small updated text-success";
      updated("events");
      if (!answer.data.events.length && Date.now() - started < 1000) await sleep(5000);  // no waiting slot free: ask again later
      else await sleep(Math.max(0, started + FOLLOW_GAP_MS - Date.now()));
    } else {
      if (answer.status === 410) state.cursor = null;  // older than the oldest event kept: start again from the last few
      live.textContent = "○ " + t("reconnecting: {reason}", { reason: answer.data.error });
      live.className = "small updated text-danger";
      updated("events", answer.data.error);
      await sleep(state.down ? 1000 : 3000);
    }
  }
}

async function everyMs(ms, load) {
  for (;;) {
    await sleep(ms);
    await load();
  }
}

// /health every second while the page is visible; at once when it becomes visible again.
async function watchHealth() {
  for (;;) {
    const started = Date.now();
    if (document.visibilityState === "visible") await loadHealth();
    else renderAges();
    await sleep(Math.max(100, started + HEALTH_EVERY_MS - Date.now()));
  }
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") loadHealth();
});

eventKindOptions();
for (const account of ACCOUNTS) accountPanel(account);
loadHealth().then(() => loadAccounts());
loadKillSwitch();
loadJobs();
loadRoutines();
follow();
watchHealth();
everyMs(15000, loadKillSwitch);
everyMs(60000, loadAccounts);
everyMs(60000, loadRoutines);
