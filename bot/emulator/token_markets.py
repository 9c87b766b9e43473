"""Synthetic token markets: one token listed on several venues, served together.

A :class:`TokenMarket` says what the synthetic generator needs beyond a scenario to
render a token's markets: its start price, how deep each venue's book is (the size of
a level at the touch, quote currency), how tight the levels behind the touch sit, and
how heavy each venue's market orders are (in proportion to its depth).
Every market of the token follows **one fair-price path** (the generator's
``price_seed`` is the run's seed), so arbitrage-tight prices on every venue, while each
venue's book and order flow are its own (``seed`` is offset per venue).

``ABC`` is the token of the worked deal (``config/deals/abc.toml``): a 1 USDT token,
tick 0.0001 (the specs are in the shipped market cache), thin books -- Binance's the
deepest, Bybit's and Bitget's about half -- and a deeper perpetual. Scenarios made for
it are ``abc_calm``, ``abc_launch`` and ``abc_crash`` (:mod:`bot.emulator.scenarios`).

:func:`market_options` gives the keyword arguments of
:class:`~bot.emulator.synthetic.SyntheticMarket` for an instrument (empty for a market
that is not a token market, e.g. BTCUSDT).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot.core.instrument import InstrumentSpec


@dataclass(frozen=True)
class TokenMarket:
    token: str
    start_price: Decimal
    level_notional: dict[str, float] = field(default_factory=dict)
    """Quote-currency size of a level at the touch, per venue (deeper levels grow)."""
    default_level_notional: float = 300.0
    flow_reference: float = 320.0
    """The level size the scenarios' market-order sizes are written for: a venue's flow is
    scaled by its level size over this (half the depth, half the flow)."""
    top_gap_bps: float = 1.0
    """Typical first gap behind the touch, bps (1 tick at 1 USDT and tick 0.0001)."""

    def notional(self, venue: str) -> float:
        return self.level_notional.get(venue, self.default_level_notional)

    def flow(self, venue: str) -> float:
        return min(2.0, self.notional(venue) / self.flow_reference)


ABC = TokenMarket(
    token="ABC",
    start_price=Decimal("1.0000"),
    level_notional={
        "binance_spot": 320.0,
        "bybit_spot": 160.0,
        "bitget_spot": 160.0,
        "binance_usdm": 1200.0,
        "bybit_linear": 800.0,
        "bitget_usdtm": 800.0,
    },
)

TOKEN_MARKETS: dict[str, TokenMarket] = {ABC.token: ABC}


def token_market(spec: InstrumentSpec) -> TokenMarket | None:
    return TOKEN_MARKETS.get(spec.base)


def venue_seed(seed: int, venue: str) -> int:
    """A per-venue book seed derived from the run's seed (stable across runs and Pythons)."""
    return seed * 1009 + zlib.crc32(venue.encode()) % 1000 + 1


def market_options(spec: InstrumentSpec, seed: int) -> dict[str, Any]:
    """``SyntheticMarket`` keyword arguments for ``spec`` (seed, price seed, start price, book
    shape), or ``{}`` when ``spec`` is not a token market."""
    token = token_market(spec)
    if token is None:
        return {}
    return {
        "seed": venue_seed(seed, spec.venue),
        "price_seed": seed,
        "start_price": token.start_price,
        "level_notional": token.notional(spec.venue),
        "top_gap_bps": token.top_gap_bps,
        "trade_scale": token.flow(spec.venue),
    }
