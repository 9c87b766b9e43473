"""One price level holding our resting paper orders: trades and depth changes reconciled.

The venue publishes two views of one queue: the trade stream (each print executed at
the front of a level) and the depth stream (the level's new displayed size, which also
drops by every traded lot). On Binance the two arrive separately and in either order:
in the bundled recordings about one matched trade in five reaches us *after* the depth
update that already shows its effect (the lead is below 300 ms for ~95 % of them; see
``paper.trade_window_ms``). Counting both would move a queue position twice for one
traded lot; this module makes each lot count once.

- A **trade** at the level first *explains* displayed decreases that are still pending
  (oldest first): those lots were traded at the front of the queue, so they consume
  the lots ahead of every order that was already there when the decrease happened (an
  order that joined later saw the smaller size and is not moved). Traded lots beyond
  every pending decrease have not shown in the depth yet: they consume the queue ahead
  of every order, and the displayed size we expect drops by them, so the depth update
  that follows does not count them again.
- A **displayed decrease** that no earlier trade explained is held as *pending* for
  ``window_ns`` of venue time: nothing moves while a trade may still explain it (a
  queue position never advances on a guess). When the window passes without a trade,
  the decrease is a cancel and the queue model (:mod:`bot.paper.queue`) applies it.
  The lots stay remembered as "already counted" for ``memory_ns``: a trade that prints
  even later is not counted against the queue a second time (and fills nothing).
- A displayed **increase** is orders joining behind ours: no queue moves.

Every order records the level's pending counter at the time it joins (``mark``); a
pending decrease applies to the orders that were there before it (``order.mark <=
decrease.mark``) -- always a prefix of the level's orders, which are in arrival order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeAlias, TypeVar

QueueModel: TypeAlias = Callable[[int, int, int], int]


class Slot(Protocol):
    """What a level needs of a resting order."""

    ahead: int
    remaining: int
    mark: int


S = TypeVar("S", bound=Slot)


class Pending:
    """A displayed decrease not yet explained by a trade (or, once ``applied``, counted
    as cancels and remembered so that a late trade is not counted again)."""

    __slots__ = ("applied", "lots", "mark", "ts")

    def __init__(self, ts: int, lots: int, mark: int, applied: bool = False) -> None:
        self.ts = ts
        self.lots = lots
        self.mark = mark
        self.applied = applied

    def as_tuple(self) -> tuple[int, int, int, bool]:
        return (self.ts, self.lots, self.mark, self.applied)

    def __repr__(self) -> str:
        state = "applied" if self.applied else "pending"
        return f"<Pending {self.lots} lots #{self.mark} {state} @{self.ts}>"


class Level(Generic[S]):
    """Our orders at one price, the displayed size we account for, and pending decreases."""

    __slots__ = ("displayed", "front", "next_mark", "orders", "pending")

    def __init__(self, displayed: int) -> None:
        self.displayed = displayed
        """The venue's displayed size at this price, less traded lots the depth has not shown yet."""
        self.orders: list[S] = []
        self.pending: list[Pending] = []
        self.next_mark = 0
        self.front = 0
        """Of the lots ahead of our first order, those the recording traded but the simulated
        world still has (a print here our better orders took the volume of): still ahead of
        us after the venue traded this level out (:mod:`bot.paper.through`)."""

    # ---- orders ------------------------------------------------------------------------

    def add(self, order: S) -> None:
        """``order`` joins at the back (``order.ahead`` already set from :attr:`displayed`)."""
        order.mark = self.next_mark
        self.orders.append(order)

    # ---- the depth stream --------------------------------------------------------------

    def on_displayed(self, size: int, ts: int) -> None:
        """The venue now displays ``size`` lots here (event at venue time ``ts``)."""
        before = self.displayed
        if size < before:
            self.pending.append(Pending(ts, before - size, self.next_mark))
            self.next_mark += 1
        self.displayed = size

    def expire(self, ts: int, window_ns: int, memory_ns: int, model: QueueModel) -> None:
        """Apply pending decreases older than ``window_ns`` as cancels; forget applied ones
        older than ``memory_ns``."""
        pending = self.pending
        changed = False
        for item in pending:
            if not item.applied and ts - item.ts >= window_ns:
                self._apply_cancel(item, model)
                item.applied = True
            if item.applied and ts - item.ts >= memory_ns:
                item.lots = 0
                changed = True
        if changed:
            self.pending = [item for item in pending if item.lots]

    def _apply_cancel(self, item: Pending, model: QueueModel) -> None:
        floor = 0
        for order in self.orders:
            if order.mark > item.mark:
                break  # joined after the decrease: its ahead already reflects it
            before = self.displayed + sum(
                p.lots for p in self.pending if not p.applied and p.mark >= order.mark
            )
            ahead = model(order.ahead, before, before - item.lots)
            # per-order models need not be monotone in ahead (hftbacktest's ProbQueueModel is
            # not): an order never overtakes the one in front of it
            if ahead < floor:
                ahead = floor if floor <= order.ahead else order.ahead
            order.ahead = floor = ahead

    # ---- the trade stream --------------------------------------------------------------

    def on_trade(self, volume: int, executable: int | None = None) -> list[tuple[S, int]]:
        """A public trade of ``volume`` lots at this price: our fills, in queue order.

        ``executable`` (default ``volume``) is how much of the print still reaches this
        level's queue once our better-priced orders took their share of the aggressor
        (:meth:`bot.paper.matching.Market.on_trade`): the first ``executable`` lots of
        the print move the queue and fill us as usual; the rest only account for the
        depth change the print causes (they explain pending decreases or lower the size
        we expect), so they are neither executed nor later taken for cancels."""
        orders = self.orders
        filled = [0] * len(orders)
        left = volume
        budget = volume if executable is None or executable > volume else executable
        if self.pending:
            for item in self.pending:
                if not left:
                    break
                take = item.lots if item.lots < left else left
                item.lots -= take
                left -= take
                run = take if take < budget else budget
                budget -= run
                if run and not item.applied:
                    eligible = 0
                    while eligible < len(orders) and orders[eligible].mark <= item.mark:
                        eligible += 1
                    if eligible:
                        _execute(orders[:eligible], filled, run)
            self.pending = [item for item in self.pending if item.lots]
        if left:
            run = left if left < budget else budget
            if run:
                _execute(orders, filled, run)
            displayed = self.displayed - left
            self.displayed = displayed if displayed > 0 else 0
        return [(order, lots) for order, lots in zip(orders, filled, strict=True) if lots]

    def on_print(self, volume: int, reached: int) -> tuple[list[tuple[S, int]], int]:
        """A print of ``volume`` lots here of which only ``reached`` got to this level (our
        better orders took the rest): :meth:`on_trade` with ``reached`` executable.

        Returns our fills and the lots *spared* behind our orders: lots the recording
        traded here but the simulated world still has (the part that never arrived, and
        what our own fills took the place of). Spared lots in front of our first order
        that is still open stay in its ``ahead`` and are counted in :attr:`front`."""
        orders = self.orders
        before = orders[0].ahead if orders else 0
        got = self.on_trade(volume, reached)
        front = self.front
        if front and orders:
            front -= before - orders[0].ahead
            front = front if front > 0 else 0
        filled = sum(lots for _, lots in got)
        kept = volume - reached + filled
        if kept:
            done = {id(order): lots for order, lots in got}
            for order in orders:
                if order.remaining > done.get(id(order), 0):
                    ahead = front + volume - reached
                    ahead = ahead if ahead < order.ahead else order.ahead
                    if ahead > front:
                        kept -= ahead - front
                        front = ahead
                    break
        self.front = front
        return got, kept

    def on_through(self, volume: int) -> tuple[list[tuple[S, int]], int]:
        """An aggressor passing this price on its way to a worse one brings ``volume`` lots.

        A print at a worse price proves the venue traded this level out: what is still
        ahead of us here is only the :attr:`front` lots the simulated world kept. The
        aggressor takes those, then our orders in arrival order. Returns our fills and
        the volume left for what is behind us."""
        orders = self.orders
        if not orders:
            return [], volume
        front = self.front if self.front < orders[0].ahead else orders[0].ahead
        take = front if front < volume else volume
        self.front = front - take
        left = volume - take
        for order in orders:
            ahead = self.front if left == 0 else 0
            order.ahead = ahead if ahead < order.ahead else order.ahead
        fills: list[tuple[S, int]] = []
        for order in orders:
            if not left:
                break
            lots = order.remaining if order.remaining < left else left
            fills.append((order, lots))
            left -= lots
        return fills, left

    # ---- state ---------------------------------------------------------------------------

    def restore_pending(self, items: Sequence[tuple[int, int, int, bool]], next_mark: int) -> None:
        self.pending = [Pending(ts, lots, mark, applied) for ts, lots, mark, applied in items]
        self.next_mark = next_mark


def _execute(slots: Sequence[Slot], filled: list[int], volume: int) -> int:
    """Consume ``volume`` through ``slots`` front to back; add to ``filled``; move queues.

    Returns the volume left after the last slot (it met the lots behind our orders)."""
    consumed = 0
    left = volume
    for index, slot in enumerate(slots):
        gap = slot.ahead - consumed
        if gap > 0:
            take = gap if gap < left else left
            consumed += take
            left -= take
        if left <= 0:
            break
        room = slot.remaining - filled[index]
        fill = room if room < left else left
        if fill > 0:
            filled[index] += fill
            left -= fill
    for slot in slots:
        ahead = slot.ahead - consumed
        slot.ahead = ahead if ahead > 0 else 0
    return left if left > 0 else 0
