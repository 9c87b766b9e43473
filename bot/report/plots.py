"""The report's figures, drawn with matplotlib's Agg backend (no display) as PNG bytes.

One function per figure; each takes a loaded run (or several, for the comparison) and
returns the PNG. Times are UTC on the x axis. Regime colours are fixed so that runs
compare at a glance.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from bot.report.load import PNL_COMPONENTS, EngineRun
from bot.report.metrics import regime_spans

REGIME_COLOURS = {
    "calm": "#cfe8cf",
    "ranging": "#fff2b3",
    "trending": "#cfe0f5",
    "crisis": "#f8c9c4",
    "halted": "#c8c8c8",
}
REGIME_MARKERS = {
    "calm": "#2f9e44",
    "ranging": "#f08c00",
    "trending": "#1971c2",
    "crisis": "#e03131",
    "halted": "#495057",
}
PNL_COLOURS = {
    "spread_capture": "#2b8a3e",
    "rebates": "#74c0fc",
    "fees": "#e8590c",
    "inventory": "#845ef7",
    "hedge": "#1c7ed6",
    "funding": "#f59f00",
}
DPI = 110


_EPOCH = float(mdates.date2num(datetime(1970, 1, 1, tzinfo=UTC)))  # type: ignore[no-untyped-call]


def _dates(ts: np.ndarray) -> np.ndarray:
    """ns since the epoch -> matplotlib date numbers (days)."""
    return np.asarray(ts, dtype=float) / 86_400e9 + _EPOCH


def _date(ts: int) -> float:
    return ts / 86_400e9 + _EPOCH


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def _time_axis(axis: Axes) -> None:
    locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))  # type: ignore[no-untyped-call]


def _shade_regimes(axis: Axes, run: EngineRun) -> list[Patch]:
    seen: dict[str, Patch] = {}
    for start, end, regime in regime_spans(run):
        colour = REGIME_COLOURS.get(regime, "#eeeeee")
        axis.axvspan(_date(start), _date(end), color=colour, alpha=0.6, lw=0, zorder=0)
        seen.setdefault(regime, Patch(color=colour, label=regime or "?"))
    return list(seen.values())


def price_quotes_fills(run: EngineRun) -> bytes:
    """Mid, best bid/ask, our quotes and our fills (buys up, sells down)."""
    s = run.samples
    t = _dates(s.ts)
    figure, axis = plt.subplots(figsize=(11, 4.6))
    axis.plot(t, s.best_bid, color="#adb5bd", lw=0.6, label="best bid/ask")
    axis.plot(t, s.best_ask, color="#adb5bd", lw=0.6)
    axis.plot(t, s.mid, color="black", lw=0.9, label="mid")
    axis.step(t, s.bid_quote, where="post", color="#2b8a3e", lw=0.9, label="our bid")
    axis.step(t, s.ask_quote, where="post", color="#c92a2a", lw=0.9, label="our ask")
    fills = [f for f in run.fills if f.instrument == s.instrument]
    size = 18 if len(fills) < 300 else 7
    for side, marker, colour, label in ((1, "^", "#2b8a3e", "buy fill"), (-1, "v", "#c92a2a", "sell fill")):
        mine = [f for f in fills if f.side == side]
        if mine:
            axis.scatter(
                np.array([_date(f.ts) for f in mine]),
                [f.price for f in mine],
                marker=marker,
                s=size,
                color=colour,
                edgecolors="black",
                linewidths=0.3,
                zorder=5,
                label=f"{label} ({len(mine)})",
            )
    axis.set_title(f"{run.label}: {s.instrument} mid, quotes and fills")
    axis.set_ylabel(f"price ({run.quote})")
    _time_axis(axis)
    axis.legend(loc="best", fontsize=8, ncols=3)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return _png(figure)


def regimes(run: EngineRun) -> bytes:
    """The regime timeline shaded under the mid price."""
    s = run.samples
    figure, axis = plt.subplots(figsize=(11, 3.4))
    handles = _shade_regimes(axis, run)
    axis.plot(_dates(s.ts), s.mid, color="black", lw=0.9)
    for transition in run.transitions:
        if isinstance(transition.get("ts"), int) and s.ts[0] < transition["ts"] < s.ts[-1]:
            axis.axvline(_date(transition["ts"]), color="#495057", lw=0.5, ls=":")
    axis.set_title(f"{run.label}: regimes ({len(run.transitions)} transitions)")
    axis.set_ylabel(f"mid ({run.quote})")
    _time_axis(axis)
    axis.legend(handles=handles, loc="best", fontsize=8, ncols=len(handles))
    figure.tight_layout()
    return _png(figure)


def has_net_delta(run: EngineRun) -> bool:
    """True when the run hedged (its samples carry a net delta)."""
    return bool(np.isfinite(run.samples.net_delta).any())


def inventory_title(run: EngineRun) -> str:
    """The inventory figure's title: it names net delta only when there is one to draw."""
    return "Inventory and net delta" if has_net_delta(run) else "Inventory (no hedge: no net delta)"


def figure_title(suffix: str, title: str, run: EngineRun) -> str:
    """The title of figure ``suffix`` for this run (see :data:`FIGURES`)."""
    return inventory_title(run) if suffix == "inventory" else title


def inventory_delta(run: EngineRun) -> bytes:
    s = run.samples
    t = _dates(s.ts)
    figure, axis = plt.subplots(figsize=(11, 3.4))
    axis.step(t, s.inventory, where="post", color="#1c7ed6", lw=1.0, label="inventory")
    if has_net_delta(run):
        axis.step(t, s.net_delta, where="post", color="#e8590c", lw=1.0, label="net delta (hedged)")
    axis.axhline(0, color="black", lw=0.5)
    axis.set_title(f"{run.label}: {inventory_title(run).lower()}")
    spec = run.specs.get(s.instrument)
    axis.set_ylabel(f"{spec.base if spec is not None else 'base units'} ({s.instrument.partition(':')[2]})")
    _time_axis(axis)
    axis.legend(loc="best", fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return _png(figure)


def pnl_split(run: EngineRun) -> bytes:
    s = run.samples
    t = _dates(s.ts)
    figure, axis = plt.subplots(figsize=(11, 3.8))
    for name in PNL_COMPONENTS:
        values = s.pnl[name]
        if np.any(values != 0):
            axis.plot(t, values, lw=1.0, color=PNL_COLOURS[name], label=name.replace("_", " "))
    axis.plot(t, s.pnl["total"], lw=1.6, color="black", label="total")
    axis.axhline(0, color="black", lw=0.5)
    axis.set_title(f"{run.label}: PnL attribution (cumulative)")
    axis.set_ylabel(run.quote)
    _time_axis(axis)
    axis.legend(loc="best", fontsize=8, ncols=4)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return _png(figure)


def spread_vs_volatility(run: EngineRun) -> bytes:
    """Our quoted spread against the volatility estimate, both in bps of mid, by regime."""
    s = run.samples
    spread = (s.ask_quote - s.bid_quote) / s.mid * 1e4
    sigma = s.sigma / s.mid * 1e4
    market = (s.best_ask - s.best_bid) / s.mid * 1e4
    figure, axis = plt.subplots(figsize=(7.5, 4.6))
    regimes_ = np.array(s.regime)
    for regime in dict.fromkeys(s.regime):
        mask = (regimes_ == regime) & np.isfinite(spread) & np.isfinite(sigma)
        if mask.any():
            axis.scatter(
                sigma[mask],
                spread[mask],
                s=9,
                alpha=0.7,
                label=regime or "?",
                color=REGIME_MARKERS.get(regime, "#999999"),
                edgecolors="#495057",
                linewidths=0.2,
            )
    mask = np.isfinite(market) & np.isfinite(sigma)
    if mask.any():
        axis.scatter(sigma[mask], market[mask], s=4, color="#adb5bd", alpha=0.5, label="market spread")
    axis.set_xlabel("volatility sigma (bps of mid per sqrt(s))")
    axis.set_ylabel("quoted spread (bps of mid)")
    axis.set_title(f"{run.label}: spread vs volatility")
    axis.grid(alpha=0.3)
    if axis.get_legend_handles_labels()[0]:
        axis.legend(loc="best", fontsize=8)
    else:
        axis.text(
            0.5, 0.5, "no two-sided quotes with a volatility estimate", ha="center", transform=axis.transAxes
        )
    figure.tight_layout()
    return _png(figure)


def equity_comparison(runs: list[EngineRun]) -> bytes:
    """Total PnL of several runs against time since each run's start."""
    figure, axis = plt.subplots(figsize=(11, 4.2))
    for run in runs:
        s = run.samples
        axis.plot((s.ts - s.ts[0]) / 60e9, s.pnl["total"], lw=1.1, label=run.label)
    axis.axhline(0, color="black", lw=0.5)
    axis.set_xlabel("minutes since start")
    axis.set_ylabel(f"total PnL ({runs[0].quote})")
    axis.set_title("PnL of the compared runs")
    axis.legend(loc="best", fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return _png(figure)


FIGURES = (
    ("price", "Mid price, our quotes and fills", price_quotes_fills),
    ("regimes", "Regime timeline under the price", regimes),
    ("inventory", "Inventory and net delta", inventory_delta),  # titled per run: figure_title
    ("pnl", "PnL split", pnl_split),
    ("spread_vol", "Spread vs volatility", spread_vs_volatility),
)
"""(file suffix, title, function) of each per-run figure."""
