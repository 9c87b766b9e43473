// The engine's panels: header, ladder, regime timeline, risk, markouts, obligations, fills.
// Figures come from the server already formatted (/status, the ladder's decimal text).

import { el, flatten, fmtMoney, kvList, nsTime, size, text, timeOf } from "./format.js";

const REGIMES = ["calm", "ranging", "trending", "crisis", "halted"];
const MAX_FILL_ROWS = 30;
const MAX_TRANSITIONS = 50;

export function renderFills(view) {
  const body = view.find('[data-field="fills-table"] tbody');
  body.replaceChildren();
  for (const fill of view.fills.slice(-MAX_FILL_ROWS).reverse()) {
    const row = el("tr");
    row.append(
      el("td", "", timeOf(fill.t)),
      el("td", fill.side, fill.side),
      el("td", "", fill.price),
      el("td", "", size(fill.size)),
      el("td", "", fill.liquidity),
      el("td", "", `${fill.fee} ${fill.fee_asset}`),
    );
    body.append(row);
  }
}

// Returns how many of our orders the ladder shows.
export function renderLadder(view, ladder) {
  const body = view.find('[data-field="ladder"] tbody');
  body.replaceChildren();
  let ours = 0;
  let touchMarked = false;
  for (const level of ladder.rows) {
    const row = el("tr");
    const bidSide = level.bid !== null && level.ask === null;
    if (!touchMarked && (bidSide || (ladder.best_bid !== null && level.price === ladder.best_bid))) {
      row.classList.add("touch");
      touchMarked = true;
    }
    const mine = level.ours
      .map((o) => `${o.side} ${size(o.remaining)}` + (o.ahead !== null ? ` · ${size(o.ahead)} ahead` : ` · ${o.state}`))
      .join("; ");
    if (level.ours.length) {
      ours += level.ours.length;
      row.classList.add("has-ours", level.ours[0].side === "buy" ? "ours-buy" : "ours-sell");
    }
    row.append(
      el("td", "bid", size(level.bid)),
      el("td", "price", level.price),
      el("td", "ask", size(level.ask)),
      el("td", "ours", mine),
    );
    body.append(row);
  }
  const panel = body.closest(".ladder-scroll");
  const touch = body.querySelector("tr.touch");
  if (panel && touch && !panel.matches(":hover")) {
    // keep the touch in the middle unless the user is looking around in the ladder
    const offset = touch.getBoundingClientRect().top - panel.getBoundingClientRect().top;
    panel.scrollTop += offset - panel.clientHeight / 2;
  }
  if (!ladder.valid) {
    const row = el("tr", "ladder-gap");
    const cell = el("td", "", "book not valid (resyncing)");
    cell.colSpan = 4;
    row.append(cell);
    body.prepend(row);
  }
  return ours;
}

export function renderTimeline(view, nowT) {
  const bar = view.find('[data-field="timeline"]');
  const list = view.find('[data-field="transitions"]');
  const start = view.times[0] ?? nowT;
  const end = Math.max(nowT, view.lastT, start + 1);
  const changes = view.regimes.filter((r) => r.to);
  bar.replaceChildren();
  for (let i = 0; i < changes.length; i += 1) {
    const from = Math.max(changes[i].t, start);
    const to = i + 1 < changes.length ? changes[i + 1].t : end;
    if (to <= start || to <= from) continue;
    const seg = el("div", `seg ${changes[i].to}`);
    seg.style.flexGrow = String(to - from);
    seg.title = `${changes[i].to.toUpperCase()} from ${timeOf(changes[i].t)} (${changes[i].rule})`;
    bar.append(seg);
  }
  list.replaceChildren();
  for (const entry of view.regimes.slice(-MAX_TRANSITIONS).reverse()) {
    const item = el("li");
    const head = entry.to
      ? `${(entry.from || "").toUpperCase()}${entry.from ? " → " : ""}${entry.to.toUpperCase()}`
      : entry.kind.toUpperCase();
    item.append(`${timeOf(entry.t)} `, el("b", "", head), ` [${entry.rule}] ${entry.text || ""}`);
    list.append(item);
  }
}

function statusOf(status, name) {
  return (status.engines || []).find((e) => e.engine === name) || {};
}

export function renderStatus(view, status) {
  const entry = statusOf(status, view.name);
  const sample = entry.sample || {};
  const risk = entry.risk || {};
  const regime = risk.regime || sample.regime || "";
  const badge = view.find('[data-field="regime"]');
  badge.textContent = regime || "–";
  badge.className = `regime badge ${REGIMES.includes(regime) ? regime : ""}`;
  const set = (field, value) => {
    view.find(`[data-field="${field}"]`).textContent = value;
  };
  set("strategy", text(entry.strategy));
  set("position", entry.position !== undefined ? `${text(entry.position)} ${view.meta.base}` : "–");
  const netDelta = sample.net_delta ?? (entry.hedge ? entry.hedge.net_delta : null);
  set("net_delta", netDelta !== null && netDelta !== undefined ? `${text(netDelta)} ${view.meta.base}` : "–");
  set("fills", text(entry.fills));
  set("pnl", sample.pnl ? `${fmtMoney(sample.pnl.total)} ${view.meta.quote}` : "–");
  const line = (status.instruments || []).find(
    (l) => l.engine === view.name && l.instrument === view.meta.instrument,
  );
  let book = "–";
  if (line && !line.valid) book = `INVALID (${line.reason || line.state})`;
  else if (line && line.tradeable === false) book = `valid, not tradeable (${line.reason || "falling behind"})`;
  else if (line) book = "valid";
  set("book", book);
  const note = [];
  if (entry.quotes && entry.quotes.note) note.push(entry.quotes.note);
  if (typeof entry.warmup_left_s === "number") note.push(`warm-up ${Math.ceil(entry.warmup_left_s)} s left`);
  set("note", note.join(" · "));
  const split = view.find('[data-field="pnl-split"]');
  split.replaceChildren();
  for (const [key, value] of Object.entries(sample.pnl || {})) {
    const item = el("span", "", `${key.replace("_", " ")} `);
    item.append(el("b", "", fmtMoney(value)));
    split.append(item);
  }
  const limits = risk.limits || {};
  const adjustments = risk.adjustments || {};
  kvList(view.find('[data-field="risk"]'), [
    ["regime", regime.toUpperCase()],
    ["since", nsTime(risk.since_ts)],
    ["reasons", (risk.reasons || []).join("; ")],
    ["active triggers", Object.keys(risk.active_triggers || {}).join(", ")],
    ["quotes pulled", risk.pull_all],
    ["spread ×", adjustments.spread_mult],
    ["size ×", adjustments.size_mult],
    ["position notional", limits.position_notional],
    ["open orders", limits.open_orders],
    ["daily loss", limits.daily_loss],
    ["drawdown", limits.drawdown],
  ]);
  // markouts (issue 16) and obligations (issue 17): shown only when /status has them
  renderMarkouts(view, entry.markouts);
  renderObligation(view, entry.obligation, status.obligations || []);
}

function pct(value, digits = 2) {
  const n = Number(value);
  return value === null || value === undefined || !Number.isFinite(n) ? "–" : `${n.toFixed(digits)} %`;
}

function amount(value) {
  const n = Number(value);
  return value === null || value === undefined || !Number.isFinite(n)
    ? "–"
    : n.toLocaleString("en-US", { maximumFractionDigits: 2 });
}

// Obligations compliance on this engine's venue (/status: `obligation` per engine, `obligations`
// summary); an unknown shape is shown key by key.
function renderObligation(view, obligation, summaries) {
  const summary = summaries.find((o) => o.instrument === view.meta.instrument);
  const panel = view.find('[data-panel="obligations"]');
  panel.hidden = !(obligation || summary);
  if (panel.hidden) return;
  const box = view.find('[data-field="obligations"]');
  const terms = obligation && obligation.terms;
  const now = obligation && obligation.now;
  const uptime = obligation && obligation.uptime;
  if (!terms || !now || !uptime) {
    kvList(box, [...flatten(summary || {}), ...flatten(obligation || {}, "now")]);
    return;
  }
  const quote = terms.quote || view.meta.quote;
  const met = (flag) => (flag ? "MET" : "NOT MET");
  const rows = [
    ["venue", terms.venue],
    ["now", met(now.met) + (now.context ? ` (${now.context})` : "")],
    ["spread", `${pct(now.spread_pct, 4)} (max ${terms.max_spread_pct} %)`],
    ["bid depth", `${amount(now.bid_depth)} / ${amount(terms.bid_depth)} ${quote} within ±${terms.band_pct} %`],
    ["ask depth", `${amount(now.ask_depth)} / ${amount(terms.ask_depth)} ${quote}`],
    ["uptime today", `${pct(100 * uptime.day)} (min ${pct(100 * uptime.min, 0)})`],
    ["uptime deal", `${pct(100 * uptime.deal)} over ${amount(uptime.deal_measured_s)} s`],
    ["deal so far", summary ? met(summary.met) : "–"],
    ["breaches", String(obligation.breaches ?? "–")],
  ];
  if (obligation.open_breach) rows.push(["open breach", text(obligation.open_breach.cause)]);
  const last = (obligation.recent_breaches || []).at(-1);
  if (last) {
    rows.push(["last breach", `${nsTime(last.start)}, ${amount(last.duration_s)} s: ${last.cause}`]);
  }
  for (const alert of obligation.alerts || []) rows.push(["alert", typeof alert === "string" ? alert : alert.text]);
  kvList(box, rows);
  box.dataset.met = now.met ? "yes" : "no";
}

function bps(value) {
  const n = Number(value);
  return value === null || value === undefined || !Number.isFinite(n) ? "–" : n.toFixed(2);
}

// Markouts of our fills (/status `markouts`: horizon -> side -> n, mean_bps, ewma_bps, total; and
// `pending`): negative = the price moved against us after the fill (adverse selection).
function renderMarkouts(view, markouts) {
  const panel = view.find('[data-panel="markouts"]');
  panel.hidden = !markouts;
  if (!markouts) return;
  const body = view.find('[data-field="markouts"] tbody');
  body.replaceChildren();
  const horizons = Object.entries(markouts).filter(([, v]) => v && typeof v === "object" && !Array.isArray(v));
  for (const [horizon, sides] of horizons) {
    const row = el("tr");
    row.append(el("td", "", horizon));
    for (const side of ["buy", "sell", "all"]) {
      const m = sides[side];
      if (!m || typeof m !== "object") {
        row.append(el("td", "", text(m)));
        continue;
      }
      const cell = el("td", Number(m.mean_bps) < 0 ? "adverse" : "", `${bps(m.mean_bps)} (${text(m.n, "0")})`);
      if (m.ewma_bps !== undefined) cell.title = `EWMA ${bps(m.ewma_bps)} bps; total ${text(m.total)} ${view.meta.quote}`;
      row.append(cell);
    }
    body.append(row);
  }
  const note = typeof markouts.pending === "number" ? `${markouts.pending} fills still ageing` : "";
  view.find('[data-field="markouts-note"]').textContent = note;
}
