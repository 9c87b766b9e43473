"""Scenario definitions for the synthetic market generator.

A scenario is a sequence of :class:`Phase` objects; each phase names a market regime
and holds the parameters the generator (:mod:`bot.emulator.synthetic`) runs it with
for ``duration_s`` simulated seconds. This module owns the phase parameters, their
validation and the named presets in :data:`SCENARIOS`:

- ``calm``: one calm phase (low vol at every horizon, deep 1-tick book).
- ``ranging``: large mean-reverting swings over minutes, quiet second to second.
- ``trend``: a steady one-sided (down) drift, moderate vol, thinner bid side.
- ``crisis``: high vol at every horizon, wide spread, thin book.
- ``crash``: calm baseline -> ``withdrawal`` (depth on both sides vanishes, spread
  widens, mid flat) -> ``crash`` (about -7 % in 5 s through the thin book, heavy
  selling) -> ``recovery`` (about half the drop recovered, depth refilling over a
  minute or two) -> calm again.
- ``regimes``: calm -> ranging -> trend -> crisis, each several minutes long.
- ``abc_calm``, ``abc_launch``, ``abc_crash``: a freshly listed token (``ABC``, see
  :mod:`bot.emulator.token_markets` for its price and per-venue book depth): thin books
  a few ticks wide, light flow. ``abc_launch`` is the launch day: calm -> ``launch``
  (listing volatility: a pump with large swings and heavy buying, spread and depth
  worse) -> ``settle`` -> the crash sequence (``withdrawal`` -> ``crash``, about -15 %
  in 6 s -> ``recovery``) -> calm. ``abc_calm`` and ``abc_crash`` are its pieces.

Phases are frozen structs: derive variants with :func:`msgspec.structs.replace` or
:func:`with_durations` / :func:`scale_durations`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec


class Phase(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One regime of a synthetic scenario. Defaults describe a calm market.

    Volatilities and drifts are in basis points of the price (log returns); depth is
    a multiplier on the calm book (level sizes); ``adjust_s`` is the time constant
    with which depth, spread and level count move from the previous phase's values
    to this phase's (short for a sudden liquidity withdrawal, long for a refill).
    """

    name: str
    duration_s: float
    sigma_bps: float = 0.8
    """Random-walk volatility of the fair price, bps per sqrt(second)."""
    drift_bps_per_s: float = 0.0
    """Deterministic drift of the fair price (negative: down)."""
    drift_decay_s: float = 0.0
    """0: constant drift; > 0: drift decays as exp(-t / drift_decay_s) within the phase."""
    swing_bps: float = 0.0
    """Stationary std of a smooth mean-reverting swing component (damped oscillator)."""
    swing_period_s: float = 240.0
    spread_bps: float = 0.0
    """Target spread; never below one tick (0 = one tick)."""
    depth: float = 1.0
    """Level-size multiplier relative to the calm book."""
    run_side_depth: float = 1.0
    """Extra size multiplier for the side the drift runs into (asks when drifting up)."""
    levels: int = 250
    """Target number of levels per side."""
    book_pct: float = 3.0
    """How far from the touch the book extends, percent of the price."""
    adjust_s: float = 15.0
    churn_per_s: float = 40.0
    """Background level operations (insert / resize / cancel) per second."""
    trades_per_s: float = 8.0
    """Market orders per second (besides the trades of price moves)."""
    trade_notional: float = 1500.0
    """Median market-order notional in quote currency (lognormal)."""
    buy_frac: float = 0.5
    """Probability that a market order is a buy."""
    refill_levels: int = 6
    """Levels re-posted per step at a touch that moved away (liquidity replenishment)."""

    def __post_init__(self) -> None:
        positive = ("duration_s", "swing_period_s", "depth", "run_side_depth", "book_pct", "adjust_s")
        non_negative = (
            "sigma_bps",
            "drift_decay_s",
            "swing_bps",
            "spread_bps",
            "churn_per_s",
            "trades_per_s",
            "trade_notional",
        )
        for field in positive:
            value = getattr(self, field)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"phase {self.name!r}: {field} must be > 0, got {value}")
        for field in non_negative:
            value = getattr(self, field)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"phase {self.name!r}: {field} must be >= 0, got {value}")
        if not math.isfinite(self.drift_bps_per_s):
            raise ValueError(f"phase {self.name!r}: drift_bps_per_s must be finite")
        if not 0.0 <= self.buy_frac <= 1.0:
            raise ValueError(f"phase {self.name!r}: buy_frac must be within [0, 1], got {self.buy_frac}")
        if self.levels < 5:
            raise ValueError(f"phase {self.name!r}: levels must be >= 5, got {self.levels}")
        if self.refill_levels < 1:
            raise ValueError(f"phase {self.name!r}: refill_levels must be >= 1, got {self.refill_levels}")
        if not self.name:
            raise ValueError("phase name must not be empty")


CALM = Phase(name="calm", duration_s=600.0)
RANGING = Phase(
    name="ranging",
    duration_s=900.0,
    sigma_bps=0.5,
    swing_bps=50.0,
    swing_period_s=420.0,
    depth=0.9,
    trades_per_s=9.0,
)
TREND = Phase(
    name="trend",
    duration_s=480.0,
    sigma_bps=1.4,
    drift_bps_per_s=-1.0,
    spread_bps=0.02,
    depth=0.8,
    run_side_depth=0.45,
    trades_per_s=12.0,
    trade_notional=2500.0,
    buy_frac=0.35,
)
CRISIS = Phase(
    name="crisis",
    duration_s=480.0,
    sigma_bps=5.0,
    swing_bps=30.0,
    swing_period_s=180.0,
    spread_bps=1.5,
    depth=0.3,
    levels=150,
    adjust_s=10.0,
    churn_per_s=60.0,
    trades_per_s=15.0,
    trade_notional=4000.0,
    refill_levels=3,
)

CRASH_PHASES: tuple[Phase, ...] = (
    msgspec.structs.replace(CALM, duration_s=120.0),
    Phase(
        name="withdrawal",
        duration_s=3.0,
        sigma_bps=0.5,
        spread_bps=4.0,
        depth=0.1,
        levels=60,
        adjust_s=0.5,
        churn_per_s=60.0,
        trades_per_s=2.0,
        refill_levels=1,
    ),
    Phase(
        name="crash",
        duration_s=5.0,
        sigma_bps=8.0,
        drift_bps_per_s=-150.0,
        spread_bps=6.0,
        depth=0.15,
        levels=60,
        adjust_s=0.5,
        churn_per_s=60.0,
        trades_per_s=40.0,
        trade_notional=20_000.0,
        buy_frac=0.05,
        refill_levels=10,
    ),
    Phase(
        name="recovery",
        duration_s=150.0,
        sigma_bps=3.0,
        drift_bps_per_s=12.0,
        drift_decay_s=30.0,
        spread_bps=0.0,
        depth=1.0,
        levels=250,
        adjust_s=40.0,
        churn_per_s=60.0,
        trades_per_s=20.0,
        trade_notional=3000.0,
        buy_frac=0.6,
        refill_levels=4,
    ),
    msgspec.structs.replace(CALM, duration_s=120.0),
)

# A freshly listed token (prices in bps, so any start price): a book a few ticks wide and
# thin (fewer levels, the venue's own level size from bot.emulator.token_markets), light flow.
ABC_CALM = Phase(
    name="calm",
    duration_s=600.0,
    sigma_bps=1.0,
    spread_bps=3.0,
    levels=120,
    book_pct=4.0,
    churn_per_s=15.0,
    trades_per_s=1.5,
    trade_notional=250.0,
    refill_levels=4,
)
ABC_LAUNCH = Phase(
    name="launch",
    duration_s=600.0,
    sigma_bps=5.0,
    drift_bps_per_s=2.0,
    drift_decay_s=300.0,
    swing_bps=60.0,
    swing_period_s=150.0,
    spread_bps=8.0,
    depth=0.6,
    levels=80,
    book_pct=5.0,
    adjust_s=20.0,
    churn_per_s=30.0,
    trades_per_s=6.0,
    trade_notional=1500.0,
    buy_frac=0.6,
    refill_levels=3,
)
ABC_SETTLE = msgspec.structs.replace(ABC_CALM, name="settle", duration_s=300.0, sigma_bps=1.8, adjust_s=60.0)
ABC_CRASH_PHASES: tuple[Phase, ...] = (
    Phase(
        name="withdrawal",
        duration_s=3.0,
        sigma_bps=0.5,
        spread_bps=15.0,
        depth=0.1,
        levels=30,
        book_pct=4.0,
        adjust_s=0.5,
        churn_per_s=30.0,
        trades_per_s=1.0,
        trade_notional=250.0,
        refill_levels=1,
    ),
    Phase(
        name="crash",
        duration_s=6.0,
        sigma_bps=10.0,
        drift_bps_per_s=-270.0,
        spread_bps=20.0,
        depth=0.15,
        levels=30,
        book_pct=4.0,
        adjust_s=0.5,
        churn_per_s=30.0,
        trades_per_s=25.0,
        trade_notional=4000.0,
        buy_frac=0.05,
        refill_levels=6,
    ),
    Phase(
        name="recovery",
        duration_s=150.0,
        sigma_bps=3.0,
        drift_bps_per_s=15.0,
        drift_decay_s=40.0,
        spread_bps=5.0,
        depth=1.0,
        levels=120,
        book_pct=4.0,
        adjust_s=40.0,
        churn_per_s=30.0,
        trades_per_s=4.0,
        trade_notional=800.0,
        buy_frac=0.6,
        refill_levels=3,
    ),
)

SCENARIOS: dict[str, tuple[Phase, ...]] = {
    "calm": (CALM,),
    "ranging": (RANGING,),
    "trend": (TREND,),
    "crisis": (CRISIS,),
    "crash": CRASH_PHASES,
    "regimes": (
        msgspec.structs.replace(CALM, duration_s=300.0),
        RANGING,
        TREND,
        CRISIS,
    ),
    "abc_calm": (ABC_CALM,),
    "abc_launch": (
        msgspec.structs.replace(ABC_CALM, duration_s=300.0),
        ABC_LAUNCH,
        ABC_SETTLE,
        *ABC_CRASH_PHASES,
        msgspec.structs.replace(ABC_CALM, duration_s=300.0),
    ),
    "abc_crash": (
        msgspec.structs.replace(ABC_CALM, duration_s=120.0),
        *ABC_CRASH_PHASES,
        msgspec.structs.replace(ABC_CALM, duration_s=120.0),
    ),
}
"""Named scenarios: each a tuple of phases run in order."""


def scenario_names() -> list[str]:
    """The known scenario names, sorted."""
    return sorted(SCENARIOS)


def resolve_scenario(scenario: str | Sequence[Phase]) -> tuple[Phase, ...]:
    """A scenario name or an explicit phase sequence -> the phases to run.

    Raises ``ValueError`` naming the scenario and listing the known ones, or naming
    what is wrong with an explicit sequence.
    """
    if isinstance(scenario, str):
        try:
            return SCENARIOS[scenario]
        except KeyError:
            raise ValueError(
                f"unknown scenario {scenario!r}; known scenarios: {', '.join(scenario_names())}"
            ) from None
    phases = tuple(scenario)
    if not phases:
        raise ValueError("a scenario needs at least one phase")
    for position, phase in enumerate(phases):
        if not isinstance(phase, Phase):
            raise ValueError(f"scenario item {position} is {type(phase).__name__}, not a Phase")
    return phases


def with_durations(scenario: str | Sequence[Phase], **durations_s: float) -> tuple[Phase, ...]:
    """Copy of a scenario with the named phases' durations replaced.

    ``with_durations("regimes", calm=120, ranging=600)``; every phase with that name
    changes. An unknown phase name is an error.
    """
    phases = resolve_scenario(scenario)
    names = {phase.name for phase in phases}
    unknown = sorted(set(durations_s) - names)
    if unknown:
        raise ValueError(f"no phase named {', '.join(map(repr, unknown))}; phases: {sorted(names)}")
    return tuple(
        msgspec.structs.replace(phase, duration_s=float(durations_s[phase.name]))
        if phase.name in durations_s
        else phase
        for phase in phases
    )


def scale_durations(scenario: str | Sequence[Phase], factor: float) -> tuple[Phase, ...]:
    """Copy of a scenario with every phase duration multiplied by ``factor``."""
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"duration factor must be > 0, got {factor}")
    return tuple(
        msgspec.structs.replace(phase, duration_s=phase.duration_s * factor)
        for phase in resolve_scenario(scenario)
    )
