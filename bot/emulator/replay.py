"""Replay source: raw Binance websocket recordings as an emulator timeline.

Format (``data/SOURCES.md`` of the project, hftbacktest's collector): one message per
line, ``<local receive timestamp> <json>``, gzip-compressed when the name ends in
``.gz``. Timestamps are nanoseconds (2024 files, 19 digits) or microseconds (2023
``.dat.gz`` files, 16 digits); milliseconds are accepted too. The JSON is a
combined-stream envelope ``{"stream":..,"data":..}`` or, once per session, the raw
REST depth snapshot ``{"lastUpdateId":..}``.

Loading rules:

- Venue per file: USD-M if its diffs carry ``pu`` or its snapshot carries ``E``;
  spot if its diffs lack ``pu``; otherwise from the file name (``usdm``/``futures``
  vs ``spot``); an explicit ``venue`` argument wins over both.
- Files of one (venue, symbol) are consecutive pieces of one connection (day files):
  they are ordered by their first timestamp and concatenated. The first snapshot of
  the group seeds the exchange book; diffs it already covers (spot ``u <= L``,
  USD-M ``u < L``) are skipped; the first kept diff must straddle the snapshot
  (spot ``U <= L+1 <= u``, USD-M ``U <= L <= u``) or the recording is rejected.
  A later break in the id chain is kept (it is in the data) and logged.
- Several groups (symbols, venues) are merged by timestamp.
- Every problem is an :class:`~bot.errors.InputError` naming the file (and line).
"""

from __future__ import annotations

import gzip
import heapq
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import structlog

from bot.emulator.book import ExchangeBook, RawLevel
from bot.emulator.protocol import parse_stream
from bot.emulator.source import Item, SourcePass
from bot.errors import InputError

log = structlog.get_logger("bot.emulator.replay")

VENUES = ("binance_spot", "binance_usdm")


class _Line(msgspec.Struct):
    stream: str | None = None
    data: msgspec.Raw = msgspec.Raw()
    lastUpdateId: int | None = None


class _Depth(msgspec.Struct):
    U: int
    u: int
    b: list[RawLevel]
    a: list[RawLevel]
    E: int = 0
    pu: int | None = None


class _Trade(msgspec.Struct):
    X: str | None = None


class _Snapshot(msgspec.Struct):
    lastUpdateId: int
    bids: list[RawLevel]
    asks: list[RawLevel]
    E: int = 0


_LINE = msgspec.json.Decoder(_Line)
_DEPTH = msgspec.json.Decoder(_Depth)
_TRADE = msgspec.json.Decoder(_Trade)
_SNAPSHOT = msgspec.json.Decoder(_Snapshot)


def to_ns(stamp: int) -> int:
    """Recorded timestamps in ms, µs or ns since the epoch -> ns."""
    if stamp < 10**14:
        return stamp * 1_000_000
    if stamp < 10**17:
        return stamp * 1_000
    return stamp


@dataclass
class _Snap:
    ts_ns: int
    last_id: int
    bids: list[RawLevel]
    asks: list[RawLevel]
    exch_ms: int


@dataclass
class _FileContent:
    path: Path
    items: list[Item] = field(default_factory=list)
    snapshots: list[_Snap] = field(default_factory=list)
    symbols: set[str] = field(default_factory=set)
    has_pu: bool | None = None
    snapshot_has_e: bool | None = None
    skipped_streams: int = 0


@dataclass
class ReplayMarket:
    """One (venue, symbol) session assembled from its files."""

    venue: str
    symbol: str
    files: list[Path]
    snapshot: _Snap
    items: list[Item]
    diffs: int
    skipped_diffs: int
    chain_breaks: int

    @property
    def span_s(self) -> float:
        if not self.items:
            return 0.0
        return (self.items[-1].ts_ns - self.items[0].ts_ns) / 1e9


def _read_lines(path: Path) -> list[bytes]:
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as handle:
                return handle.read().splitlines()
        return path.read_bytes().splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: replay file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a recording") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: cannot read recording: {exc}") from None


def _parse_file(path: Path) -> _FileContent:
    content = _FileContent(path)
    for number, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        stamp, _, payload = line.partition(b" ")
        try:
            ts_ns = to_ns(int(stamp))
            parsed = _LINE.decode(payload)
        except (ValueError, msgspec.DecodeError) as exc:
            raise InputError(f"{path}:{number}: not a '<timestamp> <json>' recording line ({exc})") from None
        if parsed.stream is None:
            if parsed.lastUpdateId is None:
                raise InputError(f"{path}:{number}: JSON is neither a stream message nor a depth snapshot")
            try:
                snap = _SNAPSHOT.decode(payload)
            except msgspec.DecodeError as exc:
                raise InputError(f"{path}:{number}: bad depth snapshot: {exc}") from None
            content.snapshots.append(_Snap(ts_ns, snap.lastUpdateId, snap.bids, snap.asks, snap.E))
            if content.snapshot_has_e is None:
                content.snapshot_has_e = b'"E"' in payload
            continue
        stream = parse_stream(parsed.stream)
        if stream is None or not parsed.data:
            content.skipped_streams += 1
            continue
        symbol, kind = stream
        content.symbols.add(symbol)
        data = bytes(parsed.data)
        text = data.decode()
        if kind == "depth":
            try:
                depth = _DEPTH.decode(data)
            except msgspec.DecodeError as exc:
                raise InputError(f"{path}:{number}: bad depthUpdate: {exc}") from None
            if content.has_pu is None:
                content.has_pu = depth.pu is not None
            content.items.append(
                Item(
                    ts_ns,
                    "",
                    symbol,
                    "depth",
                    text,
                    exch_ms=depth.E,
                    first_id=depth.U,
                    last_id=depth.u,
                    prev_id=depth.pu if depth.pu is not None else -1,
                    bids=depth.b,
                    asks=depth.a,
                )
            )
        elif kind == "trade":
            try:
                trade = _TRADE.decode(data)
            except msgspec.DecodeError as exc:
                raise InputError(f"{path}:{number}: bad trade: {exc}") from None
            market = trade.X is None or trade.X == "MARKET"
            content.items.append(Item(ts_ns, "", symbol, kind, text, market_trade=market))
        else:
            content.items.append(Item(ts_ns, "", symbol, kind, text))
    if not content.items and not content.snapshots:
        raise InputError(f"{path}: no recorded messages")
    return content


def _detect_venue(content: _FileContent, explicit: str | None) -> str:
    return detect_venue(
        content.path, has_pu=content.has_pu, snapshot_has_e=content.snapshot_has_e, explicit=explicit
    )


def detect_venue(
    path: Path, *, has_pu: bool | None, snapshot_has_e: bool | None, explicit: str | None
) -> str:
    """The venue of one recording (rules in the module doc). ``has_pu``: whether its
    diffs carry ``pu`` (None: no diff seen); ``snapshot_has_e``: whether its snapshot
    line carries ``E`` (None: no snapshot). Also used by :mod:`bot.replay`."""
    if explicit is not None:
        if explicit not in VENUES:
            raise InputError(f"unknown venue {explicit!r}; expected one of {', '.join(VENUES)}")
        return explicit
    if has_pu is not None:
        return "binance_usdm" if has_pu else "binance_spot"
    if snapshot_has_e:
        return "binance_usdm"
    name = path.name.lower() + " " + path.parent.name.lower()
    if any(hint in name for hint in ("usdm", "futures", "fapi", "perp")):
        return "binance_usdm"
    if "spot" in name:
        return "binance_spot"
    raise InputError(
        f"{path}: cannot tell whether this is a Binance spot or USD-M recording "
        "(no diff-depth messages and no hint in the file name)"
    )


def _assemble(venue: str, symbol: str, contents: list[_FileContent]) -> ReplayMarket:
    contents.sort(key=lambda c: c.items[0].ts_ns if c.items else c.snapshots[0].ts_ns)
    files = [c.path for c in contents]
    names = ", ".join(str(p) for p in files)
    snapshots = [snap for c in contents for snap in c.snapshots]
    if not snapshots:
        raise InputError(
            f"{names}: no REST depth snapshot line for {venue}:{symbol}; a diff stream cannot be "
            "served without one (give the day file that contains the snapshot first)"
        )
    snapshot = snapshots[0]
    if len(snapshots) > 1:
        log.warning("extra snapshot lines ignored", market=f"{venue}:{symbol}", count=len(snapshots) - 1)
    usdm = venue == "binance_usdm"
    last_id = snapshot.last_id
    items: list[Item] = []
    kept: list[Item] = []
    skipped = breaks = 0
    previous: Item | None = None
    for content in contents:
        for item in content.items:
            if item.symbol != symbol:
                continue
            item.venue = venue
            if item.kind == "depth":
                if previous is None:
                    covered = item.last_id < last_id if usdm else item.last_id <= last_id
                    if covered:
                        skipped += 1
                        continue
                    straddles = (
                        item.first_id <= last_id <= item.last_id
                        if usdm
                        else item.first_id <= last_id + 1 <= item.last_id
                    )
                    if not straddles:
                        raise InputError(
                            f"{names}: {venue}:{symbol}: snapshot lastUpdateId {last_id} does not connect "
                            f"to the diff stream (first later diff covers {item.first_id}..{item.last_id})"
                        )
                else:
                    if (usdm and item.prev_id != previous.last_id) or (
                        not usdm and item.first_id != previous.last_id + 1
                    ):
                        breaks += 1
                        log.warning(
                            "recorded diff stream has a gap",
                            market=f"{venue}:{symbol}",
                            after=previous.last_id,
                            first=item.first_id,
                        )
                    previous.next_first_id = item.first_id
                previous = item
                kept.append(item)
            items.append(item)
    return ReplayMarket(venue, symbol, files, snapshot, items, len(kept), skipped, breaks)


class ReplaySource:
    """Recorded Binance sessions, merged by receive time (see module doc)."""

    def __init__(self, markets: Sequence[ReplayMarket]) -> None:
        if not markets:
            raise InputError("no recordings to replay")
        self.replay_markets = list(markets)
        self._timeline = list(heapq.merge(*(m.items for m in markets), key=lambda item: item.ts_ns))

    @classmethod
    def from_files(cls, paths: Sequence[Path | str], *, venue: str | None = None) -> ReplaySource:
        """Load recordings; ``venue`` forces the venue of every file."""
        if not paths:
            raise InputError("no replay files given")
        groups: dict[tuple[str, str], list[_FileContent]] = {}
        for raw_path in paths:
            path = Path(raw_path)
            content = _parse_file(path)
            file_venue = _detect_venue(content, venue)
            if len(content.symbols) > 1 and content.snapshots:
                raise InputError(
                    f"{path}: snapshot line in a file with several symbols "
                    f"({', '.join(sorted(content.symbols))}); cannot tell which book it belongs to"
                )
            if not content.symbols:
                raise InputError(f"{path}: no stream messages the emulator can serve")
            for symbol in sorted(content.symbols):
                groups.setdefault((file_venue, symbol), []).append(content)
        markets = [_assemble(v, s, contents) for (v, s), contents in sorted(groups.items())]
        for market in markets:
            log.info(
                "replay loaded",
                market=f"{market.venue}:{market.symbol}",
                files=[p.name for p in market.files],
                messages=len(market.items),
                diffs=market.diffs,
                snapshot_id=market.snapshot.last_id,
                span_s=round(market.span_s, 1),
            )
        return cls(markets)

    @property
    def description(self) -> str:
        names = sorted({p.name for m in self.replay_markets for p in m.files})
        return "replay of " + ", ".join(names)

    def markets(self) -> list[tuple[str, str]]:
        return [(m.venue, m.symbol) for m in self.replay_markets]

    def __len__(self) -> int:
        return len(self._timeline)

    def truncated(self, seconds: float) -> ReplaySource:
        """The first ``seconds`` of every market (by receive time), e.g. for quick tests."""
        return self._clipped(lambda market: market.items[0].ts_ns + int(seconds * 1e9))

    def common_window(self) -> ReplaySource:
        """Every market clipped to the earliest end among them, so that no venue goes
        silent while another still plays (e.g. the bundled spot recording runs 650 s,
        the USD-M one 345 s). Unchanged when there is one market or the recordings do
        not overlap in time."""
        timed = [m for m in self.replay_markets if m.items]
        if len(timed) < 2:
            return self
        end = min(m.items[-1].ts_ns for m in timed)
        if end <= max(m.items[0].ts_ns for m in timed):
            log.warning("recordings do not overlap in time; replaying each to its end")
            return self
        return self._clipped(lambda market: end)

    def clipped_at(self, end_ns: int) -> ReplaySource:
        """Every market up to receive time ``end_ns``."""
        return self._clipped(lambda market: end_ns)

    def _clipped(self, end_of: Callable[[ReplayMarket], int]) -> ReplaySource:
        markets = []
        for market in self.replay_markets:
            if not market.items:
                markets.append(market)
                continue
            end = end_of(market)
            items = [item for item in market.items if item.ts_ns <= end]
            diffs = sum(1 for item in items if item.kind == "depth")
            markets.append(
                ReplayMarket(
                    market.venue,
                    market.symbol,
                    market.files,
                    market.snapshot,
                    items,
                    diffs,
                    market.skipped_diffs,
                    market.chain_breaks,
                )
            )
        return ReplaySource(markets)

    def open_pass(self) -> SourcePass:
        books: dict[tuple[str, str], ExchangeBook] = {}
        for market in self.replay_markets:
            snap = market.snapshot
            first = next((item for item in market.items if item.kind == "depth"), None)
            books[(market.venue, market.symbol)] = ExchangeBook(
                market.venue,
                market.symbol,
                snap.bids,
                snap.asks,
                snap.last_id,
                next_first_id=first.first_id if first is not None else None,
                exch_ms=snap.exch_ms,
            )
        return SourcePass(books, self._iterate())

    def _iterate(self) -> Iterator[Item]:
        yield from self._timeline
