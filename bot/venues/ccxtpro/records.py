"""ccxt trade and funding structures -> core :class:`Trade` / :class:`MarkPrice` events (pure).

Each function raises :class:`~bot.venues.ccxtpro.convert.BadValue` for a record that
cannot become an exact event; the adapter counts and skips it.

- Trades: ccxt's unified trade (``price``, ``amount``, ``side`` = the taker's side,
  ``timestamp`` = the trade time, ``id``). ``exch_ts`` is therefore the trade time
  (the native Binance decoder uses the event time ``E``, a few ms later).
  ``liquidation`` is set from Binance USD-M's raw ``X`` field (insurance fund / ADL
  prints); other venues give ccxt no such flag.
- Funding: a ccxt funding-rate structure (``markPrice``, ``indexPrice``,
  ``fundingRate``, ``nextFundingTimestamp``), or a mark-price ticker carrying
  Binance's raw ``r``/``T``. Mark and index prices are rounded half-even to the tick;
  a missing index price repeats the mark price.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.events import MarkPrice, Side, Trade
from bot.venues.ccxt_markets import MarketDataError, exact_decimal
from bot.venues.ccxtpro.convert import BadValue, Converter

NS_PER_MS = 1_000_000


def ms_to_ns(value: Any) -> int:
    """A ccxt millisecond timestamp in ns; 0 when absent or unusable."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return 0
    return int(value) * NS_PER_MS


def trade_event(key: str, converter: Converter, trade: Mapping[str, Any], local_ts: int) -> Trade:
    try:
        side = trade.get("side")
        if side not in ("buy", "sell"):
            raise BadValue("invalid", f"trade side {side!r}")
        info = trade.get("info")
        kind = info.get("X") if isinstance(info, Mapping) else None
        trade_id = str(trade.get("id") or "")
        return Trade(
            instrument=key,
            local_ts=local_ts,
            exch_ts=ms_to_ns(trade.get("timestamp")),
            price=converter.price(trade.get("price")),
            size=converter.size(trade.get("amount")),
            side=Side.BUY if side == "buy" else Side.SELL,
            trade_id=int(trade_id) if trade_id.isdigit() else 0,
            liquidation=kind is not None and kind != "MARKET",
        )
    except (AttributeError, TypeError, ValueError) as exc:
        if isinstance(exc, BadValue):
            raise
        raise BadValue("invalid", f"unusable trade: {type(exc).__name__}: {exc}") from None


def mark_event(key: str, converter: Converter, data: Mapping[str, Any], local_ts: int) -> MarkPrice:
    try:
        raw_info = data.get("info")
        info: Mapping[str, Any] = raw_info if isinstance(raw_info, Mapping) else {}
        rate = data.get("fundingRate")
        rate = info.get("r") if rate is None else rate
        if rate is None:
            raise BadValue("invalid", "no funding rate")
        mark = converter.rounded_price(data.get("markPrice"))
        index_raw = data.get("indexPrice")
        index = converter.rounded_price(index_raw, "index price") if index_raw is not None else mark
        next_ts = data.get("nextFundingTimestamp") or data.get("fundingTimestamp") or info.get("T")
        return MarkPrice(
            instrument=key,
            local_ts=local_ts,
            exch_ts=ms_to_ns(data.get("timestamp")),
            mark_price=mark,
            index_price=index,
            funding_rate=exact_decimal(rate, "funding rate"),
            next_funding_ts=ms_to_ns(int(next_ts)) if next_ts is not None else 0,
        )
    except (AttributeError, TypeError, ValueError, MarketDataError) as exc:
        if isinstance(exc, BadValue):
            raise
        raise BadValue("invalid", f"unusable funding record: {type(exc).__name__}: {exc}") from None
