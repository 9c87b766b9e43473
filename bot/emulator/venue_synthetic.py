"""Synthetic markets rendered for Bybit and OKX (the emulator's timeline items).

The counterpart of the Binance renderer in :mod:`bot.emulator.synthetic_source`, for
venues that snapshot in the stream. Every step of a ``SyntheticMarket`` becomes:

- a ``book`` item with the changed levels (absolute sizes, 0 deletes) and the next id
  of the market's book (Bybit: ``u``, OKX: ``seqId``). The emulator applies it to the
  market's :class:`~bot.emulator.venue_book.VenueBook`; each subscribed stream then
  sends the changes within its depth, numbered by its own ids -- there is no
  "recorded" stream to forward (``native=None``);
- a trade message per fill: Bybit ``publicTrade`` (``S`` = taker side, ``i``
  numeric), OKX ``trades`` (``side`` = taker side);
- with a mark (perpetuals): Bybit linear ``tickers`` fields (mark, index, funding
  rate, next funding time, last price), which the emulator sends as a snapshot and
  then deltas of the changed fields; OKX swaps a ``funding-rate`` and a ``mark-price``
  message.

Numbers are written canonically (no exponent, no trailing zeros: ``30249.4``,
``0.23393``) -- as OKX does, which its checksum relies on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from bot.core.instrument import InstrumentSpec
from bot.emulator.source import Item
from bot.emulator.venue_book import RawLevel, VenueBook

FIRST_ID = {"bybit": 100_000, "okx": 1_000_000}


def canonical(value: Decimal) -> str:
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class StreamRenderer:
    """Bybit / OKX items for one synthetic market."""

    def __init__(self, spec: InstrumentSpec) -> None:
        self.spec = spec
        self.venue = spec.venue
        self.symbol = spec.symbol
        self.family = "bybit" if spec.venue.startswith("bybit") else "okx"
        self.last_id = FIRST_ID[self.family]
        self.trade_id = 1
        self._tick = spec.tick_size
        self._lot = spec.lot_size

    def price(self, ticks: int) -> str:
        return canonical(self._tick * ticks)

    def size(self, lots: int) -> str:
        return canonical(self._lot * lots)

    def _levels(self, levels: Sequence[tuple[int, int]]) -> list[RawLevel]:
        return [(self.price(p), self.size(q)) for p, q in levels]

    def initial_book(self, book: tuple[Sequence[tuple[int, int]], Sequence[tuple[int, int]]]) -> VenueBook:
        bids, asks = book
        return VenueBook(
            self.venue,
            self.symbol,
            self._levels([lv for lv in bids if lv[1]]),
            self._levels([lv for lv in asks if lv[1]]),
            last_id=self.last_id,
        )

    def items(self, steps: Iterator[Any]) -> Iterator[Item]:
        venue, symbol = self.venue, self.symbol
        for step in steps:
            ts = int(step.ts_ns)
            ms = ts // 1_000_000
            for price, lots, side in step.trades:
                yield Item(ts, venue, symbol, *self._trade(price, lots, side, ms))
            if step.bids or step.asks:
                self.last_id += 1
                yield Item(
                    ts,
                    venue,
                    symbol,
                    "book",
                    "",
                    exch_ms=ms,
                    first_id=self.last_id,
                    last_id=self.last_id,
                    bids=self._levels(step.bids),
                    asks=self._levels(step.asks),
                    action="update",
                )
            if step.mark is not None and venue in ("bybit_linear", "okx_swap"):
                yield from self._marks(ts, ms, step.mark)

    def _trade(self, price: int, lots: int, side: int, ms: int) -> tuple[str, str]:
        trade_id = str(self.trade_id)
        self.trade_id += 1
        if self.family == "bybit":
            fill = {
                "T": ms,
                "s": self.symbol,
                "S": "Buy" if side > 0 else "Sell",
                "v": self.size(lots),
                "p": self.price(price),
                "L": "PlusTick" if side > 0 else "MinusTick",
                "i": trade_id,
                "BT": False,
            }
            topic = f"publicTrade.{self.symbol}"
            return "publicTrade", _dumps({"topic": topic, "type": "snapshot", "ts": ms, "data": [fill]})
        fill = {
            "instId": self.symbol,
            "tradeId": trade_id,
            "px": self.price(price),
            "sz": self.size(lots),
            "side": "buy" if side > 0 else "sell",
            "ts": str(ms),
            "count": "1",
        }
        return "trades", _dumps({"arg": {"channel": "trades", "instId": self.symbol}, "data": [fill]})

    def _marks(self, ts: int, ms: int, mark: tuple[int, Decimal, int]) -> Iterator[Item]:
        mark_ticks, rate, next_funding_ns = mark
        mark_text = self.price(mark_ticks)
        rate_text = format(Decimal(rate), "f")
        funding_ms = str(int(next_funding_ns) // 1_000_000)
        if self.family == "bybit":
            fields = {
                "symbol": self.symbol,
                "markPrice": mark_text,
                "indexPrice": mark_text,
                "fundingRate": rate_text,
                "nextFundingTime": funding_ms,
            }
            yield Item(ts, self.venue, self.symbol, "tickers", _dumps(fields), exch_ms=ms)
            return
        arg = {"instId": self.symbol}
        funding = {
            "instId": self.symbol,
            "instType": "SWAP",
            "fundingRate": rate_text,
            "fundingTime": funding_ms,
            "nextFundingTime": str(int(funding_ms) + 8 * 3600 * 1000),
            "ts": str(ms),
        }
        yield Item(
            ts,
            self.venue,
            self.symbol,
            "funding-rate",
            _dumps({"arg": {"channel": "funding-rate", **arg}, "data": [funding]}),
            exch_ms=ms,
        )
        marks = {"instId": self.symbol, "instType": "SWAP", "markPx": mark_text, "ts": str(ms)}
        yield Item(
            ts,
            self.venue,
            self.symbol,
            "mark-price",
            _dumps({"arg": {"channel": "mark-price", **arg}, "data": [marks]}),
            exch_ms=ms,
        )
