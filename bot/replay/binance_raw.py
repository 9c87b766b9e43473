"""Reader of raw Binance websocket recordings (hftbacktest's collector format).

One message per line, ``<local receive timestamp> <json>`` (gzip or plain; see
``tests/data/SOURCES.md``): timestamps in ns (2024 files) or µs (2023 ``.dat.gz``);
the JSON is a combined-stream envelope or, once per session, the raw REST depth
snapshot. Lines are decoded by the venue adapter's own pure decoder
(:class:`bot.venues.binance.messages.BinanceDecoder`), so replay sees exactly the
events a live run would; ``local_ts`` is the recorded receive time.

Each file is scanned once before replay (a cheap byte-level pass, no JSON decoding):
it finds the symbols (from the stream names), whether the diffs carry ``pu`` and
whether the snapshot carries ``E`` -- the venue is then decided by
:func:`bot.emulator.replay.detect_venue`, the emulator's own rule -- and it reports a
truncated or corrupt file before the replay starts. Files of one market (same venue
and symbols) are consecutive pieces of one connection: they are chained in the order
of their first timestamp (the order given does not matter). Markets are merged by
receive time by the caller.

Lines of streams the decoder does not know (``@depth20``, klines, ...) are counted and
skipped; anything else that cannot be decoded (bad JSON, a timestamp that is not an
integer, a price off the instrument's tick, a symbol the scan did not see) is an
:class:`~bot.errors.InputError` naming the file and line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from bot.core.events import MarketEvent
from bot.core.instrument import InstrumentSpec
from bot.emulator.replay import detect_venue, to_ns
from bot.errors import InputError
from bot.replay.files import LineFile
from bot.venues.binance.messages import BinanceDecoder, DecodeError

log = structlog.get_logger("bot.replay.binance")

_STREAM = b'"stream":"'


@dataclass
class FileScan:
    """What the pre-scan learned about one recording."""

    path: Path
    lines: int = 0
    first_ts: int | None = None
    symbols: list[str] = field(default_factory=list)
    has_pu: bool | None = None
    snapshots: int = 0
    snapshot_has_e: bool | None = None


def scan_file(path: Path) -> FileScan:
    """Byte-level pass over a recording (see module doc)."""
    scan = FileScan(path)
    seen: set[str] = set()
    source = LineFile(path)
    try:
        for line in source:
            if not line:
                continue
            stamp, _, payload = line.partition(b" ")
            if scan.first_ts is None:
                try:
                    scan.first_ts = to_ns(int(stamp))
                except ValueError:
                    raise InputError(
                        f"{path}:{source.line}: not a '<timestamp> <json>' recording line "
                        f"(timestamp {stamp[:30]!r})"
                    ) from None
            at = payload.find(_STREAM)
            if at >= 0:
                start = at + len(_STREAM)
                end = payload.find(b"@", start)
                if end > start:
                    symbol = payload[start:end].decode("ascii", "replace").upper()
                    if symbol not in seen:
                        seen.add(symbol)
                        scan.symbols.append(symbol)
                    if scan.has_pu is None and payload.startswith(b"depth", end + 1):
                        scan.has_pu = b'"pu":' in payload
            elif b'"lastUpdateId"' in payload:
                scan.snapshots += 1
                if scan.snapshot_has_e is None:
                    scan.snapshot_has_e = b'"E"' in payload
        scan.lines = source.line
    finally:
        source.close()
    if scan.first_ts is None:
        raise InputError(f"{path}: empty recording (no lines)")
    if not scan.symbols:
        raise InputError(f"{path}: no stream messages in this recording (nothing to replay)")
    if scan.snapshots and len(scan.symbols) > 1:
        raise InputError(
            f"{path}: snapshot line in a file with several symbols ({', '.join(scan.symbols)}); "
            "cannot tell which book it belongs to"
        )
    return scan


@dataclass
class RawMarket:
    """The chained files of one market (venue + symbols), in replay order."""

    venue: str
    symbols: tuple[str, ...]
    files: list[FileScan]

    @property
    def keys(self) -> list[str]:
        return [f"{self.venue}:{symbol}" for symbol in self.symbols]


def group_files(paths: Sequence[Path], venue: str | None = None) -> list[RawMarket]:
    """Scan ``paths`` and group them into markets (``venue`` forces every file's venue)."""
    groups: dict[tuple[str, tuple[str, ...]], list[FileScan]] = {}
    for path in paths:
        scan = scan_file(path)
        file_venue = detect_venue(
            path, has_pu=scan.has_pu, snapshot_has_e=scan.snapshot_has_e, explicit=venue
        )
        groups.setdefault((file_venue, tuple(sorted(scan.symbols))), []).append(scan)
    markets = []
    for (market_venue, symbols), scans in sorted(groups.items()):
        scans.sort(key=lambda s: s.first_ts or 0)
        markets.append(RawMarket(market_venue, symbols, scans))
    return markets


class RawMarketReader:
    """Events of one :class:`RawMarket`, its files chained in order."""

    def __init__(self, market: RawMarket, specs: Callable[[str], InstrumentSpec]) -> None:
        self.market = market
        self.specs = [specs(key) for key in market.keys]
        self.decoder = BinanceDecoder(market.venue, self.specs)
        self.skipped: dict[str, int] = {}
        self._source: LineFile | None = None
        self._file_index = 0
        self._lines_before = 0
        """Lines of the files already finished."""
        self._last = (market.files[0].path, 0)

    def location(self) -> str:
        source = self._source
        if source is None:
            return f"{self._last[0]}:{self._last[1]}"
        return f"{source.path}:{source.line}"

    @property
    def line(self) -> int:
        """Lines read so far, all files of the market together."""
        return self._lines_before + (0 if self._source is None else self._source.line)

    def fraction_done(self) -> float:
        files = self.market.files
        if self._source is None:
            return 0.0 if self._file_index < len(files) else 1.0
        return (self._file_index + self._source.fraction_done()) / len(files)

    def __iter__(self) -> Iterator[MarketEvent]:
        return self._events()

    def _events(self) -> Iterator[MarketEvent]:
        decoder = self.decoder
        decode = decoder.decode
        snapshot_key = self.market.keys[0]
        for index, scan in enumerate(self.market.files):
            self._file_index = index
            source = self._source = LineFile(scan.path)
            path = scan.path
            try:
                for line in source:
                    if not line:
                        continue
                    stamp, _, payload = line.partition(b" ")
                    try:
                        local_ts = to_ns(int(stamp))
                    except ValueError:
                        raise InputError(
                            f"{path}:{source.line}: not a '<timestamp> <json>' recording line "
                            f"(timestamp {stamp[:30]!r})"
                        ) from None
                    try:
                        if payload.startswith(b'{"stream"') or b'"lastUpdateId"' not in payload:
                            event = decode(payload, local_ts)
                        else:
                            event = decoder.decode_snapshot(payload, snapshot_key, local_ts)
                    except DecodeError as exc:
                        if exc.kind == "unknown_stream":
                            self.skipped[str(exc)] = self.skipped.get(str(exc), 0) + 1
                            continue
                        hint = ""
                        if exc.kind == "off_tick":
                            hint = (
                                " (the instrument spec does not fit this recording: "
                                + ", ".join(
                                    f"{spec.key} tick {spec.tick_size} lot {spec.lot_size}"
                                    for spec in self.specs
                                )
                                + ")"
                            )
                        raise InputError(f"{path}:{source.line}: {exc}{hint}") from None
                    if event is not None:
                        yield event
            finally:
                source.close()
            self._last = (path, source.line)
            self._lines_before += source.line
            self._source = None
        self._file_index = len(self.market.files)
        if self.skipped:
            log.info("replay skipped unknown streams", market=self.market.keys, skipped=self.skipped)
