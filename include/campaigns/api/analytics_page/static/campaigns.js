// The Campaigns page: reads /api/v1/analytics/* with the Airflow UI's own login cookie and draws the figures
// with the vendored Chart.js. The filters live in the page's query string, so a view can be linked to.
"use strict";

const API = new URL("../", window.location.href); // this page is at <api>/analytics/ui/
const COLORS = { sent: "#1a7f37", failed: "#cf222e", skipped: "#8c959f" };
const STATUSES = ["sent", "failed", "skipped"];
const number = new Intl.NumberFormat("en-US");
const percent = new Intl.NumberFormat("en-US", { style: "percent", maximumFractionDigits: 1 });
const state = { charts: {}, list: null, detail: null, selected: null };
window.campaignsPage = state; // what the browser test reads

const $ = (selector) => document.querySelector(selector);

function filters() {
  const q = new URLSearchParams();
  for (const id of ["broker", "from", "to"]) {
    const value = $("#" + id).value;
    if (value) q.set(id === "broker" ? "broker_id" : id, value);
  }
  return q;
}

function fromQueryString() {
  const q = new URLSearchParams(window.location.search);
  $("#from").value = q.get("from") || "";
  $("#to").value = q.get("to") || "";
  state.selected = q.get("campaign") ? Number(q.get("campaign")) : null;
  const broker = q.get("broker_id") || "";
  if (broker) $("#broker").add(new Option(broker, broker, true, true)); // until the list names the brokers
  return broker;
}

function remember() {
  const q = filters();
  if (state.selected) q.set("campaign", state.selected);
  history.replaceState(null, "", "?" + q.toString());
}

function say(text, loginLink) {
  const box = $("#message");
  box.textContent = text;
  if (loginLink) {
    const a = document.createElement("a");
    a.href = "/"; a.target = "_top"; a.textContent = " Log in to Airflow";
    box.append(a);
  }
  box.hidden = !text;
}

async function getJson(path, query) {
  const response = await fetch(new URL(path + "?" + query.toString(), API), { credentials: "same-origin" });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.detail || response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

const count = (n) => number.format(n);
const rate = (r) => (r === null || r === undefined ? "–" : percent.format(Number(r)));

function renderBrokers(brokers, wanted) {
  const select = $("#broker");
  select.length = 1;
  for (const b of brokers) select.add(new Option(`${b.name || "broker " + b.id} (${b.timezone})`, b.id));
  select.value = wanted;
}

function renderList(list) {
  const body = $("#campaigns tbody");
  body.replaceChildren();
  for (const c of list.campaigns) {
    const tr = document.createElement("tr");
    tr.dataset.campaignId = c.id;
    cell(tr, c.name);
    cell(tr, c.broker_name || String(c.broker_id));
    cell(tr, c.channel);
    cell(tr, c.status);
    for (const key of ["sent", "failed", "skipped", "enrolled", "goal_reached", "replied"]) {
      cell(tr, count(c[key]), "n").dataset.key = key;
    }
    cell(tr, rate(c.conversion_rate), "n").dataset.key = "conversion_rate";
    tr.addEventListener("click", () => select(c.id));
    body.append(tr);
  }
  if (!list.campaigns.length) {
    const tr = document.createElement("tr");
    cell(tr, "No campaigns for these brokers.", "empty").colSpan = 11;
    body.append(tr);
  }
  $("#list-csv").href = new URL("campaigns.csv?" + filters().toString(), API).href;
}

function chart(id, config) {
  if (state.charts[id]) state.charts[id].destroy();
  state.charts[id] = new Chart($("#" + id), config);
}

function datasets(rows, stacked) {
  return STATUSES.map((s) => ({
    label: s[0].toUpperCase() + s.slice(1), data: rows.map((r) => r[s]), backgroundColor: COLORS[s],
    stack: stacked ? "all" : undefined,
  }));
}

const AXES = { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } };

function renderDetail(d) {
  const c = d.campaign;
  $("#detail").hidden = false;
  $("#detail-title").textContent = `${c.name} — ${c.broker_name || "broker " + c.broker_id}, ${c.channel}, ${c.status}`;
  const tiles = $("#tiles");
  tiles.replaceChildren();
  const figures = [["Sent", count(c.sent), "sent"], ["Failed", count(c.failed), "failed"],
    ["Skipped", count(c.skipped), "skipped"], ["Enrolled", count(c.enrolled), "enrolled"],
    ["Goal reached", count(c.goal_reached), "goal_reached"], ["Replied", count(c.replied), "replied"],
    ["Conversion", rate(c.conversion_rate), "conversion_rate"], ["Reply rate", rate(c.reply_rate), "reply_rate"]];
  for (const [label, value, key] of figures) {
    const tile = document.createElement("div");
    tile.className = "tile";
    tile.dataset.key = key;
    tile.innerHTML = '<div class="label"></div><div class="value"></div>';
    tile.firstChild.textContent = label;
    tile.lastChild.textContent = value;
    tiles.append(tile);
  }
  chart("daily-chart", {
    type: "bar",
    data: { labels: d.daily.map((r) => r.day), datasets: datasets(d.daily, true) },
    options: { maintainAspectRatio: false, animation: false, scales: AXES,
      plugins: { title: { display: true, text: `Days in ${c.timezone}` } } },
  });
  chart("funnel-chart", {
    type: "bar",
    data: { labels: d.funnel.map((s) => `${s.step_number}. ${s.action}`), datasets: datasets(d.funnel, true) },
    options: { indexAxis: "y", maintainAspectRatio: false, animation: false,
      scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } } },
  });
  const reasons = $("#reasons tbody");
  reasons.replaceChildren();
  for (const r of d.failure_reasons) {
    const tr = document.createElement("tr");
    cell(tr, r.step_number === null ? "–" : String(r.step_number), "n");
    cell(tr, r.action || "(campaign)");
    cell(tr, r.status);
    cell(tr, r.reason || "", "reason");
    cell(tr, count(r.count), "n");
    reasons.append(tr);
  }
  if (!d.failure_reasons.length) cell(reasons.insertRow(), "Nothing failed or was skipped.", "empty").colSpan = 5;
  const deliveries = $("#deliveries tbody");
  deliveries.replaceChildren();
  for (const r of d.deliveries) {
    const tr = document.createElement("tr");
    cell(tr, r.channel);
    cell(tr, r.status);
    cell(tr, count(r.messages), "n");
    deliveries.append(tr);
  }
  if (!d.deliveries.length) {
    cell(deliveries.insertRow(), "No delivery receipts (the sandbox adapter records none).", "empty").colSpan = 3;
  }
  const q = filters();
  q.delete("broker_id");
  for (const a of document.querySelectorAll("#detail a.csv")) {
    a.href = new URL(`campaigns/${c.id}/${a.dataset.part}.csv?${q.toString()}`, API).href;
  }
}

async function select(campaignId) {
  state.selected = campaignId;
  for (const tr of document.querySelectorAll("#campaigns tbody tr")) {
    tr.classList.toggle("selected", Number(tr.dataset.campaignId) === campaignId);
  }
  remember();
  const q = filters();
  q.delete("broker_id");
  try {
    state.detail = await getJson(`campaigns/${campaignId}`, q);
    renderDetail(state.detail);
    document.body.dataset.ready = "detail";
  } catch (error) {
    fail(error);
  }
}

function fail(error) {
  document.body.dataset.ready = "error";
  if (error.status === 401) say("You are not logged in to Airflow (or your session expired).", true);
  else say(`${error.message}${error.status ? ` (HTTP ${error.status})` : ""}`);
}

async function load(wantedBroker) {
  say("");
  document.body.dataset.ready = "loading";
  try {
    state.list = await getJson("campaigns", filters());
  } catch (error) {
    fail(error);
    return;
  }
  renderBrokers(state.list.brokers, wantedBroker ?? $("#broker").value);
  renderList(state.list);
  const ids = state.list.campaigns.map((c) => c.id);
  const busiest = [...state.list.campaigns].sort((a, b) => (b.sent + b.failed + b.skipped) - (a.sent + a.failed + a.skipped))[0];
  if (!ids.includes(state.selected)) state.selected = busiest ? busiest.id : null;
  if (state.selected) await select(state.selected);
  else {
    $("#detail").hidden = true;
    remember();
    document.body.dataset.ready = "list";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const broker = fromQueryString();
  $("#filters").addEventListener("submit", (event) => { event.preventDefault(); load(); });
  $("#clear").addEventListener("click", () => { $("#from").value = ""; $("#to").value = ""; load(); });
  load(broker);
});
