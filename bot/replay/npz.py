"""Reader of the reference NPZ stream (``benchmarks/reference/gen_l2.py``), streamed in chunks.

Columns (one row per event): ``ts`` (int64 ns, exchange time), ``kind`` (0 snapshot
level, 1 level update, 2 trade), ``side`` (+1 bid / buy aggressor, -1 ask / sell
aggressor), ``price`` and ``qty`` (floats, multiples of the ``tick_size`` and
``lot_size`` stored in the file; qty 0 deletes a level). Metadata: ``tick_size``,
``lot_size``, ``symbol``.

Events: the leading kind-0 rows become one :class:`BookSnapshot`, every kind-1 row one
single-level :class:`BookDelta`, every kind-2 row one :class:`Trade`. ``exch_ts`` is
the row's ``ts``; the file records no receive time, so ``local_ts = ts +
feed_latency_ns`` (default 200 us, the feed latency of the shared benchmark's anchor
engines). Update ids are synthetic and satisfy both Binance sync rules: the snapshot
has id 1, the n-th delta has ``last_id = n + 1``, ``first_id = last_id`` (the first
delta starts at 1, straddling the snapshot) and ``prev_id = last_id - 1``. Trades are
numbered 1, 2, ...

Memory: the arrays are never loaded whole. Each ``.npy`` member of the zip is
decompressed as a stream, ``chunk`` rows at a time, and converted to Python ints per
chunk, so the reader's footprint is a few MB whatever the file size. Every chunk is
validated with numpy (kinds, sides, non-decreasing time, prices and sizes exact
multiples of tick and lot); a bad row is an :class:`~bot.errors.InputError` naming
the file and row.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Final

import msgspec
import numpy as np

from bot.core.events import BookDelta, BookSnapshot, Level, MarketEvent, Side, Trade
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.errors import InputError
from bot.replay.files import NPZ_COLUMNS, check_file

# Final aliases (C statics in the compiled build) of the event classes built for every row
_DELTA: Final[Any] = BookDelta
_TRADE: Final[Any] = Trade

DEFAULT_VENUE = "bench"
DEFAULT_FEED_LATENCY_NS = 200_000
DEFAULT_CHUNK = 65_536
BENCH_MAKER_FEE = Decimal("-0.00005")
BENCH_TAKER_FEE = Decimal("0.0005")
"""Fees of the shared benchmark's anchors (hftbacktest ``trading_value_fee_model``):
a 0.5 bp maker rebate and a 5 bp taker fee."""

_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD", "EUR", "BTC", "ETH")
_EXACT = 1e-6
"""Largest distance (in ticks or lots) of a float column value from an integer that
still counts as an exact multiple (float64 rounding of decimal prices)."""


def _split_symbol(symbol: str) -> tuple[str, str]:
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol, "USD"


def _decimal(value: Any) -> Decimal:
    return Decimal(repr(float(value)))


class _Column:
    """One ``.npy`` member of the zip, decompressed as a stream."""

    def __init__(self, archive: zipfile.ZipFile, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        try:
            self.handle: IO[bytes] = archive.open(f"{name}.npy")
            version = np.lib.format.read_magic(self.handle)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(self.handle)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(self.handle)
        except (KeyError, ValueError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise InputError(f"{path}: array {name!r} unreadable: {exc}") from None
        if len(shape) != 1 or fortran or dtype.hasobject:
            raise InputError(
                f"{path}: array {name!r} must be a flat numeric column, got shape {shape} {dtype}"
            )
        self.length = int(shape[0])
        self.dtype = dtype
        self.itemsize = dtype.itemsize

    def read(self, count: int, row: int) -> np.ndarray:
        want = count * self.itemsize
        try:
            data = self.handle.read(want)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise InputError(f"{self.path}: row {row}: array {self.name!r} is corrupt: {exc}") from None
        if len(data) != want:
            raise InputError(
                f"{self.path}: row {row + len(data) // self.itemsize}: array {self.name!r} ends early"
            )
        return np.frombuffer(data, dtype=self.dtype)

    def close(self) -> None:
        self.handle.close()


def npz_metadata(path: Path) -> tuple[str, Decimal, Decimal, int]:
    """(symbol, tick size, lot size, rows) of a reference NPZ file."""
    check_file(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [name for name in (*NPZ_COLUMNS, "tick_size", "lot_size") if name not in data.files]
            if missing:
                raise InputError(f"{path}: not a reference NPZ stream: missing arrays {', '.join(missing)}")
            tick = _decimal(data["tick_size"])
            lot = _decimal(data["lot_size"])
            symbol = str(data["symbol"]) if "symbol" in data.files else "BENCH"
    except (ValueError, OSError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise InputError(f"{path}: unreadable NPZ file: {exc}") from None
    if not (tick > 0 and lot > 0):
        raise InputError(f"{path}: tick_size {tick} and lot_size {lot} must be positive")
    symbol = symbol.upper() or "BENCH"
    if not symbol.replace("_", "").isalnum():
        raise InputError(f"{path}: symbol {symbol!r} is not a plain symbol name")
    with zipfile.ZipFile(path) as archive:
        rows = _Column(archive, "ts", path).length
    return symbol, tick, lot, rows


def bench_spec(symbol: str, tick: Decimal, lot: Decimal, venue: str = DEFAULT_VENUE) -> InstrumentSpec:
    """The instrument spec of an NPZ stream: tick and lot from the file, spot, the anchors' fees."""
    base, quote = _split_symbol(symbol)
    return InstrumentSpec(
        venue=venue,
        symbol=symbol,
        kind=InstrumentKind.SPOT,
        base=base,
        quote=quote,
        tick_size=tick,
        lot_size=lot,
        qty_step=lot,
        min_qty=lot,
        maker_fee=BENCH_MAKER_FEE,
        taker_fee=BENCH_TAKER_FEE,
    )


class NpzReader:
    """Streams the events of one NPZ file (see module doc). Single pass."""

    def __init__(
        self,
        path: Path,
        spec: InstrumentSpec,
        *,
        feed_latency_ns: int = DEFAULT_FEED_LATENCY_NS,
        chunk: int | None = None,
    ) -> None:
        symbol, tick, lot, rows = npz_metadata(path)
        if spec.tick_size != tick or spec.lot_size != lot:
            raise InputError(
                f"{path}: file tick/lot {tick}/{lot} do not match instrument {spec.key} "
                f"({spec.tick_size}/{spec.lot_size})"
            )
        if feed_latency_ns < 0:
            raise InputError(f"feed latency must be >= 0 ns, got {feed_latency_ns}")
        chunk = DEFAULT_CHUNK if chunk is None else chunk
        if chunk < 1:
            raise ValueError("chunk must be >= 1")
        self.path = path
        self.spec = spec
        self.symbol = symbol
        self.rows = rows
        self.feed_latency_ns = int(feed_latency_ns)
        self.chunk = chunk
        self.row = 0
        """Rows converted so far (chunk granularity)."""
        self._tick = float(tick)
        self._lot = float(lot)

    def fraction_done(self) -> float:
        return self.row / self.rows if self.rows else 1.0

    # ---- chunk conversion ----------------------------------------------------------------

    def _to_int(self, values: np.ndarray, unit: float, what: str, start: int) -> np.ndarray:
        scaled = values / unit
        ints = np.rint(scaled)
        bad = np.flatnonzero(~(np.abs(scaled - ints) <= _EXACT))
        if bad.size:
            i = int(bad[0])
            raise InputError(
                f"{self.path}: row {start + i}: {what} {values[i]!r} is not a multiple of "
                f"{self.spec.tick_size if what == 'price' else self.spec.lot_size}"
            )
        return ints.astype(np.int64)

    def _check(
        self, ts: np.ndarray, kind: np.ndarray, side: np.ndarray, qty: np.ndarray, start: int, last_ts: int
    ) -> None:
        problems = (
            (np.flatnonzero((kind < 0) | (kind > 2)), "kind must be 0, 1 or 2"),
            (np.flatnonzero((side != 1) & (side != -1)), "side must be +1 or -1"),
            (np.flatnonzero(qty < 0), "qty must be >= 0"),
            (np.flatnonzero((kind == 2) & (qty == 0)), "trade with qty 0"),
        )
        for rows, message in problems:
            if rows.size:
                i = int(rows[0])
                raise InputError(
                    f"{self.path}: row {start + i}: {message} (got kind {kind[i]}, side {side[i]}, qty {qty[i]})"
                )
        if ts.size:
            back = np.flatnonzero(np.diff(ts) < 0)
            if ts[0] < last_ts:
                back = np.concatenate(([-1], back))
            if back.size:
                i = int(back[0]) + 1
                raise InputError(
                    f"{self.path}: row {start + i}: time goes backwards ({ts[i]} after a later row)"
                )

    # ---- events --------------------------------------------------------------------------

    def __iter__(self) -> Iterator[MarketEvent]:
        return self._events()

    def _open_columns(self) -> tuple[zipfile.ZipFile, list[_Column]]:
        try:
            archive = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise InputError(f"{self.path}: unreadable NPZ file: {exc}") from None
        columns = [_Column(archive, name, self.path) for name in NPZ_COLUMNS]
        lengths = {c.name: c.length for c in columns}
        if len(set(lengths.values())) != 1:
            archive.close()
            raise InputError(f"{self.path}: columns have different lengths: {lengths}")
        return archive, columns

    def _events(self) -> Iterator[MarketEvent]:
        """The generator. One frame on purpose: the per-row loop is inlined (no
        ``yield from`` delegation in the hot path, each layer costs ~25 ns/event)."""
        archive, columns = self._open_columns()
        key = self.spec.key
        latency = self.feed_latency_ns
        rows = self.rows
        buy, sell = Side.BUY, Side.SELL
        snap_bids: list[Level] = []
        snap_asks: list[Level] = []
        snap_ts = 0
        in_snapshot = True
        first_delta = True
        deltas = 0  # deltas emitted before this chunk
        trades = 0
        last_ts = -(1 << 62)
        start = 0
        try:
            while start < rows:
                count = min(self.chunk, rows - start)
                ts, kind, side, price, qty = (column.read(count, start) for column in columns)
                self._check(ts, kind, side, qty, start, last_ts)
                last_ts = int(ts[-1])
                ticks = self._to_int(price, self._tick, "price", start)
                lots = self._to_int(qty, self._lot, "qty", start)
                offset = 0
                if in_snapshot:
                    not_snapshot = np.flatnonzero(kind != 0)
                    offset = int(not_snapshot[0]) if not_snapshot.size else count
                    if start == 0 and offset == 0:
                        raise InputError(
                            f"{self.path}: row 0: the stream does not start with snapshot rows (kind 0)"
                        )
                    for s, p, q in zip(
                        side[:offset].tolist(), ticks[:offset].tolist(), lots[:offset].tolist(), strict=True
                    ):
                        if q:
                            (snap_bids if s > 0 else snap_asks).append((p, q))
                    if offset:
                        snap_ts = int(ts[offset - 1])
                    if offset == count:
                        start += count
                        self.row = start
                        continue
                    in_snapshot = False
                    yield self._snapshot(snap_bids, snap_asks, snap_ts)
                body = slice(offset, count)
                later_snapshot = np.flatnonzero(kind[body] == 0)
                if later_snapshot.size:
                    raise InputError(
                        f"{self.path}: row {start + offset + int(later_snapshot[0])}: snapshot row (kind 0) "
                        "after the stream started; only a leading snapshot is supported"
                    )
                is_delta = kind[body] == 1
                code = np.where(is_delta, side[body] < 0, 2 + (side[body] < 0)).astype(np.int8)
                ids = np.where(is_delta, np.cumsum(is_delta) + (deltas + 1), np.cumsum(~is_delta) + trades)
                n_deltas = int(is_delta.sum())
                deltas += n_deltas
                trades += int(is_delta.size) - n_deltas
                start += count
                self.row = start
                at = 0
                if first_delta and n_deltas:
                    # The first delta straddles the snapshot id (1): ids 1..2. Rows up to it
                    # go through the slow path once; the rest through the loop below.
                    first_delta = False
                    at = int(np.flatnonzero(is_delta)[0]) + 1
                    head = slice(offset, offset + at)
                    for event in _convert(
                        key,
                        ts[head].tolist(),
                        (ts[head] + latency).tolist(),
                        code[:at].tolist(),
                        ticks[head].tolist(),
                        lots[head].tolist(),
                        ids[:at].tolist(),
                    ):
                        if type(event) is BookDelta:
                            event = msgspec.structs.replace(event, first_id=1)
                        yield event
                # The values stay Python objects (list[object]): compiled code passes them to the
                # events as they are instead of unboxing each into a C integer and boxing it again.
                rest = slice(offset + at, count)
                t_list: list[object] = ts[rest].tolist()
                l_list: list[object] = (ts[rest] + latency).tolist()
                k_list: list[int] = code[at:].tolist()
                p_list: list[object] = ticks[rest].tolist()
                q_list: list[object] = lots[rest].tolist()
                i_list: list[object] = ids[at:].tolist()
                prev_list: list[object] = (ids[at:] - 1).tolist()
                # ---- hot loop: one event per row (k: 0 bid level, 1 ask level, 2 buy
                # trade, 3 sell trade; i: the delta's update id or the trade's number)
                for j in range(len(k_list)):
                    k = k_list[j]
                    if k == 0:
                        yield _DELTA(
                            instrument=key,
                            local_ts=l_list[j],
                            exch_ts=t_list[j],
                            first_id=i_list[j],
                            last_id=i_list[j],
                            prev_id=prev_list[j],
                            bids=[(p_list[j], q_list[j])],
                            asks=[],
                        )
                    elif k == 1:
                        yield _DELTA(
                            instrument=key,
                            local_ts=l_list[j],
                            exch_ts=t_list[j],
                            first_id=i_list[j],
                            last_id=i_list[j],
                            prev_id=prev_list[j],
                            bids=[],
                            asks=[(p_list[j], q_list[j])],
                        )
                    else:
                        yield _TRADE(
                            instrument=key,
                            local_ts=l_list[j],
                            exch_ts=t_list[j],
                            price=p_list[j],
                            size=q_list[j],
                            side=buy if k == 2 else sell,
                            trade_id=i_list[j],
                        )
            if in_snapshot and (snap_bids or snap_asks):
                yield self._snapshot(snap_bids, snap_asks, snap_ts)
        finally:
            for column in columns:
                column.close()
            archive.close()

    def _snapshot(self, bids: list[Level], asks: list[Level], ts: int) -> BookSnapshot:
        bids.sort(reverse=True)
        asks.sort()
        return BookSnapshot(
            instrument=self.spec.key,
            local_ts=ts + self.feed_latency_ns,
            exch_ts=ts,
            update_id=1,
            bids=bids,
            asks=asks,
        )


def _convert(
    key: str,
    t_list: list[int],
    l_list: list[int],
    k_list: list[int],
    p_list: list[int],
    q_list: list[int],
    i_list: list[int],
) -> Iterator[MarketEvent]:
    """Rows -> events, the same as the hot loop in :meth:`NpzReader._events`."""
    for t, lt, k, p, q, i in zip(t_list, l_list, k_list, p_list, q_list, i_list, strict=True):
        if k < 2:
            level = [(p, q)]
            yield BookDelta(
                instrument=key,
                local_ts=lt,
                exch_ts=t,
                first_id=i,
                last_id=i,
                prev_id=i - 1,
                bids=level if k == 0 else [],
                asks=[] if k == 0 else level,
            )
        else:
            yield Trade(
                instrument=key,
                local_ts=lt,
                exch_ts=t,
                price=p,
                size=q,
                side=Side.BUY if k == 2 else Side.SELL,
                trade_id=i,
            )
