"""From model quotes (float ticks) to integer ladders that respect the venue's rules.

Rounding never improves a quote: bids round down, asks round up, so a rounded bid is
still strictly below a rounded ask (``floor(b) <= b < a <= ceil(a)``). Post-only
quotes are then kept off the other side of the book: bids at most ``best_ask - 1``,
asks at least ``best_bid + 1`` (a quote the model wants through the touch joins just
inside it instead). Further levels step away by ``spacing_ticks``.

Sizes: level ``i`` wants ``size * size_growth**i``, scaled by inventory shaping
(bids ``1 - eta*u``, asks ``1 + eta*u``, clipped at 0; ``u`` = (position - target) /
max_position) and the risk manager's size multiplier, rounded down to the quantity
step. A level that rounds to nothing is skipped; one below the minimum quantity or
minimum notional is raised to it (``bump_to_min``) or skipped. Max position: the
bids together can never take the position above ``+max_position`` and the asks
together never below ``-max_position``, even if every level fills; the level that
would breach is cut down to the room left, or dropped with all deeper levels.
Reduce-only quotes only the side towards flat, never past it.

Integers throughout (ticks, lots); the only floats are the model prices and the size
multipliers. The structs (:class:`QuoteRules`, :class:`LadderSpec`) live in
:mod:`bot.strategy.ladder_spec` and are re-exported here; this module is compiled with mypyc.
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, Decimal

from bot.core.events import Side
from bot.core.instrument import InstrumentSpec
from bot.strategy.ladder_spec import LadderSpec, QuoteRules
from bot.strategy.min_size import min_size_at
from bot.strategy.types import DesiredQuotes, Quote, QuoteAdjustments, Theo

__all__ = ["LadderSpec", "QuoteRules", "build_ladder", "min_size_at", "to_lots"]


def to_lots(spec: InstrumentSpec, quantity: Decimal, *, step: bool) -> int:
    """Base-asset quantity -> lots, rounded down (to the order step when ``step``)."""
    lots = int((quantity / spec.lot_size).to_integral_value(ROUND_FLOOR))
    if step:
        lots -= lots % spec.step_lots
    return lots


def _side(
    side: Side,
    first_price: int,
    room: int,
    wanted: float,
    levels: int,
    ladder: LadderSpec,
    rules: QuoteRules,
) -> tuple[Quote, ...]:
    """Levels of one side, best first; ``room`` = lots the side may still trade."""
    quotes: list[Quote] = []
    step = rules.step_lots
    direction = -1 if side is Side.BUY else 1
    growth = ladder.size_growth
    for level in range(levels):
        price = first_price + direction * level * ladder.spacing_ticks
        if price <= 0:
            break
        size = int(wanted * growth**level) // step * step
        if size <= 0:
            continue
        minimum = min_size_at(rules, price)
        if size < minimum:
            if not ladder.bump_to_min:
                continue
            size = minimum
        if size > room:
            size = room - room % step
            if size < minimum:
                break
        quotes.append(Quote(side, price, size))
        room -= size
    return tuple(quotes)


def build_ladder(
    theo: Theo,
    *,
    best_bid: int | None,
    best_ask: int | None,
    position_lots: int,
    ladder: LadderSpec,
    rules: QuoteRules,
    adj: QuoteAdjustments,
    q: float,
) -> DesiredQuotes:
    """Round, clamp and size ``theo`` into :class:`DesiredQuotes` (see the module docstring)."""
    if not (math.isfinite(theo.bid) and math.isfinite(theo.ask)):
        return DesiredQuotes(fair=theo.fair, q=q, note="model price is not finite")
    levels = adj.levels if adj.levels is not None else ladder.levels
    max_pos = ladder.max_position_lots
    bid_room = max_pos - position_lots
    ask_room = max_pos + position_lots
    allow_bid = theo.allow_bid and adj.allow_bid
    allow_ask = theo.allow_ask and adj.allow_ask
    notes = [theo.note] if theo.note else []
    if adj.reduce_only:
        bid_room = max(0, min(bid_room, -position_lots))
        ask_room = max(0, min(ask_room, position_lots))
        notes.append("reduce-only")
    if bid_room <= 0 and allow_bid:
        allow_bid = False
        notes.append("no bid: at max position" if not adj.reduce_only else "no bid: not short")
    if ask_room <= 0 and allow_ask:
        allow_ask = False
        notes.append("no ask: at max position" if not adj.reduce_only else "no ask: not long")
    shaping = ladder.inventory_shaping
    u = (position_lots - ladder.target_lots) / max_pos if shaping else 0.0
    base = ladder.size_lots * adj.size_mult
    bids: tuple[Quote, ...] = ()
    asks: tuple[Quote, ...] = ()
    if allow_bid and levels > 0:
        price = math.floor(theo.bid)
        if ladder.post_only and best_ask is not None and price >= best_ask:
            price = best_ask - 1
        bids = _side(Side.BUY, price, bid_room, base * max(0.0, 1.0 - shaping * u), levels, ladder, rules)
    if allow_ask and levels > 0:
        price = math.ceil(theo.ask)
        if ladder.post_only and best_bid is not None and price <= best_bid:
            price = best_bid + 1
        asks = _side(Side.SELL, price, ask_room, base * max(0.0, 1.0 + shaping * u), levels, ladder, rules)
    return DesiredQuotes(
        bids=bids,
        asks=asks,
        fair=theo.fair,
        reservation=theo.reservation,
        half_spread=theo.half_spread,
        q=q,
        note="; ".join(notes),
    )
