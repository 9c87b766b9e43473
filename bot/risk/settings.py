"""Risk manager settings: regime thresholds, pull triggers, limits and state profiles.

Pydantic models (``extra="forbid"``, every field described) meant to be mounted as a
``[risk]`` table of the configuration (:class:`RiskSettings`). Units:

- regime thresholds on volatility are **ratios to the instrument's own baseline
  volatility** (:mod:`bot.risk.signals`): its long-run 1-second volatility, learnt from
  its own market data and starting from ``baseline_vol_bps`` (the instrument's typical
  volatility, measured on its recordings by ``mmbot regimes calibrate``), so the same
  thresholds fit a quiet and a wild instrument; volatilities themselves are in bps of
  the price per sqrt(second);
- trend strength is the estimators' unitless drift z-score (drift over its own
  standard error); order-flow imbalance ``(buy - sell) / (buy + sell)`` of the
  traded-volume rates, in [-1, 1];
- depth is the estimators' ratio of displayed depth within their band to its baseline;
- money (positions, notionals, losses) in the **quote currency** of the quoted
  instrument (USDT for BTCUSDT), exact decimals;
- times in seconds of event time.

The regime defaults are calibrated on the real Binance BTCUSDT recordings (spot
2024-08-08/09, USD-M 2024-08-08 and 2023-04-04/05) with ``mmbot regimes calibrate``
(README, "Risk regimes: calibration"); ``tests/test_regimes_real.py`` holds them to the
real data and ``tests/test_risk_scenarios.py`` to the synthetic scenarios of
:mod:`bot.emulator.scenarios` (calm, ranging, trend, crisis, crash).
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, model_validator

from bot.inputmodel import InputModel


class _Section(InputModel):
    pass


class StateProfile(_Section):
    """How one regime scales the quoter (becomes a ``QuoteAdjustments``)."""

    spread_mult: float = Field(1.0, gt=0, le=100, description="Multiplies the model half spread.")
    size_mult: float = Field(1.0, ge=0, le=10, description="Multiplies every quote size.")
    gamma_mult: float = Field(1.0, gt=0, le=100, description="Multiplies risk aversion (inventory skew).")
    levels: int | None = Field(
        None, ge=0, le=50, description="Quote levels per side; unset = the strategy profile's own."
    )


class Profiles(_Section):
    """Per-regime parameter profiles (HALTED quotes nothing)."""

    calm: StateProfile = Field(default_factory=lambda: StateProfile(), description="CALM: tight and large.")
    ranging: StateProfile = Field(
        default_factory=lambda: StateProfile(spread_mult=1.5),
        description="RANGING (high long-horizon, low short-horizon vol): wider, still large.",
    )
    trending: StateProfile = Field(
        default_factory=lambda: StateProfile(spread_mult=1.0, size_mult=0.4, gamma_mult=3.0),
        description="TRENDING: tight, small, strong inventory skew (exit fast); the side against the "
        "trend only reduces inventory.",
    )
    crisis: StateProfile = Field(
        default_factory=lambda: StateProfile(spread_mult=3.0, size_mult=0.3, gamma_mult=2.0),
        description="CRISIS (high short and medium vol): very wide, small.",
    )


class RegimeSettings(_Section):
    """Which signals classify the regime, their enter/exit thresholds and dwell times."""

    short_horizon_s: float = Field(
        10.0, gt=0, description="Estimator horizon (one of estimators.vol_horizons_s) of the short vol."
    )
    medium_horizon_s: float = Field(
        300.0, gt=0, description="Estimator horizon of the medium vol, the jump reference and the trend."
    )
    long_horizon_s: float | None = Field(
        3600.0,
        gt=0,
        description="Estimator horizon the medium vol is compared with (size/levels rule); "
        "unset or absent from the estimators = rule off.",
    )
    long_vol_lag_s: float = Field(
        30.0,
        ge=2,
        le=3600,
        description="Long-horizon vol is measured on mid returns over this lag (sampled every second, "
        "overlapping) -- it sees slow mean-reverting swings that 1 s returns miss.",
    )
    long_vol_window_s: float = Field(
        300.0, gt=0, le=86_400, description="EWMA time constant of the long-horizon vol."
    )
    long_vol_min_samples: int = Field(
        60, ge=2, le=1_000_000, description="Lag returns needed before the long-horizon vol counts as known."
    )
    baseline_vol_bps: float = Field(
        1.01,
        gt=0,
        le=1000,
        description="The instrument's typical 1-second volatility (bps/sqrt(s)): where its baseline starts "
        "before it has history of its own. `mmbot regimes calibrate` measures it on recordings "
        "(default: the realized 1 s vol of the bundled Binance BTCUSDT recordings).",
    )
    baseline_vol_by_instrument: dict[str, float] = Field(
        default_factory=dict,
        description="baseline_vol_bps per instrument key (venue:SYMBOL), for engines quoting other instruments.",
    )
    baseline_prior_s: float = Field(
        3600.0,
        gt=0,
        description="Weight of baseline_vol_bps in seconds of data: the baseline is "
        "(prior_s x prior^2 + sum of observed squared 1 s returns) / (prior_s + observed seconds).",
    )
    baseline_window_s: float = Field(
        21_600.0,
        gt=0,
        le=30 * 86_400,
        description="EWMA time constant of the observed 1-second variance in the baseline (the history).",
    )
    crisis_enter_short: float = Field(
        1.89,
        gt=0,
        description="CRISIS needs short vol >= this x the baseline ...",
    )
    crisis_enter_medium: float = Field(1.36, gt=0, description="... and medium vol >= this x the baseline.")
    crisis_exit_short: float = Field(
        1.42, gt=0, description="CRISIS ends when short vol < this x the baseline ..."
    )
    crisis_exit_medium: float = Field(1.02, gt=0, description="... or medium vol < this x the baseline.")
    ranging_enter_long: float = Field(
        1.47,
        gt=0,
        description="RANGING needs long-horizon (lagged-return) vol >= this x the baseline.",
    )
    ranging_exit_long: float = Field(
        1.1, gt=0, description="RANGING ends when long-horizon vol < this x the baseline."
    )
    trend_enter_z: float = Field(
        2.15, gt=0, description="TRENDING needs |trend z-score| at medium_horizon_s >= this ..."
    )
    trend_enter_flow: float = Field(
        0.1,
        ge=0,
        le=1,
        description="... and traded-flow imbalance in the trend's direction >= this (0 = not required): "
        "a one-sided trend is one-sided in aggressor flow; a swing of a ranging market is not.",
    )
    trend_exit_z: float = Field(1.29, ge=0, description="TRENDING ends when |trend z| < this ...")
    trend_exit_flow: float = Field(0.0, ge=0, le=1, description="... or the aligned flow imbalance < this.")
    min_dwell_s: dict[str, float] = Field(
        default_factory=lambda: {"calm": 10.0, "ranging": 30.0, "trending": 30.0, "crisis": 20.0},
        description="Minimum time in a state before moving to a less severe one (moves to a more severe "
        "state are immediate). Keys: calm, ranging, trending, crisis.",
    )

    @model_validator(mode="after")
    def _hysteresis(self) -> RegimeSettings:
        pairs = (
            ("crisis_exit_short", "crisis_enter_short"),
            ("crisis_exit_medium", "crisis_enter_medium"),
            ("ranging_exit_long", "ranging_enter_long"),
            ("trend_exit_z", "trend_enter_z"),
            ("trend_exit_flow", "trend_enter_flow"),
        )
        for low, high in pairs:
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} must be <= {high} (hysteresis)")
        unknown = set(self.min_dwell_s) - {"calm", "ranging", "trending", "crisis"}
        if unknown:
            raise ValueError(f"min_dwell_s: unknown states {sorted(unknown)}")
        if any(v < 0 for v in self.min_dwell_s.values()):
            raise ValueError("min_dwell_s: times must be >= 0")
        if self.short_horizon_s >= self.medium_horizon_s:
            raise ValueError("short_horizon_s must be < medium_horizon_s")
        for key, value in self.baseline_vol_by_instrument.items():
            if not value > 0:
                raise ValueError(f"baseline_vol_by_instrument[{key!r}] must be > 0, got {value}")
        return self

    def dwell_s(self, state: str) -> float:
        return self.min_dwell_s.get(state, 0.0)

    def baseline_for(self, instrument: str) -> float:
        """The prior baseline volatility (bps/sqrt(s)) of ``instrument``."""
        return self.baseline_vol_by_instrument.get(instrument, self.baseline_vol_bps)

    def horizons(self) -> tuple[float, ...]:
        """Estimator horizons these settings read (the long one is optional)."""
        return (self.short_horizon_s, self.medium_horizon_s)


class RulesSettings(_Section):
    """Multi-horizon rules applied on top of the state profile (DESIGN section 4)."""

    short_spread_gain: float = Field(
        1.0,
        ge=0,
        description="Short vol up -> wider: spread x (1 + gain * (short/medium - 1)) when short > medium.",
    )
    short_spread_max: float = Field(2.5, ge=1, description="Cap of that spread multiplier.")
    medium_ratio: float = Field(
        1.5, gt=1, description="Medium vol >= this x long vol -> smaller size and more levels."
    )
    medium_size_floor: float = Field(
        0.3, gt=0, le=1, description="Size is divided by medium/long, but never below this multiplier."
    )
    medium_extra_levels: int = Field(1, ge=0, le=10, description="Levels added while that holds.")
    against_trend_reduce_z: float = Field(
        3.5,
        gt=0,
        description="|trend z| >= this with inventory against the trend -> reduce-only (any state).",
    )
    step: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Multipliers are rounded to this step (0 = none) so quotes do not churn.",
    )
    refresh_s: float = Field(
        0.1,
        ge=0,
        le=10,
        description="Recompute the signal-driven multipliers at most this often (the estimators' vols move "
        "once a second); a change of regime, position or loss limit applies at once.",
    )


class TriggerSettings(_Section):
    """Immediate pull triggers (-> HALTED in the same event) and the way back."""

    depth_collapse_ratio: float = Field(
        0.15,
        gt=0,
        lt=1,
        description="Halt when displayed depth within the estimators' band falls below this fraction of "
        "its baseline on either side (after depth_smoothing_s smoothing).",
    )
    depth_collapse_ratio_crisis: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="The same threshold in CRISIS, and in HALTED (which only ever leaves into CRISIS): "
        "quotes are very wide and small there and a crisis book is thin and erratic, so only a "
        "near-total vacuum halts (again).",
    )
    depth_clear_ratio: float = Field(
        0.3, gt=0, le=2, description="The depth trigger clears when both sides are back above this."
    )
    depth_smoothing_s: float = Field(
        0.5,
        ge=0,
        le=60,
        description="EWMA time constant of the depth ratio the trigger reads (0 = raw): one thin update "
        "is not a collapse.",
    )
    depth_baseline_s: float = Field(
        120.0,
        gt=0,
        le=86_400,
        description="Time constant of the depth baseline the trigger compares with: after a lasting "
        "change the new depth becomes normal within a few of these.",
    )
    jump_k: float = Field(
        8.0,
        gt=0,
        description="Halt when the mid moves more than k * sigma * sqrt(dt) between consecutive events "
        "(or against the mid sampled about a second earlier); sigma is the medium-horizon vol from "
        "before the jump.",
    )
    jump_min_dt_s: float = Field(
        1.0, gt=0, le=60, description="dt floor of the jump test (sub-second mids carry bid-ask noise)."
    )
    jump_clear_s: float = Field(
        5.0, ge=0, description="The jump trigger clears this long after the last jump."
    )
    cooldown_s: float = Field(
        30.0,
        ge=0,
        description="After a market trigger (depth, jump, inventory) has cleared, stay HALTED this long.",
    )
    cooldown_max_s: float = Field(300.0, ge=0, description="Repeated halts double the cooldown, up to this.")
    cooldown_memory_s: float = Field(
        600.0, ge=0, description="A halt within this long of the previous one counts as repeated."
    )
    feed_cooldown_s: float = Field(
        5.0, ge=0, description="Cooldown after a book-invalid or stale-feed trigger has cleared."
    )

    @model_validator(mode="after")
    def _check(self) -> TriggerSettings:
        if self.depth_clear_ratio <= max(self.depth_collapse_ratio, self.depth_collapse_ratio_crisis):
            raise ValueError("depth_clear_ratio must be > depth_collapse_ratio (hysteresis)")
        if self.cooldown_max_s < self.cooldown_s:
            raise ValueError("cooldown_max_s must be >= cooldown_s")
        return self


class LimitSettings(_Section):
    """Position, order, loss and rate limits (money in the quote currency)."""

    soft_position: Decimal = Field(
        Decimal("1000"),
        ge=0,
        description="|position| notional above this: smaller size and stronger skew, growing to the "
        "hard limit.",
    )
    max_position: Decimal = Field(
        Decimal("2000"),
        gt=0,
        description="Hard limit on |position| notional: quote reduce-only; orders that could take the "
        "position beyond it (counting open orders) are refused.",
    )
    halt_position: Decimal = Field(
        Decimal("4000"),
        gt=0,
        description="Pull trigger: |position| notional beyond this -> HALTED until it is back within "
        "max_position.",
    )
    soft_min_size_mult: float = Field(
        0.3, gt=0, le=1, description="Size multiplier reached at the hard limit (1 at the soft limit)."
    )
    soft_gamma_boost: float = Field(
        2.0, ge=0, description="Risk aversion x (1 + boost * excess), excess 0 at soft and 1 at hard."
    )
    max_order: Decimal = Field(Decimal("500"), gt=0, description="Largest single order, notional.")
    max_notional_per_side: Decimal = Field(
        Decimal("3000"), gt=0, description="Open orders per side (live + in flight), notional."
    )
    max_open_orders: int = Field(
        20, ge=1, le=10_000, description="Open orders (live + in flight), both sides."
    )
    orders_per_s: float = Field(
        20.0,
        gt=0,
        le=100_000,
        description="New-order rate limit (token bucket refill per second of event time).",
    )
    order_burst: int = Field(40, ge=1, le=1_000_000, description="Token bucket size (new orders in a burst).")
    daily_loss: Decimal = Field(
        Decimal("200"),
        gt=0,
        description="Loss since the start of the UTC day (event time) at which quoting turns reduce-only "
        "until the next day.",
    )
    max_drawdown: Decimal = Field(
        Decimal("400"),
        gt=0,
        description="Pull trigger: equity this far below its peak -> HALTED until a manual resume "
        "(journaled, survives restarts).",
    )

    @model_validator(mode="after")
    def _order(self) -> LimitSettings:
        if not self.soft_position <= self.max_position <= self.halt_position:
            raise ValueError("need soft_position <= max_position <= halt_position")
        return self


class RiskSettings(_Section):
    """The ``[risk]`` table."""

    enabled: bool = Field(True, description="false = no regime changes, triggers or limits (testing only).")
    regimes: RegimeSettings = Field(default_factory=RegimeSettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    triggers: TriggerSettings = Field(default_factory=TriggerSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    profiles: Profiles = Field(default_factory=Profiles)


def check_horizons(settings: RiskSettings, horizons_s: tuple[float, ...], source: str = "risk") -> None:
    """ConfigError unless the horizons the risk manager reads are estimator horizons."""
    from bot.errors import ConfigError

    regimes = settings.regimes
    have = [float(h) for h in horizons_s]
    for name in ("short_horizon_s", "medium_horizon_s"):
        value = getattr(regimes, name)
        if value not in horizons_s:
            raise ConfigError(
                f"{source}.regimes.{name}: {value:g} is not one of the estimator horizons {have}"
            )
