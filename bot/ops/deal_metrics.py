"""Prometheus metrics of the deal desk, read at scrape time (labels: ``deal``).

- ``mmbot_deal_delta_tokens{deal,component}``: the net delta's components in tokens --
  ``spot`` (all venues), ``lp``, ``options``, ``perp``, ``loan``, ``net`` and ``hedged``
  (what the hedger steers);
- ``mmbot_deal_inventory_tokens{deal,account,venue}``: tokens per account (quoting engines,
  deal accounts, the pool position);
- ``mmbot_deal_pnl_quote{deal,channel}``: the deal statement's channels and ``total``;
- ``mmbot_deal_phase{deal,phase}``: 1 for the current lifecycle phase;
- ``mmbot_deal_pool_swaps{deal,kind}``: pool swaps (``arbitrage`` / ``noise``, counter).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.engine.deal_book import statement
from bot.engine.deal_phase import Phase


class DealCollector(Collector):
    def __init__(self, deals: list[Any]) -> None:
        self.deals = deals

    def collect(self) -> Iterator[Metric]:
        delta = GaugeMetricFamily(
            "mmbot_deal_delta_tokens",
            "The deal's net delta by component, tokens",
            labels=["deal", "component"],
        )
        inventory = GaugeMetricFamily(
            "mmbot_deal_inventory_tokens", "Tokens per account", labels=["deal", "account", "venue"]
        )
        pnl = GaugeMetricFamily(
            "mmbot_deal_pnl_quote", "Deal statement by channel, quote", labels=["deal", "channel"]
        )
        phase = GaugeMetricFamily(
            "mmbot_deal_phase", "1 for the deal's current phase", labels=["deal", "phase"]
        )
        swaps = CounterMetricFamily("mmbot_deal_pool_swaps", "Pool swaps", labels=["deal", "kind"])
        for run in self.deals:
            desk = run.desk
            name = desk.deal.name
            last = desk.last
            if last is not None:
                for component, value in (
                    ("spot", last.spot_total),
                    ("lp", last.lp),
                    ("options", last.options),
                    ("perp", last.perp),
                    ("loan", last.loan),
                    ("net", last.net),
                    ("hedged", last.hedged_net(desk.settings.sale.hedge_unsold)),
                ):
                    delta.add_metric([name, component], float(value))
            for account, row in desk.inventory().items():
                inventory.add_metric([name, account, row["venue"]], float(row[desk.token]))
            st = statement(desk)
            for channel, value in st.channels.items():
                pnl.add_metric([name, channel], float(value))
            pnl.add_metric([name, "total"], float(st.total()))
            for state in Phase:
                phase.add_metric([name, state.value], 1.0 if desk.phase is state else 0.0)
            swaps.add_metric([name, "arbitrage"], float(desk.pool.arbs))
            swaps.add_metric([name, "noise"], float(desk.pool.noise))
        yield from (delta, inventory, pnl, phase, swaps)
