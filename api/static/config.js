// The config page (admins): releasing the kill switch (POST /risk/kill_switch), the risk limits (PUT /risk), the
// scheduled routines as a form each (PUT /routines, POST /routines/<name>/run; raw JSON in a fold) with the state each
// is in (GET /routines' `state`), and the recent changes as "who · when · field: from → to" (the events' config and
// kill_switch entries). Every field is checked here first, in the trader's words; the API checks again with its models.
"use strict";

const messages = document.getElementById("messages");
const riskForm = document.getElementById("risk-form");
const routinesForm = document.getElementById("routines-form");
const jsonForm = document.getElementById("routines-json-form");
const REFRESH_MS = 3000;  // routine states, the kill switch and the changes follow the router without a reload

// -- the kill switch ----------------------------------------------------------------------------------------------
function showKillSwitch(on) {
  document.getElementById("kill-switch-state").replaceChildren(on
    ? h("div", { class: "alert alert-danger fw-semibold py-2 mb-0", "data-kill-switch": "on" }, t("⚠ Kill switch is ON: new orders are refused."))
    : h("span", { class: "text-success", "data-kill-switch": "off" }, t("Kill switch is off: orders are accepted.")));
  document.getElementById("release-kill-switch").hidden = !on;
}

document.getElementById("release-kill-switch").addEventListener("click", async () => {
  const answer = await api("POST", "/risk/kill_switch", { on: false });
  if (!answer.ok) return flash(messages, "danger", t("Releasing the kill switch failed: {error}", { error: answer.data.error }));
  flash(messages, "success", t("Kill switch released: orders are accepted again."));
  showKillSwitch(false);
  await Promise.all([loadChanges(), loadRoutines()]);
});

// -- risk limits --------------------------------------------------------------------------------------------------
const CAPS = ["max_order_notional", "max_actions_per_day", "max_actions_per_second"];
let ranges = {};  // GET /risk's: the range each cap accepts
let loadedLimits = { blocked_symbols: [] };
// A late load never replaces what the admin is typing; the fields not typed in are filled, so a save never sends a
// field the admin did not see (an empty block list would unblock every symbol).
const riskTyped = new Set();
riskForm.addEventListener("input", (event) => riskTyped.add(event.target.name));

async function loadRisk() {
  const answer = await api("GET", "/risk");
  if (!answer.ok) return flash(messages, "danger", answer.data.error);
  const limits = answer.data.limits;
  loadedLimits = limits;
  ranges = answer.data.ranges || {};
  showKillSwitch(limits.kill_switch);
  const counts = Object.entries(answer.data.actions_today).map(([index, count]) => `${accountName(Number(index))}: ${number(count)}`);
  document.getElementById("actions-today").textContent = t("Counted today: {counts}", { counts: counts.join(" · ") || t("none") });
  const shown = { ...Object.fromEntries(CAPS.map((name) => [name, number(limits[name])])), blocked_symbols: limits.blocked_symbols.join(", ") };
  for (const name of [...CAPS, "blocked_symbols"]) {
    if (!riskTyped.has(name)) riskForm[name].value = shown[name];
  }
}

// The number a cap's field holds, or why it is refused: a plain number (1,000,000 and 1e6 too) inside its range.
function readCap(name) {
  const text = riskForm[name].value.replace(/[,，\s]/g, "");
  const range = ranges[name] || { min: 0, max: Infinity, whole: false };
  const refusal = range.whole
    ? t("Enter a whole number from {min} to {max}", { min: number(range.min), max: number(range.max) })
    : t("Enter an amount from {min} to {max} yuan", { min: number(range.min), max: number(range.max) });
  if (text === "") return { error: refusal + t(" (0 switches the cap off)") };
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return { error: refusal };
  const value = Number(text);  // 1e400 is Infinity: out of range, never sent (JSON would carry it as null)
  if (!Number.isFinite(value) || value < range.min || value > range.max || (range.whole && !Number.isInteger(value))) return { error: refusal };
  return { value };
}

function refuseField(form, input, message) {
  input.classList.add("is-invalid");
  input.closest(".field").querySelector(".invalid-feedback").textContent = message;
}

// Only what differs from the limits loaded is sent, so the change recorded (and listed below) is what the admin changed.
function riskChange() {
  const change = {};
  let refused = false;
  for (const name of CAPS) {
    const read = readCap(name);
    if (read.error) {
      refuseField(riskForm, riskForm[name], read.error);
      refused = true;
    } else if (read.value !== loadedLimits[name]) change[name] = read.value;
  }
  const blocked = riskForm.blocked_symbols.value.split(/[\s,，]+/).filter(Boolean);
  if (blocked.join(",") !== loadedLimits.blocked_symbols.join(",")) change.blocked_symbols = blocked;
  return refused ? null : change;
}

// Checked at the save only: a message appearing as the admin leaves a field would move the save button from under
// the click. Typing again in a refused field takes its refusal away.
riskForm.addEventListener("input", (event) => event.target.classList.remove("is-invalid"));

riskForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(riskForm);
  const change = riskChange();
  if (change === null) return flash(messages, "danger", t("Not saved: correct the fields marked in red."));
  if (!Object.keys(change).length) return flash(messages, "info", t("Nothing changed."));
  const answer = await api("PUT", "/risk", change);
  if (!answer.ok) {
    flash(messages, "danger", t("Not saved: {error}", { error: answer.data.error }));
    return showErrors(riskForm, answer.data, { symbol: "blocked_symbols" });
  }
  flash(messages, "success", t("Risk limits saved."));
  riskTyped.clear();
  await Promise.all([loadRisk(), loadChanges()]);
});

// -- scheduled routines -------------------------------------------------------------------------------------------
const KINDS = { nhg: t("Reverse repo sweep"), allin: t("All-in buy") };
const SESSIONS = { nhg: [["09:30", "11:30"], ["13:00", "15:30"]], allin: [["09:30", "11:30"], ["13:00", "15:00"]] };  // common.rules.calendar
const NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const STATE_FIELDS = ["next_fire", "today", "last", "state"];  // what GET /routines adds to each routine; not part of it
let routinesAsked = 0;  // an answer to an older ask must not overwrite a newer one
let formsEdited = false;  // what the admin typed is never replaced by a load that answers while they type
let jsonEdited = false;
let savedNames = "";  // the routines the forms show, as last loaded
let formCount = 0;
routinesForm.addEventListener("input", () => { formsEdited = true; });
jsonForm.routines.addEventListener("input", () => { jsonEdited = true; });

let routinesLoading = 0;  // loads under way: the timer asks again only when none is (a slow answer is never starved)

async function loadRoutines() {
  const asked = ++routinesAsked;
  routinesLoading += 1;
  const answer = await api("GET", "/routines").finally(() => { routinesLoading -= 1; });
  if (asked !== routinesAsked) return;
  const box = document.getElementById("routines");
  if (!answer.ok) return flash(box, "warning", answer.data.error);
  box.replaceChildren();
  const calendar = answer.data.calendar;
  const today = calendar.session === true ? t("a trading day") : calendar.session === false ? t("not a trading day") : t("unknown to the trading calendar");
  document.getElementById("routines-calendar").textContent = t("Today {day}: {what}", { day: calendar.today, what: today }) + (calendar.warning ? ` · ${calendar.warning}` : "");
  const routines = answer.data.routines;
  const names = routines.map((r) => r.name).join(",");
  if (!formsEdited && (names !== savedNames || !document.querySelector(".routine"))) {
    document.getElementById("routine-forms").replaceChildren(...routines.map((r) => routineCard(r)));
    if (!routines.length) document.getElementById("routine-forms").append(h("p", { class: "text-body-secondary small m-2 no-routines" }, t("no routines")));
  }
  savedNames = names;
  for (const routine of routines) {
    const card = document.querySelector(`.routine[data-saved="${CSS.escape(routine.name)}"]`);
    if (card) card.querySelector(".routine-state-box").replaceChildren(routineStateView(routine));
  }
  if (!jsonEdited) {
    const editable = routines.map((r) => Object.fromEntries(Object.entries(r).filter(([key]) => !STATE_FIELDS.includes(key))));
    jsonForm.routines.value = JSON.stringify(editable, null, 2);
  }
}

function field(label, id, control, width = "col-12") {
  return h("div", { class: `${width} field` }, h("label", { class: "form-label small mb-0", for: id }, label), control, h("div", { class: "invalid-feedback" }));
}

// One routine as a form; `saved` is the routine as the router holds it (none for one being added).
function routineCard(routine, saved = true) {
  const n = ++formCount;
  const id = (what) => `rt-${n}-${what}`;
  const r = { kind: "nhg", enabled: true, time: "14:57", accounts: "all", reserve_amount: 0, repo_codes: [], symbol: "", price: "latest", ...routine };
  const chosen = r.accounts === "all" ? [] : [].concat(r.accounts);
  const seconds = /^\d\d:\d\d:\d\d$/.test(r.time) && !r.time.endsWith(":00");  // a time set to the second keeps it when saved here
  const accounts = h("div", { class: "d-flex flex-wrap gap-3 routine-accounts" },
    h("div", { class: "form-check" },
      h("input", { class: "form-check-input", type: "checkbox", id: id("all"), name: "accounts-all", checked: r.accounts === "all" }),
      h("label", { class: "form-check-label", for: id("all") }, t("all accounts"))),
    ACCOUNTS.map((account) => h("div", { class: "form-check" },
      h("input", { class: "form-check-input", type: "checkbox", id: id(`a${account.index}`), name: "account", value: account.index, checked: chosen.includes(account.index), disabled: r.accounts === "all" }),
      h("label", { class: "form-check-label", for: id(`a${account.index}`) }, accountName(account.index)))));
  const kind = h("select", { class: "form-select", id: id("kind"), name: "kind" },
    Object.entries(KINDS).map(([value, label]) => h("option", { value, selected: value === r.kind }, label)));
  const priceMode = h("select", { class: "form-select", id: id("price-mode"), name: "price_mode" },
    h("option", { value: "latest", selected: r.price === "latest" }, t("latest price")),
    h("option", { value: "limit", selected: r.price !== "latest" }, t("limit price (yuan)")));
  const priceInput = h("input", { class: "form-control text-end", id: id("price"), name: "price", inputmode: "decimal", value: r.price === "latest" ? "" : r.price, hidden: r.price === "latest" });
  const runAnswer = h("div", { class: "routine-run-answer small mt-1" });
  const name = saved ? r.name : "";
  const card = h("div", { class: "routine card mb-2", "data-saved": saved ? r.name : null },
    h("div", { class: "card-body p-2" },
      h("div", { class: "d-flex flex-wrap align-items-center gap-2 mb-1" },
        h("strong", { class: "routine-title text-break" }, saved ? r.name : t("New routine")),
        h("span", { class: "badge text-bg-light border" }, KINDS[r.kind] || r.kind),
        saved ? h("span", { class: "font-monospace small" }, seconds ? r.time : String(r.time).slice(0, 5)) : null,
        saved ? h("button", { class: "btn btn-outline-primary ms-auto run-now", type: "button", onclick: () => runNow(r.name, runAnswer, false) }, t("Run now")) : null),
      h("div", { class: "routine-state-box" }, saved ? null : h("div", { class: "small text-body-secondary" }, t("not saved yet"))),
      runAnswer,
      h("details", { class: "routine-edit mt-1", open: !saved },
        h("summary", { class: "small" }, t("Edit")),
        h("div", { class: "row g-2 mt-1" },
          field(t("Name (lowercase letters, digits, _ or -)"), id("name"), h("input", { class: "form-control", id: id("name"), name: "name", value: name, autocomplete: "off", autocapitalize: "off" }), "col-sm-6"),
          field(t("Kind"), id("kind"), kind, "col-sm-6"),
          field(t("Time (Beijing)"), id("time"), h("input", { class: "form-control font-monospace", id: id("time"), name: "time", inputmode: "numeric", placeholder: "14:57", autocomplete: "off", value: seconds ? r.time : String(r.time).slice(0, 5) }), "col-6"),
          h("div", { class: "col-6 field d-flex align-items-end" }, h("div", { class: "form-check form-switch mb-2" },
            h("input", { class: "form-check-input", type: "checkbox", role: "switch", id: id("enabled"), name: "enabled", checked: r.enabled }),
            h("label", { class: "form-check-label", for: id("enabled") }, t("enabled")))),
          h("div", { class: "col-12 field" }, h("div", { class: "form-label small mb-0" }, t("Accounts")), accounts, h("div", { class: "invalid-feedback" })),
          field(t("Keep this much cash, never lent"), id("reserve"), h("div", { class: "input-group has-validation" },
            h("input", { class: "form-control text-end", id: id("reserve"), name: "reserve_amount", inputmode: "decimal", value: number(r.reserve_amount) }),
            h("span", { class: "input-group-text" }, t("yuan"))), "col-sm-6 nhg-only"),
          field(t("Repo codes (empty: both, the better quoted)"), id("repo"), h("input", { class: "form-control", id: id("repo"), name: "repo_codes", value: (r.repo_codes || []).join(", "), placeholder: "131810.SZ, 204001.SH", autocomplete: "off" }), "col-sm-6 nhg-only"),
          field(t("Code"), id("symbol"), h("input", { class: "form-control", id: id("symbol"), name: "symbol", value: r.symbol || "", inputmode: "numeric", autocomplete: "off" }), "col-sm-4 allin-only"),
          field(t("Price"), id("price-mode"), priceMode, "col-6 col-sm-4 allin-only"),
          field(t("Limit price"), id("price"), priceInput, "col-6 col-sm-4 allin-only"),
          h("div", { class: "col-12" }, h("button", { class: "btn btn-outline-danger delete-routine", type: "button", onclick: () => {
            card.remove();
            formsEdited = true;
          } }, t("Delete this routine")))))));
  const showKind = () => {
    card.querySelectorAll(".nhg-only").forEach((node) => { node.hidden = kind.value !== "nhg"; });
    card.querySelectorAll(".allin-only").forEach((node) => { node.hidden = kind.value !== "allin"; });
  };
  kind.addEventListener("change", showKind);
  priceMode.addEventListener("change", () => { priceInput.hidden = priceMode.value === "latest"; });
  card.querySelector("[name=accounts-all]").addEventListener("change", (event) => {
    card.querySelectorAll("[name=account]").forEach((box) => { box.disabled = event.target.checked; });
  });
  showKind();
  return card;
}

document.getElementById("add-routine").addEventListener("click", () => {
  document.querySelector(".no-routines")?.remove();
  const card = routineCard({}, false);
  document.getElementById("routine-forms").append(card);
  formsEdited = true;
  card.querySelector("[name=name]").focus();
});

// A card's routine as PUT /routines takes it, or the refusals of its fields ({name: message}).
function readRoutine(card) {
  const value = (name) => card.querySelector(`[name=${name}]`).value.trim();
  const kind = value("kind");
  const refusals = {};
  const routine = { name: value("name"), kind, enabled: card.querySelector("[name=enabled]").checked, time: value("time") };
  if (!NAME.test(routine.name)) refusals.name = t("1 to 40 lowercase letters, digits, _ or -, starting with a letter or digit");
  const spans = SESSIONS[kind];
  routine.time = routine.time.replace("：", ":").replace(/^(\d):/, "0$1:");  // 9:30 is 09:30; a Chinese colon is a colon
  if (!/^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$/.test(routine.time)) refusals.time = t("Enter a 24-hour time, e.g. 14:57");
  else if (!spans.some(([start, end]) => start <= routine.time && routine.time < end)) {
    refusals.time = t("Choose a time inside the trading session: {spans}", { spans: spans.map((span) => span.join("-")).join(", ") });
  }
  if (card.querySelector("[name=accounts-all]").checked) routine.accounts = "all";
  else {
    routine.accounts = [...card.querySelectorAll("[name=account]:checked")].map((box) => Number(box.value));
    if (!routine.accounts.length) refusals.account = t("Choose at least one account, or all accounts");
  }
  if (kind === "nhg") {
    const reserve = Number(value("reserve_amount").replace(/[,，\s]/g, "") || "0");
    if (!Number.isFinite(reserve) || reserve < 0 || reserve > 10_000_000_000) refusals.reserve_amount = t("Enter an amount from {min} to {max} yuan", { min: 0, max: number(10_000_000_000) });
    routine.reserve_amount = reserve;
    const codes = value("repo_codes").split(/[\s,，]+/).filter(Boolean);
    if (codes.length) routine.repo_codes = codes;
  } else {
    routine.symbol = value("symbol");
    if (!routine.symbol) refusals.symbol = t("Enter the code to buy");
    if (value("price_mode") === "latest") routine.price = "latest";
    else {
      routine.price = Number(value("price").replace(/[,，\s]/g, ""));
      if (!Number.isFinite(routine.price) || routine.price <= 0 || routine.price >= 1_000_000) refusals.price = t("Enter a price above 0 yuan");
    }
  }
  return { routine, refusals };
}

function refuseRoutineField(card, name, message) {
  const input = card.querySelector(`[name=${name}]`) || card.querySelector("[name=account]");
  card.querySelector(".routine-edit").open = true;
  input.classList.add("is-invalid");
  const feedback = input.closest(".field").querySelector(".invalid-feedback");
  feedback.textContent = feedback.textContent ? `${feedback.textContent}; ${message}` : message;
  feedback.style.display = "block";  // the accounts' feedback follows a group of checkboxes, not one input
}

// The API's refusal {field: "routines.1.allin.price" | "accounts", error} next to the field of the card it names.
const API_FIELDS = { accounts: "account", reserve_amount: "reserve_amount", repo_codes: "repo_codes", symbol: "symbol", price: "price", time: "time", name: "name" };
function showRoutineErrors(cards, data) {
  const errors = data.errors && data.errors.length ? data.errors : [{ field: data.field, message: data.error }];
  const loose = [];
  for (const { field, message } of errors) {
    const parts = String(field || "").split(".");
    const index = parts[0] === "routines" ? Number(parts[1]) : NaN;
    const name = API_FIELDS[parts.reverse().find((part) => part in API_FIELDS)];
    const named = cards.find((card) => message && card.querySelector("[name=name]").value && message.includes(`'${card.querySelector("[name=name]").value}'`));
    const card = Number.isInteger(index) ? cards[index] : named;
    if (card && name) refuseRoutineField(card, name, message);
    else loose.push(message);
  }
  if (loose.length) {
    const top = routinesForm.querySelector(".form-error");
    top.textContent = loose.join("; ");
    top.hidden = false;
  }
}

routinesForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(routinesForm);
  routinesForm.querySelectorAll(".invalid-feedback").forEach((feedback) => { feedback.style.display = ""; });
  const cards = [...routinesForm.querySelectorAll(".routine")];
  const read = cards.map(readRoutine);
  let refused = false;
  read.forEach(({ refusals }, index) => {
    for (const [name, message] of Object.entries(refusals)) {
      refuseRoutineField(cards[index], name, message);
      refused = true;
    }
  });
  if (refused) return flash(messages, "danger", t("Not saved: correct the fields marked in red."));
  const answer = await api("PUT", "/routines", { routines: read.map(({ routine }) => routine) });
  if (!answer.ok) {
    flash(messages, "danger", t("Not saved: {error}", { error: answer.data.error }));
    return showRoutineErrors(cards, answer.data);
  }
  flash(messages, "success", t("Routines saved."));
  formsEdited = false;  // saved: the forms show what the router now holds
  jsonEdited = false;
  savedNames = "";
  await Promise.all([loadRoutines(), loadChanges()]);
});

jsonForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(jsonForm);
  let routines;
  try {
    routines = JSON.parse(jsonForm.routines.value);
  } catch (error) {
    return showErrors(jsonForm, { field: "routines", error: t("not JSON: {error}", { error: error.message }) });
  }
  const answer = await api("PUT", "/routines", { routines });
  if (!answer.ok) return showErrors(jsonForm, answer.data);
  flash(messages, "success", t("Routines saved."));
  jsonEdited = false;
  formsEdited = false;
  savedNames = "";
  await Promise.all([loadRoutines(), loadChanges()]);
});

// "Run now": once a trading day; a second run today only after the admin confirms it (force, audited).
async function runNow(name, box, force) {
  const answer = await api("POST", `/routines/${encodeURIComponent(name)}/run`, { force });
  if (answer.status === 409) {
    box.replaceChildren(h("div", { class: "alert alert-warning py-2 mb-0 d-flex flex-wrap align-items-center gap-2" },
      h("span", null, t("{name} already has today's run. Run it once more?", { name })),
      h("button", { class: "btn btn-warning run-again", type: "button", onclick: () => runNow(name, box, true) }, t("Run again (forced)"))));
    return;
  }
  if (answer.status === 423) return box.replaceChildren(h("div", { class: "alert alert-danger py-2 mb-0" }, t("Not run: the kill switch is on. Release it first.")));
  if (!answer.ok) return box.replaceChildren(h("div", { class: "alert alert-danger py-2 mb-0" }, t("Not run: {error}", { error: answer.data.error })));
  box.replaceChildren(h("div", { class: "text-success" }, t("Started: {count} job(s)", { count: answer.data.job_ids.length }), " ",
    answer.data.job_ids.flatMap((jobId) => [jobLink(jobId), " "])));
  await loadRoutines();
}

// -- the change history: who · when · what, from → to ------------------------------------------------------------
const LIMIT_NAMES = {
  max_order_notional: t("Largest order"), max_actions_per_day: t("Orders and cancels a day"), max_actions_per_second: t("Orders and cancels a second"),
  blocked_symbols: t("Blocked codes"), kill_switch: t("Kill switch"),
};
const ROUTINE_FIELDS = {
  name: t("name"), kind: t("kind"), enabled: t("enabled"), time: t("time"), accounts: t("accounts"), reserve_amount: t("cash kept"),
  repo_codes: t("repo codes"), symbol: t("code"), price: t("price"),
};

function limitValue(field, value) {
  if (value === undefined || value === null) return "";
  if (field === "max_order_notional") return Number(value) ? t("{amount} yuan", { amount: number(value) }) : t("0 (no cap)");
  if (field === "max_actions_per_day") return Number(value) ? t("{count} a day", { count: number(value) }) : t("0 (no cap)");
  if (field === "max_actions_per_second") return Number(value) ? t("{count} a second", { count: number(value) }) : t("0 (no cap)");
  if (field === "blocked_symbols") return value.length ? value.join(", ") : t("none");
  if (field === "kill_switch") return value ? t("on") : t("off");
  return JSON.stringify(value);
}

function routineValue(field, value) {
  if (value === undefined || value === null) return "—";
  if (field === "time") return String(value).slice(0, 5);
  if (field === "enabled") return value ? t("on") : t("off");
  if (field === "kind") return KINDS[value] || value;
  if (field === "accounts") return value === "all" ? t("all accounts") : [].concat(value).map(accountName).join(", ");
  if (field === "reserve_amount") return t("{amount} yuan", { amount: number(value) });
  if (field === "price") return value === "latest" ? t("latest price") : t("{amount} yuan", { amount: value });
  return Array.isArray(value) ? value.join(", ") : String(value);
}

const fromTo = (from, to) => (from === "" ? to : `${from} → ${to}`);

function describeChange(event) {
  if (event.kind === "kill_switch") {
    const cancels = event.job_ids && event.job_ids.length ? t("and {count} cancel jobs", { count: event.job_ids.length }) : "";
    return [event.on ? t("Kill switch thrown") : t("Kill switch released"), cancels].filter(Boolean).join(" ");
  }
  if (event.what === "risk_limits") {
    const before = event.before || {};  // events from before the history kept it say only the new value
    return Object.entries(event.change).map(([field, to]) => `${LIMIT_NAMES[field] || field}: ${fromTo(limitValue(field, before[field]), limitValue(field, to))}`).join("; ");
  }
  if (event.what === "routines" && event.routines && event.routines.length) {
    return event.routines.map((change) => {
      if (change.action === "added") return t("routine {name} added", { name: change.name });
      if (change.action === "removed") return t("routine {name} deleted", { name: change.name });
      const fields = Object.entries(change.fields).map(([field, [from, to]]) => `${ROUTINE_FIELDS[field] || field}: ${routineValue(field, from)} → ${routineValue(field, to)}`);
      return t("routine {name} changed: {what}", { name: change.name, what: fields.join(", ") });
    }).join("; ");
  }
  if (event.what === "routines") return t("routines saved, nothing changed ({count})", { count: (event.change.routines || []).length });
  return `${event.what}: ${JSON.stringify(event.change)}`;
}

async function loadChanges() {
  const answer = await api("GET", "/events?last=20&kind=config,kill_switch");
  const list = document.getElementById("changes");
  if (!answer.ok) return list.replaceChildren(h("li", { class: "list-group-item text-danger" }, answer.data.error));
  const found = answer.data.events.slice().reverse();
  list.replaceChildren(...(found.length ? found.map((event) => h("li", { class: "list-group-item py-1 change", "data-kind": event.kind },
    h("strong", null, String(event.by || "").replace(/^user:/, "")), " · ",
    h("span", { class: "font-monospace text-body-secondary" }, stamp(event.ts)), " · ",
    h("span", { class: "change-what" }, describeChange(event)))) : [h("li", { class: "list-group-item text-body-secondary" }, t("no changes yet"))]));
}

function polled(load) {  // a refresh that never starts while the previous one is still waiting for its answer
  let busy = false;
  return async () => {
    if (busy) return;
    busy = true;
    try {
      await load();
    } finally {
      busy = false;
    }
  };
}

const refreshChanges = polled(loadChanges);
const refreshRisk = polled(loadRisk);
loadRisk();
loadRoutines();
loadChanges();
setInterval(() => {
  if (document.hidden) return;
  if (!routinesLoading) loadRoutines();
  refreshChanges();
  refreshRisk();
}, REFRESH_MS);
