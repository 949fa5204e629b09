// A job's page, in a trader's words: what was asked, each state with its time, the broker's answer and the order it
// became. GET /jobs/<id> is followed until the job ends (followJob); the job's own events (GET /events?job=<id>, read
// from its acceptance) give the times it was sent and the broker's answers, and are followed until the order is final.
"use strict";

const detail = document.getElementById("job-detail");
const JOB_ID = detail.dataset.jobId;
const FINAL_ORDER = [53, 54, 56, 57];  // part cancelled, cancelled, filled, rejected: nothing more will happen to it
const NEVER_SENT = ["rejected", "not_submitted", "expired"];  // outcomes after which the job has no order to follow
const STORY_WAIT = 20;  // seconds one read of the job's events waits for the next

const KINDS = { order: t("Place an order"), cancel: t("Cancel an order"), query: t("Query"), sim_day: t("Roll the simulator's day") };
const PRICE_TYPES = {  // xtquant's price types (common.rules.orders): 11 is a limit, the rest take the market's price
  11: t("limit"), 5: t("latest price"), 42: t("best five, rest cancelled"), 43: t("best five, rest as limit"), 44: t("counterparty's best"),
  45: t("own best"), 46: t("immediate fill, rest cancelled"), 47: t("best five, rest cancelled"), 48: t("fill all or cancel"),
};
const STAGE_RANK = { accepted: 0, started: 1, sent: 2, broker: 3, closing: 4, ended: 5 };  // same moment: this order

const story = { job: null, events: [], ids: new Set(), cursor: null, reading: null };

// -- reading ------------------------------------------------------------------------------------------------------
// Read the job's next events (waiting up to `wait` s); true when new ones came. One read at a time.
function readStory(wait) {
  if (story.reading) return story.reading;
  story.reading = (async () => {
    const query = new URLSearchParams({ job: JOB_ID, limit: "1000" });
    if (story.cursor) query.set("after", story.cursor);
    if (wait) query.set("wait", String(wait));
    const answer = await api("GET", `/events?${query}`);
    if (answer.status === 410) story.cursor = null;  // trimmed meanwhile: read again from the job's acceptance
    if (!answer.ok) return false;
    const fresh = answer.data.events.filter((event) => !story.ids.has(event.id));
    fresh.forEach((event) => story.ids.add(event.id));
    story.events.push(...fresh);
    const moved = answer.data.next !== story.cursor;
    story.cursor = answer.data.next;
    return fresh.length > 0 || (moved && !wait);
  })().finally(() => { story.reading = null; });
  return story.reading;
}

async function catchUp() {
  for (let reads = 0; reads < 50 && (await readStory(0)); reads += 1);  // each read is bounded: on until nothing is left
  render();
}

function storyDone() {
  const job = story.job;
  if (!job || RUNNING.includes(job.status)) return false;
  if (job.kind !== "order") return true;
  const order = currentOrder();
  if (order.order_status !== undefined && order.order_status !== null) return FINAL_ORDER.includes(order.order_status);
  return NEVER_SENT.includes(result().outcome);
}

async function follow() {
  await catchUp();
  const ended = await followJob(JOB_ID, (view) => {
    if (view.status === "unknown" && view.error) {
      flash(document.getElementById("job-messages"), "danger", view.error);
      return;
    }
    story.job = view;
    render();
    catchUp();
  });
  if (!ended || !ended.job_id) return;  // no such job (404): nothing more to follow
  await catchUp();
  let quiet = 0;
  while (!storyDone() && quiet < 500) {  // a resting order: its fills and cancel as they come, for hours if need be
    const started = Date.now();
    if (await readStory(STORY_WAIT)) {
      const answer = await api("GET", `/jobs/${encodeURIComponent(JOB_ID)}`);
      if (answer.ok) story.job = answer.data;
      render();
    } else {
      quiet += 1;
      if (Date.now() - started < 1000) await sleep(2000);  // answered at once (no waiting slot, or no answer): gently
    }
  }
}

// -- what the job and its events say -------------------------------------------------------------------------------
function result() {
  const found = story.job && story.job.result;
  return found && typeof found === "object" && !Array.isArray(found) ? found : {};
}

function eventsOf(kind, stage) {
  return story.events.filter((event) => event.kind === kind && (!stage || event.stage === stage));
}

function currentOrder() {  // the order's latest state: the job's (kept by the broker's callbacks), else its last event
  const orderEvents = eventsOf("order");
  const last = orderEvents[orderEvents.length - 1] || {};
  const kept = (story.job && story.job.order) || {};
  return (kept.updated_at || 0) >= (last.ts || 0) && kept.order_id ? kept : { ...kept, ...last };
}

function unixOf(iso) {
  const ms = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(ms) ? null : ms / 1000;
}

function unitsOf(symbol) {  // bonds and reverse repo trade in 张 (100 yuan of face value), the rest in shares
  const [code, exchange] = String(symbol || "").split(".");
  return (exchange === "SH" && /^(11|20)/.test(code)) || (exchange === "SZ" && /^(12|13)/.test(code)) ? "units" : "shares";
}

function isRepo(symbol) {
  const [code, exchange] = String(symbol || "").split(".");
  return (exchange === "SH" && code.startsWith("204")) || (exchange === "SZ" && code.startsWith("1318"));
}

function sizeText(volume, symbol) {
  const text = unitsOf(symbol) === "units" ? t("{volume} units", { volume: number(volume) }) : t("{volume} shares", { volume: number(volume) });
  return isRepo(symbol) ? `${text} (${t("lent {amount} yuan", { amount: yuan(volume * 100) })})` : text;
}

function isMarket(xtType) {
  return xtType !== null && xtType !== undefined && xtType !== 11;
}

function priceText(value, xtType, symbol) {
  if (isMarket(xtType)) return h("span", null, t("market"), h("span", { class: "text-body-secondary small ms-1" }, `(${PRICE_TYPES[xtType] || xtType})`));
  if (Number(value) > 0) return `${price(value, symbol)} ${xtType === 11 ? t("limit") : ""}`.trim();
  return xtType === 11 ? t("at the latest quote") : "";
}

// What was asked, from the job, its "accepted" event and the order it became (each knows a part).
function asked() {
  const job = story.job || {};
  const accepted = eventsOf("job", "accepted")[0] || {};
  const sent = eventsOf("job", "sent")[0] || {};
  const res = result();
  const order = currentOrder();
  const requested = res.requested_volume ?? accepted.volume;
  return {
    kind: job.kind || accepted.job_kind,
    account: job.account_index ?? accepted.account_index,
    symbol: res.symbol || accepted.symbol || order.symbol || "",
    name: order.name || "",
    side: res.side || accepted.side || order.side || "",
    requested,
    volume: res.volume || sent.volume || order.volume || 0,
    price: accepted.price ?? res.price,
    xtType: res.xt_price_type ?? order.price_type,
    strategy: (job.request || {}).strategy_name || order.strategy_name || "",
    request: job.request || {},
    client: job.client_id || accepted.client_id || "",
    acceptedAt: accepted.ts || unixOf(job.created_at),
  };
}

function clientText(client) {
  if (client.startsWith("routine:")) return t("routine {name}", { name: client.slice("routine:".length) });
  if (client.startsWith("user:")) return t("web page ({user})", { user: client.slice("user:".length) });
  return client;
}

function cancelTarget(res) {
  if (res.order_id) return t("cancel order {order_id}", { order_id: res.order_id });
  if (res.side === "buy") return t("cancel all buys");
  if (res.side === "sell") return t("cancel all sells");
  const accepted = eventsOf("job", "accepted")[0] || {};
  return accepted.side === "buy" ? t("cancel all buys") : accepted.side === "sell" ? t("cancel all sells") : "";
}

// Each state with its time: the job's own (accepted, started, ended) and its events' (sent, the broker's answers).
function timeline() {
  const job = story.job || {};
  const a = asked();
  const steps = [];
  const add = (stage, rank, ts, label, note, tone) => { if (ts) steps.push({ stage, rank: STAGE_RANK[rank], ts, label, note, tone }); };
  add("accepted", "accepted", a.acceptedAt, t("Accepted"), "", "");
  add("started", "started", unixOf(job.started_at), t("Started by the worker"), "", "");
  for (const event of eventsOf("job", "sent")) {
    add("sent", "sent", event.ts, t("Sent to the broker"), event.order_id ? t("order {order_id}", { order_id: event.order_id }) : "", "");
  }
  const rejectedOrder = eventsOf("order").some((event) => event.order_status === 57);
  let told = "";
  for (const event of eventsOf("order")) {
    const key = `${event.order_status}/${event.traded_volume}`;
    if (key === told) continue;  // the same state told again (a recovered worker): once is enough
    told = key;
    const filled = event.traded_volume ? t("{volume} filled at {price}", { volume: number(event.traded_volume), price: price(event.traded_price, event.symbol) }) : "";
    const tone = event.order_status === 57 ? "danger" : event.order_status === 56 ? "success" : "";
    add(event.status || String(event.order_status), "broker", event.ts, t("Broker: {state}", { state: orderState(event.status) }), [filled, event.status_msg].filter(Boolean).join(" · "), tone);
  }
  // the broker's refusal is told on the rejected order's row; on its own only when no order row tells it
  for (const event of rejectedOrder ? [] : eventsOf("order_error")) add("order_error", "broker", event.ts, t("Broker refused: {reason}", { reason: event.error_msg }), "", "danger");
  for (const event of eventsOf("job")) {
    if (["accepted", "sent"].includes(event.stage) || (event.stage === "rejected" && rejectedOrder)) continue;
    const label = event.stage === "unknown" ? t("outcome unknown: being reconciled with the broker") : OUTCOMES[event.stage] || event.stage;
    add(event.stage, "closing", event.ts, label, event.reason, event.stage === "unknown" ? "warning" : "danger");
  }
  add("ended", "ended", unixOf(job.ended_at), t("Ended: {state}", { state: JOB_STATES[job.status] || job.status }), "", "");
  return steps.sort((x, y) => x.ts - y.ts || x.rank - y.rank);
}

// -- drawing ---------------------------------------------------------------------------------------------------------
function row(name, value) {
  if (value === null || value === undefined || value === "") return null;
  return [h("dt", { class: "col-4 col-sm-3 fw-normal text-body-secondary" }, name), h("dd", { class: "col-8 col-sm-9 mb-1" }, value)];
}

function sideText(side) {
  return side ? h("span", { class: side === "buy" ? "trend-up fw-semibold" : "trend-down fw-semibold" }, sideName(side)) : "";
}

function timeWithMs(ts) {
  const ms = String(Math.floor((ts * 1000) % 1000)).padStart(3, "0");
  return [clockTime(ts), h("span", { class: "text-body-secondary small" }, `.${ms}`)];
}

// The size as it was asked (GET /jobs/<id> request.sizing: common.rules.order_request.wire_fields), then what it came to.
function askedSize(a) {
  const r = a.request;
  const came = a.volume > 0 ? sizeText(a.volume, a.symbol) : "";
  const asked = r.sizing === "position_pct" && r.position_pct ? t("{pct} of the account", { pct: `${(r.position_pct * 100).toFixed(2)}%` })
    : r.sizing === "allin" ? t("all available cash")
    : r.sizing === "repo" ? t("idle cash less a reserve of {amount} yuan", { amount: yuan(r.reserve_amount || 0) })
    : "";
  if (asked) return came ? `${asked} → ${came}` : asked;
  if (a.requested > 0) return sizeText(a.requested, a.symbol);
  return came ? t("sized by the router: {size}", { size: came }) : a.kind === "order" ? t("sized by the router") : "";
}

function drawAsked(a) {
  const res = result();
  const size = askedSize(a);
  const kind = KINDS[a.kind] || a.kind || "";
  document.getElementById("job-asked").replaceChildren(h("dl", { class: "row mb-0 small" },
    row(t("Kind"), kind),
    row(t("Account"), a.account === null || a.account === undefined ? "" : accountName(a.account)),
    row(t("Symbol"), a.symbol ? `${a.symbol}${a.name ? ` ${a.name}` : ""}` : ""),
    row(t("Side"), a.kind === "order" ? sideText(a.side) : ""),
    row(t("Size"), a.kind === "order" ? size : ""),
    row(t("Price"), a.kind === "order" ? priceText(a.price, a.xtType, a.symbol) : ""),
    row(t("Target"), a.kind === "cancel" ? cancelTarget(res) : ""),
    row(t("Strategy"), a.strategy),
    row(t("Sent by"), clientText(a.client)),
    row(t("Accepted at"), a.acceptedAt ? stamp(a.acceptedAt) : "")));
}

function drawTimeline() {
  const steps = timeline();
  document.getElementById("job-timeline").replaceChildren(...steps.map((step) =>
    h("li", { class: `job-step d-flex gap-2 py-1 border-bottom${step.tone ? ` text-${step.tone}-emphasis` : ""}`, "data-stage": step.stage, "data-ts": step.ts.toFixed(3) },
      h("span", { class: "job-step-time font-monospace small text-nowrap" }, timeWithMs(step.ts)),
      h("span", { class: "job-step-what" }, h("span", { class: "fw-semibold" }, step.label), step.note ? h("span", { class: "d-block small job-step-note" }, step.note) : null))));
}

// The broker's answer in one box: accepted with its order number, refused with its reason, or the truth when unknown.
function answerBox() {
  const job = story.job;
  if (!job) return null;
  const res = result();
  const order = currentOrder();
  const box = (tone, outcome, text) => h("div", { class: `alert alert-${tone} py-2 mb-2 job-answer`, "data-outcome": outcome, role: "status" }, text);
  if (job.kind === "cancel") {
    if (RUNNING.includes(job.status)) return box("secondary", "waiting", t("Waiting for the broker's answer"));
    const refused = (res.refused || []).map((r) => `${r.order_id}: ${r.error}`);
    if (res.accepted) return box("success", "submitted", t("Cancel sent: {count} cancelled", { count: (res.cancelled || []).length }));
    return box("danger", "rejected", t("Cancel refused: {reason}", { reason: [res.error || job.error, ...refused].filter(Boolean).join("; ") }));
  }
  if (job.kind !== "order") {
    if (RUNNING.includes(job.status)) return box("secondary", "waiting", JOB_STATES[job.status] || job.status);
    return job.error ? box("danger", "failed", t("The job failed: {reason}", { reason: job.error })) : box("success", "finished", JOB_STATES[job.status] || job.status);
  }
  const refusal = eventsOf("order_error").map((e) => e.error_msg)[0];
  const rejected = res.outcome === "rejected" || order.order_status === 57;
  if (rejected) {
    const reason = order.status_msg || res.error || res.status_msg || refusal || job.error || "";
    return box("danger", "rejected", t("Rejected by the broker: {reason}", { reason }));
  }
  if (res.outcome === "submitted" || order.order_id) {
    return box("success", "submitted", t("Accepted by the broker as order {order_id}", { order_id: res.order_id || order.order_id }));
  }
  if (res.outcome === "not_submitted") return box(res.nothing_to_send ? "secondary" : "danger", "not_submitted", t("Not sent to the broker: {reason}", { reason: res.error || "" }));
  if (res.outcome === "expired") return box("danger", "expired", t("Never sent: it waited past its deadline. {reason}", { reason: res.error || "" }));
  if (res.outcome === "unknown") {
    return box("warning", "unknown", t("Outcome unknown: the router is reconciling it with the broker by its tag. {reason}", { reason: res.error || "" }));
  }
  if (job.status === "failed") return box("danger", "failed", t("The job failed: {reason}", { reason: job.error || "" }));
  if (job.status === "queued") return box("secondary", "waiting", t("Waiting in the queue for the worker"));
  return box("secondary", "waiting", t("Waiting for the broker's answer"));
}

function drawOrder(a) {
  const card = document.getElementById("job-order-card");
  const order = currentOrder();
  const res = result();
  const orderId = order.order_id || res.order_id;
  card.hidden = !orderId;
  if (!orderId) return;
  const state = order.status || res.status;
  const traded = order.traded_volume ?? res.traded_volume ?? 0;
  const tradedPrice = order.traded_price || res.traded_price;
  const ordered = order.volume || res.volume;
  const fills = eventsOf("trade").map((fill) => [
    clockTime(fill.traded_time || fill.ts), number(fill.traded_volume), price(fill.traded_price, fill.symbol), yuan(fill.traded_amount || fill.traded_volume * fill.traded_price),
  ]);
  document.getElementById("job-order").replaceChildren(h("div", { class: "row g-2" },
    h("dl", { class: "col-lg-5 mb-0 small job-order-facts" }, h("div", { class: "row" },
      row(t("Order number"), h("span", { class: "font-monospace job-order-id" }, String(orderId))),
      row(t("State now"), h("span", { class: `badge text-bg-${order.order_status === 57 ? "danger" : order.order_status === 56 ? "success" : "secondary"} job-order-state`, "data-status": state || "" }, orderState(state))),
      row(t("Ordered"), ordered ? [sizeText(ordered, a.symbol), " @ ", priceText(order.price ?? res.price, a.xtType, a.symbol)] : ""),
      row(t("Traded volume"), sizeText(traded, a.symbol)),
      row(t("Average fill price"), traded ? h("span", { class: "job-fill-price" }, price(tradedPrice, a.symbol)) : ""),
      row(t("Broker's note"), order.status_msg || res.status_msg || ""))),
    h("div", { class: "col-lg-7 job-fills" },
      h("h3", { class: "h6 small fw-semibold mb-1" }, t("Fills")),
      table([t("Time"), t("Volume"), t("Price"), t("Amount")], fills, t("no fills yet")))));
}

function drawHeadline(a) {
  const order = currentOrder();
  const parts = [];
  if (a.kind === "order") {
    parts.push(sideText(a.side), " ", a.symbol, a.name ? ` ${a.name}` : "");
    const volume = a.requested > 0 ? a.requested : a.volume;
    if (volume) parts.push(" ", sizeText(volume, a.symbol));
    const at = priceText(a.price, a.xtType, a.symbol);
    if (at) parts.push(" @ ", at);
    if (order.traded_volume) parts.push(" · ", t("{volume} filled at {price}", { volume: number(order.traded_volume), price: price(order.traded_price, a.symbol) }));
  } else if (a.kind) {
    parts.push(KINDS[a.kind] || a.kind, a.kind === "cancel" ? ` · ${cancelTarget(result())}` : "");
  }
  if (a.account !== null && a.account !== undefined) parts.push(h("span", { class: "text-body-secondary fw-normal small ms-2 text-nowrap" }, accountName(a.account)));
  document.getElementById("job-headline").replaceChildren(...parts);
}

function render() {
  const job = story.job;
  if (!job) return;
  const a = asked();
  document.getElementById("job-badge").replaceChildren(jobBadge(job.status));
  drawHeadline(a);
  document.getElementById("job-answer").replaceChildren(answerBox() || "");
  drawAsked(a);
  drawTimeline();
  drawOrder(a);
  document.getElementById("job-json").textContent = JSON.stringify(job, null, 2);
}

follow();
