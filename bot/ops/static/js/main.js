// mmbot live dashboard. Plain ES modules (no framework, no build step); charts by TradingView
// Lightweight Charts (bundled, global `LightweightCharts`).
//
// Data: server-sent events from `stream` (relative to this page): one `snapshot` (history of
// every engine and the latest /status), then `frame`s (newest point, new fills and regime
// entries, the book ladder, and /status about once a second, shown as the server formats it).

import { addPoint, createCharts, renderMarkers, setHistory } from "./charts.js";
import { setupControl } from "./control.js";
import { timeOf } from "./format.js";
import { renderFills, renderLadder, renderStatus, renderTimeline } from "./panels.js";

const MAX_FILLS = 500;
const ui = {
  conn: document.getElementById("conn"),
  clock: document.getElementById("clock"),
  engines: document.getElementById("engines"),
  empty: document.getElementById("empty"),
  template: document.getElementById("engine-template"),
  nav: document.getElementById("engine-nav"),
};
const WINDOW_S = 300; // the charts open on the last 5 minutes
const state = { col: {}, maxPoints: 3600, windowPoints: 1200, engines: new Map(), retryMs: 1000, lastFrameAt: 0 };

// What the browser tests (and a curious user, in the console) can read.
const debug = {
  snapshots: 0,
  frames: 0,
  errors: [],
  engines: {},
  // points a chart series holds (`key`: a SERIES_COLUMNS name of charts.js, e.g. "pnl_total")
  seriesLength(name, key = "bestBid") {
    const view = state.engines.get(name);
    return view ? view.series[key].data().length : 0;
  },
  // fill markers drawn on the price chart
  markerCount(name) {
    const view = state.engines.get(name);
    return view ? view.markers.markers().length : 0;
  },
};
window.mmbotDashboard = debug;

function buildView(name, meta) {
  const node = ui.template.content.firstElementChild.cloneNode(true);
  node.dataset.engine = name;
  node.id = `engine-${name}`;
  const link = document.createElement("a"); // a jump link per engine (config/abc.toml runs three)
  link.href = `#${node.id}`;
  link.textContent = name;
  ui.nav.append(link);
  node.querySelector(".name").textContent = name;
  node.querySelector(".instrument").textContent = meta.instrument;
  node.querySelector(".unit-base").textContent = `(${meta.base})`;
  node.querySelector(".unit-quote").textContent = `(${meta.quote})`;
  ui.empty.hidden = true;
  ui.engines.append(node);
  debug.engines[name] = { points: 0, lastT: 0, fills: 0, ladderOurs: 0 };
  return {
    name,
    meta,
    node,
    find: (selector) => node.querySelector(selector),
    fills: [],
    regimes: [],
    ...createCharts(node, meta),
  };
}

function noteProgress(view) {
  const info = debug.engines[view.name];
  info.points = view.times.length;
  info.lastT = view.lastT;
  info.fills = view.fills.length;
}

function onSnapshot(snapshot) {
  state.col = Object.fromEntries(snapshot.fields.map((name, index) => [name, index]));
  state.maxPoints = snapshot.server.history_points;
  state.windowPoints = Math.min(state.maxPoints, Math.round(WINDOW_S * snapshot.server.max_rate_hz));
  for (const [name, data] of Object.entries(snapshot.engines)) {
    let view = state.engines.get(name);
    if (!view) {
      view = buildView(name, data.meta);
      state.engines.set(name, view);
    }
    setHistory(view, data.points, state.col, state.windowPoints);
    view.fills = data.fills;
    view.regimes = data.regimes;
    renderMarkers(view);
    renderFills(view);
    renderTimeline(view, snapshot.t);
    if (snapshot.status) renderStatus(view, snapshot.status);
    noteProgress(view);
  }
  debug.snapshots += 1;
}

function onFrame(frame) {
  for (const [name, data] of Object.entries(frame.engines)) {
    const view = state.engines.get(name);
    if (!view) continue;
    const moved = data.point ? addPoint(view, data.point, state.col, state.maxPoints) : false;
    if (data.fills.length) {
      view.fills = view.fills.concat(data.fills).slice(-MAX_FILLS);
      renderFills(view);
    }
    if (data.fills.length || moved) renderMarkers(view);
    if (data.regimes.length) view.regimes = view.regimes.concat(data.regimes).slice(-MAX_FILLS);
    renderTimeline(view, frame.t);
    debug.engines[name].ladderOurs = renderLadder(view, data.ladder);
    if (frame.status) renderStatus(view, frame.status);
    noteProgress(view);
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

connect();
setupControl()();
