"""Instrument specs used across tests (the values of the bundled 2024 Binance recordings)."""

from __future__ import annotations

from decimal import Decimal

from bot.core.instrument import InstrumentKind, InstrumentSpec

SPOT_BTC = InstrumentSpec(
    venue="binance_spot",
    symbol="BTCUSDT",
    kind=InstrumentKind.SPOT,
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("0.00000001"),
    qty_step=Decimal("0.00001"),
    min_qty=Decimal("0.00001"),
    min_notional=Decimal("5"),
)
USDM_BTC = InstrumentSpec(
    venue="binance_usdm",
    symbol="BTCUSDT",
    kind=InstrumentKind.PERP,
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.1"),
    lot_size=Decimal("0.001"),
    qty_step=Decimal("0.001"),
    min_qty=Decimal("0.001"),
    min_notional=Decimal("100"),
    maker_fee=Decimal("0.0002"),
    taker_fee=Decimal("0.0005"),
)
