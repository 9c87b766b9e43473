"""The obligation layer: what the quoting adds so a venue's obligation is met.

Given the strategy's desired quotes (after the risk manager's adjustments), the public
book, the obligation lane's own orders and what the venue account can fund, the layer
(:meth:`ObligationLayer.plan`) returns:

- **the strategy's quotes, clamped and trimmed**: when their spread exceeds the limit
  they are pulled in around their own centre to ``spread_use_pct`` of it (sizes kept;
  ``clamp_strategy``) -- so CRISIS widens them only up to the limit; their sizes are
  cut, deepest level first, to what the account can fund after the lane;
- **spread guards** (lane slots 0 and 1 per side): one small order per side at about
  ``spread_use_pct`` of the spread limit around mid. They hold the spread while the
  strategy's own quotes are being replaced or are off (e.g. TRENDING allows no bids)
  and are replaced make-before-break (the new guard goes into the other slot; the old
  one is dropped once the new one rests), so the guards alone always satisfy the limit;
- **a depth ladder** (lane slots 2 ..): ``depth_levels`` orders per side spread from
  ``depth_from_pct`` to ``depth_to_pct`` of the band away from mid, together
  ``required x (1 + depth_buffer_pct)``. A level is kept while it stays well inside
  the band and keeps most of its size; levels that contribute nothing (out of the
  band, gone) are replaced at once, contributing ones one at a time per side and only
  while the rest still meet the requirement -- so a replacement never breaks it;
- **shortfalls**: per side, when the account (inventory for asks, quote balance for
  bids) or the risk limits cannot fund the target depth: which side, required,
  supported, and what limits it. The engine turns them into alerts.

Priority when funds are short: guards, then the depth ladder, then the strategy's
quotes. A side the risk manager blocks outright (a hard position or loss limit) gets
no lane orders; the plan says why (``chosen``), and so does CRISIS with
``crisis = "widen"`` (no guards, no clamp).

Pure and synchronous; prices in ticks, sizes in lots, depth in tick-lots (see
:mod:`bot.strategy.obligation_terms`). The layer remembers which guard slot is the
current one; everything else comes in with each call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import msgspec

from bot.core.events import Side
from bot.strategy.ladder import QuoteRules
from bot.strategy.obligation_terms import ObligationTerms
from bot.strategy.types import DesiredQuotes, Quote

GUARD_SLOTS = (0, 1)
DEPTH_SLOT0 = 2
KEEP_OUTER = Decimal("0.95")
"""A depth level further than this share of the band from mid is re-placed."""
SIZE_LOW, SIZE_HIGH = 0.7, 1.6
"""A depth level keeps its order while its notional is within these multiples of its target."""


@dataclass(frozen=True, slots=True)
class LaneOrder:
    """One order of the obligation lane as its order manager tracks it."""

    slot: int
    side: Side
    price: int
    remaining: int
    live: bool
    """Acknowledged and resting (not waiting for the venue to accept or cancel it)."""


@dataclass(frozen=True, slots=True)
class SideBudget:
    """What all our orders on one side may use: lots for asks, tick-lots for bids."""

    capacity: int
    limited_by: str = "balance"
    blocked: str = ""
    """Non-empty: place nothing on this side (a hard risk limit); the text says why."""


@dataclass(frozen=True, slots=True)
class LayerContext:
    best_bid: int | None
    best_ask: int | None
    lane: tuple[LaneOrder, ...]
    bids: SideBudget
    asks: SideBudget
    regime: str = ""


@dataclass(frozen=True, slots=True)
class Shortfall:
    """The depth ladder cannot be funded in full on one side."""

    side: Side
    required_tl: int
    target_tl: int
    supported_tl: int
    limited_by: str

    @property
    def short_tl(self) -> int:
        """How far below the obligation itself (0 = only the buffer is missing)."""
        return max(0, self.required_tl - self.supported_tl)


@dataclass(frozen=True, slots=True)
class ObligationPlan:
    inner: DesiredQuotes
    lane_bids: dict[int, Quote] = field(default_factory=dict)
    lane_asks: dict[int, Quote] = field(default_factory=dict)
    shortfalls: tuple[Shortfall, ...] = ()
    chosen: str = ""
    """Why the layer does not try to meet a term now ('' = it tries)."""
    notes: tuple[str, ...] = ()


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class ObligationLayer:
    """The obligation of one quoted instrument, turned into orders (see module doc)."""

    def __init__(self, terms: ObligationTerms, rules: QuoteRules, *, max_order_tl: int | None = None) -> None:
        self.terms = terms
        self.params = params = terms.params
        self.rules = rules
        self.max_order_tl = max_order_tl
        self.n = params.depth_levels
        span = params.depth_to_pct - params.depth_from_pct
        self.shares = [
            ((params.depth_from_pct + span * i / (self.n - 1)) / 100).as_integer_ratio()
            for i in range(self.n)
        ]
        self.keep_inner_share = (params.depth_from_pct / 200).as_integer_ratio()
        self.keep_outer_share = KEEP_OUTER.as_integer_ratio()
        self.use = params.spread_use_pct / 100
        self.use_ratio = terms.scaled_spread(self.use)
        factor_num, factor_den = params.target_factor.as_integer_ratio()
        self.targets = {side: terms.required_tl(side) * factor_num // factor_den for side in (1, -1)}
        self._primary: dict[Side, int] = {Side.BUY: GUARD_SLOTS[0], Side.SELL: GUARD_SLOTS[0]}
        self._lane_key: tuple[object, ...] | None = None
        self._lane_plan: tuple[dict[Side, dict[int, Quote]], tuple[Shortfall, ...]] | None = None

    # ---- the plan --------------------------------------------------------------------

    def plan(self, desired: DesiredQuotes, ctx: LayerContext) -> ObligationPlan:
        params = self.params
        lane: dict[Side, dict[int, LaneOrder]] = {Side.BUY: {}, Side.SELL: {}}
        for order in ctx.lane:
            lane[order.side][order.slot] = order
        if not params.quote:
            return ObligationPlan(inner=desired, chosen="obligation quoting is off (quote = false)")
        bb, ba = ctx.best_bid, ctx.best_ask
        if bb is None or ba is None or bb >= ba:
            return ObligationPlan(
                inner=desired,
                lane_bids=_as_is(lane[Side.BUY]),
                lane_asks=_as_is(lane[Side.SELL]),
                notes=("no two-sided public book: lane left as it is",),
            )
        two_mid = bb + ba
        notes: list[str] = []
        chosen: list[str] = []
        widen = params.crisis == "widen" and ctx.regime == "crisis"
        inner = desired
        if widen:
            chosen.append("CRISIS: spread left to widen beyond the limit (obligations crisis = widen)")
        elif params.clamp_strategy:
            inner = self._clamp(desired, bb, ba, notes)
        budgets = {Side.BUY: ctx.bids, Side.SELL: ctx.asks}
        for side, budget in budgets.items():
            if budget.blocked:
                chosen.append(f"{'bids' if side is Side.BUY else 'asks'} blocked by risk: {budget.blocked}")
        key = (bb, ba, ctx.lane, ctx.bids, ctx.asks, widen)
        if key == self._lane_key and self._lane_plan is not None:
            out, shortfalls = self._lane_plan  # same inputs, same lane plan (it is deterministic)
        else:
            out, shortfalls = self._plan_lane(two_mid, bb, ba, lane, budgets, widen)
            self._lane_key, self._lane_plan = key, (out, shortfalls)
        inner = self._trim(inner, budgets, out, lane, notes)
        return ObligationPlan(
            inner=inner,
            lane_bids=out[Side.BUY],
            lane_asks=out[Side.SELL],
            shortfalls=shortfalls,
            chosen="; ".join(chosen),
            notes=tuple(notes),
        )

    def _plan_lane(
        self,
        two_mid: int,
        bb: int,
        ba: int,
        lane: dict[Side, dict[int, LaneOrder]],
        budgets: dict[Side, SideBudget],
        widen: bool,
    ) -> tuple[dict[Side, dict[int, Quote]], tuple[Shortfall, ...]]:
        if widen:
            guards: dict[Side, dict[int, Quote]] = {Side.BUY: {}, Side.SELL: {}}
        else:
            guards = self._guards(two_mid, bb, ba, lane, budgets)
        out: dict[Side, dict[int, Quote]] = {}
        shortfalls: list[Shortfall] = []
        for side, budget in budgets.items():
            if budget.blocked:
                out[side] = {}
                continue
            quotes = dict(guards[side])
            used = self._use(side, quotes, lane[side], GUARD_SLOTS)
            depth, shortfall = self._depth(side, two_mid, lane[side], budget, used)
            quotes.update(depth)
            out[side] = quotes
            if shortfall is not None:
                shortfalls.append(shortfall)
        return out, tuple(shortfalls)

    # ---- the strategy's quotes -------------------------------------------------------

    def _pair(self, two_center: int, bb: int, ba: int) -> tuple[int, int]:
        """A bid/ask pair around center = two_center / 2 at spread_use of the limit, off the
        other side of the public book, never wider than the limit itself."""
        num, den = self.use_ratio
        two_center = min(max(two_center, 2 * bb), 2 * ba)  # centred within the public touch
        bid = two_center * (2 * den - num) // (4 * den)
        ask = _ceil_div(two_center * (2 * den + num), 4 * den)
        bid = min(bid, ba - 1)
        ask = max(ask, bb + 1)
        terms = self.terms
        while not terms.spread_ok(bid, ask) and ask - bid > 1:
            ask_room, bid_room = ask - 1 > bb, bid + 1 < ba  # post-only: stay off the other side
            if ask_room and (2 * ask - two_center > two_center - 2 * bid or not bid_room):
                ask -= 1
            elif bid_room:
                bid += 1
            else:
                break
        return bid, ask

    def _clamp(self, desired: DesiredQuotes, bb: int, ba: int, notes: list[str]) -> DesiredQuotes:
        if not desired.bids or not desired.asks:
            return desired
        b0, a0 = desired.bids[0].price, desired.asks[0].price
        num, den = self.use_ratio
        if (a0 - b0) * den <= num * a0:
            return desired
        bid, ask = self._pair(b0 + a0, bb, ba)
        shift_b, shift_a = max(0, bid - b0), min(0, ask - a0)
        if not shift_b and not shift_a:
            return desired
        notes.append(
            f"strategy spread {self.terms.spread_pct(b0, a0):.3f}% clamped to "
            f"{self.terms.spread_pct(b0 + shift_b, a0 + shift_a):.3f}%"
        )
        note = "; ".join(n for n in (desired.note, "spread clamped to the obligation") if n)
        return msgspec.structs.replace(
            desired,
            bids=tuple(Quote(q.side, q.price + shift_b, q.size) for q in desired.bids),
            asks=tuple(Quote(q.side, q.price + shift_a, q.size) for q in desired.asks),
            note=note,
        )

    def _trim(
        self,
        desired: DesiredQuotes,
        budgets: dict[Side, SideBudget],
        lane_plan: dict[Side, dict[int, Quote]],
        lane: dict[Side, dict[int, LaneOrder]],
        notes: list[str],
    ) -> DesiredQuotes:
        """Cut the strategy's sizes to what the account funds after the lane."""
        sides: dict[Side, tuple[Quote, ...]] = {Side.BUY: desired.bids, Side.SELL: desired.asks}
        changed = False
        for side, quotes in sides.items():
            if not quotes:
                continue
            room = budgets[side].capacity - self._use(side, lane_plan[side], lane[side], None)
            kept: list[Quote] = []
            for quote in quotes:
                cost = quote.size * quote.price if side is Side.BUY else quote.size
                if cost <= room:
                    kept.append(quote)
                    room -= cost
                    continue
                step = self.rules.step_lots
                lots = room // quote.price if side is Side.BUY else room
                lots -= lots % step
                if lots >= self.rules.min_size_at(quote.price):
                    kept.append(Quote(side, quote.price, lots))
                break
            if tuple(kept) != quotes:
                changed = True
                sides[side] = tuple(kept)
                notes.append(f"strategy {'bids' if side is Side.BUY else 'asks'} cut to the funds left")
        if not changed:
            return desired
        return msgspec.structs.replace(desired, bids=sides[Side.BUY], asks=sides[Side.SELL])

    def _use(
        self,
        side: Side,
        planned: dict[int, Quote],
        resting: dict[int, LaneOrder],
        slots: tuple[int, ...] | None,
    ) -> int:
        """Budget units the lane holds on ``side``: per slot the larger of the planned order and
        the resting one (a replacement rests until its cancel is confirmed); both guards
        count while one replaces the other."""
        buy = side is Side.BUY
        total = 0
        for slot, quote in planned.items():
            if slots is not None and slot not in slots:
                continue
            cost = quote.size * quote.price if buy else quote.size
            order = resting.get(slot)
            if order is not None:
                held = order.remaining * order.price if buy else order.remaining
                if held > cost:
                    cost = held
            total += cost
        for slot, order in resting.items():
            if slot in planned or (slots is not None and slot not in slots):
                continue
            total += order.remaining * order.price if buy else order.remaining
        return total

    # ---- spread guards ---------------------------------------------------------------

    def _guard_lots(self, price: int) -> int:
        params, terms, rules = self.params, self.terms, self.rules
        notional = max(terms.min_spread_tl, int(params.guard_notional / terms.unit))
        lots = _ceil_div(notional, price) if notional else 0
        step = rules.step_lots
        lots = _ceil_div(lots, step) * step
        return max(lots, rules.min_size_at(price))

    def _guards(
        self,
        two_mid: int,
        bb: int,
        ba: int,
        lane: dict[Side, dict[int, LaneOrder]],
        budgets: dict[Side, SideBudget],
    ) -> dict[Side, dict[int, Quote]]:
        targets = dict(zip((Side.BUY, Side.SELL), self._pair(two_mid, bb, ba), strict=True))
        out: dict[Side, dict[int, Quote]] = {Side.BUY: {}, Side.SELL: {}}
        current: dict[Side, LaneOrder | None] = {}
        swapping: dict[Side, bool] = {}
        for side in (Side.BUY, Side.SELL):
            guards = {slot: lane[side][slot] for slot in GUARD_SLOTS if slot in lane[side]}
            primary = self._primary[side]
            swapping[side] = False
            if len(guards) == 2:
                other = guards[GUARD_SLOTS[1] if primary == GUARD_SLOTS[0] else GUARD_SLOTS[0]]
                if other.live:  # the replacement rests: it becomes the guard, the old one goes
                    self._primary[side] = other.slot
                    guards = {other.slot: other}
                else:  # wait for the venue: keep both as they are
                    swapping[side] = True
                    out[side] = _as_is(guards)
            elif len(guards) == 1:
                self._primary[side] = next(iter(guards))
            current[side] = guards.get(self._primary[side]) if guards else None
        bid, ask = current[Side.BUY], current[Side.SELL]
        keep_b = bid is not None and 2 * bid.price < two_mid and bid.price < ba
        keep_a = ask is not None and 2 * ask.price > two_mid and ask.price > bb
        if keep_b and keep_a:
            assert bid is not None and ask is not None
            if not self.terms.spread_ok(bid.price, ask.price):
                # move the side further from its target; both if that is not enough
                if abs(bid.price - targets[Side.BUY]) >= abs(ask.price - targets[Side.SELL]):
                    keep_b = False
                    keep_a = self.terms.spread_ok(targets[Side.BUY], ask.price)
                else:
                    keep_a = False
                    keep_b = self.terms.spread_ok(bid.price, targets[Side.SELL])
        elif keep_b:
            assert bid is not None
            keep_b = self.terms.spread_ok(bid.price, targets[Side.SELL])
        elif keep_a:
            assert ask is not None
            keep_a = self.terms.spread_ok(targets[Side.BUY], ask.price)
        for side, keep, order in ((Side.BUY, keep_b, bid), (Side.SELL, keep_a, ask)):
            if swapping[side] or budgets[side].blocked:
                continue
            if order is not None and keep:
                out[side] = {order.slot: Quote(side, order.price, order.remaining)}
                continue
            price = targets[side]
            lots = self._guard_lots(price)
            cost = lots * price if side is Side.BUY else lots
            held = self._use(side, {}, lane[side], GUARD_SLOTS)
            if cost + held > budgets[side].capacity:
                out[side] = _as_is({o.slot: o for o in lane[side].values() if o.slot in GUARD_SLOTS})
                continue
            if order is None:
                out[side] = {self._primary[side]: Quote(side, price, lots)}
                continue
            spare = GUARD_SLOTS[1] if order.slot == GUARD_SLOTS[0] else GUARD_SLOTS[0]
            out[side] = {
                order.slot: Quote(side, order.price, order.remaining),
                spare: Quote(side, price, lots),
            }
        return out

    # ---- depth ladder ----------------------------------------------------------------

    def _depth(
        self,
        side: Side,
        two_mid: int,
        lane: dict[int, LaneOrder],
        budget: SideBudget,
        guard_use: int,
    ) -> tuple[dict[int, Quote], Shortfall | None]:
        terms, rules = self.terms, self.rules
        sign = int(side)
        required = terms.required_tl(sign)
        target = self.targets[sign]
        prices = [terms.offset_price(two_mid, share, sign) for share in self.shares]
        inner_edge = terms.offset_price(two_mid, self.keep_inner_share, sign)
        outer_edge = terms.offset_price(two_mid, self.keep_outer_share, sign)
        lo, hi = terms.band_lo(two_mid), terms.band_hi(two_mid)
        # what the budget supports, in tick-lots (asks: lots valued at the innermost level)
        capacity = max(0, budget.capacity - guard_use)
        capacity_tl = capacity if side is Side.BUY else capacity * prices[0]
        plan_tl = min(target, capacity_tl)
        level_tl = plan_tl // self.n
        if self.max_order_tl is not None:
            level_tl = min(level_tl, self.max_order_tl)
        supported = min(plan_tl, level_tl * self.n)
        shortfall = None
        if supported < target:
            limited = budget.limited_by
            if self.max_order_tl is not None and level_tl == self.max_order_tl:
                limited = "risk limit: max_order x depth_levels"
            shortfall = Shortfall(side, required, target, supported, limited)

        def in_band(price: int) -> bool:
            return price >= lo if side is Side.BUY else price <= hi

        def safe(price: int) -> bool:
            if side is Side.BUY:
                return outer_edge <= price <= inner_edge
            return inner_edge <= price <= outer_edge

        contributing = 0
        pending = False
        for slot, order in lane.items():
            if slot < DEPTH_SLOT0:
                continue
            if not order.live:
                pending = True
            elif in_band(order.price):
                contributing += order.price * order.remaining
        out: dict[int, Quote] = {}
        stale: list[tuple[int, int, LaneOrder]] = []  # (urgency, level, order)
        for level in range(self.n):
            found = lane.get(DEPTH_SLOT0 + level)
            if found is None:
                continue
            order = found
            notional = order.price * order.remaining
            if not order.live:
                out[order.slot] = Quote(side, order.price, order.remaining)
            elif not in_band(order.price):
                continue  # contributes nothing: re-placed below, now
            elif not safe(order.price):
                stale.append((0, level, order))
            elif level_tl and not SIZE_LOW * level_tl <= notional <= SIZE_HIGH * level_tl:
                stale.append((1, level, order))
            else:
                out[order.slot] = Quote(side, order.price, order.remaining)
        if stale:
            stale.sort()
            _, level, order = stale[0]
            without = contributing - order.price * order.remaining
            if not pending and (without >= required or contributing < required):
                stale = stale[1:]  # this one is replaced now
            for _, _level, kept in stale:
                out[kept.slot] = Quote(side, kept.price, kept.remaining)
        # new orders for empty / replaced levels, within what is left of the budget
        room = capacity - sum((q.price * q.size if side is Side.BUY else q.size) for q in out.values())
        step = rules.step_lots
        for level in range(self.n):
            slot = DEPTH_SLOT0 + level
            if slot in out or not level_tl:
                continue
            price = prices[level]
            if price <= 0:
                continue
            lots = _ceil_div(_ceil_div(level_tl, price), step) * step
            if self.max_order_tl is not None:
                lots = min(lots, self.max_order_tl // price // step * step)
            cost = lots * price if side is Side.BUY else lots
            if cost > room:
                lots = (room // price if side is Side.BUY else room) // step * step
                cost = lots * price if side is Side.BUY else lots
            if lots <= 0 or lots < rules.min_size_at(price):
                continue
            out[slot] = Quote(side, price, lots)
            room -= cost
        return out, shortfall


def _as_is(orders: dict[int, LaneOrder]) -> dict[int, Quote]:
    return {slot: Quote(order.side, order.price, order.remaining) for slot, order in orders.items()}
