"""The synthetic market's state and its step (private to :mod:`bot.emulator.synthetic`).

:class:`Simulation` is one pass over a :class:`~bot.emulator.synthetic.SyntheticMarket`'s
phases: fair-price dynamics, touch moves and their trades, market orders, liquidity
refill, churn, depth changes and the per-step diff. The model is described in the
docstring of :mod:`bot.emulator.synthetic`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Protocol

import msgspec

from bot.core.events import NS_PER_S
from bot.core.instrument import InstrumentSpec
from bot.emulator._synthbook import BookSide, Ladder, Level, Rand
from bot.emulator.scenarios import Phase


class MarketParams(Protocol):
    """What one pass reads of a :class:`~bot.emulator.synthetic.SyntheticMarket`
    (a protocol, so this module does not import the market that imports it)."""

    @property
    def spec(self) -> InstrumentSpec: ...

    @property
    def seed(self) -> int: ...

    @property
    def phases(self) -> Sequence[Phase]: ...

    @property
    def phase_steps(self) -> list[int]: ...

    @property
    def start_ticks(self) -> int: ...

    @property
    def start_ts_ns(self) -> int: ...

    @property
    def step_ns(self) -> int: ...

    @property
    def mark_every(self) -> int: ...

    @property
    def marks(self) -> bool: ...

    @property
    def level_notional(self) -> float: ...

    @property
    def top_gap_bps(self) -> float: ...

    @property
    def repeat(self) -> bool: ...

    @property
    def price_seed(self) -> int | None: ...

    @property
    def trade_scale(self) -> float: ...


FUNDING_INTERVAL_NS = 8 * 3600 * NS_PER_S
_INSIDE_CANCEL = 0.35  # per-step cancel probability of a level inside the target spread
_SWING_JITTER = 0.2  # lognormal jitter of the swing's amplitude and speed per half cycle
_RESCALE_LOG = 0.08  # rescale the book when its depth multiplier is off by more than ~8 %


class SyntheticStep(msgspec.Struct, frozen=True):
    """One exchange update batch of the synthetic market."""

    ts_ns: int
    bids: list[Level]
    """Changed bid levels, best-first, absolute sizes after this step (0 = delete)."""
    asks: list[Level]
    trades: list[tuple[int, int, int]]
    """(price ticks, lots, aggressor side): +1 buy (lifted the ask), -1 sell (hit the bid)."""
    mark: tuple[int, Decimal, int] | None
    """(mark price ticks, funding rate, next funding ts ns), about once per simulated second."""
    phase: str


class Simulation:
    """The mutable state of one pass; see the module docstring for the model."""

    def __init__(self, market: MarketParams) -> None:
        self.m = market
        spec = market.spec
        self.rng = Rand(market.seed)
        # the fair price's own draws: markets of one token on several venues share its path
        # (price_seed) while their books and order flow differ (seed)
        self.price_rng = self.rng if market.price_seed is None else Rand(market.price_seed)
        self.dt = market.step_ns / NS_PER_S
        self.sqdt = math.sqrt(self.dt)
        self.p0 = float(market.start_ticks)
        # quote value of one lot at a price of one tick
        self.lot_value = float(spec.tick_size * spec.lot_size * spec.contract_size)
        self.step_lots = max(1, spec.step_lots)
        self.bids = BookSide(1)
        self.asks = BookSide(-1)
        self.y = 0.0  # log-price random walk part
        self.x = 0.0  # swing (log units)
        self.fair = self.p0
        self.ln_depth = [0.0, 0.0]  # bid, ask depth multipliers (log), current
        self.ln_applied = [0.0, 0.0]  # depth the displayed sizes correspond to
        self.spread_bps = 0.0
        self.ln_levels = 0.0
        self.fund_ema = self.p0
        self.phase = market.phases[0]
        self._enter(self.phase, first=True)
        self._scales()
        self._build_initial()

    # ---- phases ----------------------------------------------------------------------

    def _enter(self, phase: Phase, *, first: bool = False) -> None:
        self.phase = phase
        self.t_phase = 0.0
        self.y += self.x
        self.x = 0.0
        self.omega = 2.0 * math.pi / phase.swing_period_s
        self.swing_amp = phase.swing_bps * 1e-4 * math.sqrt(2.0)  # sine amplitude for that std
        self.swing_scale = 1.0
        self.swing_speed = self.omega
        self.swing_phase = 0.0 if self.price_rng.u() < 0.5 else math.pi
        self.swing_half = int(self.swing_phase / math.pi)
        self.alpha = 1.0 - math.exp(-self.dt / phase.adjust_s)
        base = math.log(phase.depth)
        run = math.log(phase.run_side_depth)
        self.target_depth = [
            base + (run if phase.drift_bps_per_s < 0 else 0.0),
            base + (run if phase.drift_bps_per_s > 0 else 0.0),
        ]
        self.target_levels = math.log(phase.levels)
        if first:
            self.ln_depth = list(self.target_depth)
            self.ln_applied = list(self.target_depth)
            self.spread_bps = phase.spread_bps
            self.ln_levels = self.target_levels
        self._new_ladder()

    def _new_ladder(self) -> None:
        fair = self.fair
        self.ladder = Ladder(
            int(math.exp(self.ln_levels) + 0.5),
            self.phase.book_pct * 1e-2 * fair,
            self.m.top_gap_bps * 1e-4 * fair,
        )

    def _scales(self) -> None:
        """Per-step size scales (lots per order step) from the fair price and depth."""
        fair = self.fair
        unit = fair * self.lot_value * self.step_lots
        self.q_scale = [
            self.m.level_notional * math.exp(self.ln_depth[0]) / unit,
            self.m.level_notional * math.exp(self.ln_depth[1]) / unit,
        ]
        trade = self.phase.trade_notional * self.m.trade_scale / unit
        buy_frac = self.phase.buy_frac
        self.t_scale = (trade * 2.0 * (1.0 - buy_frac), trade * 2.0 * buy_frac)  # (sell, buy)
        self.grow_k = 1e4 / (fair * 5.0)

    def _lots(self, offset: int, side: int) -> int:
        """Size of a new level ``offset`` ticks behind the touch (side 0 bid, 1 ask)."""
        x = self.q_scale[side] * math.sqrt(1.0 + offset * self.grow_k) * self.rng.lognormal()
        return max(1, int(x + 0.5)) * self.step_lots

    def _trade_lots(self, aggressor: int) -> int:
        """Aggressor order size: lognormal, median ``trade_notional`` scaled by the
        flow imbalance (x 2*buy_frac for buys, x 2*(1-buy_frac) for sells)."""
        x = self.t_scale[aggressor > 0] * math.exp(1.2 * self.rng.z())
        return max(1, int(x + 0.5)) * self.step_lots

    def _touch(self) -> tuple[int, int]:
        rng = self.rng
        spread = self.spread_bps * 1e-4 * self.fair * math.exp(0.2 * rng.z())
        ticks = max(1, int(spread + 0.5)) + (1 if rng.u() < 0.1 else 0)
        bid = max(1, math.floor(self.fair - ticks / 2.0))
        return bid, bid + ticks

    def _build_initial(self) -> None:
        bid, ask = self._touch()
        ladder, rng = self.ladder, self.rng
        for index, (side, top) in enumerate(((self.bids, bid), (self.asks, -ask))):
            fractions = sorted(rng.u() for _ in range(ladder.n - 1))
            for offset in [0, *(ladder.offset(u) for u in fractions)]:
                key = top - offset
                if key * side.sign > 0:
                    side.add(side.sign * key, self._lots(offset, index))
            side.start = {}

    # ---- the step --------------------------------------------------------------------

    def run(self) -> Iterator[SyntheticStep]:
        market = self.m
        ts = market.start_ts_ns
        count = 0
        while True:
            for phase, steps in zip(market.phases, market.phase_steps, strict=True):
                if count:
                    self._enter(phase)
                for _ in range(steps):
                    ts += market.step_ns
                    count += 1
                    yield self._step(ts, count)
            if not market.repeat:
                return

    def _step(self, ts: int, count: int) -> SyntheticStep:
        ph, rng, dt = self.phase, self.rng, self.dt
        # fair price
        drift = ph.drift_bps_per_s
        if ph.drift_decay_s > 0.0:
            drift *= math.exp(-self.t_phase / ph.drift_decay_s)
        prng = self.price_rng
        self.y += 1e-4 * (drift * dt + ph.sigma_bps * self.sqdt * prng.z())
        if self.swing_amp:
            # smooth swing: a sine; amplitude and speed are redrawn at each zero crossing
            self.swing_phase += self.swing_speed * dt
            half = int(self.swing_phase / math.pi)
            if half != self.swing_half:
                self.swing_half = half
                self.swing_scale = math.exp(_SWING_JITTER * prng.z() - 0.5 * _SWING_JITTER**2)
                self.swing_speed = self.omega * math.exp(_SWING_JITTER * prng.z())
            self.x = self.swing_amp * self.swing_scale * math.sin(self.swing_phase)
        self.t_phase += dt
        self.fair = self.p0 * math.exp(self.y + self.x)
        # depth / spread / level count drift toward the phase's targets
        alpha = self.alpha
        for i in (0, 1):
            self.ln_depth[i] += alpha * (self.target_depth[i] - self.ln_depth[i])
        self.spread_bps += alpha * (ph.spread_bps - self.spread_bps)
        self.ln_levels += alpha * (self.target_levels - self.ln_levels)
        if count % 50 == 0:
            self._new_ladder()
        self._scales()
        bid, ask = self._touch()
        bids, asks = self.bids, self.asks
        trades: list[tuple[int, int, int]] = []
        # 1. the move crossed levels: an aggressor walks them, the rest is cancelled
        if asks.keys and asks.keys[-1] >= -bid:
            self._sweep(asks, -bid, 1, trades)
        if bids.keys and bids.keys[-1] >= ask:
            self._sweep(bids, ask, -1, trades)
        # 2. market orders
        for _ in range(rng.poisson(ph.trades_per_s * dt)):
            if rng.u() < ph.buy_frac:
                self._walk(asks, 1, trades)
            else:
                self._walk(bids, -1, trades)
        # 3. liquidity: cancels inside the spread, refill at the touch, churn, depth, trim
        for index, side, top in ((0, bids, bid), (1, asks, -ask)):
            self._cancel_inside(side, top)
            self._refill(side, top, index)
        self._churn(bid, ask)
        for index, side, top in ((0, bids, bid), (1, asks, -ask)):
            if abs(self.ln_depth[index] - self.ln_applied[index]) > _RESCALE_LOG:
                self._rescale(side, index)
            self._trim(side, top)
            self._thin(side, top)
        if bids.keys and asks.keys and bids.keys[-1] >= -asks.keys[-1]:
            raise AssertionError(f"synthetic book crossed at {ts}: {bids.keys[-1]} >= {-asks.keys[-1]}")
        mark = self._mark(ts) if self.m.marks and count % self.m.mark_every == 0 else None
        return SyntheticStep(ts, bids.diff(), asks.diff(), trades, mark, ph.name)

    def _sweep(
        self, side: BookSide, limit_key: int, aggressor: int, trades: list[tuple[int, int, int]]
    ) -> None:
        qty = self._trade_lots(aggressor)
        keys, size, sign, traded = side.keys, side.size, side.sign, side.traded
        while keys and keys[-1] >= limit_key:
            price = sign * keys[-1]
            if qty > 0:
                have = size[price]
                take = have if qty >= have else qty
                trades.append((price, take, aggressor))
                traded.add(price)
                qty -= take
            side.pop_best()

    def _walk(self, side: BookSide, aggressor: int, trades: list[tuple[int, int, int]]) -> None:
        qty = self._trade_lots(aggressor)
        keys, size, sign, traded = side.keys, side.size, side.sign, side.traded
        walked = 0
        while qty > 0 and keys and walked < 40:
            price = sign * keys[-1]
            have = size[price]
            traded.add(price)
            if qty >= have:
                trades.append((price, have, aggressor))
                side.pop_best()
                qty -= have
            else:
                trades.append((price, qty, aggressor))
                side.put(price, have - qty)
                qty = 0
            walked += 1

    def _cancel_inside(self, side: BookSide, top: int) -> None:
        keys, rng = side.keys, self.rng
        i = len(keys) - 1
        while i >= 0 and keys[i] > top:
            if rng.u() < _INSIDE_CANCEL:
                side.remove(side.sign * keys[i])
            i -= 1

    def _refill(self, side: BookSide, top: int, index: int) -> None:
        keys = side.keys
        best = keys[-1] if keys else None
        if best is not None and best >= top:
            return
        ladder, rng, sign, traded = self.ladder, self.rng, side.sign, side.traded
        u, lognormal, sqrt, add = rng.u, rng.lognormal, math.sqrt, side.add
        n, offset_at = ladder.n, ladder.offset
        scale, grow, step = self.q_scale[index], self.grow_k, self.step_lots
        for k in range(self.phase.refill_levels):
            offset = offset_at((k + 0.8 * u() - 0.4) / n) if k else 0
            key = top - offset
            if best is not None and key <= best:
                break
            price = sign * key
            if price > 0 and price not in traded:
                add(price, max(1, int(scale * sqrt(1.0 + offset * grow) * lognormal() + 0.5)) * step)
        key = top
        while not keys and sign * key > 0:  # never leave a side empty
            if sign * key not in traded:
                side.add(sign * key, self._lots(top - key, index))
            key -= 1

    def _churn(self, bid: int, ask: int) -> None:
        rng, ladder = self.rng, self.ladder
        target = math.exp(self.ln_levels)
        for _ in range(rng.poisson(self.phase.churn_per_s * self.dt)):
            if rng.u() < 0.5:
                side, top, index = self.bids, bid, 0
            else:
                side, top, index = self.asks, -ask, 1
            keys, sign = side.keys, side.sign
            n = len(keys)
            p_insert = min(0.95, max(0.05, 0.5 + 2.0 * (target - n) / target))
            if rng.u() < p_insert:
                offset = ladder.offset(rng.u())
                price = sign * (top - offset)
                if price > 0 and price not in side.traded:
                    side.add(price, self._lots(offset, index))
                continue
            if n <= 3:
                continue
            rank = int(-4.0 * math.log(1.0 - rng.u())) if rng.u() < 0.4 else int(rng.u() * n)
            key = keys[-1 - min(rank, n - 1)]
            price = sign * key
            if price in side.traded:
                continue
            if rng.u() < 0.5:
                side.remove(price)
            else:
                have = side.size[price]
                want = self._lots(max(0, top - key), index)
                new = math.exp(0.3 * math.log(have) + 0.7 * math.log(want) + 0.2 * rng.z())
                step = self.step_lots
                side.put(price, max(1, int(new / step + 0.5)) * step)

    def _rescale(self, side: BookSide, index: int) -> None:
        ratio = math.exp(self.ln_depth[index] - self.ln_applied[index])
        self.ln_applied[index] = self.ln_depth[index]
        rng, step, traded = self.rng, self.step_lots, side.traded
        cancel = 1.0 - math.sqrt(ratio) if ratio < 1.0 else 0.0
        factor = math.sqrt(ratio) if ratio < 1.0 else ratio
        for price, have in list(side.size.items()):
            if price in traded:
                continue
            if cancel and len(side.keys) > 3 and rng.u() < cancel:
                side.remove(price)
            else:
                side.put(price, max(1, int(have * factor / step + 0.5)) * step)

    def _trim(self, side: BookSide, top: int) -> None:
        limit = top - 1.15 * self.ladder.width
        keys = side.keys
        while len(keys) > 3 and keys[0] < limit:
            side.remove(side.sign * keys[0])

    def _thin(self, side: BookSide, top: int) -> None:
        """Cancel levels where the side is denser than its ladder while it has too many
        (e.g. the trail of refilled levels a touch leaves behind when it moves away)."""
        keys = side.keys
        excess = len(keys) - math.exp(self.ln_levels)
        if excess <= 0.0:
            return
        rng, ladder, sign, traded = self.rng, self.ladder, side.sign, side.traded
        for _ in range(int(0.2 * excess) + 1):
            n = len(keys)
            if n <= 4:
                return
            i = 1 + int(rng.u() * (n - 2))
            key = keys[i]
            if keys[i + 1] - key < ladder.gap(top - key) and sign * key not in traded:
                side.remove(sign * key)

    def _mark(self, ts: int) -> tuple[int, Decimal, int]:
        fair = self.fair
        self.fund_ema += (fair - self.fund_ema) * (self.m.mark_every * self.dt / 300.0)
        rate = 0.0001 + 0.05 * (fair / self.fund_ema - 1.0)
        rate = min(0.0075, max(-0.0075, rate))
        funding = Decimal(round(rate * 1e8)).scaleb(-8)
        next_funding = (ts // FUNDING_INTERVAL_NS + 1) * FUNDING_INTERVAL_NS
        return max(1, round(fair)), funding, next_funding
