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
  one-sided in count and in size. Every trade prints at a level that existed when
  the step began, and the same step's diff shows the level reduced by exactly the
  traded size or removed; a traded price is not re-posted within its step.
* **Book shape.** ``levels`` levels per side spread over ``book_pct`` % of the price,
  dense at the touch (first gap about ``top_gap_bps``) and geometrically sparser
  behind it; level notional (``level_notional`` at the touch) grows away from it as
  ``sqrt(1 + d / 5 bp)`` with lognormal noise and is rounded to the order step.
  Background churn (``churn_per_s``): inserts at ladder-distributed distances, cancels
  and resizes of levels chosen by rank (mostly away from the top), with the insert
  probability steering the level count to its target; while a side has too many
  levels, levels where it is denser than the ladder are cancelled (the trail a touch
  leaves behind when it moves away).
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

from bot.core.events import NS_PER_S, BookDelta, BookSnapshot, MarketEvent, MarkPrice, Side, Trade
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.emulator._synthbook import Level
from bot.emulator._synthsim import FUNDING_INTERVAL_NS, Simulation, SyntheticStep
from bot.emulator.scenarios import SCENARIOS, Phase, resolve_scenario, scenario_names

__all__ = [
    "FUNDING_INTERVAL_NS",
    "SCENARIOS",
    "Phase",
    "SyntheticMarket",
    "SyntheticStep",
    "scenario_names",
    "synthetic_events",
]


class SyntheticMarket:
    """A scenario rendered as a deterministic L2 stream for one instrument.

    ``initial_book()`` gives the book the stream starts from; iterating yields the
    steps (each iteration starts afresh from the seed, so the market is re-iterable).
    ``price_seed`` (default: ``seed``) drives the fair price alone: markets with the same
    ``price_seed`` and scenario follow the same price path (one token on several venues)
    while ``seed`` makes their books and order flow their own; ``trade_scale`` scales
    every phase's market-order sizes (a venue with half the depth and half the flow).
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
        price_seed: int | None = None,
        trade_scale: float = 1.0,
    ) -> None:
        self.phases = resolve_scenario(scenario)
        self.scenario = scenario if isinstance(scenario, str) else "custom"
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        start_price = Decimal(start_price)
        if not start_price > 0:
            raise ValueError(f"start_price must be positive, got {start_price}")
        for name, value in (
            ("trade_scale", trade_scale),
            ("step_ms", step_ms),
            ("mark_interval_s", mark_interval_s),
            ("level_notional", level_notional),
            ("top_gap_bps", top_gap_bps),
        ):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value}")
        self.seed = seed
        if price_seed is not None and (isinstance(price_seed, bool) or price_seed < 0):
            raise ValueError(f"price_seed must be a non-negative integer, got {price_seed!r}")
        self.price_seed = price_seed
        self.trade_scale = float(trade_scale)
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
            sim = Simulation(self)
            self._initial = (sim.bids.levels(), sim.asks.levels())
        return list(self._initial[0]), list(self._initial[1])

    def __iter__(self) -> Iterator[SyntheticStep]:
        return Simulation(self).run()


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
    ``prev_id`` = previous ``last_id`` (USD-M ``pu``). Other venues (Bybit, OKX,
    Bitget) number each message: there a diff has ``first_id == last_id == previous
    + 1`` from the snapshot's id on, as their sync rules expect. ``exch_ts`` is
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
    # Binance: the first diff straddles the snapshot id (U <= L <= u); venues that number each
    # message (Bybit u, OKX seqId, Bitget seq) continue the snapshot's id one per message
    per_message = not spec.venue.startswith("binance")
    last_id = first_update_id if per_message else first_update_id - 1
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
            if per_message:
                changes = 1
            elif first_id == first_update_id:
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
