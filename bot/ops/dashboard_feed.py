"""What the live dashboard shows, kept in bounded memory: per-engine history and frames.

:class:`EngineFeed` watches one :class:`~bot.engine.assemble.TradingEngine` from the
outside. It records, in ring buffers of fixed length, one *point* per sample (event
time, best bid/ask, our best resting bid/ask, inventory, net delta and the PnL split),
our fills (a report observer of the quoting pipeline) and the regime timeline (a risk
observer: every transition with the rule that fired, every kill/resume). It also builds
the order-book ladder around the touch with our orders and their queue position.

:class:`DashboardFeed` holds the feeds of a process and produces the two messages the
page reads: the *snapshot* (all history, sent once per connection) and the *frame* (the
newest point, what happened since the previous frame, the ladder and the ``/status``
document, which the page formats rather than re-deriving). Points and fills are encoded
to JSON when recorded, so a snapshot is a join of stored bytes: a new client costs the
trading loop no re-encoding of history.

Nothing here touches the engines' state; observers only append to bounded deques.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import msgspec
import structlog

from bot.core.events import NS_PER_S
from bot.core.orders import OrderFilled, OrderReport
from bot.engine.assemble import TradingEngine
from bot.risk.explain import KillRecord, RegimeTransition, RiskRecord

log = structlog.get_logger("bot.dashboard")

POINT_FIELDS = (
    "t",
    "best_bid",
    "best_ask",
    "our_bid",
    "our_ask",
    "inventory",
    "net_delta",
    "pnl_spread_capture",
    "pnl_rebates",
    "pnl_fees",
    "pnl_inventory",
    "pnl_hedge",
    "pnl_funding",
    "pnl_total",
)
"""Columns of a history point (``t``: event time in seconds; prices and sizes as floats
for the charts; PnL in the quote asset)."""

PNL_KEYS = ("spread_capture", "rebates", "fees", "inventory", "hedge", "funding", "total")

_encoder = msgspec.json.Encoder(enc_hook=str)  # Decimal and friends become strings


def encode(obj: Any) -> bytes:
    """Compact JSON (one line: fit for a server-sent event's ``data:`` field)."""
    return _encoder.encode(obj)


def _seconds(ns: int) -> float:
    return round(ns / NS_PER_S, 3)


def decimal_formatter(increment: Decimal) -> Callable[[int], str]:
    """``count -> format(increment * count, "f")`` in integer arithmetic (the ladder formats
    dozens of prices and sizes per update; Decimal arithmetic would cost the loop ~1 us each)."""
    sign, digits, exponent = increment.as_tuple()
    assert isinstance(exponent, int) and not sign
    unit = int("".join(map(str, digits)))
    if exponent >= 0:
        scale = unit * 10**exponent
        return lambda count: str(count * scale)
    places = -exponent
    divisor = 10**places

    def fmt(count: int) -> str:
        whole, frac = divmod(abs(count * unit), divisor)
        return f"{'-' if count < 0 else ''}{whole}.{frac:0{places}d}"

    return fmt


class EngineFeed:
    """Bounded history and the live views of one engine."""

    def __init__(
        self, trading: TradingEngine, *, history_points: int, fills: int, regimes: int, ladder_levels: int
    ) -> None:
        self.trading = trading
        self.name = trading.engine.name
        pipeline = trading.pipeline
        self.instrument = (
            pipeline.instrument if pipeline is not None else next(iter(trading.engine.instruments))
        )
        self.state = trading.engine.instruments[self.instrument]
        self.spec = self.state.spec
        self.price_text = decimal_formatter(self.spec.tick_size)
        self.size_text = decimal_formatter(self.spec.lot_size)
        self.ladder_levels = ladder_levels
        self.points: deque[bytes] = deque(maxlen=history_points)
        self.fills: deque[bytes] = deque(maxlen=fills)
        self.regimes: deque[bytes] = deque(maxlen=regimes)
        self._new_fills: deque[bytes] = deque(maxlen=fills)
        self._new_regimes: deque[bytes] = deque(maxlen=regimes)
        self._last_point: bytes | None = None
        self._last_t = 0
        self.observer_errors = 0
        if pipeline is not None:
            status = pipeline.risk.status()
            since = status.get("since_ts") or trading.engine.clock.now or time.time_ns()
            self._add_regime(
                {
                    "t": _seconds(since),
                    "kind": "state",
                    "to": status["regime"],
                    "rule": "state when the dashboard started",
                    "text": "; ".join(status.get("reasons") or []),
                }
            )
            pipeline.report_observers.append(self._on_report)
            pipeline.risk_observers.append(self._on_risk)

    # ---- observers (called inside the trading loop: append only, never raise) --------

    def _on_report(self, report: OrderReport) -> None:
        if type(report) is not OrderFilled:
            return
        try:
            spec = self.spec
            fill = encode(
                {
                    "t": _seconds(report.ts),
                    "side": "buy" if report.side > 0 else "sell",
                    "price": spec.prices.to_str(report.price),
                    "size": spec.sizes.to_str(report.size),
                    "liquidity": str(report.liquidity.value),
                    "fee": report.fee,
                    "fee_asset": report.fee_asset,
                    "client_id": report.client_id,
                }
            )
        except Exception:
            self.observer_errors += 1
            return
        self.fills.append(fill)
        self._new_fills.append(fill)

    def _on_risk(self, record: RiskRecord) -> None:
        try:
            if isinstance(record, RegimeTransition):
                entry = {
                    "t": _seconds(record.ts),
                    "kind": "transition",
                    "from": record.from_state.value,
                    "to": record.to_state.value,
                    "rule": record.rule,
                    # the numbers behind the rule (the page shows from -> to [rule] itself)
                    "text": "; ".join(r.text() for r in record.reasons),
                }
            elif isinstance(record, KillRecord):
                entry = {
                    "t": _seconds(record.ts),
                    "kind": record.action,
                    "rule": record.trigger,
                    "text": f"{record.action} by {record.source or '?'}: {record.reason}",
                }
            else:
                return
        except Exception:
            self.observer_errors += 1
            return
        self._add_regime(entry)

    def _add_regime(self, entry: dict[str, Any]) -> None:
        data = encode(entry)
        self.regimes.append(data)
        self._new_regimes.append(data)

    # ---- sampling ---------------------------------------------------------------------

    def sample(self) -> bytes | None:
        """Record one history point if event time moved since the last one (else None)."""
        now = self.trading.engine.clock.now
        if now <= self._last_t or self.state.last_event_ts == 0:
            return None
        book = self.state.book
        tick = float(self.spec.tick_size)
        bid, ask = book.best_bid, book.best_ask
        our_bid, our_ask = self._our_best()
        values: list[float | None] = [
            _seconds(now),
            bid * tick if bid is not None else None,
            ask * tick if ask is not None else None,
            our_bid * tick if our_bid is not None else None,
            our_ask * tick if our_ask is not None else None,
        ]
        pipeline = self.trading.pipeline
        if pipeline is not None:
            sample = pipeline.sample(now)
            pnl = sample["pnl"]
            values += [sample["inventory"], sample["net_delta"], *(pnl[k] for k in PNL_KEYS)]
        else:
            values += [None] * (len(POINT_FIELDS) - len(values))
        point = encode([_round(v) for v in values])
        self._last_t = now
        self._last_point = point
        self.points.append(point)
        return point

    def _our_best(self) -> tuple[int | None, int | None]:
        exchange = self.trading.exchange
        if exchange is None:
            return None, None
        best_bid: int | None = None
        best_ask: int | None = None
        key = self.instrument
        for order in exchange.orders.values():
            if order.order.instrument != key or order.remaining <= 0:
                continue
            if order.side > 0:
                if best_bid is None or order.price > best_bid:
                    best_bid = order.price
            elif best_ask is None or order.price < best_ask:
                best_ask = order.price
        return best_bid, best_ask

    def ladder(self) -> dict[str, Any]:
        """Levels around the touch (best first per side) merged with our orders at the venue
        (resting: remaining and lots displayed ahead of us; in flight: not arrived yet)."""
        fmt_price, fmt_size = self.price_text, self.size_text
        book = self.state.book
        bids, asks = book.top(self.ladder_levels)
        ours: dict[int, list[dict[str, Any]]] = {}
        exchange = self.trading.exchange
        if exchange is not None:
            cancelling = exchange.cancels_inflight
            for order in exchange.orders.values():
                if order.order.instrument != self.instrument:
                    continue
                ours.setdefault(order.price, []).append(
                    {
                        "side": "buy" if order.side > 0 else "sell",
                        "remaining": fmt_size(order.remaining),
                        "ahead": fmt_size(order.ahead),
                        "state": "cancelling" if order.client_id in cancelling else "resting",
                        "client_id": order.client_id,
                    }
                )
            for command in exchange.inflight.values():
                if command.instrument != self.instrument or command.price is None:
                    continue
                ours.setdefault(command.price, []).append(
                    {
                        "side": "buy" if command.side > 0 else "sell",
                        "remaining": fmt_size(command.size),
                        "ahead": None,
                        "state": "in flight",
                        "client_id": command.client_id,
                    }
                )
        bid_sizes = dict(bids)
        ask_sizes = dict(asks)
        prices = sorted(set(bid_sizes) | set(ask_sizes) | set(ours), reverse=True)
        rows = [
            {
                "price": fmt_price(price),
                "bid": fmt_size(bid_sizes[price]) if price in bid_sizes else None,
                "ask": fmt_size(ask_sizes[price]) if price in ask_sizes else None,
                "ours": ours.get(price, []),
            }
            for price in prices
        ]
        return {
            "instrument": self.instrument,
            "valid": self.state.sync.valid,
            "best_bid": fmt_price(bids[0][0]) if bids else None,
            "best_ask": fmt_price(asks[0][0]) if asks else None,
            "rows": rows,
        }

    def meta(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "engine": self.name,
            "instrument": self.instrument,
            "base": spec.base,
            "quote": spec.quote,
            "tick_size": str(spec.tick_size),
            "lot_size": str(spec.lot_size),
            "quoting": self.trading.pipeline is not None,
            "hedged": self.trading.hedger is not None,
        }

    def take_new(self) -> tuple[list[bytes], list[bytes]]:
        """Fills and regime entries recorded since the previous call."""
        fills, regimes = list(self._new_fills), list(self._new_regimes)
        self._new_fills.clear()
        self._new_regimes.clear()
        return fills, regimes


def _round(value: float | None) -> float | None:
    if value is None:
        return None
    return round(float(value), 10)


def _array(items: Iterable[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"


class DashboardFeed:
    """The feeds of every engine of a process and the messages built from them."""

    def __init__(
        self,
        trading: list[TradingEngine],
        status: Callable[[], dict[str, Any]],
        *,
        history_points: int = 3600,
        fills: int = 500,
        regimes: int = 500,
        ladder_levels: int = 10,
    ) -> None:
        self.status = status
        self.engines = [
            EngineFeed(
                t, history_points=history_points, fills=fills, regimes=regimes, ladder_levels=ladder_levels
            )
            for t in trading
        ]
        self.frames = 0
        self.last_status = b"null"
        """The ``/status`` document of the latest frame that carried one (JSON)."""

    def sample(self) -> None:
        """Record history with nobody watching (what is new is in the history already)."""
        for feed in self.engines:
            feed.sample()
            feed.take_new()

    def frame(self, wall_ns: int, *, with_status: bool = True) -> bytes:
        """The newest point, new fills and regime entries and the ladders, as JSON; with
        ``with_status`` also the ``/status`` document (else ``"status": null``)."""
        self.frames += 1
        parts = []
        for feed in self.engines:
            point = feed.sample() or b"null"
            fills, regimes = feed.take_new()
            body = b"".join(
                (
                    b'{"point":',
                    point,
                    b',"fills":',
                    _array(fills),
                    b',"regimes":',
                    _array(regimes),
                    b',"ladder":',
                    encode(feed.ladder()),
                    b"}",
                )
            )
            parts.append(encode(feed.name) + b":" + body)
        status = b"null"
        if with_status:
            status = self.last_status = encode(self.status())
        return b"".join(
            (
                b'{"t":',
                encode(_seconds(wall_ns)),
                b',"seq":',
                encode(self.frames),
                b',"engines":{',
                b",".join(parts),
                b'},"status":',
                status,
                b"}",
            )
        )

    def snapshot(self, wall_ns: int, server: dict[str, Any]) -> bytes:
        """Everything kept: history points, fills and the regime timeline of each engine, and
        the latest ``/status`` sent."""
        parts = []
        for feed in self.engines:
            body = b"".join(
                (
                    b'{"meta":',
                    encode(feed.meta()),
                    b',"points":',
                    _array(feed.points),
                    b',"fills":',
                    _array(feed.fills),
                    b',"regimes":',
                    _array(feed.regimes),
                    b"}",
                )
            )
            parts.append(encode(feed.name) + b":" + body)
        return b"".join(
            (
                b'{"t":',
                encode(_seconds(wall_ns)),
                b',"seq":',
                encode(self.frames),
                b',"fields":',
                encode(POINT_FIELDS),
                b',"server":',
                encode(server),
                b',"engines":{',
                b",".join(parts),
                b'},"status":',
                self.last_status,
                b"}",
            )
        )
