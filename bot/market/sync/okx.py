"""OKX ``books`` sync rules: ``prevSeqId``/``seqId`` chaining and the CRC32 checksum.

OKX's documented procedure for the ``books`` channel (400 levels, 100 ms):

- the first message after subscribing is ``action: snapshot`` with ``prevSeqId = -1``;
  then ``action: update`` messages with absolute sizes (0 deletes);
- each update's ``prevSeqId`` equals the previous message's ``seqId``;
- an update with no levels and ``prevSeqId == seqId`` is a heartbeat (the chain holds);
- after a maintenance the sequence may restart lower: an update whose ``seqId`` is
  *below* its ``prevSeqId`` is still valid if its ``prevSeqId`` continues the chain.
  Therefore no delta is ever a "duplicate": every update that does not continue the
  chain is a break (book invalid, resubscribe);
- ``checksum``: CRC-32 of ``bid1px:bid1sz:ask1px:ask1sz:bid2px:...`` over the best 25
  levels per side (a side that runs out simply stops contributing), as a signed
  32-bit integer, with prices and sizes *as OKX sends them*. It is deprecated and may
  be 0: a value of 0 (or none) is not checked.

Where the checksum is verified: here, in the core, after the snapshot and after every
applied update, on the integer book. The venue's text is rebuilt from ticks and lots
as the canonical decimal (no exponent, no trailing zeros, e.g. ``30249.4``, ``0.23393``,
``30261``), which is how OKX writes every number -- checked on all 16,528 price and
size strings of the 2022 recording. The OKX decoder guards this assumption: if the
venue ever sends a non-canonical string (``"5.150"``) it stops passing checksums for
that instrument and says so, rather than resyncing forever.

The 2022 recording in the test data predates ``seqId``: its messages carry a checksum
but no sequence ids. The decoder then sets ``first_id = last_id = prev_id = -1``; a
chain without ids is accepted and validated by the checksum alone.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from decimal import Decimal

from bot.core.events import BookDelta, Level
from bot.core.instrument import InstrumentSpec
from bot.market.book import OrderBook
from bot.market.sync.base import BookSync
from bot.market.sync.stream import StreamSnapshotSync

NO_SEQ = -1
CHECKSUM_LEVELS = 25


def canonical_text(increment_digits: int, unit: int) -> Callable[[int], str]:
    """``count -> text`` for values ``count * unit * 10**-digits``, canonical form."""
    cache: dict[int, str] = {}

    def text(count: int) -> str:
        value = cache.get(count)
        if value is None:
            scaled = count * unit
            if increment_digits:
                sign = "-" if scaled < 0 else ""
                digits = str(abs(scaled)).rjust(increment_digits + 1, "0")
                whole, frac = digits[:-increment_digits], digits[-increment_digits:].rstrip("0")
                value = f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"
            else:
                value = str(scaled)
            if len(cache) < 200_000:
                cache[count] = value
        return value

    return text


def increment_text(increment: Decimal) -> Callable[[int], str]:
    """Canonical text of integer multiples of a ``Decimal`` increment (tick or lot)."""
    exponent = increment.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    digits = max(0, -exponent)
    unit = int(increment.scaleb(digits))
    return canonical_text(digits, unit)


def okx_checksum(bids: Sequence[tuple[str, str]], asks: Sequence[tuple[str, str]]) -> int:
    """OKX's checksum of best-first text levels (only the first 25 per side are used)."""
    parts: list[str] = []
    for index in range(CHECKSUM_LEVELS):
        if index < len(bids):
            parts.append(bids[index][0])
            parts.append(bids[index][1])
        if index < len(asks):
            parts.append(asks[index][0])
            parts.append(asks[index][1])
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def book_checksum(book: OrderBook, price: Callable[[int], str], size: Callable[[int], str]) -> int:
    bids, asks = book.top(CHECKSUM_LEVELS)
    return okx_checksum(_texts(bids, price, size), _texts(asks, price, size))


def _texts(
    levels: list[Level], price: Callable[[int], str], size: Callable[[int], str]
) -> list[tuple[str, str]]:
    return [(price(p), size(q)) for p, q in levels]


class OkxSync(StreamSnapshotSync):
    venue_rule = "okx"

    def __init__(self, book: OrderBook, max_buffer: int = 10_000) -> None:
        super().__init__(book, max_buffer)
        self._price_text: Callable[[int], str] | None = None
        self._size_text: Callable[[int], str] | None = None
        self.unverified = 0
        """Non-zero checksums that could not be checked (no spec bound)."""

    def bind(self, spec: InstrumentSpec) -> None:
        super().bind(spec)
        self._price_text = increment_text(spec.tick_size)
        self._size_text = increment_text(spec.lot_size)

    def _fork_into(self, other: BookSync) -> None:
        assert isinstance(other, OkxSync)
        other.unverified = self.unverified

    def follows(self, delta: BookDelta, last_id: int) -> bool:
        if delta.last_id == NO_SEQ and delta.prev_id == NO_SEQ:
            return last_id == NO_SEQ  # a stream without sequence ids: the checksum decides
        return delta.prev_id == last_id

    def is_duplicate(self, delta: BookDelta, last_id: int) -> bool:
        return False

    def follow_rule(self, last_id: int) -> str:
        return f"prevSeqId == {last_id}"

    def describe(self, delta: BookDelta) -> str:
        return f"seqId={delta.last_id} prevSeqId={delta.prev_id}"

    def _verify(self, checksum: int | None, update_id: int) -> str | None:
        if not checksum:
            return None
        if self._price_text is None or self._size_text is None:
            self.unverified += 1
            return None
        ours = book_checksum(self.book, self._price_text, self._size_text)
        if ours == checksum:
            self.counters.checksums += 1
            return None
        self.counters.checksum_failures += 1
        where = f"seqId {update_id}" if update_id != NO_SEQ else "update"
        return f"checksum mismatch after {where}: venue {checksum}, book {ours}"
