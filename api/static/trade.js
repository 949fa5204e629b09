// The trading page: every order the API has (shares, percent of the account, all-in, sell all, the reverse-repo sweep),
// each previewed before it goes (POST /preview/<route>: the quote, the volume in lots, the notional, the fees, the
// nearest risk limit) and confirmed in a dialog when it is large or takes the whole cash or holding; today's orders
// with a cancel each and cancel all buys / sells per account; the holdings with a sell-all each; the kill switch.
// Each job sent is followed until it ends with the broker's answer. Errors show next to their field in a trader's words.
"use strict";

const form = document.getElementById("order-form");
const nhgForm = document.getElementById("nhg-form");
const placed = document.getElementById("placed");
const messages = document.getElementById("messages");
const previewBox = document.getElementById("preview");
const $ = (id) => document.getElementById(id);
// the API's field names -> this page's inputs
const FIELD_ALIASES = { volume: "amount", position_pct: "amount", trade_price: "price", cur_price: "price", pricetype: "price_type" };
const SYMBOL_FORMS = /^\s*([A-Za-z]{2}\.?)?[0-9]{6}(\.[A-Za-z]{2,4})?\s*$/;  // api.schemas.SYMBOL_FORMS
const REPO_CODE = /^(204\d{3}(\.SH)?|1318\d{2}(\.SZ)?|SH\.?204\d{3}|SZ\.?1318\d{2})$/i;  // reverse repo: limit rate only
const PRICE_TYPES = {
  0: t("Limit"), 1: t("Market: latest price"), 2: t("Market: best five, rest cancelled"), 3: t("Market: own side best"), 5: t("Market: counterparty best"),
};
const LIMIT_WORDS = {  // common.desk.preview's limit names
  max_order_notional: (use) => t("Per-order cap {limit} yuan: this order is {share} of it", { limit: number(use.limit), share: percentOf(use.share) }),
  max_actions_per_day: (use) => t("Daily cap {limit} orders and cancels: this is number {used}", { limit: number(use.limit), used: number(use.used) }),
  price_band: (use) => t("Price band {limit}% from the latest price: this order is {used}% off", { limit: use.limit, used: use.used }),
  kill_switch: () => t("The kill switch is on: new orders are refused"),
  blocked_symbols: () => t("The code is on the block list"),
};

function percentOf(share) {
  return `${(share * 100).toFixed(share < 0.01 ? 2 : share < 0.1 ? 1 : 0)}%`;
}

// -- the API's refusals in a trader's words ---------------------------------------------------------------------------
// [field (or null: any), pattern of the API's English message, the words]; the first match wins, else the API's text.
const TRADER_WORDS = [
  ["position_pct", /less than or equal to 1/, () => t("The percent cannot exceed 100%")],
  ["position_pct", /greater than or equal to -1|must not be 0|greater than 0/, () => t("The percent must be above 0")],
  [null, /is not a legal lot .* at least (\d+), then steps of (\d+) (shares|张)/, (m) => (m[1] === m[2]
    ? t("The quantity must be a whole number of lots of {step} {unit}", { step: number(m[2]), unit: unitWord(m[3]) })
    : t("The quantity must be at least {minimum} {unit}, then {step} at a time", { minimum: number(m[1]), step: number(m[2]), unit: unitWord(m[3]) }))],
  [null, /below the minimum of (\d+) (shares|张)/, (m) => t("The quantity must be at least {minimum} {unit}", { minimum: number(m[1]), unit: unitWord(m[2]) })],
  [null, /exceeds the per-order maximum of (\d+)/, (m) => t("At most {maximum} in one order", { maximum: number(m[1]) })],
  [null, /exceeds the sellable (\d+)/, (m) => t("More than the {volume} you can sell", { volume: number(m[1]) })],
  [null, /odd lot that does not close the sellable remainder (\d+)/, (m) => t("An odd lot can only be sold with the whole sellable {volume}", { volume: number(m[1]) })],
  [null, /nothing of .* is sellable/, () => t("Nothing of this code can be sold now (bought today: T+1)")],
  [null, /of sellable (\d+) .* is less than one lot/, (m) => t("That percent of the sellable {volume} is less than one lot", { volume: number(m[1]) })],
  [null, /buys no legal lot/, () => t("The available cash does not buy one lot at this price")],
  [null, /below the 1,000-yuan minimum of reverse repo/, () => t("Less than 1,000 yuan would be lent: the minimum of reverse repo")],
  ["volume", /greater than 0/, () => t("Enter a quantity above 0")],
  [null, /valid integer/, () => t("The quantity must be a whole number")],
  [null, /not on the ([\d.]+) tick/, (m) => t("The price must be a multiple of {tick}", { tick: m[1] })],
  [null, /below one tick \(([\d.]+)\)/, (m) => t("The price must be at least {tick}", { tick: m[1] })],
  [null, /a limit order needs a price above 0/, () => t("A limit order needs a price")],
  ["cur_price", /greater than 0/, () => t("All in needs a limit price")],
  ["reserve_amount", /greater than or equal to 0/, () => t("The amount kept back cannot be negative")],
  [null, /is not a 6-digit code|is not a known A-share|is not a tradable code|has unknown market/, () => t("Not a code that can be traded: enter 6 digits, e.g. 600000")],
  [null, /reverse repo .* is lent with a sell/, () => t("Reverse repo is lent with a sell")],
  [null, /reverse repo .* trades only at a limit rate/, () => t("Reverse repo takes only a limit rate")],
  [null, /order notional ([\d,.]+) yuan .* per-order cap of ([\d,.]+)/, (m) => t("{notional} yuan is over the per-order cap of {cap} yuan", { notional: m[1], cap: m[2] })],
  [null, /is on the block list/, () => t("The code is on the block list")],
  [null, /trading is halted/, () => t("Trading is halted by the kill switch; cancels still run")],
  [null, /limit price ([\d.]+) is ([\d.]+)% from the latest price ([\d.]+).*\(([\d.]+)%\)/,
    (m) => t("The price is {off}% from the latest {last}, beyond the {band}% band", { off: m[2], last: m[3], band: m[4] })],
  [null, /daily cap of (\d+) orders and cancels/, (m) => t("The daily cap of {cap} orders and cancels is reached", { cap: number(m[1]) })],
  [null, /orders and cancels in one second/, () => t("Too many orders in one second: send again in a moment")],
  [null, /no upper price limit known|no quote for|no latest price|gave no quote/, () => t("No quote for this code from the broker yet")],
  [null, /did not answer within|could not answer|too many answers are waiting/, () => t("The broker terminal did not answer in time")],
];

function unitWord(unit) {
  return unit === "张" ? t("lots of bonds (张)") : t("shares");
}

function traderWords(field, message) {
  const text = String(message || "");
  for (const [wanted, pattern, words] of TRADER_WORDS) {
    if (wanted && wanted !== field) continue;
    const match = text.match(pattern);
    if (match) return words(match);
  }
  return text;
}

// showErrors (pages.js) with each message in a trader's words
function showRefusal(target, data) {
  const errors = data.errors && data.errors.length ? data.errors : [{ field: data.field, message: data.error }];
  const noAmount = target === form && $("f-amount-field").hidden;  // all in, sell all: what is wrong of the size goes by the code
  const aliases = noAmount ? { ...FIELD_ALIASES, volume: "symbol", position_pct: "symbol" } : FIELD_ALIASES;
  showErrors(target, { errors: errors.map(({ field, message }) => ({ field, message: traderWords(field, message) })) }, aliases);
}

function fieldError(target, name, text) {
  const input = target.querySelector(`[name="${name}"]`);
  input.classList.add("is-invalid");
  input.closest(".field").querySelector(".invalid-feedback").textContent = text;
}

// -- the order form -------------------------------------------------------------------------------------------------
function sizing() {
  return $("f-sizing").value;
}

function isRepo(symbol) {
  return REPO_CODE.test(String(symbol || "").trim());
}

// The form as {route, body}: the API's own route and body for the order kind chosen.
function orderRequest() {
  const values = Object.fromEntries(new FormData(form));
  const traderIndex = Number(values.trader_index);
  const symbol = values.symbol.trim();
  const side = Number(values.order_type);
  const priceText = (values.price ?? "").trim();  // a disabled field (a market order's price) is not in the form's data
  const amountText = (values.amount ?? "").trim();
  const price = priceText === "" ? 0 : Number(priceText);
  const amount = amountText === "" ? null : Number(amountText);
  const priceType = Number(values.price_type);
  switch (sizing()) {
    case "allin":
      return { route: "/trade/allin", body: { trader_index: traderIndex, symbol, cur_price: price, strategy_name: "web" } };
    case "sell_all":
      return { route: "/trade", body: { trader_index: traderIndex, symbol, order_type: 24, position_pct: 1, trade_price: price, pricetype: priceType, strategy_name: "web" } };
    case "position_pct":
      return { route: "/trade", body: { trader_index: traderIndex, symbol, order_type: side, position_pct: amount === null ? null : amount / 100, trade_price: price, pricetype: priceType, strategy_name: "web" } };
    default:
      return { route: "/trade", body: { trader_index: traderIndex, symbol, order_type: side, volume: amount, price, price_type: priceType, strategy_name: "web" } };
  }
}

// What can be told wrong before anything is sent; true when the form may go on to its preview.
function checkForm() {
  clearErrors(form);
  const kind = sizing();
  const symbol = $("f-symbol").value.trim();
  const amountText = $("f-amount").value.trim();
  const priceText = $("f-price").value.trim();
  const market = $("f-price-type").value !== "0";
  let good = true;
  const wrong = (name, text) => { fieldError(form, name, text); good = false; };
  if (!symbol) wrong("symbol", t("Enter a code, e.g. 600000"));
  else if (!SYMBOL_FORMS.test(symbol)) wrong("symbol", t("Not a code that can be traded: enter 6 digits, e.g. 600000"));
  if (kind === "position_pct") {
    const pct = Number(amountText);
    if (amountText === "" || Number.isNaN(pct)) wrong("amount", t("Enter a percent, e.g. 20"));
    else if (pct > 100) wrong("amount", t("The percent cannot exceed 100%"));
    else if (pct <= 0) wrong("amount", t("The percent must be above 0"));
  }
  if (kind === "volume") {
    const volume = Number(amountText);
    if (amountText === "" || Number.isNaN(volume)) wrong("amount", t("Enter a quantity"));
    else if (!Number.isInteger(volume) || volume <= 0) wrong("amount", t("The quantity must be a whole number above 0"));
    else {
      const lotProblem = lotCheck(symbol, Number($("f-side").value), volume);
      if (lotProblem) wrong("amount", lotProblem);
    }
  }
  const price = Number(priceText);
  if (priceText !== "" && (Number.isNaN(price) || price < 0)) wrong("price", t("The price cannot be negative"));
  else if (kind === "allin" && !(price > 0)) wrong("price", t("All in needs a limit price"));
  else if (kind === "volume" && !market && !(price > 0)) wrong("price", t("A limit order needs a price"));
  else if (price > 0 && symbol && !onTick(price, symbol)) wrong("price", t("The price must be a multiple of {tick}", { tick: tickOf(symbol) }));
  return good;
}

function tickOf(symbol) {
  return (10 ** -priceDecimals(normalised(symbol))).toFixed(priceDecimals(normalised(symbol)));
}

function onTick(value, symbol) {
  const ticks = value * 10 ** priceDecimals(normalised(symbol));
  return Math.abs(ticks - Math.round(ticks)) < 1e-6;
}

// 600000 -> 600000.SH as far as the page can tell (for the tick; the router decides): SZ for 0/1/3, SH for 5/6/9/2, BJ for 4/8/920
function normalised(symbol) {
  const text = String(symbol || "").trim().toUpperCase();
  const prefixed = text.match(/^(SH|SZ|BJ)\.?(\d{6})$/);
  if (prefixed) return `${prefixed[2]}.${prefixed[1]}`;
  if (/^\d{6}\.[A-Z]+$/.test(text)) return text;
  if (/^920/.test(text) || /^[48]/.test(text)) return `${text}.BJ`;
  return /^[5692]/.test(text) ? `${text}.SH` : `${text}.SZ`;
}

// The board's lot rule, once a preview of the code has told it (common.rules.symbols via /preview).
const lots = {};
function lotCheck(symbol, side, volume) {
  const lot = lots[normalised(symbol)];
  if (!lot) return "";
  const unit = unitWord(lot.unit);
  if (volume > lot.maximum) return t("At most {maximum} in one order", { maximum: number(lot.maximum) });
  if (side === 24 && !isRepo(symbol)) return "";  // a sell may close an odd remainder: the worker knows the holding
  if (volume < lot.minimum) return t("The quantity must be at least {minimum} {unit}", { minimum: number(lot.minimum), unit });
  if ((volume - lot.minimum) % lot.step) {
    return lot.minimum === lot.step
      ? t("The quantity must be a whole number of lots of {step} {unit}", { step: number(lot.step), unit })
      : t("The quantity must be at least {minimum} {unit}, then {step} at a time", { minimum: number(lot.minimum), step: number(lot.step), unit });
  }
  return "";
}

// Labels, visible fields and the button follow the order kind and side.
function arrangeForm() {
  const kind = sizing();
  const side = $("f-side");
  if (kind === "allin") side.value = "23";
  if (kind === "sell_all") side.value = "24";
  const sell = side.value === "24";
  $("f-amount-field").hidden = kind === "allin" || kind === "sell_all";
  $("f-amount-label").textContent = kind === "position_pct" ? t("Percent (%)") : isRepo($("f-symbol").value) ? t("Quantity (张, 100 yuan each)") : t("Quantity (shares)");
  const limitOnly = kind === "allin" || isRepo($("f-symbol").value);
  for (const option of $("f-price-type").options) option.disabled = limitOnly && option.value !== "0";
  if (limitOnly) $("f-price-type").value = "0";
  const market = $("f-price-type").value !== "0";
  $("f-price").disabled = market;
  if (market) $("f-price").value = "";
  $("f-price-label").textContent = market ? t("Price: the market's") : isRepo($("f-symbol").value) ? t("Rate (%)") : t("Price (yuan)");
  $("f-price").placeholder = kind === "position_pct" || kind === "sell_all" ? t("empty: the latest") : "";
  const help = {
    position_pct: sell ? t("Sells this percent of the sellable holding.") : t("Buys this percent of the account's total asset, no more than the available cash."),
    allin: t("Buys as much as the available cash pays for at the limit price, fees included."),
    sell_all: t("Sells the whole sellable holding of the code, odd lot included."),
  }[kind];
  $("f-sizing-help").hidden = !help;
  $("f-sizing-help").textContent = help || "";
  const button = $("place-order");
  button.textContent = { allin: t("All in"), sell_all: t("Sell all") }[kind] || (sell ? t("Sell") : t("Buy"));
  button.classList.toggle("btn-danger", !sell);
  button.classList.toggle("btn-primary", sell);
}

// -- the preview ----------------------------------------------------------------------------------------------------
// Ask what an order would be now; {ok, preview} or {ok: false, status, data}.
async function fetchPreview(request) {
  const answer = await api("POST", `/preview${request.route}`, request.body);
  if (!answer.ok) return { ok: false, status: answer.status, data: answer.data };
  const found = answer.data.preview;
  lots[found.symbol] = found.lot;
  return { ok: true, preview: found };
}

function describe(request) {
  const body = request.body;
  const account = accountName(body.trader_index);
  if (request.route === "/trade/nhg") return t("Lend idle cash in reverse repo, keeping back {reserve} yuan, on {account}", { reserve: yuan(body.reserve_amount), account });
  const code = normalised(body.symbol);
  const priced = body.price || body.trade_price || body.cur_price;
  const priceType = body.price_type ?? body.pricetype ?? 0;
  const at = priceType ? PRICE_TYPES[priceType] : priced ? t("at {price}", { price: price(priced, code) }) : t("at the latest price");
  if (request.route === "/trade/allin") return t("All in: buy {symbol} with all available cash {at}, on {account}", { symbol: code, at, account });
  if (body.position_pct === 1 && body.order_type === 24) return t("Sell all of {symbol} {at}, on {account}", { symbol: code, at, account });
  const side = sideName(body.order_type);
  if (body.position_pct !== undefined) return t("{side} {symbol}: {pct}% of the account {at}, on {account}", { side, symbol: code, pct: number(body.position_pct * 100), at, account });
  return t("{side} {symbol} {volume} {at}, on {account}", { side, symbol: code, volume: number(body.volume), at, account });
}

function quantityText(found) {
  const unit = unitWord(found.lot.unit);
  const hands = found.lot.unit === "shares" && found.volume % 100 === 0 && found.volume ? " (" + t("{lots} lots", { lots: number(found.volume / 100) }) + ")" : "";
  return `${number(found.volume)} ${unit}${hands}`;
}

function basisText(found) {
  return {
    limit: t("limit price"), last: t("latest price"), up_limit: t("the day's upper limit: a market order is priced there"), rate: t("annual rate %"),
  }[found.price_basis] || found.price_basis;
}

// "amount about {amount} yuan" with the figure in its own element (tests and eyes find it); `words` already translated
function money(cls, value, words) {
  const [before, after] = words.split("{amount}");
  return h("span", null, before, h("span", { class: cls }, yuan(value)), after ?? "");
}

// The preview as a trader reads it: the quote line, what would be sent, its money, the nearest limit.
function renderPreview(found) {
  const quote = found.quote;
  const code = found.symbol;
  const rows = [];
  if (quote) {
    const change = quote.prev_close ? ((quote.last - quote.prev_close) / quote.prev_close) * 100 : 0;
    rows.push(h("div", { class: "preview-quote d-flex flex-wrap column-gap-3" },
      h("span", { class: "fw-semibold" }, code),
      h("span", null, t("Last"), " ", trendText(price(quote.last, code), change), " ", trendText(signedPct(change), change)),
      h("span", null, t("Bid 1"), " ", h("span", { class: "q-bid" }, price(quote.bid, code))),
      h("span", null, t("Ask 1"), " ", h("span", { class: "q-ask" }, price(quote.ask, code))),
      quote.up_limit !== null ? h("span", null, t("Up limit"), " ", h("span", { class: "trend-up q-up" }, price(quote.up_limit, code))) : null,
      quote.down_limit !== null ? h("span", null, t("Down limit"), " ", h("span", { class: "trend-down q-down" }, price(quote.down_limit, code))) : null));
  }
  rows.push(h("div", { class: "preview-order" },
    h("span", { class: "fw-semibold" }, sideName(found.side)), " ", h("span", { class: "p-volume" }, quantityText(found)),
    " @ ", h("span", { class: "p-price" }, price(found.price, code)), ` (${basisText(found)})`));
  if (found.price_basis === "rate") {
    rows.push(h("div", null, money("p-notional fw-semibold", found.notional, t("lent {amount} yuan")), " · ", money("p-fees", found.fees, t("fee about {amount} yuan"))));
  } else {
    rows.push(h("div", null, money("p-notional fw-semibold", found.notional, t("amount about {amount} yuan")), " · ", money("p-fees", found.fees, t("fees about {amount} yuan"))));
  }
  if (found.closest) {
    const over = found.closest.share > 1;
    rows.push(h("div", { class: `p-limit ${over ? "text-danger fw-semibold" : found.closest.share >= 0.8 ? "text-warning-emphasis" : "text-body-secondary"}`, "data-limit": found.closest.name },
      LIMIT_WORDS[found.closest.name](found.closest), over ? " · " + t("over it: the order would be refused") : ""));
  }
  for (const problem of found.problems) rows.push(h("div", { class: "text-danger p-problem" }, traderWords(problem.field, problem.message)));
  return h("div", { class: "border rounded p-2 bg-body-tertiary" }, rows);
}

function showPreview(result) {
  if (result.ok) previewBox.replaceChildren(renderPreview(result.preview));
  else previewBox.replaceChildren(h("div", { class: "border rounded p-2 text-danger small" }, t("No preview: {reason}", { reason: traderWords(result.data.field, result.data.error) })));
}

// As the trader types: a preview once the form can be previewed (its answers may come out of order: the last one asked wins)
let asked = 0;
let typingTimer = null;
function previewSoon() {
  clearTimeout(typingTimer);
  typingTimer = setTimeout(async () => {
    const symbol = $("f-symbol").value.trim();
    if (!SYMBOL_FORMS.test(symbol)) {
      previewBox.replaceChildren();
      return;
    }
    const request = orderRequest();
    if ((sizing() === "volume" && !(request.body.volume > 0)) || (sizing() === "position_pct" && !(request.body.position_pct > 0 && request.body.position_pct <= 1))
      || (sizing() === "allin" && !(request.body.cur_price > 0))) return;
    const mine = ++asked;
    const result = await fetchPreview(request);
    if (mine === asked) showPreview(result);
  }, 400);
}

// -- confirming and sending -------------------------------------------------------------------------------------------
const dialog = $("confirm-order");

// The dialog with the preview; resolves true when the trader says send.
function confirmOrder(request, result) {
  $("confirm-summary").textContent = describe(request);
  const found = result.ok ? result.preview : null;
  $("confirm-why").textContent = !found
    ? t("There is no preview ({reason}): check the order yourself.", { reason: traderWords(result.data.field, result.data.error) })
    : found.confirm_because === "whole_account"
      ? t("This order takes the whole available cash or holding.")
      : t("This order is over {amount} yuan.", { amount: yuan(found.confirm_above) });
  $("confirm-preview").replaceChildren(found ? renderPreview(found) : "");
  const yes = $("confirm-yes");
  yes.textContent = request.route === "/trade/nhg" ? t("Lend") : request.body.order_type === 24 ? t("Sell") : t("Buy");
  yes.classList.toggle("btn-primary", request.body.order_type === 24 || request.route === "/trade/nhg");
  yes.classList.toggle("btn-danger", !(request.body.order_type === 24 || request.route === "/trade/nhg"));
  return new Promise((resolve) => {
    const done = (answer) => {
      yes.onclick = null;
      $("confirm-no").onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    yes.onclick = () => done(true);
    $("confirm-no").onclick = () => done(false);
    dialog.onclose = () => done(false);  // Escape
    dialog.showModal();
    $("confirm-no").focus();  // Enter on an open dialog never sends by accident
  });
}

// The refusal next to the fields of `target`, or (no form: a holding's sell-all) on top of the page.
function refuse(target, data) {
  if (target) return showRefusal(target, data);
  const errors = data.errors && data.errors.length ? data.errors : [{ field: data.field, message: data.error }];
  flash(messages, "danger", errors.map(({ field, message }) => traderWords(field, message)).join("; "));
}

// Preview, confirm when the preview says so (or there is none), send, follow. `target`: the form its errors go to.
async function submitOrder(request, target, button) {
  button.disabled = true;
  messages.replaceChildren();  // the last "not sent" was about the last order
  try {
    const result = await fetchPreview(request);
    if (target === form) showPreview(result);
    if (!result.ok && result.status >= 400 && result.status < 500) {
      refuse(target, result.data);
      return;
    }
    if (result.ok && result.preview.problems.length) {
      refuse(target, { errors: result.preview.problems });
      return;
    }
    if (!result.ok || result.preview.confirm) {
      const yes = await confirmOrder(request, result);
      if (!yes) {
        flash(messages, "secondary", t("Not sent: {order}", { order: describe(request) }));
        return;
      }
    }
    const answer = await api("POST", request.route, request.body, { "Idempotency-Key": idempotencyKey() });
    if (!answer.ok) {
      refuse(target, answer.data);
      return;
    }
    for (const jobId of queuedJobs(answer.data)) trackJob(jobId, describe(request), true);
  } finally {
    button.disabled = false;
  }
}

function queuedJobs(data) {
  return data.job_id ? [data.job_id] : data.job_ids || [];
}

// What an order job came to: the broker's reason when rejected, the fill when filled; a cancel's count.
function orderOutcome(job) {
  if (job.error) return { text: traderWords(null, job.error), bad: true };
  const result = job.result;
  if (!result || typeof result !== "object") return { text: "", bad: false };
  if (Array.isArray(result.cancelled)) return { text: jobOutcome(job), bad: Boolean(result.error) };
  const order = job.order || {};
  const state = order.status || result.status;
  const reason = order.status_msg || result.status_msg || result.error;
  const parts = [];
  const bad = result.outcome && result.outcome !== "submitted";
  if (result.outcome) parts.push(OUTCOMES[result.outcome] || result.outcome);
  if (result.order_id) parts.push(t("order {order_id}", { order_id: result.order_id }));
  if (state && !(state === "reported" && result.outcome === "submitted")) parts.push(orderState(state));  // not "reported" twice
  const filled = order.traded_volume ?? result.traded_volume;
  const at = order.traded_price || result.traded_price;
  if (filled) parts.push(t("filled {volume} at {price}", { volume: number(filled), price: price(at, result.symbol) }));
  if (reason && (bad || state === "rejected")) parts.push(t("broker's reason: {reason}", { reason: traderWords(null, reason) }));
  return { text: parts.join(" · "), bad: bad || state === "rejected" };
}

// A job sent from this page, shown with its status until it ends; the orders and holdings are read again then.
function trackJob(jobId, label, refresh) {
  $("placed-empty")?.remove();
  const row = h("div", { class: "placed-job border-bottom py-1 small", id: `placed-${jobId}`, "data-job-id": jobId },
    h("div", { class: "d-flex flex-wrap gap-2 align-items-center" }, jobBadge("queued"), h("span", { class: "placed-label" }, label), h("span", { class: "ms-auto" }, jobLink(jobId))),
    h("div", { class: "outcome text-body-secondary" }));
  placed.prepend(row);
  const show = (job) => {
    row.querySelector(".job-status").replaceWith(jobBadge(job.status));
    const outcome = orderOutcome(job);
    const box = row.querySelector(".outcome");
    box.textContent = outcome.text;
    box.classList.toggle("text-danger", outcome.bad);
    box.classList.toggle("text-body-secondary", !outcome.bad);
  };
  followJob(jobId, show).then(async (job) => {
    if (refresh) refreshAll();
    if (job && job.result && job.result.outcome === "submitted" && await followFill(jobId, show) && refresh) refreshAll();
  });
}

// The job ends on the broker's first answer; its fill (or rejection) may come a moment later, on the job's order.
// Read it again for a while; true when the order reached a final state meanwhile.
const OPEN_STATES = ["unreported", "wait_reporting", "reported", "reported_cancel_pending", "part_filled_cancel_pending", "part_filled"];
async function followFill(jobId, show) {
  for (let tries = 0; tries < 10; tries += 1) {
    const answer = await api("GET", `/jobs/${encodeURIComponent(jobId)}`);
    if (!answer.ok) return false;
    show(answer.data);
    const state = (answer.data.order || {}).status || (answer.data.result || {}).status;
    if (state && !OPEN_STATES.includes(state)) return tries > 0;
    await sleep(1000);
  }
  return false;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (checkForm()) submitOrder(orderRequest(), form, $("place-order"));
});

$("preview-order").addEventListener("click", async () => {
  if (!checkForm()) return;
  const mine = ++asked;
  const result = await fetchPreview(orderRequest());
  if (mine !== asked) return;
  showPreview(result);
  if (!result.ok && result.status >= 400 && result.status < 500) showRefusal(form, result.data);
  else if (result.ok && result.preview.problems.length) showRefusal(form, { errors: result.preview.problems });
});

for (const id of ["f-sizing", "f-side", "f-price-type"]) $(id).addEventListener("change", () => { arrangeForm(); previewSoon(); });
for (const id of ["f-symbol", "f-amount", "f-price"]) $(id).addEventListener("input", () => { arrangeForm(); previewSoon(); });
$("f-account").addEventListener("change", () => { previewSoon(); loadPositions(); });

nhgForm.addEventListener("submit", (event) => {
  event.preventDefault();
  clearErrors(nhgForm);
  const reserveText = $("nhg-reserve").value.trim();
  const reserve = reserveText === "" ? 0 : Number(reserveText);
  if (Number.isNaN(reserve) || reserve < 0) {
    fieldError(nhgForm, "reserve_amount", t("The amount kept back cannot be negative"));
    return;
  }
  submitOrder({ route: "/trade/nhg", body: { trader_index: Number($("nhg-account").value), reserve_amount: reserve } }, nhgForm, $("nhg-place"));
});

// -- today's orders -------------------------------------------------------------------------------------------------
function shownAccounts() {
  const chosen = $("orders-account").value;
  return chosen === "" ? ACCOUNTS : ACCOUNTS.filter((account) => String(account.index) === chosen);
}

const MARKET_XT_TYPES = [5, 42, 43, 44, 45, 46, 47, 48];  // common.rules.orders: latest and the market types

function orderPrice(order) {
  if (!MARKET_XT_TYPES.includes(order.price_type)) return price(order.price, order.symbol);
  return order.traded_price ? t("market, filled at {price}", { price: price(order.traded_price, order.symbol) }) : t("market");
}

async function loadOrders() {
  const box = $("orders");
  const rows = [];
  const problems = [];
  for (const account of shownAccounts()) {
    const answer = await api("POST", "/orders", { trader_index: account.index });
    if (!answer.ok) {
      problems.push(`${account.name}: ${traderWords(null, answer.data.error)}`);
      continue;
    }
    for (const order of answer.data.orders || []) rows.push({ account, order });
  }
  rows.sort((a, b) => b.order.order_time - a.order.order_time);
  const head = [t("Code"), t("Side"), t("Price"), t("Quantity"), t("State"), "", t("Time"), t("Account"), t("Order no.")];
  const wide = "d-none d-md-table-cell";
  const body = rows.map(({ account, order }) => {
    const open = OPEN_ORDER.includes(order.order_status);
    const cancel = open ? h("button", { class: "btn btn-sm btn-outline-secondary cancel-order", type: "button", "data-order-id": order.order_id,
      onclick: (e) => cancelOrder(e.currentTarget, account.index, order.order_id) }, t("Cancel")) : "";
    const rejected = order.status === "rejected";
    return h("tr", { class: `order-row ${open ? "open" : ""}`, "data-order-id": order.order_id },
      h("td", null, h("div", null, order.symbol), order.name ? h("div", { class: "small text-body-secondary" }, order.name) : null),
      h("td", null, h("span", { class: order.side === "buy" ? "trend-up" : "text-primary" }, sideName(order.side))),
      h("td", null, orderPrice(order)),
      h("td", null, h("div", null, number(order.volume)),
        order.traded_volume ? h("div", { class: "small text-body-secondary" }, t("filled {volume}", { volume: number(order.traded_volume) })) : null),
      h("td", { class: "order-state" }, h("div", { class: rejected ? "text-danger fw-semibold" : "" }, orderState(order.status)),
        rejected && order.status_msg ? h("div", { class: "small text-danger status-msg" }, order.status_msg) : null),
      h("td", { class: "text-end" }, cancel),
      h("td", { class: wide }, clockTime(order.order_time)),
      h("td", { class: wide }, account.name),
      h("td", { class: `${wide} font-monospace` }, order.order_id));
  });
  const shown = body.length
    ? h("table", { class: "table table-sm table-hover align-middle mb-0 small orders-table" },
      h("thead", null, h("tr", null, head.map((name, i) => h("th", { scope: "col", class: i >= 6 ? wide : null }, name)))),
      h("tbody", null, body))
    : h("p", { class: "text-body-secondary small m-2" }, t("No orders today"));
  box.replaceChildren(...problems.map((text) => h("div", { class: "alert alert-warning py-1 small" }, text)), shown);
}

async function cancelOrder(button, traderIndex, orderId) {
  button.disabled = true;
  const answer = await api("POST", "/cancel_order", { trader_index: traderIndex, order_id: orderId }, { "Idempotency-Key": idempotencyKey() });
  if (answer.ok) trackJob(answer.data.job_id, t("Cancel order {order_id} on {account}", { order_id: orderId, account: accountName(traderIndex) }), true);
  else {
    button.disabled = false;
    flash(messages, "danger", t("Cancel refused: {reason}", { reason: traderWords(null, answer.data.error) }));
  }
}

// One request per account shown, each naming its account: a request from a page never means "every account".
async function cancelSide(side) {
  for (const account of shownAccounts()) {
    const label = side === "buy" ? t("Cancel all buys on {account}", { account: accountName(account.index) }) : t("Cancel all sells on {account}", { account: accountName(account.index) });
    const answer = await api("POST", `/cancel_orders/${side}`, { trader_index: account.index }, { "Idempotency-Key": idempotencyKey() });
    if (!answer.ok) {
      flash(messages, "danger", `${label}: ${traderWords(null, answer.data.error)}`);
      continue;
    }
    trackJob(answer.data.job_id, label, true);
  }
}

$("cancel-buys").addEventListener("click", () => cancelSide("buy"));
$("cancel-sells").addEventListener("click", () => cancelSide("sale"));
$("refresh-orders").addEventListener("click", () => refreshAll());
$("orders-account").addEventListener("change", () => loadOrders());

// -- holdings of the order form's account -----------------------------------------------------------------------------
async function loadPositions() {
  const index = Number($("f-account").value);
  $("positions-account").textContent = accountName(index);
  const answer = await api("GET", `/positions/${index}`);
  const box = $("positions");
  if (!answer.ok) {
    box.replaceChildren(h("div", { class: "alert alert-warning py-1 small mb-0" }, traderWords(null, answer.data.error)));
    return;
  }
  const held = (answer.data.positions || []).filter((p) => p.volume > 0);
  if (!held.length) {
    box.replaceChildren(h("p", { class: "text-body-secondary small m-2" }, t("No holdings")));
    return;
  }
  const sellAll = (position) => {
    if (isRepo(position.symbol)) return "";  // repo lent comes back by itself on its day: nothing to sell
    const request = { route: "/trade", body: { trader_index: index, symbol: position.symbol, order_type: 24, position_pct: 1, trade_price: 0, pricetype: 0, strategy_name: "web" } };
    return h("button", { class: "btn btn-sm btn-outline-primary sell-all", type: "button", "data-symbol": position.symbol, disabled: position.can_use_volume > 0 ? null : true,
      onclick: (e) => submitOrder(request, null, e.currentTarget) }, t("Sell all"));
  };
  box.replaceChildren(h("table", { class: "table table-sm align-middle mb-0 small positions-table" },
    h("thead", null, h("tr", null, [t("Code"), t("Held / sellable"), t("Price"), t("P/L"), ""].map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", null, held.map((position) => h("tr", { class: "position-row", "data-symbol": position.symbol },
      h("td", null, h("div", null, position.symbol), position.name ? h("div", { class: "small text-body-secondary" }, position.name) : null),
      h("td", null, `${number(position.volume)} / ${number(position.can_use_volume)}`),
      h("td", null, price(position.current_price, position.symbol)),
      h("td", null, trendText(yuan(position.profit), position.profit)),
      h("td", { class: "text-end" }, sellAll(position)))))));
}

let refreshing = null;
let reading = false;  // the coalesced refresh has started reading: an ask now may come after what it reads
let askedAgain = false;
function refreshAll() {  // coalesce: many jobs ending at once read the orders and holdings once, and once more after
  if (refreshing) {
    if (reading) askedAgain = true;  // e.g. the second order's job ended while the first's refresh was reading
    return refreshing;
  }
  refreshing = sleep(300).then(() => {
    reading = true;
    return Promise.all([loadOrders(), loadPositions()]);
  }).finally(() => {
    refreshing = null;
    reading = false;
    if (askedAgain) {
      askedAgain = false;
      refreshAll();
    }
  });
  return refreshing;
}

// -- the kill switch --------------------------------------------------------------------------------------------------
const confirmBox = $("kill-switch-confirm");

function showKillSwitch(on) {
  $("kill-switch-state").replaceChildren(on
    ? h("div", { class: "alert alert-danger fw-semibold py-1 mb-0", "data-kill-switch": "on" }, "⚠ " + t("Kill switch is ON: new orders are refused. An admin releases it on the Config page."))
    : h("span", { class: "text-success", "data-kill-switch": "off" }, t("Kill switch is off: orders are accepted.")));
  $("kill-switch").disabled = on;
}

async function loadKillSwitch() {
  const answer = await api("GET", "/risk/kill_switch");
  if (answer.ok) showKillSwitch(answer.data.on);
}

$("kill-switch").addEventListener("click", () => { confirmBox.hidden = false; });
$("kill-switch-no").addEventListener("click", () => { confirmBox.hidden = true; });
$("kill-switch-yes").addEventListener("click", async () => {
  confirmBox.hidden = true;
  const answer = await api("POST", "/risk/kill_switch", { on: true, cancel_open: $("kill-cancel-open").checked });
  if (!answer.ok) return flash(messages, "danger", t("Kill switch refused: {reason}", { reason: answer.data.error }));
  showKillSwitch(true);
  for (const jobId of answer.data.job_ids || []) trackJob(jobId, t("Kill switch: cancel open orders"), true);
});

arrangeForm();
loadKillSwitch();
loadOrders();
loadPositions();
setInterval(loadKillSwitch, 10000);
setInterval(refreshAll, 20000);
