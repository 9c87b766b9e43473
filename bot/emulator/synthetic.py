"""Synthetic L2 market with regime scenarios: a deterministic, sans-IO stream generator.

:class:`SyntheticMarket` turns a scenario (a name from :data:`SCENARIOS` or a list of
:class:`~bot.emulator.scenarios.Phase`) into a book snapshot and a stream of
:class:`SyntheticStep` batches -- one per exchange update interval (100 ms by
default, like a Binance ``depth@100ms`` diff) -- in the instrument's integer ticks and
lots. :func:`synthetic_events` turns the same stream into core market events. Same
seed + scenario + spec + options => the identical stream; nothing reads a clock.

The model (all of it visible in the data):

* **Fair price.** ``log p = base + swing``. ``base`` is a random walk with drift
  (``sigma_bps`` per sqrt(s), ``drift_bps_per_s``, optionally decaying); ``swing`` is
  a sine with std ``swing_bps`` and period ``swing_period_s`` whose amplitude and
  speed are redrawn (lognormal, 20 %) at each zero crossing. Its path is *smooth*: it
  adds large mean-reverting moves over minutes but only ``~ swing_bps * 2pi/period``
  per second (the ranging regime). On a phase change the swing is folded into
  ``base`` so the price is continuous.
* **Touch.** Each step the target bid/ask are ``floor(fair - s/2)`` and ``+ s`` with
  ``s`` the phase's spread in ticks (>= 1, with jitter). Levels the move crossed
  (asks <= new bid, bids >= new ask) are removed: an aggressor order (lognormal
  notional) walks them best-first and trades what it can; the rest of the crossed
  liquidity is cancelled (quotes repriced). Levels left inside the new target spread
  are cancelled with probability 0.35 per step. A touch that moved away is refilled
  with up to ``refill_levels`` levels at the target touch and behind it.
* **Market orders** arrive as a Poisson process (``trades_per_s``), buy with
  probability ``buy_frac``, and walk the book from the best (partial fill of the last
  level). Aggressor sizes are lognormal with median ``trade_notional`` times
  ``2*buy_frac`` for buys and ``2*(1-buy_frac)`` for sells, so one-sided flow is
  one-sided in count and in size. Every trade prints at a level that existed when the step began, and the
  same step's diff shows the level reduced by exactly the traded size or removed;
  a traded price is not re-posted within its step.
* **Book shape.** ``levels`` levels per side spread over ``book_pct`` % of the price,
  dense at the touch (first gap about ``top_gap_bps``) and geometrically sparser
  behind it; level notional grows away from the touch (``~ (1 + d/5bp)^0.6``,
  lognormal noise) and is rounded to the order step. Background churn
  (``churn_per_s``): inserts at ladder-distributed distances, cancels and resizes of
  levels chosen by rank (mostly away from the top), with the insert probability
  steering the level count to its target.
* **Depth, spread and level count** move from phase to phase with time constant
  ``adjust_s``: when depth must fall by a ratio r, each level is cancelled with
  probability ``1 - sqrt(r)`` and the rest shrink by ``sqrt(r)`` (a mass withdrawal
  when ``adjust_s`` is short); when it rises, sizes grow and the count target pulls
  in new levels. ``run_side_depth`` thins the side the drift runs into.
* **Mark / funding** (perps, or ``marks=True``): about once per simulated second the
  mark price (fair price rounded to a tick), a small funding rate (1 bp plus a
  premium term that follows the price's deviation from its 5-minute average,
  clamped to +/-0.75 %, 8 decimals) and the next 8-hour funding boundary.

Scenarios (see :mod:`bot.emulator.scenarios`): ``calm``, ``ranging``, ``trend``,
``crisis``, ``regimes`` (calm -> ranging -> trend -> crisis) and ``crash``, where
depth within a few % of mid collapses on both sides during ``withdrawal`` (about
90 % gone within ~1.5 s, spread widens, mid flat for 3 s = 30 steps) *before* the
``crash`` phase drops the price about 7 % in 5 s through the thin book with heavy
selling, followed by a partial ``recovery`` with depth refilling over a minute or two.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from decimal import ROUND_HALF_EVEN, Decimal

import msgspec

from bot.core.events import NS_PER_S, BookDelta, BookSnapshot, MarketEvent, MarkPrice, Side, Trade
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.emulator._synthbook import BookSide, Ladder, Level, Rand
from bot.emulator.scenarios import SCENARIOS, Phase, resolve_scenario, scenario_names

__all__ = [
    "SCENARIOS",
    "Phase",
    "SyntheticMarket",
    "SyntheticStep",
    "scenario_names",
    "synthetic_events",
]

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


class SyntheticMarket:
    """A scenario rendered as a deterministic L2 stream for one instrument.

    ``initial_book()`` gives the book the stream starts from; iterating yields the
    steps (each iteration starts afresh from the seed, so the market is re-iterable).
    """

    def __init__(
        self,
        scenario: str | Sequence[Phase],
        *,
        seed: int,
        spec: InstrumentSpec,
        start_price: Decimal = Decimal("60000"),
        start_ts_ns: int = 1_700_000_000_000_000_000,
        step_ms: float = 100.0,
        mark_interval_s: float = 1.0,
        marks: bool | None = None,
        level_notional: float = 6000.0,
        top_gap_bps: float = 0.04,
        repeat: bool = False,
    ) -> None:
        self.phases = resolve_scenario(scenario)
        self.scenario = scenario if isinstance(scenario, str) else "custom"
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        start_price = Decimal(start_price)
        if not start_price > 0:
            raise ValueError(f"start_price must be positive, got {start_price}")
        for name, value in (
            ("step_ms", step_ms),
            ("mark_interval_s", mark_interval_s),
            ("level_notional", level_notional),
            ("top_gap_bps", top_gap_bps),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value}")
        self.seed = seed
        self.spec = spec
        self.start_price = start_price
        self.start_ts_ns = int(start_ts_ns)
        self.step_ns = max(1, round(step_ms * 1_000_000))
        self.mark_every = max(1, round(mark_interval_s * NS_PER_S / self.step_ns))
        self.marks = spec.kind is InstrumentKind.PERP if marks is None else marks
        self.level_notional = float(level_notional)
        self.top_gap_bps = float(top_gap_bps)
        self.repeat = repeat
        self.start_ticks = int((start_price / spec.tick_size).to_integral_value(ROUND_HALF_EVEN))
        if self.start_ticks < 100:
            raise ValueError(f"start_price {start_price} is under 100 ticks of {spec.tick_size}")
        self.phase_steps = [max(1, round(p.duration_s * NS_PER_S / self.step_ns)) for p in self.phases]
        self._initial: tuple[list[Level], list[Level]] | None = None

    @property
    def n_steps(self) -> int:
        """Steps in one pass over the phases (the stream is endless with ``repeat``)."""
        return sum(self.phase_steps)

    @property
    def duration_s(self) -> float:
        return self.n_steps * self.step_ns / NS_PER_S

    def phase_spans(self) -> list[tuple[str, int, int]]:
        """(phase name, first step ts, last step ts) of each phase of one pass."""
        spans = []
        ts = self.start_ts_ns
        for phase, steps in zip(self.phases, self.phase_steps, strict=True):
            spans.append((phase.name, ts + self.step_ns, ts + steps * self.step_ns))
            ts += steps * self.step_ns
        return spans

    def initial_book(self) -> tuple[list[Level], list[Level]]:
        """(bids, asks) best-first as (ticks, lots): the book before the first step."""
        if self._initial is None:
            sim = _Sim(self)
            self._initial = (sim.bids.levels(), sim.asks.levels())
        return list(self._initial[0]), list(self._initial[1])

    def __iter__(self) -> Iterator[SyntheticStep]:
        return _Sim(self).run()


class _Sim:
    """The mutable state of one pass; see the module docstring for the model."""

    def __init__(self, market: SyntheticMarket) -> None:
        self.m = market
        spec = market.spec
        self.rng = Rand(market.seed)
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
        self.swing_phase = 0.0 if self.rng.u() < 0.5 else math.pi
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
        trade = self.phase.trade_notional / unit
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
        self.y += 1e-4 * (drift * dt + ph.sigma_bps * self.sqdt * rng.z())
        if self.swing_amp:
            # smooth swing: a sine; amplitude and speed are redrawn at each zero crossing
            self.swing_phase += self.swing_speed * dt
            half = int(self.swing_phase / math.pi)
            if half != self.swing_half:
                self.swing_half = half
                self.swing_scale = math.exp(_SWING_JITTER * rng.z() - 0.5 * _SWING_JITTER**2)
                self.swing_speed = self.omega * math.exp(_SWING_JITTER * rng.z())
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


def synthetic_events(
    scenario: str | Sequence[Phase],
    *,
    seed: int,
    spec: InstrumentSpec,
    latency_ms: float = 5.0,
    first_update_id: int = 1_000_000,
    **market_options: object,
) -> Iterator[MarketEvent]:
    """The synthetic stream as core events, for tests and replay without sockets.

    First a :class:`BookSnapshot` (``update_id = first_update_id`` = L) at the start
    time, then per step its :class:`Trade` s (ids from 1), one :class:`BookDelta` if any
    level changed, and a :class:`MarkPrice` when the step has one (``index_price`` =
    mark price). Update ids are Binance-spot style and contiguous: ``first_id =
    previous last_id + 1`` and ``last_id - first_id + 1`` = number of changed levels,
    except that the first diff covers ``L .. L+n`` so it straddles the snapshot the
    way both Binance rules accept (spot ``U <= L+1 <= u``, USD-M ``U <= L <= u``);
    ``prev_id`` = previous ``last_id`` (USD-M ``pu``). ``exch_ts`` is
    the step time, ``local_ts = exch_ts + latency_ms``. ``market_options`` go to
    :class:`SyntheticMarket`.
    """
    market = SyntheticMarket(scenario, seed=seed, spec=spec, **market_options)  # type: ignore[arg-type]
    key = spec.key
    latency = round(latency_ms * 1_000_000)
    bids, asks = market.initial_book()
    ts0 = market.start_ts_ns
    yield BookSnapshot(
        instrument=key, local_ts=ts0 + latency, exch_ts=ts0, update_id=first_update_id, bids=bids, asks=asks
    )
    last_id = first_update_id - 1  # the first diff straddles the snapshot id (U <= L <= u)
    trade_id = 0
    buy, sell = Side.BUY, Side.SELL
    for step in market:
        ts = step.ts_ns
        local = ts + latency
        for price, lots, side in step.trades:
            trade_id += 1
            yield Trade(
                instrument=key,
                local_ts=local,
                exch_ts=ts,
                price=price,
                size=lots,
                side=buy if side > 0 else sell,
                trade_id=trade_id,
            )
        changes = len(step.bids) + len(step.asks)
        if changes:
            first_id = last_id + 1
            if first_id == first_update_id:
                changes += 1  # the first diff also covers the snapshot id
            yield BookDelta(
                instrument=key,
                local_ts=local,
                exch_ts=ts,
                first_id=first_id,
                last_id=last_id + changes,
                prev_id=last_id,
                bids=step.bids,
                asks=step.asks,
            )
            last_id += changes
        if step.mark is not None:
            mark_price, funding, next_funding = step.mark
            yield MarkPrice(
                instrument=key,
                local_ts=local,
                exch_ts=ts,
                mark_price=mark_price,
                index_price=mark_price,
                funding_rate=funding,
                next_funding_ts=next_funding,
            )
