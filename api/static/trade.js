// The trading page: the order form (POST /trade), today's orders with a cancel each (POST /cancel_order), cancel all buys
// or sells (POST /cancel_orders/buy|sale), the kill switch (POST /risk/kill_switch) — the API's own routes, whose
// refusals show next to the field they name. Each job is followed with /jobs/<id>?wait= until it ends.
"use strict";

const form = document.getElementById("order-form");
const placed = document.getElementById("placed");
const messages = document.getElementById("messages");
const FIELD_ALIASES = { volume: "amount", position_pct: "amount", trade_price: "price", pricetype: "price_type" };

function numberOrNull(text) {
  return text.trim() === "" ? null : Number(text);
}

function orderBody() {
  const values = Object.fromEntries(new FormData(form));
  const common = { trader_index: Number(values.trader_index), symbol: values.symbol.trim(), order_type: Number(values.order_type), strategy_name: "web" };
  const price = numberOrNull(values.price);
  const amount = numberOrNull(values.amount);
  if (values.sizing === "position_pct") {
    return { ...common, position_pct: amount === null ? null : amount / 100, trade_price: price ?? 0, pricetype: Number(values.price_type) };
  }
  return { ...common, volume: amount, price: price ?? 0, price_type: Number(values.price_type) };
}

function describeOrder(body) {
  const side = body.order_type === 23 ? "buy" : "sell";
  const size = body.position_pct !== undefined ? `${(body.position_pct * 100).toFixed(2)}%` : number(body.volume);
  const price = body.price ?? body.trade_price;
  return `${side} ${body.symbol} ${size}${price ? ` @ ${price}` : ""} on ${accountName(body.trader_index)}`;
}

// A job sent from this page, shown with its status until it ends; `then` runs when it has.
function trackJob(jobId, label, then) {
  document.getElementById("placed-empty")?.remove();
  const row = h("div", { class: "placed-job border-bottom py-1 small", id: `placed-${jobId}`, "data-job-id": jobId },
    h("div", { class: "d-flex flex-wrap gap-2 align-items-center" }, jobBadge("queued"), h("span", null, label), h("span", { class: "ms-auto" }, jobLink(jobId))),
    h("div", { class: "outcome text-body-secondary" }));
  placed.prepend(row);
  followJob(jobId, (job) => {
    row.querySelector(".job-status").replaceWith(jobBadge(job.status));
    row.querySelector(".outcome").textContent = jobOutcome(job);
  }).then(() => then && then());
}

function queuedJobs(data) {
  return data.job_id ? [data.job_id] : data.job_ids || [];
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(form);
  const button = document.getElementById("place-order");
  button.disabled = true;
  try {
    const body = orderBody();
    const answer = await api("POST", "/trade", body, { "Idempotency-Key": idempotencyKey() });
    if (answer.ok) {
      for (const jobId of queuedJobs(answer.data)) trackJob(jobId, describeOrder(body), refreshOrders);
    } else showErrors(form, answer.data, FIELD_ALIASES);
  } finally {
    button.disabled = false;
  }
});

document.getElementById("f-sizing").addEventListener("change", (event) => {
  const byPct = event.target.value === "position_pct";
  document.getElementById("f-amount-label").textContent = byPct ? "Percent (%)" : "Volume (shares)";
  document.getElementById("f-pct-help").hidden = !byPct;
});

// -- today's orders ---------------------------------------------------------------------------------
async function loadOrders() {
  const box = document.getElementById("orders");
  const rows = [];
  const problems = [];
  for (const account of ACCOUNTS) {
    const answer = await api("POST", "/orders", { trader_index: account.index });
    if (!answer.ok) {
      problems.push(`${account.name}: ${answer.data.error}`);
      continue;
    }
    for (const order of answer.data.orders) {
      const open = OPEN_ORDER.includes(order.order_status);
      const cancel = open ? h("button", { class: "btn btn-sm btn-outline-danger py-0 cancel-order", type: "button", "data-order-id": order.order_id,
        onclick: (e) => cancelOrder(e.target, account.index, order.order_id) }, "Cancel") : "";
      rows.push({ class: `order-row ${open ? "open" : ""}`, time: order.order_time, cells: [cancel, order.status, order.side, order.symbol,
        number(order.volume), order.price, number(order.traded_volume), clockTime(order.order_time), account.name, order.order_id] });
    }
  }
  rows.sort((a, b) => b.time - a.time);
  box.replaceChildren(...problems.map((text) => h("div", { class: "alert alert-warning py-1 small" }, text)),
    table(["", "Status", "Side", "Symbol", "Volume", "Price", "Filled", "Time", "Account", "Order"], rows, "no orders today"));
}

let ordersPending = null;
function refreshOrders() {  // coalesce: many jobs ending at once load the orders once
  if (!ordersPending) ordersPending = sleep(300).then(loadOrders).finally(() => { ordersPending = null; });
  return ordersPending;
}

async function cancelOrder(button, traderIndex, orderId) {
  button.disabled = true;
  const answer = await api("POST", "/cancel_order", { trader_index: traderIndex, order_id: orderId }, { "Idempotency-Key": idempotencyKey() });
  if (answer.ok) trackJob(answer.data.job_id, `cancel order ${orderId} on ${accountName(traderIndex)}`, refreshOrders);
  else {
    button.disabled = false;
    flash(messages, "danger", `Cancel refused: ${answer.data.error}`);
  }
}

// One request per account this page shows, each naming its account: a request from a page never means "every account".
async function cancelSide(side, label) {
  for (const account of ACCOUNTS) {
    const answer = await api("POST", `/cancel_orders/${side}`, { trader_index: account.index }, { "Idempotency-Key": idempotencyKey() });
    if (!answer.ok) {
      flash(messages, "danger", `${label} on ${account.name} refused: ${answer.data.error}`);
      continue;
    }
    trackJob(answer.data.job_id, `${label} on ${account.name}`, refreshOrders);
  }
}

document.getElementById("cancel-buys").addEventListener("click", () => cancelSide("buy", "cancel all buys"));
document.getElementById("cancel-sells").addEventListener("click", () => cancelSide("sale", "cancel all sells"));
document.getElementById("refresh-orders").addEventListener("click", refreshOrders);

// -- the kill switch --------------------------------------------------------------------------------
const confirmBox = document.getElementById("kill-switch-confirm");

function showKillSwitch(on) {
  const box = document.getElementById("kill-switch-state");
  box.replaceChildren(on
    ? h("div", { class: "alert alert-danger fw-semibold py-1 mb-0", "data-kill-switch": "on" }, "⚠ Kill switch is ON: new orders are refused. An admin releases it on the Config page.")
    : h("span", { class: "text-success", "data-kill-switch": "off" }, "Kill switch is off: orders are accepted."));
  document.getElementById("kill-switch").disabled = on;
}

async function loadKillSwitch() {
  const answer = await api("GET", "/risk/kill_switch");
  if (answer.ok) showKillSwitch(answer.data.on);
}

document.getElementById("kill-switch").addEventListener("click", () => { confirmBox.hidden = false; });
document.getElementById("kill-switch-no").addEventListener("click", () => { confirmBox.hidden = true; });
document.getElementById("kill-switch-yes").addEventListener("click", async () => {
  confirmBox.hidden = true;
  const cancelOpen = document.getElementById("kill-cancel-open").checked;
  const answer = await api("POST", "/risk/kill_switch", { on: true, cancel_open: cancelOpen });
  if (!answer.ok) return flash(messages, "danger", `Kill switch refused: ${answer.data.error}`);
  showKillSwitch(true);
  for (const jobId of answer.data.job_ids || []) trackJob(jobId, "kill switch: cancel open orders", refreshOrders);
});

loadKillSwitch();
loadOrders();
setInterval(loadKillSwitch, 10000);
setInterval(refreshOrders, 20000);
