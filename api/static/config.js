// The config page (admins): risk limits (PUT /risk), releasing the kill switch (POST /risk/kill_switch), the routines
// (PUT /routines, POST /routines/<name>/run) and the recent changes (the event stream's config and kill_switch events).
// The API validates with its own models; its refusals show next to the field they name.
"use strict";

const messages = document.getElementById("messages");
const riskForm = document.getElementById("risk-form");
const routinesForm = document.getElementById("routines-form");
const ROUTINE_STATE = ["next_fire", "today", "last"];  // what GET /routines adds to each routine; not part of it
let loadedLimits = { blocked_symbols: [] };
// As for the routines below, a late load never replaces what the admin is typing; the fields not typed in are filled,
// so a save never sends a field the admin did not see (an empty block list would unblock every symbol).
const riskTyped = new Set();
riskForm.addEventListener("input", (event) => riskTyped.add(event.target.name));

function showKillSwitch(on) {
  document.getElementById("kill-switch-state").replaceChildren(on
    ? h("div", { class: "alert alert-danger fw-semibold py-2 mb-0", "data-kill-switch": "on" }, "⚠ Kill switch is ON: new orders are refused.")
    : h("span", { class: "text-success", "data-kill-switch": "off" }, "Kill switch is off: orders are accepted."));
  document.getElementById("release-kill-switch").hidden = !on;
}

async function loadRisk() {
  const answer = await api("GET", "/risk");
  if (!answer.ok) return flash(messages, "danger", answer.data.error);
  const limits = answer.data.limits;
  loadedLimits = limits;
  showKillSwitch(limits.kill_switch);
  const counts = Object.entries(answer.data.actions_today).map(([index, count]) => `${accountName(Number(index))}: ${count}`);
  document.getElementById("actions-today").textContent = `Counted today: ${counts.join(" · ") || "none"}`;
  const shown = { ...limits, blocked_symbols: limits.blocked_symbols.join(", ") };
  for (const name of ["max_order_notional", "max_actions_per_day", "max_actions_per_second", "blocked_symbols"]) {
    if (!riskTyped.has(name)) riskForm[name].value = shown[name];
  }
}

// Only what differs from the limits loaded is sent, so the change recorded (and listed below) is what the admin changed.
function riskChange() {
  const change = {};
  for (const name of ["max_order_notional", "max_actions_per_day", "max_actions_per_second"]) {
    const text = riskForm[name].value.trim();
    const value = text === "" ? null : Number(text);
    if (value !== loadedLimits[name]) change[name] = value;
  }
  const blocked = riskForm.blocked_symbols.value.split(/[\s,，]+/).filter(Boolean);
  if (blocked.join(",") !== loadedLimits.blocked_symbols.join(",")) change.blocked_symbols = blocked;
  return change;
}

riskForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(riskForm);
  const change = riskChange();
  if (!Object.keys(change).length) return flash(messages, "info", "Nothing changed.");
  const answer = await api("PUT", "/risk", change);
  if (!answer.ok) return showErrors(riskForm, answer.data, { symbol: "blocked_symbols" });
  flash(messages, "success", "Risk limits saved.");
  riskTyped.clear();
  await loadRisk();
  await loadChanges();
});

document.getElementById("release-kill-switch").addEventListener("click", async () => {
  const answer = await api("POST", "/risk/kill_switch", { on: false });
  if (!answer.ok) return flash(messages, "danger", `Releasing the kill switch failed: ${answer.data.error}`);
  flash(messages, "success", "Kill switch released: orders are accepted again.");
  showKillSwitch(false);
  await loadChanges();
});

let routinesAsked = 0;  // an answer to an older ask (the page's first, still loading) must not overwrite a newer one
let routinesEdited = false;  // what the admin typed is never replaced by a load that answers while they type
routinesForm.routines.addEventListener("input", () => { routinesEdited = true; });

async function loadRoutines() {
  const asked = ++routinesAsked;
  const answer = await api("GET", "/routines");
  if (asked !== routinesAsked) return;
  const box = document.getElementById("routines");
  if (!answer.ok) return flash(box, "warning", answer.data.error);
  const routines = answer.data.routines;
  box.replaceChildren(table(["Routine", "Time", "Enabled", "Next run", "Last outcome", ""], routines.map((r) => [
    `${r.name} (${r.kind})`, r.time, r.enabled ? "yes" : "no", r.next_fire ? isoClock(r.next_fire) : "—",
    r.last ? `${r.last.day}: ${r.last.state}` : "never ran",
    h("button", { class: "btn btn-sm btn-outline-primary py-0", type: "button", onclick: () => runNow(r.name) }, "Run now"),
  ]), "no routines"));
  if (routinesEdited) return;
  const editable = routines.map((r) => Object.fromEntries(Object.entries(r).filter(([key]) => !ROUTINE_STATE.includes(key))));
  routinesForm.routines.value = JSON.stringify(editable, null, 2);
}

async function runNow(name) {
  const answer = await api("POST", `/routines/${encodeURIComponent(name)}/run`, { force: document.getElementById("run-force").checked });
  if (!answer.ok) return flash(messages, "danger", `Run ${name}: ${answer.data.error}`);
  flash(messages, "success", `Routine ${name}: ${answer.data.run.state}${answer.data.run.reason ? ` (${answer.data.run.reason})` : ""}; jobs ${answer.data.job_ids.join(", ") || "none"}.`);
  await loadRoutines();
}

routinesForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors(routinesForm);
  let routines;
  try {
    routines = JSON.parse(routinesForm.routines.value);
  } catch (error) {
    return showErrors(routinesForm, { field: "routines", error: `not JSON: ${error.message}` });
  }
  const answer = await api("PUT", "/routines", { routines });
  if (!answer.ok) return showErrors(routinesForm, answer.data);
  flash(messages, "success", "Routines saved.");
  routinesEdited = false;  // saved: the form shows what the router now holds
  await loadRoutines();
  await loadChanges();
});

function describeChange(event) {
  if (event.kind === "kill_switch") return `kill switch ${event.on ? "THROWN" : "released"}${event.job_ids && event.job_ids.length ? ` (${event.job_ids.length} cancel jobs)` : ""}`;
  const change = event.what === "routines" ? `${(event.change.routines || []).length} routines` : JSON.stringify(event.change);
  return `${event.what.replace("_", " ")}: ${change}`;
}

async function loadChanges() {
  const answer = await api("GET", "/events?last=20&kind=config,kill_switch");
  const list = document.getElementById("changes");
  if (!answer.ok) return list.replaceChildren(h("li", { class: "list-group-item text-danger" }, answer.data.error));
  const found = answer.data.events.slice().reverse();
  list.replaceChildren(...(found.length ? found.map((event) => h("li", { class: "list-group-item py-1 change", "data-kind": event.kind },
    h("span", { class: "font-monospace text-body-secondary me-2" }, stamp(event.ts)),
    h("strong", { class: "me-2" }, event.by), describeChange(event))) : [h("li", { class: "list-group-item text-body-secondary" }, "no changes yet")]));
}

loadRisk();
loadRoutines();
loadChanges();
