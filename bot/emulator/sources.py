"""Replay files of any supported format, as one emulator source.

:func:`load_replay` sniffs each file's format -- Binance raw recordings
(``<ts> <json>`` lines, gzip ok; :mod:`bot.emulator.replay`), Bybit history files
(zip / NDJSON of ``{"topic": ..}`` messages), cryptofeed OKX logs
(:mod:`bot.emulator.venue_replay`) or cryptofeed Bitget logs
(:mod:`bot.emulator.bitget_source`) -- loads them with their reader and merges the
result into one :class:`CombinedSource`.

Recordings of different venues were usually made at different times (the bundled
Binance files are from 2024-08, the Bybit one from 2024-12, the OKX one from 2022-05).
So that they play *together*, every Bybit / OKX recording is shifted in time to
start with the earliest Binance recording (or the earliest of them all); message
contents keep their recorded exchange timestamps. :meth:`CombinedSource.common_window`
then clips every market to the earliest end among them, so no venue goes silent
while another still plays.
"""

from __future__ import annotations

import gzip
import heapq
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from bot.emulator.bitget_source import read_bitget
from bot.emulator.replay import ReplaySource
from bot.emulator.source import Item, SourcePass
from bot.emulator.venue_replay import StreamReplaySource, read_bybit, read_okx
from bot.errors import InputError

Format = Literal["binance", "bybit", "okx", "bitget"]
_CRYPTOFEED_LINE = re.compile(rb"^\d+\.\d+: [{\[]")
_BINANCE_LINE = re.compile(rb"^\d{13,19} [{\[]")


def detect_format(path: Path) -> Format:
    """Which reader understands ``path`` (by content, not by name)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except FileNotFoundError:
        raise InputError(f"{path}: replay file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, expected a recording") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read recording: {exc.strerror or exc}") from None
    if head.startswith(b"PK"):
        return "bybit"
    if head.startswith(b"\x1f\x8b"):
        try:
            with gzip.open(path, "rb") as handle:
                head = handle.read(4096)
        except (OSError, EOFError) as exc:
            raise InputError(f"{path}: cannot read recording: {exc}") from None
    first = next((line for line in head.splitlines() if line.strip()), b"")
    if b" <-> " in first or _CRYPTOFEED_LINE.match(first):
        bitget = b"bitget.com" in first or b'"arg":{"instType"' in head  # OKX args start with channel
        return "bitget" if bitget else "okx"
    if first.lstrip().startswith(b"{") and b'"topic"' in first:
        return "bybit"
    if _BINANCE_LINE.match(first):
        return "binance"
    raise InputError(
        f"{path}: unknown recording format (expected Binance '<ts> <json>' lines, a Bybit history "
        "file or a cryptofeed OKX / Bitget log)"
    )


def load_replay(paths: Sequence[Path | str], *, venue: str | None = None) -> CombinedSource:
    """Load recordings of any supported format; ``venue`` forces the venue of every file."""
    if not paths:
        raise InputError("no replay files given")
    binance: list[Path] = []
    recordings: list[Any] = []  # one source per Bybit / OKX file: each is its own session
    for raw in paths:
        path = Path(raw)
        kind = detect_format(path)
        if kind == "binance":
            binance.append(path)
        elif kind == "bybit":
            recordings.append(StreamReplaySource(read_bybit(path, venue=venue)))
        elif kind == "bitget":
            recordings.append(StreamReplaySource(read_bitget(path)))
        else:
            recordings.append(StreamReplaySource(read_okx(path)))
    sources: list[Any] = []
    if binance:  # day files of one session belong together: one source
        sources.append(ReplaySource.from_files(binance, venue=venue))
    return CombinedSource(sources + recordings)


def _start(source: Any) -> int:
    if isinstance(source, ReplaySource):
        return min(m.items[0].ts_ns for m in source.replay_markets if m.items)
    start: int = source.start_ns()
    return start


def _end(source: Any) -> int:
    if isinstance(source, ReplaySource):
        return min(m.items[-1].ts_ns for m in source.replay_markets if m.items)
    end: int = source.end_ns()
    return end


class CombinedSource:
    """Several sources played as one timeline (see module doc)."""

    def __init__(self, sources: Sequence[Any], *, align: bool = True) -> None:
        if not sources:
            raise InputError("no recordings to replay")
        sources = list(sources)
        if align and len(sources) > 1:
            anchor = next((_start(s) for s in sources if isinstance(s, ReplaySource)), None)
            if anchor is None:
                anchor = min(_start(s) for s in sources)
            sources = [s if isinstance(s, ReplaySource) else s.shifted(anchor - _start(s)) for s in sources]
        self.sources = sources

    @property
    def description(self) -> str:
        return "; ".join(s.description for s in self.sources)

    def markets(self) -> list[tuple[str, str]]:
        return [market for s in self.sources for market in s.markets()]

    @property
    def replay_markets(self) -> list[Any]:
        return [m for s in self.sources for m in s.replay_markets]

    def __len__(self) -> int:
        return sum(len(s) for s in self.sources)

    def common_window(self) -> CombinedSource:
        """Every source clipped to the earliest end among all markets."""
        sources = [s.common_window() if isinstance(s, ReplaySource) else s for s in self.sources]
        if len(sources) < 2:
            return CombinedSource(sources, align=False)
        end = min(_end(s) for s in sources)
        clipped = [s.clipped_at(end) if isinstance(s, ReplaySource) else s.clipped(end) for s in sources]
        return CombinedSource(clipped, align=False)

    def truncated(self, seconds: float) -> CombinedSource:
        return CombinedSource([s.truncated(seconds) for s in self.sources], align=False)

    def open_pass(self) -> SourcePass:
        books: dict[tuple[str, str], Any] = {}
        streams: list[Iterator[Item]] = []
        for source in self.sources:
            opened = source.open_pass()
            books.update(opened.books)
            streams.append(opened.items)
        return SourcePass(books, heapq.merge(*streams, key=lambda item: item.ts_ns))
