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
      minBarSpacing: 0.05, // minutes of 4 Hz points fit the width
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

// Decimal places of a step given as text ("0.01" -> 2, "1E-8" -> 8).
function decimals(step) {
  const n = Number(step);
  if (!(n > 0)) return 2;
  let d = 0;
  while (d < 10 && Math.abs(Math.round(n * 10 ** d) - n * 10 ** d) > 1e-9 * 10 ** d) d += 1;
  return d;
}

// The charts of one engine section (`node`, cloned from the page's template).
export function createCharts(node, meta) {
  const priceBox = node.querySelector('[data-chart="price"]');
  const inventoryBox = node.querySelector('[data-chart="inventory"]');
  const pnlBox = node.querySelector('[data-chart="pnl"]');
  const price = LWC.createChart(priceBox, chartOptions(priceBox, 360));
  const inventory = LWC.createChart(inventoryBox, chartOptions(inventoryBox, 200));
  const pnl = LWC.createChart(pnlBox, chartOptions(pnlBox, 200));
  const steps = LWC.LineType.WithSteps;
  const tick = decimals(meta.tick_size);
  price.applyOptions({ localization: { priceFormatter: (v) => v.toFixed(tick) } });
  const sizeDigits = Math.min(decimals(meta.lot_size), 6);
  inventory.applyOptions({ localization: { priceFormatter: (v) => v.toFixed(sizeDigits) } });
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
    gapLabels: {},
    times: [],
    lastT: 0,
  };
}

// Lightweight Charts draws lines across whitespace, so a missing value (no quote resting, no
// hedge) is a point in transparent colour at a neighbouring value: the line breaks there.
const GAP = "rgba(0, 0, 0, 0)";

function values(point, col) {
  const out = {};
  for (const [key, column] of Object.entries(SERIES_COLUMNS)) {
    const value = point[col[column]];
    out[key] = value === null || value === undefined ? null : value;
  }
  return out;
}

const QUOTE_TITLES = { ourBid: "our bid", ourAsk: "our ask" };

function gapLabel(view, key, gap) {
  const title = QUOTE_TITLES[key];
  if (title === undefined || view.gapLabels[key] === gap) return;
  view.gapLabels[key] = gap; // no "our bid" label on the price axis while we have no bid
  view.series[key].applyOptions({ lastValueVisible: !gap, title: gap ? "" : title });
}

// `windowPoints`: how many points the charts show (the rest is a scroll or zoom away).
export function setHistory(view, points, col, windowPoints) {
  view.times = [];
  for (const key of Object.keys(view.data)) view.data[key] = [];
  for (const point of points) {
    const time = point[col.t];
    if (time <= (view.times.at(-1) ?? 0)) continue;
    view.times.push(time);
    const row = values(point, col);
    for (const key of Object.keys(row)) view.data[key].push(row[key] === null ? { time } : { time, value: row[key] });
  }
  for (const [key, items] of Object.entries(view.data)) {
    // a gap takes the value after it (or, at the end, the one before): no connector line
    let next = null;
    for (let i = items.length - 1; i >= 0; i -= 1) {
      if ("value" in items[i] && items[i].color === undefined) next = items[i].value;
      else if (next !== null) items[i] = { time: items[i].time, value: next, color: GAP };
    }
    let last = null;
    for (let i = 0; i < items.length; i += 1) {
      if ("value" in items[i]) last = items[i].value;
      else if (last !== null) items[i] = { time: items[i].time, value: last, color: GAP };
    }
    view.series[key].setData(items);
    gapLabel(view, key, items.length > 0 && items.at(-1).color === GAP);
  }
  view.lastT = view.times.at(-1) ?? 0;
  const count = view.times.length;
  for (const chart of view.charts) {
    chart.timeScale().setVisibleLogicalRange({ from: count - windowPoints, to: count + 4 });
  }
}

// Returns false for a point not newer than the last one (charts need increasing times).
export function addPoint(view, point, col, maxPoints) {
  const time = point[col.t];
  if (!(time > view.lastT)) return false;
  view.times.push(time);
  const row = values(point, col);
  for (const [key, series] of Object.entries(view.series)) {
    const items = view.data[key];
    const previous = items.at(-1);
    const value = row[key];
    let item;
    if (value === null) {
      item = previous && "value" in previous ? { time, value: previous.value, color: GAP } : { time };
    } else {
      if (previous && previous.color === GAP && previous.value !== value) {
        items[items.length - 1] = { time: previous.time, value, color: GAP };
        series.update(items.at(-1)); // the gap ends at the new value: no connector line
      }
      item = { time, value };
    }
    items.push(item);
    series.update(item);
    gapLabel(view, key, value === null);
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
