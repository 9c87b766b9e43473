// The engine's charts (TradingView Lightweight Charts, global `LightweightCharts`): price with
// our quotes and fills, inventory and net delta, PnL split. History is kept in arrays bounded
// by the server's history size.

import { color, timeOf } from "./format.js";

const LWC = window.LightweightCharts;
const MAX_MARKERS = 500;

// series name -> history point column (the snapshot's `fields`)
export const SERIES_COLUMNS = {
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

// The charts of one engine section (`node`, cloned from the page's template).
export function createCharts(node) {
  const priceBox = node.querySelector('[data-chart="price"]');
  const inventoryBox = node.querySelector('[data-chart="inventory"]');
  const pnlBox = node.querySelector('[data-chart="pnl"]');
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
  const boxes = [
    [price, priceBox],
    [inventory, inventoryBox],
    [pnl, pnlBox],
  ];
  const resize = new ResizeObserver(() => {
    for (const [chart, box] of boxes) chart.applyOptions({ width: box.clientWidth });
  });
  for (const [, box] of boxes) resize.observe(box);
  return {
    charts: [price, inventory, pnl],
    series,
    markers: LWC.createSeriesMarkers(series.bestBid, []),
    data: Object.fromEntries(Object.keys(series).map((key) => [key, []])),
    times: [],
    lastT: 0,
  };
}

function pointItems(point, col) {
  const time = point[col.t];
  const items = {};
  for (const [key, column] of Object.entries(SERIES_COLUMNS)) {
    const value = point[col[column]];
    items[key] = value === null || value === undefined ? { time } : { time, value };
  }
  return items;
}

export function setHistory(view, points, col) {
  view.times = [];
  for (const key of Object.keys(view.data)) view.data[key] = [];
  for (const point of points) {
    const time = point[col.t];
    if (time <= (view.times.at(-1) ?? 0)) continue;
    view.times.push(time);
    const items = pointItems(point, col);
    for (const key of Object.keys(items)) view.data[key].push(items[key]);
  }
  for (const [key, series] of Object.entries(view.series)) series.setData(view.data[key]);
  view.lastT = view.times.at(-1) ?? 0;
  for (const chart of view.charts) chart.timeScale().scrollToRealTime();
}

// Returns false for a point not newer than the last one (charts need increasing times).
export function addPoint(view, point, col, maxPoints) {
  const time = point[col.t];
  if (!(time > view.lastT)) return false;
  view.times.push(time);
  const items = pointItems(point, col);
  for (const [key, series] of Object.entries(view.series)) {
    view.data[key].push(items[key]);
    series.update(items[key]);
  }
  view.lastT = time;
  if (view.times.length > maxPoints * 1.1) {
    const drop = view.times.length - maxPoints;
    view.times = view.times.slice(drop);
    for (const [key, series] of Object.entries(view.series)) {
      view.data[key] = view.data[key].slice(drop);
      series.setData(view.data[key]);
    }
  }
  return true;
}

// A fill is marked on the first chart point at or after it (markers need a chart time).
function markerTime(times, t) {
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

export function renderMarkers(view) {
  const first = view.times[0] ?? Infinity;
  const markers = [];
  for (const fill of view.fills.slice(-MAX_MARKERS)) {
    const time = markerTime(view.times, fill.t);
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
