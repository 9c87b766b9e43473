"""Small builders for paper-exchange tests: specs, book events, trades, an exchange."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.core.events import BookDelta, BookSnapshot, Level, MarkPrice, Side, Trade
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.core.orders import CancelOrder, NewOrder, OrderType, TimeInForce
from bot.paper.exchange import PaperExchange
from bot.paper.settings import LatencySettings, PaperLatencySettings, PaperSettings

SPOT = "binance_spot:BTCUSDT"
PERP = "binance_usdm:BTCUSDT"
MS = 1_000_000


def spot_spec(**kw: Any) -> InstrumentSpec:
    fields: dict[str, Any] = dict(
        venue="binance_spot",
        symbol="BTCUSDT",
        kind=InstrumentKind.SPOT,
        base="BTC",
        quote="USDT",
        tick_size=Decimal("0.1"),
        lot_size=Decimal("0.001"),
        qty_step=Decimal("0.001"),
        maker_fee=Decimal("-0.0001"),
        taker_fee=Decimal("0.0002"),
    )
    fields.update(kw)
    return InstrumentSpec(**fields)


def perp_spec(**kw: Any) -> InstrumentSpec:
    fields: dict[str, Any] = dict(
        venue="binance_usdm",
        symbol="BTCUSDT",
        kind=InstrumentKind.PERP,
        base="BTC",
        quote="USDT",
        tick_size=Decimal("0.1"),
        lot_size=Decimal("0.001"),
        qty_step=Decimal("0.001"),
        maker_fee=Decimal("0.0002"),
        taker_fee=Decimal("0.0004"),
    )
    fields.update(kw)
    return InstrumentSpec(**fields)


def latency(
    entry_ms: float = 0.0, cancel_ms: float | None = None, md_ms: float = 0.0
) -> PaperLatencySettings:
    return PaperLatencySettings(
        order_entry=LatencySettings(ms=entry_ms),
        cancel=LatencySettings(ms=entry_ms if cancel_ms is None else cancel_ms),
        market_data=LatencySettings(ms=md_ms),
    )


def settings(**kw: Any) -> PaperSettings:
    fields: dict[str, Any] = dict(
        latency=latency(),
        starting_balances={"USDT": Decimal(1_000_000), "BTC": Decimal(0)},
        equity_interval_s=3600.0,
    )
    fields.update(kw)
    return PaperSettings(**fields)


class Feed:
    """Builds a consistent event stream for one instrument (Binance sync rules)."""

    def __init__(self, instrument: str = SPOT, start_ts: int = 1_700_000_000 * 1_000_000_000) -> None:
        self.instrument = instrument
        self.ts = start_ts
        self.update_id = 100
        self.trade_id = 0

    def _tick(self, step_ns: int) -> int:
        self.ts += step_ns
        return self.ts

    def snapshot(self, bids: list[Level], asks: list[Level], step_ns: int = MS) -> BookSnapshot:
        self.update_id += 10
        return BookSnapshot(
            instrument=self.instrument,
            local_ts=self._tick(step_ns),
            update_id=self.update_id,
            bids=bids,
            asks=asks,
        )

    def open(self, bids: list[Level], asks: list[Level]) -> list[BookSnapshot | BookDelta]:
        """A snapshot and the (empty) first diff that makes a Binance-synced book live."""
        snapshot = self.snapshot(bids, asks)
        self.update_id += 1  # the first diff spans the snapshot id (spot and USD-M rules)
        first = BookDelta(
            instrument=self.instrument,
            local_ts=self._tick(MS),
            first_id=snapshot.update_id,
            last_id=self.update_id,
            prev_id=snapshot.update_id - 1,
            bids=[],
            asks=[],
        )
        return [snapshot, first]

    def delta(
        self, bids: list[Level] | None = None, asks: list[Level] | None = None, step_ns: int = MS
    ) -> BookDelta:
        prev = self.update_id
        first = self.update_id = prev + 1
        return BookDelta(
            instrument=self.instrument,
            local_ts=self._tick(step_ns),
            first_id=first,
            last_id=self.update_id,
            prev_id=prev,
            bids=bids or [],
            asks=asks or [],
        )

    def trade(self, side: Side, price: int, size: int, step_ns: int = MS, liquidation: bool = False) -> Trade:
        self.trade_id += 1
        return Trade(
            instrument=self.instrument,
            local_ts=self._tick(step_ns),
            price=price,
            size=size,
            side=side,
            trade_id=self.trade_id,
            liquidation=liquidation,
        )

    def mark(self, mark_price: int, rate: str, next_funding_ts: int, step_ns: int = MS) -> MarkPrice:
        return MarkPrice(
            instrument=self.instrument,
            local_ts=self._tick(step_ns),
            mark_price=mark_price,
            index_price=mark_price,
            funding_rate=Decimal(rate),
            next_funding_ts=next_funding_ts,
        )


def limit(
    client_id: str,
    side: Side,
    price: int,
    size: int,
    ts: int,
    *,
    tif: TimeInForce = TimeInForce.GTX,
    instrument: str = SPOT,
    reduce_only: bool = False,
) -> NewOrder:
    return NewOrder(
        client_id=client_id,
        instrument=instrument,
        side=side,
        price=price,
        size=size,
        tif=tif,
        ts=ts,
        reduce_only=reduce_only,
    )


def market(client_id: str, side: Side, size: int, ts: int, *, instrument: str = SPOT) -> NewOrder:
    return NewOrder(
        client_id=client_id,
        instrument=instrument,
        side=side,
        size=size,
        order_type=OrderType.MARKET,
        tif=TimeInForce.IOC,
        ts=ts,
    )


def cancel(client_id: str, ts: int, *, instrument: str = SPOT) -> CancelOrder:
    return CancelOrder(client_id=client_id, instrument=instrument, ts=ts)


def exchange(*specs: InstrumentSpec, **kw: Any) -> PaperExchange:
    journal = kw.pop("journal", None)
    return PaperExchange(specs or (spot_spec(),), settings(**kw), journal=journal)


class MemorySink:
    """An in-memory RecordSink (what the SQLite journal does, minus the disk)."""

    fault: str | None = None
    retry_due = True

    def __init__(self) -> None:
        self.records: list[Any] = []
        self.state: Any = None
        self.units = 0
        self._buffer: list[Any] = []

    def append(self, position: int, ts: int, record: Any) -> None:
        self._buffer.append(record)

    def commit(self, state: Any, *, force: bool = False) -> bool:
        self.records.extend(self._buffer)
        self._buffer = []
        self.state = state
        self.units += 1
        return True

    def committed(self) -> tuple[list[Any], Any]:
        return list(self.records), self.state
