"""The emulator's side of OKX's v5 public websocket protocol.

Path as on the real venue: ``/ws/v5/public`` (spot, swaps and futures on one
endpoint). Requests ``{"op": "subscribe" | "unsubscribe", "args": [{"channel": ..,
"instId": ..}, ..]}``; each arg is answered ``{"event": "subscribe", "arg": {..},
"connId": ..}`` or ``{"event": "error", "code": "60018", "msg": .., "connId": ..}``
for a channel / instrument the emulator does not serve. The text ``ping`` is
answered ``pong``. Channels:

- ``books`` (400 levels): a snapshot at once (``action: snapshot``, checksum, and
  ``prevSeqId: -1`` / ``seqId`` when the source has sequence ids), then updates. A
  recording's own stream is forwarded verbatim -- the 2022 recording has checksums
  but no sequence ids, and is served exactly so; synthetic markets get ``seqId`` /
  ``prevSeqId`` chaining (ids advance by the number of changed levels, so they are
  not contiguous) and a checksum computed here;
- ``books5`` / ``bbo-tbt``: the top 5 / top 1 levels as a full book on every change
  (no ``action``), with ``seqId`` when the source has ids;
- ``trades``, ``tickers``: forwarded; ``funding-rate``, ``mark-price``: forwarded,
  and the last message is sent at once to a new subscriber (OKX pushes the current
  value on subscription).

The checksum (CRC-32 as signed int32 of ``bid1px:bid1sz:ask1px:ask1sz:..`` over the best
25 levels per side, text as sent) is implemented here independently of the client's
(``bot/market/sync/okx.py``).
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

from bot.emulator.opvenues import Control, OpClient, OpVenueProtocol, SubKey
from bot.emulator.source import Item
from bot.emulator.venue_book import BookView, Changes, RawLevel, VenueBook

PATH = "/ws/v5/public"
BOOK_DEPTH = {"books": 400, "books5": 5, "bbo-tbt": 1}
OTHER_CHANNELS = frozenset({"trades", "tickers", "funding-rate", "mark-price"})
_CHECKSUM = re.compile(r'"checksum":(-?\d+)')


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def checksum(bids: list[RawLevel], asks: list[RawLevel]) -> int:
    """OKX's book checksum of best-first text levels."""
    fields: list[str] = []
    for i in range(25):
        for side in (bids, asks):
            if i < len(side):
                fields.extend(side[i][:2])
    value = zlib.crc32(":".join(fields).encode("ascii"))
    return value - 2**32 if value > 2**31 - 1 else value


def wrong(value: int) -> int:
    """A checksum that is certainly different (and still a signed int32)."""
    return value + 1 if value < 2**31 - 1 else value - 1


def venue_of(inst_id: str) -> str:
    """Instrument type from the id's shape: BTC-USDT spot, ...-SWAP, BTC-USD-250627 futures."""
    parts = inst_id.split("-")
    if len(parts) == 3 and parts[2] == "SWAP":
        return "okx_swap"
    if len(parts) == 3 and parts[2].isdigit():
        return "okx_futures"
    return "okx_spot"


def _levels(levels: list[RawLevel]) -> list[list[str]]:
    return [[price, size, "0", "0" if size == "0" else "1"] for price, size in levels]


class OkxProtocol(OpVenueProtocol):
    family = "okx"
    venues = ("okx_spot", "okx_swap", "okx_futures")
    book_channels = frozenset(BOOK_DEPTH)
    state_channels = frozenset({"funding-rate", "mark-price"})

    def routes(self) -> tuple[str, ...]:
        return ("okx",)

    # ---- control ---------------------------------------------------------------------------

    def parse_control(self, client: OpClient, text: str) -> Control:
        control = Control()
        if text == "ping":
            control.replies.append("pong")
            return control
        try:
            request: Any = json.loads(text)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            control.replies.append(self._error(client, "60012", f"Invalid request: {text[:100]}"))
            return control
        op, args = request.get("op"), request.get("args")
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
            control.replies.append(self._error(client, "60012", f"Invalid request: {text[:100]}"))
            return control
        for arg in args:
            channel = arg.get("channel") if isinstance(arg, dict) else None
            inst_id = arg.get("instId") if isinstance(arg, dict) else None
            key = self._key(channel, inst_id)
            if key is None:
                control.replies.append(
                    self._error(
                        client, "60018", f"Wrong URL or channel:{channel}, instId:{inst_id} doesn't exist."
                    )
                )
                continue
            control.replies.append(
                _dumps(
                    {"event": op, "arg": {"channel": channel, "instId": inst_id}, "connId": client.conn_id}
                )
            )
            (control.subscribe if op == "subscribe" else control.unsubscribe).append(key)
        return control

    def _key(self, channel: Any, inst_id: Any) -> SubKey | None:
        if not isinstance(channel, str) or not isinstance(inst_id, str) or not inst_id:
            return None
        venue = venue_of(inst_id)
        if (venue, inst_id) not in self.books:
            return None
        if channel in BOOK_DEPTH:
            return (venue, inst_id, channel, BOOK_DEPTH[channel])
        if channel in OTHER_CHANNELS:
            return (venue, inst_id, channel, None)
        return None

    def _error(self, client: OpClient, code: str, msg: str) -> str:
        return _dumps({"event": "error", "code": code, "msg": msg, "connId": client.conn_id})

    # ---- books -----------------------------------------------------------------------------

    def _frame(
        self,
        key: SubKey,
        book: VenueBook,
        view: BookView,
        bids: list[RawLevel],
        asks: list[RawLevel],
        action: str | None,
        prev: int | None,
        corrupt: bool = False,
    ) -> str:
        _, inst_id, channel, _ = key
        data: dict[str, Any] = {"asks": _levels(asks), "bids": _levels(bids)}
        if channel != "books":
            data["instId"] = inst_id
        data["ts"] = str(book.exch_ms)
        if channel == "books":
            top_bids, top_asks = book.top(25)
            value = checksum(top_bids, top_asks)
            data["checksum"] = wrong(value) if corrupt else value
        if view.last_id >= 0:
            if prev is not None:
                data["prevSeqId"] = prev
            data["seqId"] = view.last_id
        frame: dict[str, Any] = {"arg": {"channel": channel, "instId": inst_id}}
        if action is not None:
            frame["action"] = action
        frame["data"] = [data]
        return _dumps(frame)

    def book_snapshot(self, key: SubKey, view: BookView, book: VenueBook) -> str:
        bids, asks = book.top(view.depth)
        if key[2] == "books":
            return self._frame(key, book, view, bids, asks, "snapshot", -1)
        return self._frame(key, book, view, bids, asks, None, None)

    def book_delta(
        self, key: SubKey, view: BookView, book: VenueBook, changes: Changes, corrupt: bool
    ) -> str:
        prev = view.last_id
        if prev >= 0:
            view.last_id += max(1, len(changes[0]) + len(changes[1]))
        if key[2] == "books":
            bids, asks = changes
            return self._frame(key, book, view, bids, asks, "update", prev if prev >= 0 else None, corrupt)
        bids, asks = book.top(view.depth)
        return self._frame(key, book, view, bids, asks, None, None)

    def native_frame(self, key: SubKey, item: Item, corrupt: bool) -> str:
        if not corrupt:
            return item.data
        return _CHECKSUM.sub(lambda m: f'"checksum":{wrong(int(m.group(1)))}', item.data, count=1)

    def broken_frame(self, client: OpClient) -> str:
        books = sorted(k for k in client.subs if k[2] in BOOK_DEPTH)
        channel, inst_id = (books[0][2], books[0][1]) if books else ("books", "UNKNOWN-USDT")
        return (
            '{"arg":{"channel":"'
            + channel
            + '","instId":"'
            + inst_id
            + '"},"action":"update","data":[{"asks":[["'
        )
