"""Prometheus metrics of the market-making obligations, read at scrape time.

One series per engine with an obligation, labelled by its ``venue`` (e.g.
``binance_spot``) and ``symbol``:

- ``mmbot_obligation_spread_pct{venue,symbol}``: our spread now, percent of our best ask
  (NaN while a side has no order of ours);
- ``mmbot_obligation_depth_quote{venue,symbol,side}``: our depth within the band now,
  quote currency, ``side`` = bid / ask;
- ``mmbot_obligation_uptime_ratio{venue,symbol,window}``: share of met time, ``window`` =
  ``day`` (this UTC day) / ``deal`` (the deal window);
- ``mmbot_obligation_met{venue,symbol}``: 1 while spread and both depths are met;
- ``mmbot_obligation_breaches{venue,symbol}``: breaches recorded (counter, across restarts);
- ``mmbot_obligation_shortfall_quote{venue,symbol,side}``: how far the account or the risk
  limits leave the side's depth below the obligation (0 = funded);
- the terms: ``mmbot_obligation_max_spread_pct``, ``mmbot_obligation_required_depth_quote
  {side}``, ``mmbot_obligation_min_uptime_ratio``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class ObligationCollector(Collector):
    """Reads each engine's :class:`~bot.engine.obligations.ObligationDesk` at scrape time."""

    def __init__(self, trading: list[Any]) -> None:
        self.trading = trading

    def collect(self) -> Iterator[Metric]:
        labels = ["venue", "symbol"]
        spread = GaugeMetricFamily(
            "mmbot_obligation_spread_pct",
            "Our spread now, % of our best ask (NaN: a side is missing)",
            labels=labels,
        )
        depth = GaugeMetricFamily(
            "mmbot_obligation_depth_quote",
            "Our depth within the obligation band now, quote currency",
            labels=[*labels, "side"],
        )
        uptime = GaugeMetricFamily(
            "mmbot_obligation_uptime_ratio",
            "Share of time the obligation was met",
            labels=[*labels, "window"],
        )
        met = GaugeMetricFamily("mmbot_obligation_met", "1 while the obligation is met", labels=labels)
        breaches = CounterMetricFamily(
            "mmbot_obligation_breaches", "Obligation breaches recorded", labels=labels
        )
        shortfall = GaugeMetricFamily(
            "mmbot_obligation_shortfall_quote",
            "Depth the account or risk limits cannot fund, quote currency (0 = funded)",
            labels=[*labels, "side"],
        )
        max_spread = GaugeMetricFamily(
            "mmbot_obligation_max_spread_pct", "Obligation: maximum spread, %", labels=labels
        )
        required = GaugeMetricFamily(
            "mmbot_obligation_required_depth_quote",
            "Obligation: depth per side within the band, quote currency",
            labels=[*labels, "side"],
        )
        min_uptime = GaugeMetricFamily(
            "mmbot_obligation_min_uptime_ratio", "Obligation: minimum uptime", labels=labels
        )
        for trading in self.trading:
            desk = getattr(trading, "obligation", None)
            if desk is None:
                continue
            key = [desk.spec.venue, desk.spec.symbol]
            meter, terms = desk.meter, desk.terms
            last = meter.last
            value = last.spread_pct() if last is not None else None
            spread.add_metric(key, math.nan if value is None else value)
            depth.add_metric([*key, "bid"], float(terms.quote(last.bid_depth_tl)) if last else 0.0)
            depth.add_metric([*key, "ask"], float(terms.quote(last.ask_depth_tl)) if last else 0.0)
            for window, ratio in meter.uptime().items():
                if ratio is not None:
                    uptime.add_metric([*key, window], ratio)
            met.add_metric(key, 1.0 if last is not None and last.met else 0.0)
            breaches.add_metric(key, meter.breaches)
            alerts = {a["side"]: a for a in desk.alerts.values()}
            for side in ("bid", "ask"):
                shortfall.add_metric([*key, side], float(alerts.get(side, {}).get("short_by", 0.0)))
            params = terms.params
            max_spread.add_metric(key, float(params.max_spread_pct))
            required.add_metric([*key, "bid"], float(params.bid_depth))
            required.add_metric([*key, "ask"], float(params.ask_depth))
            min_uptime.add_metric(key, terms.min_uptime)
        yield from (spread, depth, uptime, met, breaches, shortfall, max_spread, required, min_uptime)
