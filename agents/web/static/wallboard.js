// Sales-floor wallboard: renders the /api/board/stream documents (Server-Sent Events), no framework.
// Its texts, in each language of ?lang=, are in wallboard-text.js (WALLBOARD_TEXT).
"use strict";

const STALE_AFTER_MS = 5000;     // no message for this long: STALE
const RECONNECT_AFTER_MS = 12000; // no message for this long: drop the connection and open a new one
const BANNER_MS = 5000;          // each celebration is shown this long,
const BANNER_GAP_MS = 400;       // with this pause before the next one,
const QUEUE_MAX = 8;             // and at most this many wait (a burst drops its oldest waiting ones)

const params = new URLSearchParams(location.search);
let team = params.get("team") || "_all";
const ROTATE_S = Number(params.get("rotate")) || 0; // ?rotate=SECONDS: the floor, then each team, in turn
const LANG = Object.hasOwn(WALLBOARD_TEXT, params.get("lang") || "") ? params.get("lang") : "en";
const T = WALLBOARD_TEXT[LANG];
const RANKS = ["won_amount", "calls_outbound", "meetings_held", "leads_responded"]; // ?rank=: the leaderboard's metric
const RANK = RANKS.includes(params.get("rank")) ? params.get("rank") : "won_amount";
const TOKEN = params.get("token"); // ?token=: a locked web port (SPEC §8), passed on to the stream
const $ = (kpi) => document.querySelector(`[data-kpi="${kpi}"]`);

let source = null;
let connection = 0; // counts the streams opened: each numbers its deal celebrations from 1
let connected = false;
let lastMessage = 0;
let lastDoc = null;
let hotRep = null;
let leaderboardHtml = "";
const started = Date.now();

// ---- formatting, in the language's locale ----------------------------------------------------------

const DASH = "\u2013";
const integer = new Intl.NumberFormat(T.numbers, { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat(T.numbers, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const percentFormat = new Intl.NumberFormat(T.numbers, { style: "percent", maximumFractionDigits: 0 });
const moneyFormats = {};

function money(value, currency) {
  if (value === null || value === undefined) return DASH;
  const fmt = moneyFormats[currency] || (moneyFormats[currency] = new Intl.NumberFormat(T.numbers, {
    style: "currency", currency: currency || "EUR", maximumFractionDigits: 0, minimumFractionDigits: 0,
  }));
  return fmt.format(Math.round(value));
}

function count(value) {
  return value === null || value === undefined ? DASH : integer.format(Math.round(value));
}

function percent(ratio) {
  return ratio === null || ratio === undefined ? DASH : percentFormat.format(Math.round(ratio * 100) / 100);
}

// m:ss below an hour, h:mm h from an hour on
function duration(seconds) {
  if (seconds === null || seconds === undefined) return DASH;
  const s = Math.max(0, Math.round(seconds));
  if (s < 3600) return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  const m = Math.floor(s / 60);
  return `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")} ${T.hour}`;
}

function teamTitle(id) {
  if (id === "_all") return T.floor;
  return id.split(/[-_]+/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join(" ");
}

function dayDate(day) { // a YYYY-MM-DD as a Date for formatting with timeZone UTC
  return new Date(`${day}T12:00:00Z`);
}

function monthName(day, form = "long") {
  return dayDate(day.length === 7 ? `${day}-01` : day).toLocaleDateString(T.dates, { month: form, timeZone: "UTC" });
}

function clock(date, seconds) {
  const zone = (lastDoc && lastDoc.timezone) || undefined;
  try {
    return date.toLocaleTimeString(T.dates, { hour: "2-digit", minute: "2-digit",
      second: seconds ? "2-digit" : undefined, timeZone: zone });
  } catch (e) {
    return date.toLocaleTimeString(T.dates);
  }
}

// ---- rendering -------------------------------------------------------------------------------------

// shrink a line of text until it fits its box (big numbers, long words of some languages)
const fitted = new WeakMap();

function set(kpi, text) {
  const el = $(kpi);
  if (!el || el.textContent === text) return;
  el.textContent = text;
  const box = el.closest(".value, [data-fit]");
  if (box && box.offsetParent) refit(box);
}

function refit(el) {
  const key = `${el.textContent}|${el.parentElement.clientWidth}`;
  if (fitted.get(el) === key) return;
  fit(el);
  fitted.set(el, key);
}

function fit(el) {
  el.style.fontSize = "";
  const style = getComputedStyle(el);
  let size = parseFloat(style.fontSize);
  const least = el.classList.contains("value") ? 36 : Math.max(12, size * 0.55);
  const lines = style.whiteSpace !== "nowrap"; // wrapping text overflows downwards, a line sideways
  const over = () => (lines ? el.scrollHeight > el.clientHeight + 1 : el.scrollWidth > el.clientWidth + 1);
  while (over() && size > least) {
    size = Math.max(least, size - Math.max(1, size * 0.05));
    el.style.fontSize = `${size}px`;
  }
}

function fitAll(root = document) {
  for (const el of root.querySelectorAll(".value, [data-fit], th, td")) {
    if (el.offsetParent) refit(el); // one not shown is fitted when it is
  }
}

function translate() {
  document.documentElement.lang = LANG;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = T[el.dataset.t];
  for (const el of document.querySelectorAll("[data-t-title]")) el.title = T[el.dataset.tTitle];
  set("celebrate_title", `\u2605 ${T.dealWon} \u2605`);
}

function render(doc) {
  const t = doc.today || {};
  const live = doc.live || {};
  const month = doc.month_to_date || {};
  const cur = doc.currency;
  const response = t.lead_response_seconds || {};

  set("team", teamTitle(doc.team));
  document.title = `${teamTitle(doc.team)} \u00b7 ${T.page}`;
  set("sla", duration(doc.sla_seconds));

  set("leads_waiting", count(live.leads_awaiting_response));
  set("oldest_wait", live.leads_awaiting_response ? duration(live.lead_oldest_awaiting_seconds) : DASH);
  const waiting = document.querySelector('[data-tile="waiting"]');
  waiting.classList.toggle("alert", Boolean(live.oldest_over_sla));
  waiting.classList.toggle("warn", !live.oldest_over_sla && live.lead_oldest_awaiting_seconds > doc.sla_seconds / 2);

  set("response_p50", duration(response.p50));
  set("response_p90", duration(response.p90));
  set("within_sla", percent(t.lead_response_within_sla_ratio));
  set("leads_responded", count(t.leads_responded));
  set("answered_word", T.answered(t.leads_responded || 0, T.numbers));
  set("follow_up", percent(t.follow_up_ratio));
  set("leads_followed_up", count(t.leads_followed_up));
  set("conversion", percent(t.lead_conversion_ratio));
  set("leads_converted", count(t.leads_converted));
  set("leads_created", count(t.leads_created));
  set("new_leads_word", T.newLeads(t.leads_created || 0, T.numbers));
  set("calls", count(t.calls_outbound));
  set("connect_ratio", percent(t.call_connect_ratio));
  set("emails", count(t.emails_sent));
  set("reply_ratio", percent(t.email_reply_ratio));
  set("won_today", money(t.won_amount || 0, cur));
  set("deals_won_today", count(t.deals_won || 0));
  set("deals_word", T.deals(t.deals_won || 0, T.numbers));
  set("pipeline_open", money(live.pipeline_open_amount || 0, cur));
  set("win_ratio", percent(t.win_ratio));

  renderQuota(doc, month, cur);
  renderSpeed(doc.speed_to_lead || {});
  renderLeaderboard(doc);
  renderAgainstYesterday(doc);
  renderHourly(doc);
  if (doc.celebrate) celebrations.add(dealWon(doc.celebrate, cur));
  for (const achievement of doc.achievements || []) celebrations.add(achieved(achievement, doc));
  fitAll();
}

function renderQuota(doc, month, cur) {
  set("won_month", money(month.won_amount || 0, cur));
  set("month_label", `\u00b7 ${monthName(doc.date)}`);
  const bar = $("quota_bar");
  const target = month.target_amount;
  if (target === null || target === undefined || !(target > 0)) {
    set("target_text", T.noTarget);
    set("attainment", "");
    bar.className = "bar none";
    return;
  }
  const amount = money(target, cur);
  set("target_text", month.target_source === "sum_of_team_targets" ? T.ofTeamTargets(amount) : T.ofTarget(amount));
  const ratio = month.quota_attainment_ratio || 0;
  set("attainment", percent(ratio));
  // pace: the share of the month gone by at the end of today
  const day = Number(doc.date.slice(8, 10));
  const [y, m] = doc.date.split("-").map(Number);
  const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const pace = day / days;
  const behind = ratio < pace * 0.9;
  bar.className = `bar${ratio >= 1 ? " done" : behind ? " behind" : ""}`;
  $("attainment").classList.toggle("behind", behind && ratio < 1);
  bar.querySelector(".fill").style.width = `${Math.min(100, ratio * 100)}%`;
  const marker = bar.querySelector(".pace");
  marker.style.display = "block";
  marker.style.left = `${pace * 100}%`;
}

// "answered within 5 min convert N× more" (this month's leads), once both groups are big enough
function renderSpeed(speed) {
  const times = speed.times;
  const known = times !== null && times !== undefined;
  document.querySelector('[data-tile="speed"]').classList.toggle("none", !known);
  set("speed_times", known ? `${oneDecimal.format(times)}\u00d7` : DASH);
  let text = T.speedNone;
  if (known && times >= 1) text = T.speedMore(oneDecimal.format(times));
  else if (known) text = T.speedLess;
  set("speed_text", text);
}

function renderLeaderboard(doc) {
  const body = $("leaderboard");
  const rows = doc.leaderboard || [];
  $("leaderboard_empty").hidden = rows.length > 0;
  // won_amount ranks by Won, then shows Calls; any other metric ranks by it, then shows Won
  set("lb_head_value", T.ranks[RANK]);
  set("lb_head_other", RANK === "won_amount" ? T.ranks.calls_outbound : T.ranks.won_amount);
  const html = rows.map((r) => {
    const hot = hotRep && hotRep === `${r.team}/${r.rep}` ? ' class="hot"' : "";
    const sub = doc.team === "_all" ? `<small>${escape(teamTitle(r.team))}</small>` : "";
    return `<tr data-team="${escape(r.team)}" data-rep="${escape(r.rep)}"${hot}>`
      + `<td class="rank" data-kpi="lb_rank">${r.rank}</td>`
      + `<td class="rep"><span data-kpi="lb_rep">${escape(r.rep)}</span>${sub}</td>`
      + (RANK === "won_amount"
        ? `<td class="num" data-kpi="lb_won">${money(r.won_amount, doc.currency)}</td>`
          + `<td class="num" data-kpi="lb_calls">${count(r.calls_outbound)}</td>`
        : `<td class="num" data-kpi="lb_value">${count(r[RANK])}</td>`
          + `<td class="num" data-kpi="lb_won">${money(r.won_amount, doc.currency)}</td>`)
      + `<td class="num" data-kpi="lb_response">${duration(r.response_p50_seconds)}</td></tr>`;
  }).join("");
  if (html === leaderboardHtml) return;
  body.innerHTML = leaderboardHtml = html;
  fitAll(body);
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// ---- today against the same time yesterday, and today by hour --------------------------------------

const AGAINST_YESTERDAY = [ // the chip's data-kpi, the metric, how its difference is written
  ["vs_won_amount", "won_amount", "money"], ["vs_deals_won", "deals_won", "count"],
  ["vs_calls_outbound", "calls_outbound", "count"], ["vs_emails_sent", "emails_sent", "count"],
  ["vs_leads_responded", "leads_responded", "count"],
];

function renderAgainstYesterday(doc) {
  const yesterday = doc.yesterday;
  const at = clock(new Date(doc.server_time_ms || Date.now()), false);
  set("vs_legend", yesterday ? T.vsLegend(at) : "");
  for (const [kpi, metric, kind] of AGAINST_YESTERDAY) {
    const el = $(kpi);
    const before = yesterday ? yesterday[metric] : undefined;
    el.hidden = before === undefined || before === null;
    if (el.hidden) continue;
    const diff = Math.round((doc.today || {})[metric] || 0) - Math.round(before);
    const size = kind === "money" ? money(Math.abs(diff), doc.currency) : count(Math.abs(diff));
    set(kpi, `${diff > 0 ? "\u25b2" : diff < 0 ? "\u25bc" : "="} ${size}`);
    el.className = `vs ${diff > 0 ? "up" : diff < 0 ? "down" : "same"}`;
    el.title = T.vsTitle(at);
  }
}

const CHART = { width: 680, height: 132, top: 22, bottom: 22 };
let chartDrawn = "";

// bars: won amount per local hour; dots and a line: outbound calls; each on its own scale
function renderHourly(doc) {
  const hours = doc.hourly || [];
  const key = JSON.stringify(hours);
  if (key === chartDrawn) return;
  chartDrawn = key;
  const { width, height, top, bottom } = CHART;
  const slots = Math.max(24, hours.length);
  const slot = width / slots;
  const plot = height - top - bottom;
  const topWon = Math.max(0, ...hours.map((h) => h.won_amount || 0));
  const topCalls = Math.max(0, ...hours.map((h) => h.calls_outbound || 0));
  const points = [];
  const groups = hours.map((h, i) => {
    const won = h.won_amount || 0;
    const calls = h.calls_outbound || 0;
    const barHeight = topWon > 0 ? (plot * won) / topWon : 0;
    const x = i * slot;
    const cy = top + plot - (topCalls > 0 ? (plot * calls) / topCalls : 0);
    points.push(`${(x + slot / 2).toFixed(1)},${cy.toFixed(1)}`);
    const label = i % 3 === 0 || slots <= 12
      ? `<text class="hour" x="${(x + slot / 2).toFixed(1)}" y="${height - 4}">${escape(h.hour.slice(0, 2))}</text>` : "";
    return `<g data-hour="${escape(h.hour)}" data-start="${escape(h.start)}" data-won_amount="${won}"`
      + ` data-calls_outbound="${calls}">`
      + `<rect class="won" x="${(x + slot * 0.14).toFixed(1)}" y="${(top + plot - barHeight).toFixed(1)}"`
      + ` width="${(slot * 0.72).toFixed(1)}" height="${barHeight.toFixed(1)}"></rect>`
      + `<circle class="calls" cx="${(x + slot / 2).toFixed(1)}" cy="${cy.toFixed(1)}" r="3.5"></circle>`
      + `<title>${escape(h.hour)} \u00b7 ${money(won, doc.currency)} \u00b7 ${count(calls)}</title>${label}</g>`;
  }).join("");
  const scales = hours.length
    ? `<text class="scale won" x="0" y="14">${money(topWon, doc.currency)}</text>`
      + `<text class="scale calls" x="${width}" y="14" text-anchor="end">${count(topCalls)}</text>` : "";
  $("hourly").innerHTML = `<svg viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img"`
    + ` aria-label="${escape(T.byHour)}">`
    + `<line class="axis" x1="0" x2="${width}" y1="${top + plot + 0.5}" y2="${top + plot + 0.5}"></line>`
    + `${scales}${groups}<polyline class="calls" points="${points.join(" ")}"></polyline></svg>`;
}

// ---- celebrations: one banner at a time, each item once per screen ---------------------------------

function dealWon(c, cur) {
  return {
    id: `deal:${connection}:${c.id}`, // a stream numbers its own celebrations
    type: "deal.won", title: T.dealWon, hot: `${c.team}/${c.rep}`,
    who: `${c.rep}${c.deals > 1 ? ` ${T.more(c.deals - 1)}` : ""}`,
    what: `+${money(c.total_amount ?? c.amount, cur)}`,
  };
}

function achieved(a, doc) {
  const who = a.rep_id || teamTitle(a.team_id || "");
  const amount = (v) => (a.metric === "won_amount" ? money(v, doc.currency) : count(v));
  if (a.type === "record.broken") {
    const unit = T.record[a.metric]; // "calls", "deals won"... in the plural form of the value
    let value = `${count(a.value)} ${unit ? unit(a.value, T.numbers) : T.goal[a.metric] || a.metric}`;
    if (a.metric === "won_amount") value = T.recordAmount(amount(a.value));
    return { id: String(a.id), type: a.type, title: T.newRecord, who,
      what: T.recordText({ value, best: amount(a.previous_best) }) };
  }
  const period = String(a.period || "");
  const daily = period.length === 10;
  return {
    id: String(a.id), type: a.type, title: T.goalReached, who,
    what: T.goalText({
      pct: percentFormat.format(a.milestone || 0), metric: T.goal[a.metric] || a.metric, target: amount(a.target),
      today: daily && period === doc.date,
      day: daily && period !== doc.date ? dayDate(period).toLocaleDateString(T.dates,
        { day: "numeric", month: "short", timeZone: "UTC" }) : "",
      month: daily ? "" : monthName(period),
    }),
  };
}

const celebrations = (() => {
  const waiting = [];
  const seen = new Set();
  let showing = null;
  let timer = null;
  const banner = () => $("celebrate");

  function show() {
    timer = null;
    showing = waiting.shift() || null;
    if (!showing) return;
    const el = banner();
    set("celebrate_title", `\u2605 ${showing.title} \u2605`);
    set("celebrate_rep", showing.who);
    set("celebrate_sep", showing.type === "deal.won" ? " " : " \u2014 "); // an achievement: two lines
    set("celebrate_amount", showing.what);
    el.dataset.celebrationId = showing.id;
    el.dataset.celebrationType = showing.type;
    el.hidden = false;
    el.style.animation = "none";
    void el.offsetWidth; // restart the pop-in animation
    el.style.animation = "";
    for (const line of el.querySelectorAll("[data-fit]")) {
      line.style.fontSize = "";
      fitted.delete(line);
    }
    fitAll(el);
    hotRep = showing.hot || null;
    if (hotRep && lastDoc) renderLeaderboard(lastDoc);
    timer = setTimeout(hide, BANNER_MS);
  }

  function hide() {
    const el = banner();
    el.hidden = true;
    delete el.dataset.celebrationId;
    delete el.dataset.celebrationType;
    const wasHot = hotRep;
    showing = null;
    hotRep = null;
    if (wasHot && lastDoc) renderLeaderboard(lastDoc);
    timer = setTimeout(show, BANNER_GAP_MS);
  }

  return {
    add(item) {
      if (seen.has(item.id)) return;
      seen.add(item.id);
      if (seen.size > 1000) seen.delete(seen.values().next().value);
      waiting.push(item);
      while (waiting.length > QUEUE_MAX) waiting.shift(); // a burst: the oldest waiting ones go
      if (!showing && !timer) show();
    },
  };
})();

// ---- connection and the STALE marker ---------------------------------------------------------------

function staleReason(now) {
  if (!lastMessage) return connected ? T.waiting : T.connecting;
  if (!connected) return T.lost;
  const age = now - lastMessage;
  if (age > STALE_AFTER_MS) return T.noData(Math.round(age / 1000));
  if (lastDoc && lastDoc.owned === false) return T.notOwned;
  const health = (lastDoc && lastDoc.health) || {};
  if (health.lagging) return T.behind(count(health.lag));
  return null;
}

function tick() {
  const now = Date.now();
  const reason = staleReason(now);
  const state = !reason ? "live" : !lastMessage && now - started < STALE_AFTER_MS ? "connecting" : "stale";
  document.body.dataset.state = state;
  set("status", reason ? (state === "stale" ? T.stale : T.connectingState) : T.live);
  $("status").title = reason || "";
  const updated = lastDoc ? new Date(lastDoc.server_time_ms) : null;
  set("updated", reason && lastMessage ? T.lastUpdate(reason, clock(updated, true))
    : updated ? T.updated(clock(updated, true)) : reason || "");
  set("clock", clock(new Date(now), false));
  if (lastDoc) set("date", dayDate(lastDoc.date).toLocaleDateString(T.dates,
    { weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC" }));
  fitAll(document.querySelector("header"));
  if (source && lastMessage && now - lastMessage > RECONNECT_AFTER_MS && source.readyState === EventSource.OPEN) {
    connect(); // a silent, half-open connection: start over
  }
}

function connect() {
  if (source) source.close();
  const token = TOKEN ? `&token=${encodeURIComponent(TOKEN)}` : "";
  const es = new EventSource(`/api/board/stream?team=${encodeURIComponent(team)}&rank=${RANK}${token}`);
  source = es;
  es.onopen = () => { connection += 1; connected = true; tick(); }; // a new stream (also the browser's own retry)
  es.onmessage = (event) => {
    let doc;
    try { doc = JSON.parse(event.data); } catch (e) { return; }
    connected = true;
    lastMessage = Date.now();
    lastDoc = doc;
    render(doc);
    tick();
  };
  es.onerror = () => {
    connected = false;
    tick();
    // the browser retries by itself unless the failure was fatal (e.g. an HTTP error status)
    if (es.readyState === EventSource.CLOSED && source === es) setTimeout(() => { if (source === es) connect(); }, 2000);
  };
}

// the next of the floor and its teams (the document lists them), for a TV nobody touches
function rotate() {
  const teams = ["_all", ...((lastDoc && lastDoc.teams) || [])];
  const next = teams[(teams.indexOf(team) + 1) % teams.length];
  if (next === team) return;
  team = next;
  connect();
}

translate();
connect();
tick();
setInterval(tick, 500);
if (ROTATE_S > 0) setInterval(rotate, Math.max(2, ROTATE_S) * 1000);
