"""Replay input: recorded files (or a synthetic scenario) as a stream of core events.

:func:`open_replay` is the one entry point. It detects the format from the content,
resolves an :class:`~bot.core.instrument.InstrumentSpec` for every instrument in the
input, and returns a :class:`ReplayInput` that yields core market events
(:mod:`bot.core.events`) in input order, with ``local_ts`` = the recorded receive time
(event time is the replay clock). Sans-IO except reading the files: no sockets, no
clock, deterministic -- the same input gives the same event sequence, so a driver
resumes by re-reading and skipping the events it already handled.

Formats (``fmt``; ``"auto"`` detects):

- ``binance``: raw Binance recordings (:mod:`bot.replay.binance_raw`); several files
  may be given -- day files of one market are chained, markets are merged by time.
- ``tardis``: Tardis ``incremental_book_L2`` and/or ``trades`` CSV (plain or gzip;
  :mod:`bot.replay.tardis`), merged by receive time.
- ``npz``: the reference benchmark stream of ``benchmarks/reference/gen_l2.py``
  (:mod:`bot.replay.npz`), streamed in chunks; its instrument is built from the file
  (venue ``npz_venue``, default ``bench``) unless an explicit spec matches its symbol.
- ``synthetic``: ``"synthetic:<scenario>[?seed=N&duration=S&start=T]"`` (:mod:`bot.replay.synthetic`).

Instrument specs (``specs``): a spec, a list of specs, a ``{key: spec}`` mapping or a
lookup function ``key -> spec``. Explicit specs win; other keys are looked up in the
market cache shipped with mmbot (offline, never the network). Every user-facing
problem is an :class:`~bot.errors.InputError` naming the file and line (or row).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal, Protocol, TypeAlias

from bot.core.events import MarketEvent
from bot.core.instrument import InstrumentSpec
from bot.errors import InputError
from bot.replay import binance_raw, npz, synthetic, tardis
from bot.replay.files import TARDIS_BOOK_COLUMNS, TARDIS_TRADE_COLUMNS, Format, detect_format

ReplayFormat = Literal["auto", "binance", "tardis", "npz", "synthetic"]
FORMATS: tuple[str, ...] = ("auto", "binance", "tardis", "npz", "synthetic")
SpecSource: TypeAlias = (
    InstrumentSpec | Mapping[str, InstrumentSpec] | Iterable[InstrumentSpec] | Callable[[str], InstrumentSpec]
)


class _Source(Protocol):
    """One reader: an event iterable with a position."""

    @property
    def line(self) -> int: ...

    def location(self) -> str: ...

    def fraction_done(self) -> float: ...

    def __iter__(self) -> Iterator[MarketEvent]: ...


def shipped_spec(key: str) -> InstrumentSpec:
    """The spec of ``key`` from the market cache shipped with mmbot, or an InputError."""
    from bot.venues.metadata_cache import SHIPPED_CACHE, CacheFile

    cache = CacheFile.read(SHIPPED_CACHE)
    entry = cache.get(key) if cache is not None else None
    if entry is None:
        raise InputError(
            f"no instrument spec for {key}: not in the market cache shipped with mmbot "
            f"({SHIPPED_CACHE}); give its spec explicitly (tick size, lot size, ...)"
        )
    return entry.spec


def _normalise_specs(
    specs: SpecSource | None,
) -> tuple[list[InstrumentSpec], Callable[[str], InstrumentSpec]]:
    """(explicit specs, lookup by key) -- explicit specs first, then ``fallback``."""
    explicit: list[InstrumentSpec] = []
    fallback: Callable[[str], InstrumentSpec] = shipped_spec
    if specs is None:
        pass
    elif isinstance(specs, InstrumentSpec):
        explicit = [specs]
    elif isinstance(specs, Mapping):
        explicit = list(specs.values())
    elif callable(specs):
        fallback = specs
    else:
        explicit = list(specs)
    for spec in explicit:
        if not isinstance(spec, InstrumentSpec):
            raise TypeError(f"specs must hold InstrumentSpec values, got {type(spec).__name__}")
    by_key = {spec.key: spec for spec in explicit}

    def lookup(key: str) -> InstrumentSpec:
        spec = by_key.get(key)
        return spec if spec is not None else fallback(key)

    return explicit, lookup


class ReplayInput:
    """An opened replay input. Iterate once for the events; close when done.

    - ``instruments``: the instrument keys of the input (build the engine from
      ``specs``); ``fmt``, ``paths``, ``description`` say what was opened.
    - ``position``: input lines (text formats, all files together), rows (NPZ, advanced
      a chunk at a time) or events (synthetic) consumed so far -- for progress and
      messages. The position a driver resumes from is its own count of events handled:
      the event sequence is deterministic.
    - ``location()``: where the reader is, ``"FILE:LINE"`` (or ``"FILE: row N"``).
    - ``fraction_done()``: share of the input consumed (bytes, rows or simulated time).
    """

    def __init__(
        self,
        fmt: str,
        paths: Sequence[Path],
        specs: Mapping[str, InstrumentSpec],
        sources: Sequence[_Source],
        description: str,
    ) -> None:
        self.fmt = fmt
        self.paths = tuple(paths)
        self.specs = dict(specs)
        self.description = description
        self._sources = list(sources)
        self._iterators: list[Iterator[MarketEvent]] = []
        self._current = 0
        self._started = False

    @property
    def instruments(self) -> list[str]:
        return list(self.specs)

    @property
    def position(self) -> int:
        return sum(source.line for source in self._sources)

    def location(self) -> str:
        return self._sources[self._current].location()

    def fraction_done(self) -> float:
        return sum(source.fraction_done() for source in self._sources) / len(self._sources)

    def __iter__(self) -> Iterator[MarketEvent]:
        if self._started:
            raise RuntimeError("a ReplayInput is iterated once; open the input again to re-read it")
        self._started = True
        self._iterators = [iter(source) for source in self._sources]
        if len(self._iterators) == 1:
            return self._iterators[0]
        return self._merge()

    def _merge(self) -> Iterator[MarketEvent]:
        """Sources merged by ``local_ts``; ties go to the earlier source (stable)."""
        heap: list[tuple[int, int, MarketEvent, Iterator[MarketEvent]]] = []
        for index, iterator in enumerate(self._iterators):
            event = next(iterator, None)
            if event is not None:
                heap.append((event.local_ts, index, event, iterator))
        heapq.heapify(heap)
        while heap:
            _, index, event, iterator = heap[0]
            self._current = index
            yield event
            following = next(iterator, None)
            if following is None:
                heapq.heappop(heap)
            else:
                heapq.heapreplace(heap, (following.local_ts, index, following, iterator))

    def close(self) -> None:
        for iterator in self._iterators:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def __enter__(self) -> ReplayInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _paths(source: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(source, (str, Path)):
        return [Path(source)]
    paths = [Path(item) for item in source]
    if not paths:
        raise InputError("no replay input given")
    return paths


def open_replay(
    source: str | Path | Sequence[str | Path],
    *,
    specs: SpecSource | None = None,
    fmt: ReplayFormat | str = "auto",
    venue: str | None = None,
    npz_venue: str = npz.DEFAULT_VENUE,
    feed_latency_ns: int = npz.DEFAULT_FEED_LATENCY_NS,
    instruments: Sequence[str] | None = None,
) -> ReplayInput:
    """Open replay input (see module doc).

    ``source``: a path, several paths (day files, Tardis book + trades, several
    markets), or ``"synthetic:<scenario>[?seed=N&duration=S]"``. ``venue`` forces the
    venue of raw Binance files (``binance_spot`` / ``binance_usdm``). ``npz_venue`` and
    ``feed_latency_ns`` apply to NPZ input (which records no receive time:
    ``local_ts = ts + feed_latency_ns``). ``instruments``: for synthetic input without
    ``instrument=``, render every one of these markets (one price path per token, each
    market its own book and flow) merged on one clock -- a whole configuration's venues.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown replay format {fmt!r}; expected one of {', '.join(FORMATS)}")
    explicit, lookup = _normalise_specs(specs)
    if synthetic.is_synthetic(source) or fmt == "synthetic":
        if not synthetic.is_synthetic(source):
            raise InputError(
                f"{source}: synthetic input is written 'synthetic:<scenario>[?seed=N&duration=S]'"
            )
        assert isinstance(source, str)
        return _open_synthetic(source, explicit, lookup, instruments)
    paths = _paths(source)
    detected: dict[Path, Format] = {path: detect_format(path) for path in paths}
    families = {"tardis" if kind.startswith("tardis") else kind for kind in detected.values()}
    if len(families) > 1:
        listing = "; ".join(f"{path}: {kind}" for path, kind in detected.items())
        raise InputError(f"replay files of different formats cannot be mixed ({listing})")
    family = families.pop()
    if fmt != "auto" and fmt != family:
        raise InputError(f"{paths[0]}: content is a {family} file, not {fmt}")
    if family == "binance":
        return _open_binance(paths, lookup, venue)
    if family == "tardis":
        return _open_tardis(paths, detected, explicit, lookup)
    if len(paths) != 1:
        raise InputError("NPZ input is one file; give one path")
    return _open_npz(paths[0], explicit, npz_venue, feed_latency_ns)


def _open_binance(
    paths: list[Path], lookup: Callable[[str], InstrumentSpec], venue: str | None
) -> ReplayInput:
    markets = binance_raw.group_files(paths, venue)
    readers = [binance_raw.RawMarketReader(market, lookup) for market in markets]
    specs = {spec.key: spec for reader in readers for spec in reader.specs}
    parts = [
        f"{', '.join(market.keys)} ({' + '.join(scan.path.name for scan in market.files)})"
        for market in markets
    ]
    return ReplayInput("binance", paths, specs, readers, "Binance recording: " + "; ".join(parts))


def _open_tardis(
    paths: list[Path],
    detected: Mapping[Path, Format],
    explicit: list[InstrumentSpec],
    lookup: Callable[[str], InstrumentSpec],
) -> ReplayInput:
    scans: dict[Path, list[tuple[str, str]]] = {}
    for path in paths:
        columns = TARDIS_BOOK_COLUMNS if detected[path] == "tardis_book" else TARDIS_TRADE_COLUMNS
        scans[path] = tardis.scan_symbols(path, columns)
    pairs = list(dict.fromkeys(pair for found in scans.values() for pair in found))
    resolved = tardis.resolve_instruments(pairs, explicit, lookup, paths[0])
    table = tardis.instrument_table(resolved)
    ordered = sorted(paths, key=lambda p: detected[p] != "tardis_book")  # book files first: they win ties
    sources: list[_Source] = [
        tardis.TardisBookReader(path, table)
        if detected[path] == "tardis_book"
        else tardis.TardisTradesReader(path, table)
        for path in ordered
    ]
    specs = {spec.key: spec for spec in resolved.values()}
    names = ", ".join(f"{path.name} ({detected[path].removeprefix('tardis_')})" for path in ordered)
    return ReplayInput("tardis", ordered, specs, sources, f"Tardis CSV: {names}")


def _open_npz(path: Path, explicit: list[InstrumentSpec], venue: str, feed_latency_ns: int) -> ReplayInput:
    symbol, tick, lot, _rows = npz.npz_metadata(path)
    matches = [spec for spec in explicit if spec.symbol.upper() == symbol]
    if len(matches) > 1:
        matches = [spec for spec in matches if spec.venue == venue] or matches
    if len(matches) > 1:
        raise InputError(
            f"{path}: several instrument specs match symbol {symbol}: {[s.key for s in matches]}"
        )
    spec = matches[0] if matches else npz.bench_spec(symbol, tick, lot, venue)
    reader = npz.NpzReader(path, spec, feed_latency_ns=feed_latency_ns)
    return ReplayInput(
        "npz", [path], {spec.key: spec}, [_NpzSource(reader)], f"NPZ stream {path.name} ({spec.key})"
    )


class _NpzSource:
    """Position adapter: the NPZ reader counts rows, a chunk at a time."""

    def __init__(self, reader: npz.NpzReader) -> None:
        self.reader = reader

    @property
    def line(self) -> int:
        return self.reader.row

    def location(self) -> str:
        return f"{self.reader.path}: row {self.reader.row}"

    def fraction_done(self) -> float:
        return self.reader.fraction_done()

    def __iter__(self) -> Iterator[MarketEvent]:
        return iter(self.reader)


def _open_synthetic(
    text: str,
    explicit: list[InstrumentSpec],
    lookup: Callable[[str], InstrumentSpec],
    instruments: Sequence[str] | None = None,
) -> ReplayInput:
    request = synthetic.parse_request(text)
    if request.instrument is None and instruments is not None and len(instruments) > 1:
        specs = [lookup(key) for key in dict.fromkeys(instruments)]
        readers = [synthetic.SyntheticReader(request, spec) for spec in specs]
        duration = max(reader.duration_s for reader in readers)
        description = (
            f"synthetic {request.scenario} (seed {request.seed}, {duration:g} s, "
            f"{', '.join(spec.key for spec in specs)})"
        )
        return ReplayInput("synthetic", [], {spec.key: spec for spec in specs}, readers, description)
    spec = synthetic.synthetic_spec(request, explicit, lookup)
    reader = synthetic.SyntheticReader(request, spec)
    description = f"synthetic {request.scenario} (seed {request.seed}, {reader.duration_s:g} s, {spec.key})"
    return ReplayInput("synthetic", [], {spec.key: spec}, [reader], description)
