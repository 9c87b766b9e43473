"""Shared builders for the quoting tests (market states, instrument specs)."""

from __future__ import annotations

from decimal import Decimal

from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.market.estimators import MarketState


def market_state(ts_ns: int = 0, sigma: float = 2.0, **kw: object) -> MarketState:
    """A two-sided, warm state around mid 1000 ticks (override any field)."""
    fields: dict[str, object] = {
        "instrument": "t:X",
        "ts_ns": ts_ns,
        "book_ok": True,
        "best_bid": 999,
        "best_ask": 1001,
        "mid": 1000.0,
        "micro": 1000.0,
        "horizons_s": (10.0, 300.0),
        "sigma": (sigma, sigma),
        "sigma_warm": (True, True),
        "trend": (0.0, 0.0),
    }
    fields.update(kw)
    return MarketState(**fields)  # type: ignore[arg-type]


def btcusdt_spec(**kw: object) -> InstrumentSpec:
    """Binance spot BTCUSDT trading rules (tick 0.01, lot 1e-8, step 1e-5, min notional 5)."""
    fields: dict[str, object] = {
        "venue": "binance_spot",
        "symbol": "BTCUSDT",
        "kind": InstrumentKind.SPOT,
        "base": "BTC",
        "quote": "USDT",
        "tick_size": Decimal("0.01"),
        "lot_size": Decimal("0.00000001"),
        "qty_step": Decimal("0.00001"),
        "min_qty": Decimal("0.00001"),
        "min_notional": Decimal("5"),
    }
    fields.update(kw)
    return InstrumentSpec(**fields)  # type: ignore[arg-type]
