"""Bitget markets for the emulator's timeline: synthetic ones and cryptofeed recordings.

**Synthetic** (:class:`BitgetRenderer`, the Bitget member of
:mod:`bot.emulator.venue_synthetic`): every step of a ``SyntheticMarket`` becomes

- a ``book`` item with the changed levels (absolute sizes, 0 deletes) and the next id
  of the market's book. The emulator applies it to the market's
  :class:`~bot.emulator.venue_book.VenueBook`; each subscribed stream then sends the
  changes, numbered by its own ``seq`` (:mod:`bot.emulator.bitget_protocol`);
- a ``trade`` push per fill (``side`` = taker side, ``tradeId`` numeric);
- with a mark (USDT-M perpetuals): a ``ticker`` push with ``markPrice``,
  ``indexPrice``, ``fundingRate``, ``nextFundingTime`` (every field, every time).

Book numbers are written as Bitget writes them: with the instrument's fixed number of
decimals (``"60000.10"`` for a 0.01 tick, ``"0.500000"`` for a 0.000001 lot) -- the
checksum covers that text. Trade and ticker numbers are written canonically
(``"60000.1"``), as Bitget's trade pushes do.

**Recordings** (:func:`read_bitget`): cryptofeed raw logs of Bitget (``BITGET.ws.*``,
the format of :func:`bot.emulator.venue_replay.read_okx`: ``<url> <-> <unix s>``,
``<url> <- <unix s>: <json>``, ``<unix s>: <json>``). The 2022 recordings are of
Bitget's v1 API (``instType`` ``sp`` / ``mc``, trades as arrays, v1 ticker names); the
emulator speaks v2, so each kept message is re-addressed -- ``arg.instType`` becomes
``SPOT`` / ``USDT-FUTURES`` -- while book ``data`` objects are kept byte for byte
(levels, checksums, ``ts``; no ``seq``: v1 had none). Trades are converted to v2 objects
(``{"ts","price","size","side"}``; v1 had no trade id) and the subscription's
``snapshot`` of older trades is dropped; USDT-M tickers are converted to v2 names
(``capitalRate`` -> ``fundingRate``, ``nextSettleTime`` -> ``nextFundingTime``, ``last``
-> ``lastPr``, ``bestBid`` / ``bestAsk`` -> ``bidPr`` / ``askPr``, ``systemTime`` ->
``ts``). v2 recordings (``SPOT`` / ``USDT-FUTURES``, trade objects) pass through as
recorded. Candles and other product lines are skipped. Per market the first book
snapshot seeds the exchange book; later book messages are forwarded verbatim to
subscribers of the recorded channel.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import msgspec
import structlog

from bot.core.instrument import InstrumentSpec
from bot.emulator.source import Item
from bot.emulator.venue_book import RawLevel
from bot.emulator.venue_replay import (
    StreamMarket,
    _finish,
    _last_book_id,
    _levels,
    _read_text_lines,
    _Seed,
)
from bot.emulator.venue_synthetic import StreamRenderer, canonical
from bot.errors import InputError

log = structlog.get_logger("bot.emulator.replay")

INST_TYPE = {"bitget_spot": "SPOT", "bitget_usdtm": "USDT-FUTURES"}
VENUE_OF_INST_TYPE = {
    "sp": "bitget_spot",
    "spot": "bitget_spot",
    "mc": "bitget_usdtm",
    "usdt-futures": "bitget_usdtm",
}
BOOK_DEPTH: dict[str, int | None] = {"books": None, "books1": 1, "books5": 5, "books15": 15}
FIRST_SEQ = 1_300_000_000_000_000_000
"""First ``seq`` of a synthetic Bitget book: large, like the snowflake-style ids Bitget sends."""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def fixed(value: Decimal, increment: Decimal) -> str:
    """``value`` with as many decimals as ``increment`` has (Bitget's book text)."""
    exponent = increment.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return format(value, f".{max(0, -exponent)}f")


class BitgetRenderer(StreamRenderer):
    """Bitget items for one synthetic market (see module doc)."""

    def __init__(self, spec: InstrumentSpec) -> None:
        super().__init__(spec)
        self.family = "bitget"
        self.last_id = FIRST_SEQ
        self.inst_type = INST_TYPE[spec.venue]

    def price(self, ticks: int) -> str:
        return fixed(self._tick * ticks, self._tick)

    def size(self, lots: int) -> str:
        return fixed(self._lot * lots, self._lot)

    def items(self, steps: Iterator[Any]) -> Iterator[Item]:
        venue, symbol = self.venue, self.symbol
        for step in steps:
            ts = int(step.ts_ns)
            ms = ts // 1_000_000
            for price, lots, side in step.trades:
                yield Item(ts, venue, symbol, "trade", self._trade_frame(price, lots, side, ms), exch_ms=ms)
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
            if step.mark is not None and venue == "bitget_usdtm":
                yield Item(ts, venue, symbol, "ticker", self._ticker_frame(step.mark, ms), exch_ms=ms)

    def _trade_frame(self, price: int, lots: int, side: int, ms: int) -> str:
        trade_id = str(self.trade_id)
        self.trade_id += 1
        fill = {
            "ts": str(ms),
            "price": canonical(self._tick * price),
            "size": canonical(self._lot * lots),
            "side": "buy" if side > 0 else "sell",
            "tradeId": trade_id,
        }
        return _dumps({"action": "update", "arg": self._arg("trade"), "data": [fill], "ts": ms})

    def _ticker_frame(self, mark: tuple[int, Decimal, int], ms: int) -> str:
        mark_ticks, rate, next_funding_ns = mark
        mark_text = canonical(self._tick * mark_ticks)
        fields = {
            "instId": self.symbol,
            "lastPr": mark_text,
            "markPrice": mark_text,
            "indexPrice": mark_text,
            "fundingRate": format(Decimal(rate), "f"),
            "nextFundingTime": str(int(next_funding_ns) // 1_000_000),
            "symbolType": 1,
            "ts": str(ms),
        }
        return _dumps({"action": "snapshot", "arg": self._arg("ticker"), "data": [fields], "ts": ms})

    def _arg(self, channel: str) -> dict[str, str]:
        return {"instType": self.inst_type, "channel": channel, "instId": self.symbol}


# ---- recordings -----------------------------------------------------------------------------------


def _venue_of(inst_type: Any) -> str | None:
    return VENUE_OF_INST_TYPE.get(inst_type.lower()) if isinstance(inst_type, str) else None


def _seq(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return -1


def read_bitget(path: Path) -> list[StreamMarket]:
    """The markets of a cryptofeed Bitget log (see module doc)."""
    markets: dict[str, StreamMarket] = {}
    decoder = msgspec.json.Decoder(dict[str, Any])
    for number, line in enumerate(_read_text_lines(path), start=1):
        where = f"{path}:{number}"
        if not line.strip() or " <-> " in line or " <- " in line:
            continue
        stamp, sep, payload = line.partition(": ")
        try:
            ts_ns = int(Decimal(stamp) * 1_000_000_000)
            message = decoder.decode(payload) if sep else None
        except (InvalidOperation, msgspec.DecodeError) as exc:
            raise InputError(f"{where}: not a '<unix seconds>: <json>' line ({exc})") from None
        if message is None:
            raise InputError(f"{where}: not a '<unix seconds>: <json>' line")
        if "event" in message:
            continue  # subscribe acks
        arg = message.get("arg")
        if not isinstance(arg, dict) or not isinstance(arg.get("channel"), str):
            raise InputError(f"{where}: push without arg.channel")
        channel, inst_id = arg["channel"], arg.get("instId")
        venue = _venue_of(arg.get("instType"))
        if venue is None or not isinstance(inst_id, str) or not inst_id:
            continue  # other product lines, channels without an instrument
        if channel not in BOOK_DEPTH and channel not in ("trade", "ticker"):
            continue  # candles, ...
        market = markets.get(f"{venue}:{inst_id}")
        if market is None:
            market = markets[f"{venue}:{inst_id}"] = StreamMarket(
                venue, inst_id, path, (channel, BOOK_DEPTH.get(channel))
            )
        v2_arg = {"instType": INST_TYPE[venue], "channel": channel, "instId": inst_id}
        if channel in BOOK_DEPTH:
            if market.seed is None:
                market.native = (channel, BOOK_DEPTH[channel])
            _book(market, message, v2_arg, ts_ns, where)
        elif channel == "trade":
            frame = _trades(message, v2_arg, where)
            if frame is not None:
                market.items.append(Item(ts_ns, venue, inst_id, "trade", frame))
        elif venue == "bitget_usdtm":
            market.items.append(Item(ts_ns, venue, inst_id, "ticker", _ticker(message, v2_arg, where)))
    return _finish(path, markets)


def _book(market: StreamMarket, message: dict[str, Any], arg: dict[str, str], ts_ns: int, where: str) -> None:
    entries = message.get("data")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise InputError(f"{where}: book push without data")
    bids: list[RawLevel] = []
    asks: list[RawLevel] = []
    for entry in entries:
        bids.extend(_levels(entry.get("bids"), where))
        asks.extend(_levels(entry.get("asks"), where))
    last = entries[-1]
    seq = _seq(last.get("seq"))
    pseq = _seq(last.get("pseq"))
    checksum = last.get("checksum") if isinstance(last.get("checksum"), int) else None
    try:
        exch_ms = int(last.get("ts", "0"))
    except (TypeError, ValueError):
        raise InputError(f"{where}: book push with a bad ts") from None
    action = message.get("action", "snapshot")
    if market.seed is None:
        if action != "snapshot":
            return  # updates before the first snapshot cannot be served
        market.seed = _Seed(ts_ns, bids, asks, seq, exch_ms)
        market.book_messages += 1
        return
    if action == "update" and pseq > 0 and pseq != _last_book_id(market):
        market.chain_breaks += 1
        log.warning("recorded seq chain has a gap", market=f"{market.venue}:{market.symbol}", pseq=pseq)
    payload = _dumps({"action": action, "arg": arg, "data": entries, **_top_ts(message)})
    market.items.append(
        Item(
            ts_ns,
            market.venue,
            market.symbol,
            "book",
            payload,
            exch_ms=exch_ms,
            first_id=seq,
            last_id=seq,
            prev_id=pseq if pseq > 0 else -1,
            bids=bids,
            asks=asks,
            action="snapshot" if action == "snapshot" else "update",
            checksum=checksum,
        )
    )
    market.book_messages += 1


def _top_ts(message: dict[str, Any]) -> dict[str, Any]:
    return {"ts": message["ts"]} if "ts" in message else {}


def _trades(message: dict[str, Any], arg: dict[str, str], where: str) -> str | None:
    if message.get("action") == "snapshot":
        return None  # the venue's history at subscription time, older than the recording
    raw = message.get("data")
    if not isinstance(raw, list):
        raise InputError(f"{where}: trade push without data")
    fills: list[Any] = []
    for fill in raw:
        if isinstance(fill, list) and len(fill) >= 4:  # v1: [ts, price, size, side]
            fills.append(
                {"ts": str(fill[0]), "price": str(fill[1]), "size": str(fill[2]), "side": str(fill[3])}
            )
        elif isinstance(fill, dict):
            fills.append(fill)
        else:
            raise InputError(f"{where}: bad trade {fill!r}")
    return _dumps({"action": "update", "arg": arg, "data": fills, **_top_ts(message)})


_V1_TICKER = {
    "last": "lastPr",
    "bestBid": "bidPr",
    "bestAsk": "askPr",
    "capitalRate": "fundingRate",
    "nextSettleTime": "nextFundingTime",
    "systemTime": "ts",
}


def _ticker(message: dict[str, Any], arg: dict[str, str], where: str) -> str:
    raw = message.get("data")
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise InputError(f"{where}: ticker push without data")
    data = [
        {
            _V1_TICKER.get(name, name): str(value) if name in ("nextSettleTime", "systemTime") else value
            for name, value in entry.items()
        }
        for entry in raw
    ]
    return _dumps({"action": message.get("action", "snapshot"), "arg": arg, "data": data, **_top_ts(message)})
