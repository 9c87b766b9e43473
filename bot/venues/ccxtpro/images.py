"""Consecutive ccxt book images -> BookSnapshot / BookDelta with contiguous ids (pure).

:class:`BookImages` remembers the image last handed to the core for one instrument.
The next image becomes a :class:`BookSnapshot` when one is due (first image, after an
invalidation, on the engine's request: ``need_snapshot``), else a :class:`BookDelta`
of the levels that changed, ``first_id = previous last_id + 1``. ``last_id`` is
ccxt's nonce when it is an integer above the previous id (Binance: the diff stream's
``u``, so update ids equal the native adapter's), else previous + 1; a snapshot takes
the nonce as is (a venue restart may lower it). If an image cannot be converted
exactly (:class:`BadValue`), nothing advances: the next image's diff covers it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.events import BookDelta, BookSnapshot
from bot.venues.ccxtpro.convert import BadValue, Converter, side_changes, side_image
from bot.venues.ccxtpro.records import ms_to_ns


def _nonce(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


class BookImages:
    """The last image sent for one instrument, and the event for the next one."""

    __slots__ = ("asks", "bids", "converter", "key", "last_id", "need_snapshot")

    def __init__(self, key: str, converter: Converter) -> None:
        self.key = key
        self.converter = converter
        self.need_snapshot = True
        self.last_id = 0
        self.bids: dict[Any, Any] = {}
        self.asks: dict[Any, Any] = {}

    def next_event(self, book: Mapping[str, Any], local_ts: int) -> BookSnapshot | BookDelta:
        """The event for ccxt's current ``book``; raises :class:`BadValue` (state unchanged)."""
        converter = self.converter
        try:
            bids, asks = side_image(book["bids"]), side_image(book["asks"])
            nonce = _nonce(book.get("nonce"))
            exch_ts = ms_to_ns(book.get("timestamp"))
            event: BookSnapshot | BookDelta
            if self.need_snapshot:
                update_id = nonce if nonce is not None else self.last_id + 1
                event = BookSnapshot(
                    instrument=self.key,
                    local_ts=local_ts,
                    exch_ts=exch_ts,
                    update_id=update_id,
                    bids=converter.levels(bids.items()),
                    asks=converter.levels(asks.items()),
                )
            else:
                update_id = nonce if nonce is not None and nonce > self.last_id else self.last_id + 1
                event = BookDelta(
                    instrument=self.key,
                    local_ts=local_ts,
                    exch_ts=exch_ts,
                    first_id=self.last_id + 1,
                    last_id=update_id,
                    bids=converter.levels(side_changes(self.bids, bids)),
                    asks=converter.levels(side_changes(self.asks, asks)),
                )
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise BadValue("invalid", f"unusable book image: {type(exc).__name__}: {exc}") from None
        self.need_snapshot = False
        self.bids, self.asks, self.last_id = bids, asks, update_id
        return event
