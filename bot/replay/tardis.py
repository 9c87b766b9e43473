"""Readers of Tardis.dev CSV exports: ``incremental_book_L2`` and ``trades``.

Formats (tests/data/SOURCES.md, Tardis "CSV datasets"; timestamps in µs since the
epoch, ``timestamp`` = exchange time, ``local_timestamp`` = Tardis receive time):

- book: ``exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount``;
  ``side`` is ``bid``/``ask``, ``amount`` the level's *new absolute size* (0 deletes
  it). Rows of one exchange message share ``local_timestamp``: consecutive rows of one
  symbol with the same ``local_timestamp`` and ``is_snapshot`` become one event -- a
  :class:`BookSnapshot` when ``is_snapshot`` is true (Tardis repeats a full snapshot
  after a reconnection), else one :class:`BookDelta`.
- trades: ``exchange,symbol,timestamp,local_timestamp,id,side,price,amount``; ``side``
  is the taker side ``buy``/``sell`` (``unknown`` rows are counted and skipped: a
  :class:`Trade` needs an aggressor).

Tardis drops the venue's update ids, so ids are synthetic and contiguous per symbol:
a snapshot takes id ``L`` and the next delta covers ``L..L+1`` (so it straddles the
snapshot under both Binance rules: spot ``U <= L+1 <= u``, USD-M ``U <= L <= u``),
every later delta ``n..n`` with ``first_id = previous last_id + 1`` and ``prev_id =
previous last_id``; the standard sync therefore accepts the stream and a real gap can
no longer be detected (there is none to detect in an export).

Exchanges map to venues by :data:`TARDIS_VENUES`; any other exchange needs an
explicit instrument spec whose symbol matches (its venue is then used as it is).
Prices and amounts are parsed exactly (decimal text, scientific notation accepted);
a value off the instrument's tick or lot is an :class:`~bot.errors.InputError` naming
the file and line.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

import structlog

from bot.core.events import BookDelta, BookSnapshot, Level, MarketEvent, Side, Trade
from bot.core.instrument import ConversionError, DecimalScaler, InstrumentSpec
from bot.errors import InputError
from bot.replay.files import TARDIS_BOOK_COLUMNS, TARDIS_TRADE_COLUMNS, LineFile

log = structlog.get_logger("bot.replay.tardis")

TARDIS_VENUES = {"binance-futures": "binance_usdm", "binance": "binance_spot"}
"""Tardis exchange id -> mmbot venue."""

_TRUE = {"true", "True", "1"}
_FALSE = {"false", "False", "0"}
_CACHE_LIMIT = 100_000


class _Scaler:
    """Exact text -> integer count of one increment, memoised."""

    __slots__ = ("cache", "scaler")

    def __init__(self, scaler: DecimalScaler) -> None:
        self.scaler = scaler
        self.cache: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        value = self.cache.get(text)
        if value is None:
            if "e" in text or "E" in text:
                value = self.scaler.from_decimal(Decimal(text))
            else:
                value = self.scaler.to_int(text)
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            self.cache[text] = value
        return value


class TardisInstrument:
    """Per-symbol conversion and id state, shared by every file of that symbol."""

    __slots__ = ("after_snapshot", "key", "last_id", "price", "size")

    def __init__(self, spec: InstrumentSpec) -> None:
        self.key = spec.key
        self.price = _Scaler(spec.prices)
        self.size = _Scaler(spec.sizes)
        self.last_id = 0
        self.after_snapshot = False


def scan_symbols(path: Path, columns: tuple[str, ...]) -> list[tuple[str, str]]:
    """(exchange, symbol) pairs in the file, in order of appearance (header checked)."""
    pairs: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    source = LineFile(path)
    try:
        lines = iter(source)
        header = next(lines, b"")
        if tuple(header.decode("utf-8", "replace").lstrip("\ufeff").split(",")) != columns:
            raise InputError(f"{path}:1: expected the Tardis header {','.join(columns)}")
        for line in lines:
            exchange, _, rest = line.partition(b",")
            symbol = rest.partition(b",")[0]
            pair = (exchange.decode("utf-8", "replace"), symbol.decode("utf-8", "replace"))
            if pair not in seen and line:
                seen.add(pair)
                pairs.append(pair)
    finally:
        source.close()
    if not pairs:
        raise InputError(f"{path}: no data rows after the header")
    return pairs


def instrument_table(specs: dict[tuple[str, str], InstrumentSpec]) -> dict[tuple[str, str], TardisInstrument]:
    """The shared per-symbol state for the readers of one replay."""
    return {pair: TardisInstrument(spec) for pair, spec in specs.items()}


def instrument_key(exchange: str, symbol: str) -> str:
    """The mmbot instrument key of a Tardis (exchange, symbol) with a known venue."""
    venue = TARDIS_VENUES.get(exchange)
    if venue is None:
        raise KeyError(exchange)
    return f"{venue}:{symbol.upper()}"


class _CsvReader:
    """Shared parts: line-numbered CSV rows and the instrument table."""

    columns: tuple[str, ...] = ()

    def __init__(self, path: Path, instruments: dict[tuple[str, str], TardisInstrument]) -> None:
        self.path = path
        self._instruments = instruments
        self._source: LineFile | None = None

    def location(self) -> str:
        return f"{self.path}:{self._source.line if self._source else 0}"

    @property
    def line(self) -> int:
        return 0 if self._source is None else self._source.line

    def fraction_done(self) -> float:
        return self._source.fraction_done() if self._source else 0.0

    def _rows(self) -> Iterator[list[str]]:
        source = self._source = LineFile(self.path)
        try:
            text = (line.decode("utf-8", "replace") for line in source)
            rows = csv.reader(text)
            header = next(rows, [])
            if header and header[0].startswith("\ufeff"):
                header[0] = header[0][1:]
            if tuple(header) != self.columns:
                raise InputError(f"{self.path}:1: expected the Tardis header {','.join(self.columns)}")
            width = len(self.columns)
            for row in rows:
                if len(row) != width:
                    if not row:
                        continue
                    raise InputError(f"{self.path}:{source.line}: expected {width} fields, got {len(row)}")
                yield row
        finally:
            source.close()

    def _instrument(self, exchange: str, symbol: str) -> TardisInstrument:
        instrument = self._instruments.get((exchange, symbol))
        if instrument is None:
            raise InputError(
                f"{self.path}:{self.line}: {exchange} {symbol} was not seen when the file was scanned"
            )
        return instrument

    def _bad(self, exc: Exception, row: list[str]) -> InputError:
        return InputError(f"{self.path}:{self.line}: bad row {','.join(row)!r}: {exc}")


class TardisBookReader(_CsvReader):
    """``incremental_book_L2`` rows -> snapshots and deltas (see module doc)."""

    columns = TARDIS_BOOK_COLUMNS

    def __iter__(self) -> Iterator[MarketEvent]:
        return self._events()

    def _events(self) -> Iterator[MarketEvent]:
        group: tuple[str, str, str, bool] | None = None
        bids: list[Level] = []
        asks: list[Level] = []
        exch_ts = 0
        instrument: TardisInstrument | None = None
        for row in self._rows():
            exchange, symbol, timestamp, local, snapshot_text, side, price, amount = row
            if snapshot_text in _TRUE:
                is_snapshot = True
            elif snapshot_text in _FALSE:
                is_snapshot = False
            else:
                raise self._bad(ValueError(f"is_snapshot must be true/false, got {snapshot_text!r}"), row)
            key = (exchange, symbol, local, is_snapshot)
            if key != group:
                if group is not None and instrument is not None:
                    yield self._message(instrument, group, exch_ts, bids, asks)
                group = key
                instrument = self._instrument(exchange, symbol)
                bids, asks = [], []
                try:
                    exch_ts = int(timestamp) * 1000
                    int(local)
                except ValueError as exc:
                    raise self._bad(exc, row) from None
            assert instrument is not None
            try:
                level = (instrument.price(price), instrument.size(amount))
            except (ConversionError, InvalidOperation, ValueError) as exc:
                raise self._bad(exc, row) from None
            if side == "bid":
                bids.append(level)
            elif side == "ask":
                asks.append(level)
            else:
                raise self._bad(ValueError(f"side must be bid/ask, got {side!r}"), row)
        if group is not None and instrument is not None:
            yield self._message(instrument, group, exch_ts, bids, asks)

    @staticmethod
    def _message(
        instrument: TardisInstrument,
        group: tuple[str, str, str, bool],
        exch_ts: int,
        bids: list[Level],
        asks: list[Level],
    ) -> MarketEvent:
        local_ts = int(group[2]) * 1000
        if group[3]:
            instrument.last_id += 1
            instrument.after_snapshot = True
            bids = sorted((level for level in bids if level[1]), reverse=True)
            asks = sorted(level for level in asks if level[1])
            return BookSnapshot(
                instrument=instrument.key,
                local_ts=local_ts,
                exch_ts=exch_ts,
                update_id=instrument.last_id,
                bids=bids,
                asks=asks,
                checksum=None,
            )
        previous = instrument.last_id
        instrument.last_id = previous + 1
        straddle = instrument.after_snapshot
        instrument.after_snapshot = False
        return BookDelta(
            instrument=instrument.key,
            local_ts=local_ts,
            exch_ts=exch_ts,
            first_id=previous if straddle else previous + 1,
            last_id=previous + 1,
            prev_id=previous,
            bids=bids,
            asks=asks,
        )


class TardisTradesReader(_CsvReader):
    """``trades`` rows -> :class:`Trade` events."""

    columns = TARDIS_TRADE_COLUMNS

    def __init__(self, path: Path, instruments: dict[tuple[str, str], TardisInstrument]) -> None:
        super().__init__(path, instruments)
        self.unknown_side = 0

    def __iter__(self) -> Iterator[MarketEvent]:
        return self._events()

    def _events(self) -> Iterator[MarketEvent]:
        buy, sell = Side.BUY, Side.SELL
        for row in self._rows():
            exchange, symbol, timestamp, local, trade_id, side_text, price, amount = row
            instrument = self._instrument(exchange, symbol)
            if side_text == "buy":
                side = buy
            elif side_text == "sell":
                side = sell
            elif side_text == "unknown":
                self.unknown_side += 1
                continue
            else:
                raise self._bad(ValueError(f"side must be buy/sell/unknown, got {side_text!r}"), row)
            try:
                yield Trade(
                    instrument=instrument.key,
                    local_ts=int(local) * 1000,
                    exch_ts=int(timestamp) * 1000,
                    price=instrument.price(price),
                    size=instrument.size(amount),
                    side=side,
                    trade_id=int(trade_id) if trade_id.isdigit() else 0,
                )
            except (ConversionError, InvalidOperation, ValueError) as exc:
                raise self._bad(exc, row) from None
        if self.unknown_side:
            log.warning(
                "tardis trades without aggressor side skipped", path=str(self.path), rows=self.unknown_side
            )


def resolve_instruments(
    pairs: list[tuple[str, str]],
    explicit: list[InstrumentSpec],
    lookup: Callable[[str], InstrumentSpec],
    path: Path,
) -> dict[tuple[str, str], InstrumentSpec]:
    """A spec for every (exchange, symbol): an explicit spec whose symbol matches wins;
    otherwise the exchange must be one of :data:`TARDIS_VENUES` and ``lookup`` gives it."""
    out: dict[tuple[str, str], InstrumentSpec] = {}
    for exchange, symbol in pairs:
        wanted = symbol.upper().replace("-", "").replace("_", "").replace("/", "")
        matches = [
            spec
            for spec in explicit
            if spec.symbol.upper().replace("-", "").replace("_", "") == wanted
            and (exchange not in TARDIS_VENUES or spec.venue == TARDIS_VENUES[exchange])
        ]
        if len(matches) == 1:
            out[(exchange, symbol)] = matches[0]
            continue
        if len(matches) > 1:
            raise InputError(
                f"{path}: several instrument specs match {exchange} {symbol}: {[s.key for s in matches]}"
            )
        try:
            key = instrument_key(exchange, symbol)
        except KeyError:
            raise InputError(
                f"{path}: Tardis exchange {exchange!r} ({symbol}) has no mmbot venue (known: "
                f"{', '.join(sorted(TARDIS_VENUES))}); pass an instrument spec for {symbol} to replay it"
            ) from None
        out[(exchange, symbol)] = lookup(key)
    return out
