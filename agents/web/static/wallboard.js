// Sales-floor wallboard: renders the /api/board/stream documents (Server-Sent Events), no framework.
"use strict";

const STALE_AFTER_MS = 5000;     // no message for this long: STALE
const RECONNECT_AFTER_MS = 12000; // no message for this long: drop the connection and open a new one
const BANNER_MS = 6000;

const params = new URLSearchParams(location.search);
let team = params.get("team") || "_all";
const ROTATE_S = Number(params.get("rotate")) || 0; // ?rotate=SECONDS: the floor, then each team, in turn
const RANKS = { // ?rank=: the leaderboard's metric, its column head
  won_amount: "Won", calls_outbound: "Calls", meetings_held: "Meetings", leads_responded: "Leads",
};
const RANK = RANKS[params.get("rank")] ? params.get("rank") : "won_amount";
const $ = (kpi) => document.querySelector(`[data-kpi="${kpi}"]`);

let source = null;
let connected = false;
let lastMessage = 0;
let lastDoc = null;
let bannerTimer = null;
let hotRep = null;
const started = Date.now();

// ---- formatting ------------------------------------------------------------------------------------

const DASH = "\u2013";
const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const moneyFormats = {};

function money(value, currency) {
  if (value === null || value === undefined) return DASH;
  const fmt = moneyFormats[currency] || (moneyFormats[currency] = new Intl.NumberFormat("en-US", {
    style: "currency", currency: currency || "EUR", maximumFractionDigits: 0, minimumFractionDigits: 0,
  }));
  return fmt.format(Math.round(value));
}

function count(value) {
  return value === null || value === undefined ? DASH : integer.format(Math.round(value));
}

function percent(ratio) {
  return ratio === null || ratio === undefined ? DASH : `${Math.round(ratio * 100)}%`;
}

// m:ss below an hour, h:mm h from an hour on
function duration(seconds) {
  if (seconds === null || seconds === undefined) return DASH;
  const s = Math.max(0, Math.round(seconds));
  if (s < 3600) return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  const m = Math.floor(s / 60);
  return `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")} h`;
}

function teamTitle(id) {
  if (id === "_all") return "Whole floor";
  return id.split(/[-_]+/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join(" ");
}

// ---- rendering -------------------------------------------------------------------------------------

function set(kpi, text) {
  const el = $(kpi);
  if (!el || el.textContent === text) return;
  el.textContent = text;
  if (el.classList.contains("value")) fit(el);
}

// shrink a big number until it fits its tile
function fit(el) {
  el.style.fontSize = "";
  let size = parseFloat(getComputedStyle(el).fontSize);
  while (el.scrollWidth > el.clientWidth + 1 && size > 36) {
    size -= 4;
    el.style.fontSize = `${size}px`;
  }
}

function render(doc) {
  const t = doc.today || {};
  const live = doc.live || {};
  const month = doc.month_to_date || {};
  const cur = doc.currency;
  const response = t.lead_response_seconds || {};

  set("team", teamTitle(doc.team));
  document.title = `${teamTitle(doc.team)} \u00b7 sales floor`;
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
  set("follow_up", percent(t.follow_up_ratio));
  set("leads_followed_up", count(t.leads_followed_up));
  set("conversion", percent(t.lead_conversion_ratio));
  set("leads_converted", count(t.leads_converted));
  set("leads_created", count(t.leads_created));
  set("calls", count(t.calls_outbound));
  set("connect_ratio", percent(t.call_connect_ratio));
  set("emails", count(t.emails_sent));
  set("reply_ratio", percent(t.email_reply_ratio));
  set("won_today", money(t.won_amount || 0, cur));
  set("deals_won_today", count(t.deals_won || 0));
  set("deals_word", t.deals_won === 1 ? "deal" : "deals");
  set("pipeline_open", money(live.pipeline_open_amount || 0, cur));
  set("win_ratio", percent(t.win_ratio));

  renderQuota(doc, month, cur);
  renderSpeed(doc.speed_to_lead || {});
  renderLeaderboard(doc);
  if (doc.celebrate) celebrate(doc.celebrate, cur);
}

function renderQuota(doc, month, cur) {
  set("won_month", money(month.won_amount || 0, cur));
  const monthName = new Date(`${doc.date}T12:00:00Z`).toLocaleDateString("en-GB", { month: "long", timeZone: "UTC" });
  set("month_label", `\u00b7 ${monthName}`);
  const bar = $("quota_bar");
  const target = month.target_amount;
  if (target === null || target === undefined || !(target > 0)) {
    set("target_text", "no target set");
    set("attainment", "");
    bar.className = "bar none";
    return;
  }
  const source = month.target_source === "sum_of_team_targets" ? "team targets" : "target";
  set("target_text", `of ${money(target, cur)} ${source}`);
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
  set("speed_times", known ? `${times.toFixed(1)}\u00d7` : DASH);
  let text = "not enough answered leads this month yet";
  if (known && times >= 1) text = `answered within 5 min convert ${times.toFixed(1)}\u00d7 more`;
  else if (known) text = "answered within 5 min convert less than later ones";
  set("speed_text", text);
}

function renderLeaderboard(doc) {
  const body = $("leaderboard");
  const rows = doc.leaderboard || [];
  $("leaderboard_empty").hidden = rows.length > 0;
  // won_amount ranks by Won, then shows Calls; any other metric ranks by it, then shows Won
  set("lb_head_value", RANKS[RANK]);
  set("lb_head_other", RANK === "won_amount" ? "Calls" : "Won");
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
  if (body.innerHTML !== html) body.innerHTML = html;
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function celebrate(c, cur) {
  const banner = $("celebrate");
  const others = c.deals > 1 ? ` (+${c.deals - 1} more)` : "";
  set("celebrate_rep", `${c.rep}${others}`);
  set("celebrate_amount", `+${money(c.total_amount ?? c.amount, cur)}`);
  banner.hidden = false;
  banner.style.animation = "none";
  void banner.offsetWidth; // restart the pop-in animation
  banner.style.animation = "";
  hotRep = `${c.team}/${c.rep}`;
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => {
    banner.hidden = true;
    hotRep = null;
    if (lastDoc) renderLeaderboard(lastDoc);
  }, BANNER_MS);
}

// ---- connection and the STALE marker ---------------------------------------------------------------

function staleReason(now) {
  if (!lastMessage) return connected ? "waiting for data" : "connecting";
  if (!connected) return "connection lost";
  const age = now - lastMessage;
  if (age > STALE_AFTER_MS) return `no data for ${Math.round(age / 1000)} s`;
  if (lastDoc && lastDoc.owned === false) return "this worker holds no data for this team";
  const health = (lastDoc && lastDoc.health) || {};
  if (health.lagging) return `worker behind by ${count(health.lag)} events`;
  return null;
}

function tick() {
  const now = Date.now();
  const reason = staleReason(now);
  const state = !reason ? "live" : !lastMessage && now - started < STALE_AFTER_MS ? "connecting" : "stale";
  document.body.dataset.state = state;
  set("status", reason ? (state === "stale" ? "STALE" : "CONNECTING") : "LIVE");
  $("status").title = reason || "";
  const updated = lastDoc ? new Date(lastDoc.server_time_ms) : null;
  set("updated", reason && lastMessage ? `${reason} \u00b7 last update ${clock(updated, true)}`
    : updated ? `updated ${clock(updated, true)}` : reason || "");
  set("clock", clock(new Date(now), false));
  if (lastDoc) set("date", new Date(`${lastDoc.date}T12:00:00Z`).toLocaleDateString("en-GB",
    { weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC" }));
  if (source && lastMessage && now - lastMessage > RECONNECT_AFTER_MS && source.readyState === EventSource.OPEN) {
    connect(); // a silent, half-open connection: start over
  }
}

function clock(date, seconds) {
  const zone = (lastDoc && lastDoc.timezone) || undefined;
  try {
    return date.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit",
      second: seconds ? "2-digit" : undefined, timeZone: zone });
  } catch (e) {
    return date.toLocaleTimeString("en-GB");
  }
}

function connect() {
  if (source) source.close();
  const es = new EventSource(`/api/board/stream?team=${encodeURIComponent(team)}&rank=${RANK}`);
  source = es;
  es.onopen = () => { connected = true; tick(); };
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

connect();
tick();
setInterval(tick, 500);
if (ROTATE_S > 0) setInterval(rotate, Math.max(2, ROTATE_S) * 1000);
