"""The emulator's side of Bybit's v5 public websocket protocol (spot and linear).

Paths as on the real venue: ``/v5/public/spot`` (``bybit_spot``) and
``/v5/public/linear`` (``bybit_linear``). Requests ``{"op": "subscribe" |
"unsubscribe" | "ping", "args": [...], "req_id": ..}``; every request gets one answer
``{"success": .., "ret_msg": .., "conn_id": .., "req_id": .., "op": ..}`` (a ping's
``ret_msg`` is ``pong``; a topic the emulator does not serve fails with
``error:handler not found,topic:..``, the others in the same request are still
subscribed). Topics:

- ``orderbook.{depth}.{SYMBOL}`` (spot 1/50/200/1000, linear 1/50/200/500/1000): a
  snapshot at once, then deltas ``{"topic","type":"delta","ts","data":{"s","b","a",
  "u","seq"},"cts"}`` with ``u`` + 1 per message (a recording's own depth is
  forwarded verbatim); depth 1 is pushed as snapshots only, as Bybit does;
- ``publicTrade.{SYMBOL}``: forwarded;
- ``tickers.{SYMBOL}`` (linear): the full ticker at once, then deltas carrying only
  the fields that changed -- as Bybit does.

Written independently of ``bot/venues/bybit`` on purpose.
"""

from __future__ import annotations

import json
from typing import Any

from bot.emulator.opvenues import Control, OpClient, OpVenueProtocol, SubKey
from bot.emulator.source import Item
from bot.emulator.venue_book import BookView, Changes, VenueBook

PATHS = {"/v5/public/spot": "bybit_spot", "/v5/public/linear": "bybit_linear"}
DEPTHS = {"bybit_spot": (1, 50, 200, 1000), "bybit_linear": (1, 50, 200, 500, 1000)}
DERIVED_FIRST_U = 100_000
"""First ``u`` of a derived stream when the book has no id yet (never 1: that means reset)."""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def parse_topic(venue: str, topic: str) -> SubKey | None:
    parts = topic.split(".")
    if len(parts) == 3 and parts[0] == "orderbook" and parts[1].isdigit():
        depth = int(parts[1])
        if depth in DEPTHS[venue] and parts[2]:
            return (venue, parts[2], "orderbook", depth)
        return None
    if len(parts) == 2 and parts[0] == "publicTrade" and parts[1]:
        return (venue, parts[1], "publicTrade", None)
    if len(parts) == 2 and parts[0] == "tickers" and parts[1]:
        return (venue, parts[1], "tickers", None)
    return None


def topic_of(key: SubKey) -> str:
    _, symbol, channel, depth = key
    return f"orderbook.{depth}.{symbol}" if channel == "orderbook" else f"{channel}.{symbol}"


class BybitProtocol(OpVenueProtocol):
    family = "bybit"
    venues = ("bybit_spot", "bybit_linear")
    book_channels = frozenset({"orderbook"})
    state_channels = frozenset({"tickers"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tickers: dict[tuple[str, str], dict[str, Any]] = {}
        self.cross_seq = 0

    def routes(self) -> tuple[str, ...]:
        return tuple(PATHS.values())

    def open_pass(self, books: dict[tuple[str, str], Any]) -> None:
        super().open_pass(books)
        self.tickers = {}

    # ---- control ---------------------------------------------------------------------------

    def parse_control(self, client: OpClient, text: str) -> Control:
        control = Control()
        try:
            request: Any = json.loads(text)
        except ValueError:
            request = None
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            control.replies.append(self._answer(client, False, "error:request not supported", "", None))
            return control
        op, req_id = request["op"], request.get("req_id")
        if op == "ping":
            control.replies.append(self._answer(client, True, "pong", op, req_id))
            return control
        args = request.get("args")
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
            control.replies.append(self._answer(client, False, f"error:op {op} not supported", op, req_id))
            return control
        bad: list[str] = []
        for topic in args:
            key = parse_topic(client.route, topic) if isinstance(topic, str) else None
            known = key is not None and (key[2] != "tickers" or client.route == "bybit_linear")
            if key is None or not known or not self._listed(key):
                bad.append(str(topic))
            elif op == "subscribe":
                control.subscribe.append(key)
            else:
                control.unsubscribe.append(key)
        ok_msg = "subscribe" if client.route == "bybit_spot" and op == "subscribe" else ""
        message = f"error:handler not found,topic:{','.join(bad)}" if bad else ok_msg
        control.replies.append(self._answer(client, not bad, message, op, req_id))
        return control

    def _listed(self, key: SubKey) -> bool:
        return (key[0], key[1]) in self.books

    def _answer(self, client: OpClient, success: bool, message: str, op: str, req_id: Any) -> str:
        answer: dict[str, Any] = {"success": success, "ret_msg": message, "conn_id": client.conn_id}
        answer["req_id"] = req_id if isinstance(req_id, str) else ""
        answer["op"] = op
        return _dumps(answer)

    # ---- books -----------------------------------------------------------------------------

    def first_view_id(self, key: SubKey, book: VenueBook) -> int:
        return book.last_id if book.last_id > 1 else DERIVED_FIRST_U

    def _book_frame(
        self, key: SubKey, kind: str, book: VenueBook, bids: list[Any], asks: list[Any], u: int
    ) -> str:
        self.cross_seq += 1
        data: dict[str, Any] = {
            "s": key[1],
            "b": [list(level) for level in bids],
            "a": [list(level) for level in asks],
        }
        data["u"] = u
        data["seq"] = self.cross_seq
        frame = {"topic": topic_of(key), "type": kind, "ts": book.exch_ms, "data": data, "cts": book.exch_ms}
        return _dumps(frame)

    def book_snapshot(self, key: SubKey, view: BookView, book: VenueBook) -> str:
        bids, asks = book.top(view.depth)
        return self._book_frame(key, "snapshot", book, bids, asks, view.last_id)

    def book_delta(
        self, key: SubKey, view: BookView, book: VenueBook, changes: Changes, corrupt: bool
    ) -> str:
        view.last_id += 1
        if view.depth == 1:  # level 1 is pushed as snapshots only
            bids, asks = book.top(1)
            return self._book_frame(key, "snapshot", book, bids, asks, view.last_id)
        bids, asks = changes
        return self._book_frame(key, "delta", book, bids, asks, view.last_id)

    def broken_frame(self, client: OpClient) -> str:
        books = sorted(k for k in client.subs if k[2] == "orderbook")
        topic = topic_of(books[0]) if books else "orderbook.50.UNKNOWN"
        symbol = topic.rsplit(".", 1)[1]
        return '{"topic":"' + topic + '","type":"delta","ts":1,"data":{"s":"' + symbol + '","b":[["'

    # ---- tickers ---------------------------------------------------------------------------

    def process(self, item: Item) -> None:
        if item.kind != "tickers":
            super().process(item)
            return
        market = (item.venue, item.symbol)
        fields: dict[str, Any] = json.loads(item.data)
        previous = self.tickers.get(market)
        self.tickers[market] = dict(fields)
        key: SubKey = (item.venue, item.symbol, "tickers", None)
        clients = self.subscribers.get(key)
        if not clients:
            return
        if previous is None:
            frame = self._ticker_frame(key, "snapshot", fields, item.exch_ms)
        else:
            changed = {k: v for k, v in fields.items() if previous.get(k) != v}
            if not changed:
                return
            changed["symbol"] = item.symbol
            frame = self._ticker_frame(key, "delta", changed, item.exch_ms)
        for client in clients:
            client.enqueue(frame)

    def state_snapshot(self, key: SubKey) -> str | None:
        fields = self.tickers.get((key[0], key[1]))
        if fields is None:
            return None
        book = self.books.get((key[0], key[1]))
        return self._ticker_frame(key, "snapshot", fields, book.exch_ms if book else 0)

    def _ticker_frame(self, key: SubKey, kind: str, fields: dict[str, Any], ts: int) -> str:
        self.cross_seq += 1
        return _dumps({"topic": topic_of(key), "type": kind, "data": fields, "cs": self.cross_seq, "ts": ts})
