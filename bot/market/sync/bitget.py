"""Bitget v2 ``books`` sync rules: ``seq`` / ``pseq`` chaining and the CRC32 checksum.

What Bitget's public websocket (``wss://ws.bitget.com/v2/ws/public``, channel ``books``)
sends, and what this rule does with it:

- the first message after subscribing is ``action: snapshot`` (the whole book), then
  ``action: update`` messages with absolute sizes; size ``"0"`` deletes a level
  (Bitget "Depth Channel" docs: "If the amount is 0, delete this depth data");
- ``seq``: "the seq of update incremental messages is incrementing except during
  symbol maintenance" (v2 docs). Bitget does not promise consecutive numbers (the
  values seen in docs and ccxt examples, e.g. ``1343064377779269632``, look like
  snowflake ids), so a bigger ``seq`` is all a chain without ``pseq`` can check;
- ``pseq`` (the previous message's ``seq``) is documented for the unified-account (v3)
  ``books`` channel, where a reset after a release or restart shows up as ``pseq =
  0``. Where an update carries a non-zero ``pseq`` (the decoder passes it as
  ``prev_id``; 0 and absent become -1) it must equal the last applied ``seq``;
- ``checksum``: CRC-32 of ``bid1px:bid1sz:ask1px:ask1sz:bid2px:...`` over the best 25
  levels per side (a side that runs out stops contributing), as a signed 32-bit
  integer, with prices and sizes *as Bitget sends them* -- the construction of OKX's
  deprecated checksum. A value of 0 (or none) is not checked: the unified-account
  stream and the fixed-depth channels send 0.

So an update that does not continue the chain is a break (book invalid, the adapter
resubscribes for a fresh snapshot); nothing is ever a "duplicate" (a ``seq`` that does
not grow is a maintenance reset or a fault, and a fresh snapshot is the only safe
answer). A stream without ``seq`` at all (the 2022 v1 recording in the test data) is
accepted and validated by the checksum alone.

Where the checksum is verified: here, in the core, after the snapshot and after every
applied update, on the integer book. Bitget writes every book number with the
instrument's fixed number of decimals -- ``"113.50"``, ``"6.40"``, ``"9.970"``,
``"10.000"``, sizes of whole-contract instruments as ``"67"``: trailing zeros *kept*,
unlike OKX -- checked on all 637 book messages (every checksum verified) of cryptofeed's
two 2022 Bitget recordings and in the v2 documentation examples (``"26275.0"``,
``"0.0500"``). The text is therefore rebuilt from ticks and lots with as many decimals as
the tick (prices) and the lot (sizes) have -- Bitget's ``pricePrecision`` /
``pricePlace`` and ``quantityPrecision`` / ``volumePlace``, from which the Bitget
metadata builds tick and lot. The decoder guards the assumption: if Bitget ever sends a
number in another shape, it stops passing that instrument's checksums on and says so,
rather than resync forever (:mod:`bot.venues.bitget.messages`).

Sources: Bitget API docs "Depth Channel" (spot v2), "Order Book Channel" (contract v2,
UTA v3), ccxt 4.5.90 ``ccxt/pro/bitget.py`` ``handle_order_book`` (same CRC string,
signed, from the strings as received). Not verified against a live v2 stream (no
network here): whether classic v2 ``books`` updates carry ``pseq``, and whether
``seq`` can repeat without a reset.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from bot.core.events import BookDelta
from bot.core.instrument import InstrumentSpec
from bot.market.book import OrderBook
from bot.market.sync.base import BookSync
from bot.market.sync.okx import CHECKSUM_LEVELS, okx_checksum
from bot.market.sync.stream import StreamSnapshotSync

NO_SEQ = -1

bitget_checksum = okx_checksum
"""Bitget's checksum of best-first text levels: the same construction as OKX's (25 levels
per side interleaved ``bid:size:ask:size``, CRC-32 as a signed int32)."""


def fixed_text(increment: Decimal) -> Callable[[int], str]:
    """``count -> text`` of ``count * increment`` with exactly as many decimals as
    ``increment`` has (``0.01`` -> ``"113.50"``, ``1`` -> ``"67"``, ``0.05`` -> ``"0.10"``)."""
    exponent = increment.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    digits = max(0, -exponent)
    unit = int(increment.scaleb(digits))
    cache: dict[int, str] = {}

    def text(count: int) -> str:
        value = cache.get(count)
        if value is None:
            scaled = count * unit
            if digits:
                sign = "-" if scaled < 0 else ""
                padded = str(abs(scaled)).rjust(digits + 1, "0")
                value = f"{sign}{padded[:-digits]}.{padded[-digits:]}"
            else:
                value = str(scaled)
            if len(cache) < 200_000:
                cache[count] = value
        return value

    return text


def decimals_of(increment: Decimal) -> int:
    """How many decimals Bitget writes for multiples of ``increment``."""
    exponent = increment.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def book_checksum(book: OrderBook, price: Callable[[int], str], size: Callable[[int], str]) -> int:
    bids, asks = book.top(CHECKSUM_LEVELS)
    return bitget_checksum([(price(p), size(q)) for p, q in bids], [(price(p), size(q)) for p, q in asks])


class BitgetSync(StreamSnapshotSync):
    venue_rule = "bitget"

    def __init__(self, book: OrderBook, max_buffer: int = 10_000) -> None:
        super().__init__(book, max_buffer)
        self._price_text: Callable[[int], str] | None = None
        self._size_text: Callable[[int], str] | None = None
        self.unverified = 0
        """Non-zero checksums that could not be checked (no spec bound)."""

    def bind(self, spec: InstrumentSpec) -> None:
        super().bind(spec)
        self._price_text = fixed_text(spec.tick_size)
        self._size_text = fixed_text(spec.lot_size)

    def _fork_into(self, other: BookSync) -> None:
        assert isinstance(other, BitgetSync)
        other.unverified = self.unverified

    def follows(self, delta: BookDelta, last_id: int) -> bool:
        if delta.last_id == NO_SEQ:
            # a stream without seq (2022 v1 recordings): the checksum decides
            return last_id == NO_SEQ and delta.prev_id == NO_SEQ
        if delta.prev_id != NO_SEQ:
            return delta.prev_id == last_id
        return last_id != NO_SEQ and delta.last_id > last_id

    def is_duplicate(self, delta: BookDelta, last_id: int) -> bool:
        return False

    def follow_rule(self, last_id: int) -> str:
        return f"pseq == {last_id}"

    def describe(self, delta: BookDelta) -> str:
        return f"seq={delta.last_id} pseq={delta.prev_id}"

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
        where = f"seq {update_id}" if update_id != NO_SEQ else "update"
        return f"checksum mismatch after {where}: venue {checksum}, book {ours}"
