/* mmbot live dashboard. Plain JS (no framework, no build step); charts by TradingView
 * Lightweight Charts (bundled, global `LightweightCharts`).
 *
 * Data: server-sent events from `stream` (relative to this page): one `snapshot` (history of
 * every engine), then `frame`s (newest point, new fills and regime entries, the book ladder and
 * the /status document, whose fields are shown as the server formats them).
 * Control: the token is kept in sessionStorage (this tab) unless "remember on this device" is
 * ticked (localStorage); it is only ever sent as `Authorization: Bearer`, never in a URL.
 */
"use strict";

(() => {
  const LWC = window.LightweightCharts;
  const TOKEN_KEY = "mmbot.controlToken";
  const MAX_FILL_ROWS = 30;
  const MAX_MARKERS = 500;
  const MAX_TRANSITIONS = 50;
  const REGIMES = ["calm", "ranging", "trending", "crisis", "halted"];
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();

  const ui = {
    conn: document.getElementById("conn"),
    clock: document.getElementById("clock"),
    engines: document.getElementById("engines"),
    empty: document.getElementById("empty"),
    template: document.getElementById("engine-template"),
    unlockForm: document.getElementById("unlock-form"),
    token: document.getElementById("token"),
    remember: document.getElementById("remember"),
    controls: document.getElementById("controls"),
    kill: document.getElementById("kill"),
    resume: document.getElementById("resume"),
    profile: document.getElementById("profile"),
    profiles: document.getElementById("profiles"),
    switchBtn: document.getElementById("switch"),
    lock: document.getElementById("lock"),
    note: document.getElementById("control-note"),
  };

  const state = {
    fields: [],
    col: {},
    maxPoints: 3600,
    engines: new Map(),
    source: null,
    retryMs: 1000,
    token: null,
    lastFrameAt: 0,
  };

  // What the browser tests (and a curious user, in the console) can read.
  const debug = {
    snapshots: 0,
    frames: 0,
    errors: [],
    engines: {},
    applyFrame(frame) {
      onFrame(frame);
    },
    seriesLength(name) {
      const view = state.engines.get(name);
      return view ? view.series.bestBid.data().length : 0;
    },
  };
  window.mmbotDashboard = debug;

  // ---- formatting ---------------------------------------------------------------------

  function text(value, fallback = "–") {
    if (value === null || value === undefined || value === "") return fallback;
    if (typeof value === "number") return fmtNumber(value);
    if (typeof value === "boolean") return value ? "yes" : "no";
    return String(value);
  }

  function fmtNumber(value, digits) {
    if (!Number.isFinite(value)) return String(value);
    if (digits !== undefined) return value.toFixed(digits);
    if (Number.isInteger(value)) return String(value);
    const abs = Math.abs(value);
    return value.toFixed(abs >= 1000 ? 2 : abs >= 1 ? 4 : 6).replace(/\.?0+$/, "");
  }

  // Sizes come at the lot precision (e.g. 0.00030000 BTC): shown without trailing zeros.
  function size(value) {
    if (typeof value !== "string" || !value.includes(".")) return value ?? "";
    return value.replace(/0+$/, "").replace(/\.$/, "");
  }

  function fmtMoney(value) {
    if (typeof value === "string") return value;
    if (typeof value !== "number") return "–";
    return value.toFixed(Math.abs(value) < 1 ? 4 : 2);
  }

  function timeOf(seconds) {
    return new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });
  }

  function nsTime(ns) {
    return typeof ns === "number" && ns > 0 ? timeOf(ns / 1e9) : "–";
  }

  function el(tag, className, content) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (content !== undefined) node.textContent = content;
    return node;
  }

  function kvList(container, rows) {
    container.replaceChildren();
    for (const [key, value] of rows) {
      container.append(el("span", "k", key), el("span", "v", text(value)));
    }
  }

  // Nested /status objects (markouts, obligations) shown as dotted keys, whatever their shape.
  function flatten(value, prefix = "", out = [], depth = 0) {
    if (value && typeof value === "object" && !Array.isArray(value) && depth < 4) {
      for (const [key, item] of Object.entries(value)) {
        flatten(item, prefix ? `${prefix}.${key}` : key, out, depth + 1);
      }
    } else if (Array.isArray(value)) {
      if (value.length && typeof value[0] === "object") out.push([prefix, `${value.length} entries`]);
      else out.push([prefix, value.join(", ") || "–"]);
    } else {
      out.push([prefix, value]);
    }
    return out;
  }

  // ---- charts -------------------------------------------------------------------------

  function chartOptions(container, height) {
    return {
      width: container.clientWidth || 600,
      height,
      layout: {
        background: { type: "solid", color: color("--panel") },
        textColor: color("--dim"),
        attributionLogo: false, // the footer carries the attribution and link the licence asks for
      },
      grid: { vertLines: { color: color("--line") }, horzLines: { color: color("--line") } },
      rightPriceScale: { borderColor: color("--line") },
      timeScale: {
        borderColor: color("--line"),
        timeVisible: true,
        secondsVisible: true,
        rightOffset: 4,
        tickMarkFormatter: (t) => timeOf(t),
      },
      localization: { timeFormatter: (t) => timeOf(t) },
      crosshair: { mode: LWC.CrosshairMode.Normal },
    };
  }

  function line(chart, options) {
    return chart.addSeries(LWC.LineSeries, {
      lineWidth: 1,
      priceLineVisible: false,
      lastValueVisible: true,
      ...options,
    });
  }

  function buildView(name, meta) {
    const node = ui.template.content.firstElementChild.cloneNode(true);
    node.dataset.engine = name;
    node.querySelector(".name").textContent = name;
    node.querySelector(".instrument").textContent = meta.instrument;
    node.querySelector(".unit-base").textContent = `(${meta.base})`;
    node.querySelector(".unit-quote").textContent = `(${meta.quote})`;
    ui.empty.hidden = true;
    ui.engines.append(node);
    const find = (selector) => node.querySelector(selector);
    const priceBox = find('[data-chart="price"]');
    const inventoryBox = find('[data-chart="inventory"]');
    const pnlBox = find('[data-chart="pnl"]');
    const price = LWC.createChart(priceBox, chartOptions(priceBox, 360));
    const inventory = LWC.createChart(inventoryBox, chartOptions(inventoryBox, 200));
    const pnl = LWC.createChart(pnlBox, chartOptions(pnlBox, 200));
    const steps = LWC.LineType.WithSteps;
    const series = {
      bestBid: line(price, { color: color("--bid"), title: "bid" }),
      bestAsk: line(price, { color: color("--ask"), title: "ask" }),
      ourBid: line(price, { color: color("--ours-bid"), lineWidth: 2, lineType: steps, title: "our bid" }),
      ourAsk: line(price, { color: color("--ours-ask"), lineWidth: 2, lineType: steps, title: "our ask" }),
      inventory: line(inventory, { color: color("--accent"), lineWidth: 2, lineType: steps, title: "inventory" }),
      netDelta: line(inventory, { color: "#ce93d8", lineType: steps, title: "net delta" }),
      pnl_spread_capture: line(pnl, { color: "#66bb6a", title: "spread" }),
      pnl_rebates: line(pnl, { color: "#26c6da", title: "rebates" }),
      pnl_fees: line(pnl, { color: "#ef5350", title: "fees" }),
      pnl_inventory: line(pnl, { color: "#ffa726", title: "inventory" }),
      pnl_hedge: line(pnl, { color: "#ab47bc", title: "hedge" }),
      pnl_funding: line(pnl, { color: "#8d6e63", title: "funding" }),
      pnl_total: line(pnl, { color: "#eceff1", lineWidth: 2, title: "total" }),
    };
    const markers = LWC.createSeriesMarkers(series.bestBid, []);
    const charts = [price, inventory, pnl];
    const resize = new ResizeObserver(() => {
      price.applyOptions({ width: priceBox.clientWidth });
      inventory.applyOptions({ width: inventoryBox.clientWidth });
      pnl.applyOptions({ width: pnlBox.clientWidth });
    });
    [priceBox, inventoryBox, pnlBox].forEach((box) => resize.observe(box));
    const view = {
      name,
      meta,
      node,
      find,
      charts,
      series,
      markers,
      data: Object.fromEntries(Object.keys(series).map((key) => [key, []])),
      times: [],
      fills: [],
      regimes: [],
      lastT: 0,
    };
    debug.engines[name] = { points: 0, lastT: 0, fills: 0, ladderOurs: 0 };
    return view;
  }

  const SERIES_COLUMNS = {
    bestBid: "best_bid",
    bestAsk: "best_ask",
    ourBid: "our_bid",
    ourAsk: "our_ask",
    inventory: "inventory",
    netDelta: "net_delta",
    pnl_spread_capture: "pnl_spread_capture",
    pnl_rebates: "pnl_rebates",
    pnl_fees: "pnl_fees",
    pnl_inventory: "pnl_inventory",
    pnl_hedge: "pnl_hedge",
    pnl_funding: "pnl_funding",
    pnl_total: "pnl_total",
  };

  function pointItems(point) {
    const time = point[state.col.t];
    const items = {};
    for (const [key, column] of Object.entries(SERIES_COLUMNS)) {
      const value = point[state.col[column]];
      items[key] = value === null || value === undefined ? { time } : { time, value };
    }
    return items;
  }

  function setHistory(view, points) {
    view.times = [];
    for (const key of Object.keys(view.data)) view.data[key] = [];
    for (const point of points) {
      const time = point[state.col.t];
      if (time <= (view.times.at(-1) ?? 0)) continue;
      view.times.push(time);
      const items = pointItems(point);
      for (const key of Object.keys(items)) view.data[key].push(items[key]);
    }
    for (const [key, series] of Object.entries(view.series)) series.setData(view.data[key]);
    view.lastT = view.times.at(-1) ?? 0;
    for (const chart of view.charts) chart.timeScale().scrollToRealTime();
    debug.engines[view.name].points = view.times.length;
    debug.engines[view.name].lastT = view.lastT;
  }

  function addPoint(view, point) {
    const time = point[state.col.t];
    if (!(time > view.lastT)) return;
    view.times.push(time);
    const items = pointItems(point);
    for (const [key, series] of Object.entries(view.series)) {
      view.data[key].push(items[key]);
      series.update(items[key]);
    }
    view.lastT = time;
    if (view.times.length > state.maxPoints * 1.1) {
      const drop = view.times.length - state.maxPoints;
      view.times = view.times.slice(drop);
      for (const [key, series] of Object.entries(view.series)) {
        view.data[key] = view.data[key].slice(drop);
        series.setData(view.data[key]);
      }
    }
    debug.engines[view.name].points = view.times.length;
    debug.engines[view.name].lastT = time;
  }

  // A fill is marked on the first chart point at or after it (markers need a chart time).
  function markerTime(view, t) {
    const times = view.times;
    let lo = 0;
    let hi = times.length - 1;
    if (hi < 0) return null;
    if (t >= times[hi]) return times[hi];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    return times[lo];
  }

  function renderMarkers(view) {
    const first = view.times[0] ?? Infinity;
    const markers = [];
    for (const fill of view.fills.slice(-MAX_MARKERS)) {
      const time = markerTime(view, fill.t);
      if (time === null || fill.t < first) continue;
      const buy = fill.side === "buy";
      markers.push({
        time,
        position: "atPriceMiddle",
        price: Number(fill.price),
        shape: buy ? "arrowUp" : "arrowDown",
        color: buy ? color("--bid") : color("--ask"),
        size: 1,
      });
    }
    markers.sort((a, b) => a.time - b.time);
    view.markers.setMarkers(markers);
  }

  // ---- panels -------------------------------------------------------------------------

  function renderFills(view) {
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
    debug.engines[view.name].fills = view.fills.length;
  }

  function renderLadder(view, ladder) {
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
    if (!ladder.valid) {
      const row = el("tr", "ladder-gap");
      const cell = el("td", "", "book not valid (resyncing)");
      cell.colSpan = 4;
      row.append(cell);
      body.prepend(row);
    }
    debug.engines[view.name].ladderOurs = ours;
  }

  function renderTimeline(view, nowT) {
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

  function renderStatus(view, status) {
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
    set("book", line ? (line.valid ? "valid" : `INVALID (${line.reason || line.state})`) : "–");
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
    const markouts = entry.markouts;
    const markoutPanel = view.find('[data-panel="markouts"]');
    markoutPanel.hidden = !markouts;
    if (markouts) kvList(view.find('[data-field="markouts"]'), flatten(markouts));
    const obligations = (status.obligations || []).filter(
      (o) => o.engine === view.name || o.instrument === view.meta.instrument,
    );
    const obligationPanel = view.find('[data-panel="obligations"]');
    obligationPanel.hidden = !(entry.obligation || obligations.length);
    if (!obligationPanel.hidden) {
      const rows = [];
      for (const o of obligations) rows.push(...flatten(o, o.venue || o.instrument || ""));
      if (entry.obligation) rows.push(...flatten(entry.obligation, "now"));
      kvList(view.find('[data-field="obligations"]'), rows);
    }
  }

  // ---- stream -------------------------------------------------------------------------

  function onSnapshot(snapshot) {
    state.fields = snapshot.fields;
    state.col = Object.fromEntries(snapshot.fields.map((name, index) => [name, index]));
    state.maxPoints = snapshot.server.history_points;
    for (const [name, data] of Object.entries(snapshot.engines)) {
      let view = state.engines.get(name);
      if (!view) {
        view = buildView(name, data.meta);
        state.engines.set(name, view);
      }
      setHistory(view, data.points);
      view.fills = data.fills;
      view.regimes = data.regimes;
      renderMarkers(view);
      renderFills(view);
      renderTimeline(view, snapshot.t);
      if (snapshot.status) renderStatus(view, snapshot.status);
    }
    debug.snapshots += 1;
  }

  function onFrame(frame) {
    for (const [name, data] of Object.entries(frame.engines)) {
      const view = state.engines.get(name);
      if (!view) continue;
      if (data.point) addPoint(view, data.point);
      if (data.fills.length) {
        view.fills = view.fills.concat(data.fills).slice(-MAX_MARKERS);
        renderFills(view);
      }
      if (data.fills.length || data.point) renderMarkers(view);
      if (data.regimes.length) view.regimes = view.regimes.concat(data.regimes).slice(-MAX_MARKERS);
      renderTimeline(view, frame.t);
      renderLadder(view, data.ladder);
      if (frame.status) renderStatus(view, frame.status);
    }
    ui.clock.textContent = timeOf(frame.t);
    state.lastFrameAt = Date.now();
    debug.frames += 1;
  }

  function guarded(handler) {
    return (event) => {
      try {
        handler(JSON.parse(event.data));
      } catch (error) {
        debug.errors.push(String(error));
        console.error("dashboard update failed", error);
      }
    };
  }

  function setConnection(kind, label) {
    ui.conn.dataset.state = kind;
    ui.conn.textContent = label;
  }

  function connect() {
    const source = new EventSource("stream");
    state.source = source;
    source.addEventListener("snapshot", guarded(onSnapshot));
    source.addEventListener("frame", guarded(onFrame));
    source.addEventListener("open", () => {
      state.retryMs = 1000;
      setConnection("live", "live");
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        // refused (e.g. too many clients) or the bot stopped: retry with backoff
        source.close();
        setConnection("refused", `disconnected; retrying in ${Math.round(state.retryMs / 1000)} s`);
        setTimeout(connect, state.retryMs);
        state.retryMs = Math.min(state.retryMs * 2, 30000);
      } else {
        setConnection("reconnecting", "reconnecting…");
      }
    });
  }

  setInterval(() => {
    if (state.lastFrameAt && Date.now() - state.lastFrameAt > 5000 && ui.conn.dataset.state === "live") {
      setConnection("reconnecting", "no updates for 5 s");
    }
  }, 1000);

  // ---- control ------------------------------------------------------------------------

  function storedToken() {
    return sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY);
  }

  function forgetToken() {
    sessionStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(TOKEN_KEY);
    state.token = null;
  }

  function say(message, kind = "") {
    ui.note.textContent = message;
    ui.note.className = `note ${kind}`;
  }

  function showControls(unlocked) {
    ui.controls.hidden = !unlocked;
    ui.unlockForm.hidden = unlocked;
  }

  async function session(token) {
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    const response = await fetch("session", { headers, cache: "no-store" });
    if (response.status === 401) return null;
    if (!response.ok) throw new Error(`session: HTTP ${response.status}`);
    return response.json();
  }

  async function unlock(token, remember) {
    const info = await session(token);
    if (info === null || !info.authorized) {
      forgetToken();
      showControls(false);
      say("wrong token: controls stay locked", "error");
      return false;
    }
    state.token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    if (remember) localStorage.setItem(TOKEN_KEY, token);
    ui.profiles.replaceChildren(...info.profiles.map((name) => Object.assign(el("option"), { value: name })));
    showControls(true);
    say("controls unlocked", "ok");
    return true;
  }

  async function control(name, body) {
    if (!state.token) return;
    try {
      const response = await fetch(`../control/${name}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${state.token}`, "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const result = await response.json().catch(() => ({}));
      if (response.status === 401) {
        forgetToken();
        showControls(false);
        say("token no longer accepted: locked", "error");
      } else if (!response.ok) {
        say(`${name} refused: ${result.error || response.status}`, "error");
      } else {
        say(`${name}: ${JSON.stringify(result)}`, "ok");
      }
    } catch (error) {
      say(`${name} failed: ${error}`, "error");
    }
  }

  let killArmed = null;
  ui.kill.addEventListener("click", () => {
    if (!killArmed) {
      ui.kill.textContent = "Confirm kill";
      ui.kill.classList.add("armed");
      killArmed = setTimeout(() => {
        killArmed = null;
        ui.kill.textContent = "Kill";
        ui.kill.classList.remove("armed");
      }, 4000);
      return;
    }
    clearTimeout(killArmed);
    killArmed = null;
    ui.kill.textContent = "Kill";
    ui.kill.classList.remove("armed");
    control("kill", { reason: "dashboard kill" });
  });
  ui.resume.addEventListener("click", () => control("resume", { reason: "dashboard resume" }));
  ui.switchBtn.addEventListener("click", () => {
    const name = ui.profile.value.trim();
    if (!name) {
      say("type a strategy profile name", "error");
      return;
    }
    control("strategy", { name });
  });
  ui.lock.addEventListener("click", () => {
    forgetToken();
    showControls(false);
    say("controls locked", "");
  });
  ui.unlockForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = ui.token.value.trim();
    ui.token.value = "";
    if (token) unlock(token, ui.remember.checked).catch((error) => say(String(error), "error"));
  });

  async function start() {
    connect();
    try {
      const info = await session(null);
      if (!info.control) {
        say("read-only: control is off (no MMBOT_HTTP__TOKEN configured)");
        return;
      }
      ui.unlockForm.hidden = false;
      say("read-only: enter the control token to kill, resume or switch strategy");
      const token = storedToken();
      if (token) await unlock(token, localStorage.getItem(TOKEN_KEY) !== null);
    } catch (error) {
      say(`cannot reach the bot: ${error}`, "error");
    }
  }

  start();
})();
