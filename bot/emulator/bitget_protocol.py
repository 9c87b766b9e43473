"""The emulator's side of Bitget's v2 public websocket protocol (spot and USDT-M).

Path as on the real venue: ``/v2/ws/public`` (every product line on one endpoint; the
channel arg names it). Requests ``{"op": "subscribe" | "unsubscribe", "args":
[{"instType": "SPOT" | "USDT-FUTURES", "channel": .., "instId": ..}, ..]}``; each arg is
answered ``{"event": "subscribe", "arg": {..}}`` or ``{"event": "error", "arg": {..},
"code": 30001, "msg": "instType:..,channel:..,instId:.. doesn't exist"}`` (the error
shape ccxt 4.5.90 quotes from the venue); a request that is not JSON or has another
``op`` gets ``{"event": "error", "code": 30016 | 30003, "msg": ..}``. The text ``ping``
is answered ``pong``. Channels:

- ``books`` (every level): a snapshot at once (``action: snapshot``, ``checksum``,
  ``seq``, ``pseq: 0``), then ``action: update`` messages with the changed levels, each
  with ``pseq`` = the previous message's ``seq``. ``seq`` advances by the number of
  changed levels, so it grows but is not contiguous (Bitget promises only that it
  increases). A recording's own stream is forwarded verbatim -- the 2022 recording has
  checksums but no ``seq``, and is served exactly so;
- ``books1`` / ``books5`` / ``books15``: the top 1 / 5 / 15 levels as a full book on every
  change (``action: snapshot``, ``checksum: 0``);
- ``trade``: a subscription gets the market's recent fills at once (``action:
  snapshot``, newest first, at most 50, as the venue does), then every new fill
  (``action: update``);
- ``ticker``: forwarded; the last one is sent at once to a new subscriber.

Every push is ``{"action", "arg", "data": [..], "ts"}``; book numbers keep the text
they were written with (Bitget writes them with the instrument's fixed decimals, e.g.
``"113.50"``). The checksum (CRC-32 as signed int32 of ``bid1px:bid1sz:ask1px:ask1sz:..``
over the best 25 levels per side, text as sent) is implemented here independently of
the client's (``bot/market/sync/bitget.py``). Faults as on OKX: ``gap``,
``out_of_order``, ``checksum`` (the next update carries a wrong checksum), ``malformed``,
and the server's ``drop`` / ``stall``.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import deque
from typing import Any

from bot.emulator.opvenues import Control, OpClient, OpVenueProtocol, SubKey
from bot.emulator.source import Item
from bot.emulator.venue_book import BookView, Changes, RawLevel, VenueBook

PATH = "/v2/ws/public"
ROUTE = "bitget"
VENUE_OF = {"SPOT": "bitget_spot", "USDT-FUTURES": "bitget_usdtm"}
INST_TYPE_OF = {venue: inst_type for inst_type, venue in VENUE_OF.items()}
BOOK_DEPTH: dict[str, int | None] = {"books": None, "books1": 1, "books5": 5, "books15": 15}
OTHER_CHANNELS = frozenset({"trade", "ticker"})
RECENT_TRADES = 50
_CHECKSUM = re.compile(r'"checksum":(-?\d+)')


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def checksum(bids: list[RawLevel], asks: list[RawLevel]) -> int:
    """Bitget's book checksum of best-first text levels."""
    fields: list[str] = []
    for i in range(25):
        if i < len(bids):
            fields += [bids[i][0], bids[i][1]]
        if i < len(asks):
            fields += [asks[i][0], asks[i][1]]
    value = zlib.crc32(":".join(fields).encode("ascii"))
    return value - 2**32 if value >= 2**31 else value


def wrong(value: int) -> int:
    """A checksum that is certainly different (and still a signed int32, never 0)."""
    changed = value + 1 if value < 2**31 - 1 else value - 1
    return changed if changed != 0 else 2


def arg_of(key: SubKey) -> dict[str, str]:
    venue, inst_id, channel, _ = key
    return {"instType": INST_TYPE_OF[venue], "channel": channel, "instId": inst_id}


class BitgetProtocol(OpVenueProtocol):
    family = "bitget"
    venues = ("bitget_spot", "bitget_usdtm")
    book_channels = frozenset(BOOK_DEPTH)
    state_channels = frozenset({"ticker", "trade"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recent_trades: dict[tuple[str, str], deque[Any]] = {}

    def routes(self) -> tuple[str, ...]:
        return (ROUTE,)

    def open_pass(self, books: dict[tuple[str, str], Any]) -> None:
        super().open_pass(books)
        self.recent_trades = {}

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
            control.replies.append(_dumps({"event": "error", "code": 30016, "msg": "Param error"}))
            return control
        op, args = request.get("op"), request.get("args")
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
            control.replies.append(_dumps({"event": "error", "code": 30003, "msg": "invalid op"}))
            return control
        for arg in args:
            fields = arg if isinstance(arg, dict) else {}
            inst_type, channel, inst_id = fields.get("instType"), fields.get("channel"), fields.get("instId")
            key = self._key(inst_type, channel, inst_id)
            echo = {"instType": inst_type, "channel": channel, "instId": inst_id}
            if key is None:
                msg = f"instType:{inst_type},channel:{channel},instId:{inst_id} doesn't exist"
                control.replies.append(_dumps({"event": "error", "arg": echo, "code": 30001, "msg": msg}))
                continue
            control.replies.append(_dumps({"event": op, "arg": echo}))
            (control.subscribe if op == "subscribe" else control.unsubscribe).append(key)
        return control

    def _key(self, inst_type: Any, channel: Any, inst_id: Any) -> SubKey | None:
        if not isinstance(inst_type, str) or not isinstance(channel, str) or not isinstance(inst_id, str):
            return None
        venue = VENUE_OF.get(inst_type.upper())
        if venue is None or (venue, inst_id) not in self.books:
            return None
        if channel in BOOK_DEPTH:
            return (venue, inst_id, channel, BOOK_DEPTH[channel])
        if channel in OTHER_CHANNELS:
            return (venue, inst_id, channel, None)
        return None

    # ---- books -----------------------------------------------------------------------------

    def first_view_id(self, key: SubKey, book: VenueBook) -> int:
        return book.last_id

    def _frame(
        self,
        key: SubKey,
        book: VenueBook,
        view: BookView,
        bids: list[RawLevel],
        asks: list[RawLevel],
        action: str,
        prev: int,
        corrupt: bool = False,
    ) -> str:
        data: dict[str, Any] = {
            "asks": [[price, size] for price, size in asks],
            "bids": [[price, size] for price, size in bids],
        }
        if key[2] == "books":
            top_bids, top_asks = book.top(25)
            value = checksum(top_bids, top_asks)
            data["checksum"] = wrong(value) if corrupt else value
        else:
            data["checksum"] = 0
        if view.last_id >= 0:
            data["pseq"] = prev
            data["seq"] = view.last_id
        data["ts"] = str(book.exch_ms)
        return _dumps({"action": action, "arg": arg_of(key), "data": [data], "ts": book.exch_ms})

    def book_snapshot(self, key: SubKey, view: BookView, book: VenueBook) -> str:
        bids, asks = book.top(view.depth)
        return self._frame(key, book, view, bids, asks, "snapshot", 0)

    def book_delta(
        self, key: SubKey, view: BookView, book: VenueBook, changes: Changes, corrupt: bool
    ) -> str:
        prev = view.last_id
        if prev >= 0:
            view.last_id += max(1, len(changes[0]) + len(changes[1]))
        if key[2] == "books":
            bids, asks = changes
            return self._frame(key, book, view, bids, asks, "update", prev, corrupt)
        bids, asks = book.top(view.depth)
        return self._frame(key, book, view, bids, asks, "snapshot", prev)

    def native_frame(self, key: SubKey, item: Item, corrupt: bool) -> str:
        if not corrupt:
            return item.data
        return _CHECKSUM.sub(lambda m: f'"checksum":{wrong(int(m.group(1)))}', item.data, count=1)

    def broken_frame(self, client: OpClient) -> str:
        books = sorted(k for k in client.subs if k[2] in BOOK_DEPTH)
        arg = arg_of(books[0]) if books else {"instType": "SPOT", "channel": "books", "instId": "UNKNOWN"}
        return '{"action":"update","arg":' + _dumps(arg) + ',"data":[{"asks":[["'

    # ---- trades ----------------------------------------------------------------------------

    def process(self, item: Item) -> None:
        if item.kind == "trade":
            recent = self.recent_trades.setdefault((item.venue, item.symbol), deque(maxlen=RECENT_TRADES))
            recent.extend(json.loads(item.data).get("data") or ())
        super().process(item)

    def state_snapshot(self, key: SubKey) -> str | None:
        if key[2] != "trade":
            return super().state_snapshot(key)
        recent = self.recent_trades.get((key[0], key[1]))
        if not recent:
            return None
        book = self.books.get((key[0], key[1]))
        ts = book.exch_ms if book is not None else 0
        return _dumps({"action": "snapshot", "arg": arg_of(key), "data": list(reversed(recent)), "ts": ts})
