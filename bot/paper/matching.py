"""The fill simulator of one instrument: the venue's public book plus our resting orders.

Rules (venue time; prices in ticks, sizes in lots):

- **Taker orders** (market, or the crossing part of a limit) walk the current public
  book level by level, best first, up to their limit: one fill per level at that
  level's price, partial when the book runs out.
- **Post-only** orders that would cross the best opposite price are rejected (caller).
- **Resting orders** join the queue of their price level behind everything displayed
  there when they *arrive* (``ahead`` = displayed size; 0 when they improve the best
  price). A public trade at our price executes through the queue front to back
  (:func:`bot.paper.queue.consume`): the lots ahead of us first, then us.
- **Through our price** (:mod:`bot.paper.through`), never more than the venue traded or
  displayed: a trade at a worse price than ours (a sell below our bid, a buy above our
  ask) brings its own size, which goes to our orders priced better than it, best price
  first and in arrival order within a price, each at its own price; the rest reaches
  the queue at the trade's price. What our orders took out of a print is *spared* at
  that price and stands in front of our worse orders for the rest of the sweep, so a
  sweep's volume is counted once. When the public book moves through us without a
  printed trade (best ask at or below our bid), the crossing lots, less what we already
  took there, fill us -- best opposite price first, our best orders first -- and are
  then *taken*, so a standing crossing level fills us once.
- Trades and displayed-size decreases at our level are reconciled so that one traded lot
  moves the queue once (:mod:`bot.paper.level`): a decrease waits ``trade_window`` for
  the trade that explains it; what no trade explains is a cancel, which advances us
  according to the configured queue model; increases join behind us.
- **Our taker fills consume the paper copy of the book**: the lots a taker order (a
  market order, the crossing part of a limit, a hedge) took at a level are unavailable
  to our next taker order, and do not count as the best price for post-only checks.
  The recorded venue never saw us, so its later updates of that level still count the
  lots we took: they stay taken up to the level's new size (an increase is new
  liquidity, a decrease comes out of what we left), until the level empties. The
  liquidity we *post* never joins the public book, and the recorded book otherwise
  stays the market's truth: a crossing limit order whose rest still sees the levels it
  consumed is "disarmed" for book-through fills until the opposite best (net of what we
  took) no longer crosses it (public trades still fill it).
- Liquidation prints (``Trade.liquidation``) are not matched: they are insurance-fund
  transfers, not executions against the book.
"""

from __future__ import annotations

from decimal import Decimal

from bot.core.events import Side
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.core.orders import NewOrder
from bot.market.book import OrderBook
from bot.market.sync import BookSync
from bot.paper.fees import FeeSchedule
from bot.paper.level import Level
from bot.paper.queue import QueueModel
from bot.paper.through import book_through, print_through, trim_taken
from bot.paper.validation import min_notional_units


class RestingOrder:
    """A paper order live at the venue (mutable; owned by the exchange)."""

    __slots__ = (
        "accepted_ts",
        "ahead",
        "armed",
        "client_id",
        "mark",
        "order",
        "price",
        "remaining",
        "side",
    )

    def __init__(self, order: NewOrder, remaining: int, accepted_ts: int, ahead: int, armed: bool) -> None:
        self.order = order
        self.client_id = order.client_id
        self.side = int(order.side)
        assert order.price is not None
        self.price: int = order.price
        self.remaining = remaining
        self.accepted_ts = accepted_ts
        self.ahead = ahead
        self.armed = armed
        self.mark = 0
        """The level's pending-decrease counter when this order joined (see :mod:`bot.paper.level`)."""

    @property
    def instrument(self) -> str:
        return self.order.instrument

    def __repr__(self) -> str:
        side = "buy" if self.side > 0 else "sell"
        return f"<RestingOrder {self.client_id} {side} {self.remaining}@{self.price} ahead={self.ahead}>"


Fill = tuple[RestingOrder, int, int]
"""(order, price ticks, lots)."""


class Market:
    """Public book, our resting orders and venue-side state of one instrument."""

    __slots__ = (
        "asks",
        "bids",
        "book",
        "buy_cap",
        "buy_cap_for",
        "buy_factor",
        "disarmed",
        "fees",
        "forked_at",
        "funding_rate",
        "funding_ts",
        "half_tick",
        "is_spot",
        "key",
        "mark_price",
        "min_qty_lots",
        "min_units",
        "notional_unit",
        "open_buy_lots",
        "open_buy_units",
        "open_sell_lots",
        "queue_model",
        "recheck",
        "shared",
        "spared_asks",
        "spared_bids",
        "spec",
        "step_lots",
        "sync",
        "taken_asks",
        "taken_bids",
        "tick",
        "top_ask",
        "top_bid",
        "trade_memory_ns",
        "trade_window_ns",
        "unit",
        "waiting",
    )

    def __init__(
        self,
        spec: InstrumentSpec,
        sync: BookSync,
        fees: FeeSchedule,
        queue_model: QueueModel,
        *,
        trade_window_ns: int = 0,
        trade_memory_ns: int = 0,
    ) -> None:
        self.spec = spec
        self.key = spec.key
        self.is_spot = spec.kind is InstrumentKind.SPOT
        self.sync = sync
        self.book: OrderBook = sync.book
        self.shared: BookSync | None = None
        """The engine's sync of this instrument when the venue reads the engine's book
        (``sync is shared``) instead of its own copy (see ``PaperExchange.share_book``)."""
        self.recheck = False
        """The private copy may again equal the engine's book (after a snapshot)."""
        self.forked_at = -1
        """Input position at which the private copy was taken: it already holds that event."""
        self.fees = fees
        self.queue_model = queue_model
        self.tick = spec.tick_size
        self.half_tick = spec.tick_size / 2
        self.unit = spec.lot_size * spec.contract_size
        self.notional_unit = spec.tick_size * self.unit
        """Quote value of 1 tick x 1 lot: notional = notional_unit * price * lots."""
        self.buy_factor = self.notional_unit * (1 + fees.worst_rate)
        """Quote reserved per tick x lot of a resting buy (notional plus the worst fee)."""
        self.buy_cap = 0
        self.buy_cap_for: Decimal | None = None
        """``buy_cap`` = floor(balance / buy_factor): the units of resting buys the quote balance
        ``buy_cap_for`` pays for (cached by the funds check, :mod:`bot.paper.account`)."""
        self.step_lots = spec.step_lots
        whole, remainder = divmod(spec.min_qty, spec.lot_size)
        self.min_qty_lots = int(whole) + (1 if remainder else 0)
        self.min_units = min_notional_units(spec)
        self.bids: dict[int, Level[RestingOrder]] = {}
        self.asks: dict[int, Level[RestingOrder]] = {}
        self.top_bid: int | None = None  # our highest resting bid
        self.top_ask: int | None = None  # our lowest resting ask
        self.disarmed = 0  # resting orders not eligible for book-through fills
        self.open_buy_lots = 0
        self.open_buy_units = 0  # sum of remaining * price over resting buys (funds reserved)
        self.open_sell_lots = 0
        self.mark_price: int | None = None
        self.funding_rate = Decimal(0)
        self.funding_ts = 0
        self.trade_window_ns = trade_window_ns
        """How long a displayed decrease at our price waits for the trade that explains it."""
        self.trade_memory_ns = max(trade_memory_ns, trade_window_ns)
        self.waiting = 0
        """Levels of ours with pending decreases (0: nothing to expire)."""
        self.taken_bids: dict[int, int] = {}
        """Lots our taker sells, or our asks the bids crossed, took at each bid price."""
        self.taken_asks: dict[int, int] = {}
        """Lots our taker buys, or our bids the asks crossed, took at each ask price (the
        recording still shows them; see :func:`bot.paper.through.trim_taken`)."""
        self.spared_bids: dict[int, int] = {}
        """Bid lots per price that sell prints traded in the recording but that our bids
        took the volume of: they still stand in the simulated world (:mod:`bot.paper.through`)."""
        self.spared_asks: dict[int, int] = {}
        """Ask lots per price that buy prints traded in the recording but our asks spared."""

    def use(self, sync: BookSync) -> None:
        """Read the public book from ``sync`` from now on."""
        self.sync = sync
        self.book = sync.book

    def feeds_own_copy(self, position: int) -> bool:
        """The venue applies input event ``position`` to its book itself: it keeps its own copy
        (not the engine's book), and not one forked from the engine's during that very event."""
        return self.sync is not self.shared and self.forked_at != position

    # ---- prices ----------------------------------------------------------------------

    def mid(self) -> Decimal | None:
        """Public book mid in quote per base unit, when both sides exist."""
        book = self.book
        bid, ask = book.best_bid, book.best_ask
        if bid is None or ask is None:
            return None
        return self.half_tick * (bid + ask)

    def valuation(self) -> Decimal | None:
        """The ledger's valuation mark: mark price for perpetuals once known, else mid."""
        if not self.is_spot and self.mark_price is not None:
            return self.tick * self.mark_price
        return self.mid()

    def best_available(self, side: int) -> int | None:
        """Best public price on ``side`` (+1 bids, -1 asks) with lots our takers left."""
        book = self.book
        taken = self.taken_bids if side > 0 else self.taken_asks
        best = book.best_bid if side > 0 else book.best_ask
        if best is None or not taken or best not in taken:
            return best
        levels = book.bid_levels() if side > 0 else book.ask_levels()
        for price, size in levels:
            if size > taken.get(price, 0):
                return price
        return None

    def crosses(self, side: int, price: int) -> bool:
        """Would a limit order at ``price`` trade against the public book on arrival?"""
        best = self.best_available(-side)
        if best is None:
            return False
        return price >= best if side > 0 else price <= best

    def walk(self, side: int, limit: int | None, size: int) -> list[tuple[int, int]]:
        """Levels a taker order would take: [(price, lots)], best first, net of what our
        earlier taker orders took there (until the venue updated the level)."""
        book = self.book
        if limit is None:
            levels = book.ask_levels() if side > 0 else book.bid_levels()
        else:
            levels = book.levels_through(-side, limit)
        taken_here = self.taken_asks if side > 0 else self.taken_bids
        taken: list[tuple[int, int]] = []
        left = size
        for price, available in levels:
            if taken_here:
                available -= taken_here.get(price, 0)
                if available <= 0:
                    continue
            take = available if available < left else left
            taken.append((price, take))
            left -= take
            if not left:
                break
        return taken

    def take(self, side: int, taken: list[tuple[int, int]]) -> None:
        """Our taker order on ``side`` took ``taken`` [(price, lots)] from the paper book."""
        book_side = self.taken_asks if side > 0 else self.taken_bids
        for price, lots in taken:
            book_side[price] = book_side.get(price, 0) + lots

    def venue_updated(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        """The venue re-published these levels (the book already holds them): what we took
        there stays taken up to the level's new size; spared lots there are forgotten."""
        for changed, taken, spared, sizes in (
            (bids, self.taken_bids, self.spared_bids, self.book.bids),
            (asks, self.taken_asks, self.spared_asks, self.book.asks),
        ):
            if changed and (taken or spared):
                prices = [price for price, _ in changed]
                if taken:
                    trim_taken(taken, prices, sizes)
                if spared:
                    for price in prices:
                        spared.pop(price, None)

    def venue_reloaded(self) -> None:
        """A snapshot replaced the book: trim what we took to its levels, forget spared lots."""
        if self.taken_bids:
            trim_taken(self.taken_bids, list(self.taken_bids), self.book.bids)
        if self.taken_asks:
            trim_taken(self.taken_asks, list(self.taken_asks), self.book.asks)
        self.spared_bids.clear()
        self.spared_asks.clear()

    # ---- resting orders --------------------------------------------------------------

    @property
    def has_orders(self) -> bool:
        return bool(self.bids or self.asks)

    def join(self, order: RestingOrder, displayed: int | None = None, mark: int | None = None) -> None:
        """Add ``order`` at the back of its level (``order.ahead`` already set).

        ``displayed``/``mark`` restore a level and the order's place among its pending
        decreases (journal recovery); a new order takes the level's current counter."""
        levels = self.bids if order.side > 0 else self.asks
        level = levels.get(order.price)
        if level is None:
            if displayed is None:
                displayed = self.book.size_at(order.side, order.price)
            level = levels[order.price] = Level(displayed)
        level.add(order)
        if mark is not None:
            order.mark = mark
        if not order.armed:
            self.disarmed += 1
        if order.side > 0:
            self.open_buy_lots += order.remaining
            self.open_buy_units += order.remaining * order.price
            if self.top_bid is None or order.price > self.top_bid:
                self.top_bid = order.price
        else:
            self.open_sell_lots += order.remaining
            if self.top_ask is None or order.price < self.top_ask:
                self.top_ask = order.price

    def reduce(self, order: RestingOrder, lots: int) -> None:
        """``order`` filled ``lots``; remove it from its level when nothing remains."""
        order.remaining -= lots
        if order.side > 0:
            self.open_buy_lots -= lots
            self.open_buy_units -= lots * order.price
        else:
            self.open_sell_lots -= lots
        if not order.remaining:
            self._unlink(order)

    def remove(self, order: RestingOrder) -> None:
        """Take ``order`` out of the book with its remaining size (cancel)."""
        if order.side > 0:
            self.open_buy_lots -= order.remaining
            self.open_buy_units -= order.remaining * order.price
        else:
            self.open_sell_lots -= order.remaining
        self._unlink(order)

    def _unlink(self, order: RestingOrder) -> None:
        if not order.armed:
            self.disarmed -= 1
        levels = self.bids if order.side > 0 else self.asks
        level = levels[order.price]
        level.orders.remove(order)
        if not level.orders:
            if level.pending:
                self.waiting -= 1
            if level.front:  # spared lots that were ahead of us stay at the price
                spared = self.spared_bids if order.side > 0 else self.spared_asks
                spared[order.price] = spared.get(order.price, 0) + level.front
            del levels[order.price]
            if order.side > 0:
                self.top_bid = max(levels) if levels else None
            else:
                self.top_ask = min(levels) if levels else None

    def level_displayed(self, side: int, price: int) -> int | None:
        level = (self.bids if side > 0 else self.asks).get(price)
        return None if level is None else level.displayed

    # ---- market events ---------------------------------------------------------------

    def on_trade(self, side: Side, price: int, size: int, ts: int) -> list[Fill]:
        """Maker fills caused by a public trade (``side`` = aggressor) at venue time ``ts``.

        The print's ``size`` lots meet our better-priced orders and the spared lots among
        them first, best price first (:func:`bot.paper.through.print_through`); what is
        left reaches our queue at ``price``. What our orders took from the print is
        spared at ``price`` for the rest of the sweep."""
        if side < 0:  # sellers hit the bids
            levels, spared, top = self.bids, self.spared_bids, self.top_bid
            if (top is None or top < price) and not spared:
                return []
            through = (top is not None and top > price) or any(p > price for p in spared)
        else:
            levels, spared, top = self.asks, self.spared_asks, self.top_ask
            if (top is None or top > price) and not spared:
                return []
            through = (top is not None and top < price) or any(p < price for p in spared)
        if self.waiting:
            self.expire(ts)
        if through:
            fills, left = print_through(levels, spared, side, price, size)
        else:
            fills, left = [], size
        level = levels.get(price)
        if level is not None:
            had = bool(level.pending)
            got, kept = level.on_print(size, left)
            for order, lots in got:
                fills.append((order, price, lots))
            if had and not level.pending:
                self.waiting -= 1
        else:
            kept = size - left
        if kept:
            spared[price] = spared.get(price, 0) + kept
        return fills

    def touched_by(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> bool:
        """Could :meth:`on_book` after this diff decide anything new for our resting orders?

        Only through: a pending decrease expiring (time), a disarmed order to re-arm, the
        displayed size at one of our prices, or the opposite best reaching our best price
        (a book-through). Anything else is untouched: the displayed sizes at our levels are
        as on_book last saw them, and a level at or through our best price that did not
        change yields nothing new (what it could fill us with is already taken)."""
        if self.waiting or self.disarmed:
            return True
        if bids:
            ours = self.bids
            top = self.top_ask
            for price, _ in bids:
                if price in ours or (top is not None and price >= top):
                    return True
        if asks:
            ours = self.asks
            top = self.top_bid
            for price, _ in asks:
                if price in ours or (top is not None and price <= top):
                    return True
        return False

    def on_book(self, ts: int) -> list[Fill]:
        """After a book change at venue time ``ts``: queues from displayed sizes, book-throughs."""
        if self.waiting:
            self.expire(ts)
        book = self.book
        fills: list[Fill] = []
        bids = self.bids
        if bids:
            sizes = book.bids
            for price, level in bids.items():
                now = sizes.get(price, 0)
                if now != level.displayed:
                    self._displayed(level, now, ts)
            top = self.top_bid
            best_ask = book.best_ask
            if best_ask is not None and top is not None and top >= best_ask:
                fills.extend(book_through(bids, book, self.taken_asks, 1, top, best_ask))
        asks = self.asks
        if asks:
            sizes = book.asks
            for price, level in asks.items():
                now = sizes.get(price, 0)
                if now != level.displayed:
                    self._displayed(level, now, ts)
            top = self.top_ask
            best_bid = book.best_bid
            if best_bid is not None and top is not None and top <= best_bid:
                fills.extend(book_through(asks, book, self.taken_bids, -1, top, best_bid))
        if self.disarmed:
            self._rearm()
        return fills

    def _displayed(self, level: Level[RestingOrder], now: int, ts: int) -> None:
        """The displayed size at ``level`` changed to ``now`` (depth stream)."""
        had = bool(level.pending)
        if self.trade_window_ns <= 0:
            # no reconciliation window: a decrease is a cancel at once
            before = level.displayed
            if now < before:
                model = self.queue_model
                for order in level.orders:
                    order.ahead = model(order.ahead, before, now)
            level.displayed = now
            return
        level.on_displayed(now, ts)
        if level.pending and not had:
            self.waiting += 1

    def expire(self, ts: int) -> None:
        """Pending decreases older than the trade window become cancels (queue model)."""
        window, memory, model = self.trade_window_ns, self.trade_memory_ns, self.queue_model
        for levels in (self.bids, self.asks):
            for level in levels.values():
                if level.pending:
                    level.expire(ts, window, memory, model)
                    if not level.pending:
                        self.waiting -= 1

    def _rearm(self) -> None:
        """Arm disarmed orders that the opposite public best no longer crosses."""
        for levels in (self.bids, self.asks):
            for price, level in levels.items():
                for order in level.orders:
                    if not order.armed and not self.crosses(order.side, price):
                        order.armed = True
                        self.disarmed -= 1
