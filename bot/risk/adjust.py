"""From regime, signals and limits to the quoter's knobs (:class:`QuoteAdjustments`).

Start from the regime's profile (spread, size, gamma multipliers, levels), then apply
the multi-horizon rules of DESIGN section 4 and the limits:

- short vol up (short > medium): wider, ``spread x min(max, 1 + gain (short/medium - 1))``;
- medium vol up (medium >= ``medium_ratio`` x long reference): smaller size
  (``/ (medium/long)``, floored) and more levels;
- trend against inventory: while TRENDING the side against the trend only reduces
  inventory (inventory already against the trend -> reduce-only, exit fast); in any
  other state ``|trend z| >= against_trend_reduce_z`` with inventory against the
  trend -> reduce-only;
- soft position limit: size shrinks and gamma grows linearly up to the hard limit;
  hard position limit or daily loss limit -> reduce-only.

Multipliers are rounded to ``rules.step`` so small signal noise does not re-price
quotes. Returns the adjustments and the notes explaining them.
"""

from __future__ import annotations

from bot.risk.explain import Regime
from bot.risk.limits import Limits
from bot.risk.settings import LimitSettings, RulesSettings, StateProfile
from bot.risk.signals import SignalTracker
from bot.strategy.types import QuoteAdjustments


def _round(value: float, step: float) -> float:
    if step <= 0.0:
        return value
    rounded = round(round(value / step) * step, 6)
    return step if rounded <= 0.0 < value else rounded


def limit_reduce_only(limits: Limits) -> str:
    """Why limits allow only reducing orders now ("" = they do not)."""
    if not limits.daily_breached and not (limits.mid_ticks and limits.position_tl >= limits.hard_tl):
        return ""
    if limits.daily_breached:
        return f"daily loss {limits.daily_loss()} >= {limits.settings.daily_loss}"
    if limits.mid_ticks and limits.position_tl >= limits.hard_tl:
        return f"position notional {limits.notional(limits.position_tl)} >= {limits.settings.max_position}"
    return ""


def build_adjustments(
    regime: Regime,
    profile: StateProfile,
    signals: SignalTracker,
    rules: RulesSettings,
    limits: Limits,
    *,
    trend_dir: int,
    base_levels: int | None,
    explain: bool = False,
) -> tuple[QuoteAdjustments, tuple[str, ...]]:
    """The adjustments, and (only with ``explain``: formatting costs) the notes behind them."""
    notes: list[str] = []
    spread = profile.spread_mult
    size = profile.size_mult
    gamma = profile.gamma_mult
    levels = profile.levels if profile.levels is not None else base_levels
    short = signals.sigma_short
    medium = signals.sigma_medium
    long_ref = signals.sigma_long_ref
    # short vol up -> wider
    if short > medium > 0.0 and rules.short_spread_gain > 0.0:
        mult = min(rules.short_spread_max, 1.0 + rules.short_spread_gain * (short / medium - 1.0))
        spread *= mult
        if explain:
            notes.append(f"short vol {short:.2f} > medium {medium:.2f} bps/sqrt(s): spread x{mult:.2f}")
    # medium vol up -> smaller size, more levels
    if long_ref > 0.0 and medium >= rules.medium_ratio * long_ref:
        ratio = medium / long_ref
        size *= max(rules.medium_size_floor, 1.0 / ratio)
        if levels is not None and rules.medium_extra_levels:
            levels += rules.medium_extra_levels
        if explain:
            notes.append(
                f"medium vol {ratio:.2f}x long: size /{ratio:.2f}, +{rules.medium_extra_levels} levels"
            )
    # trend against inventory
    allow_bid = allow_ask = True
    reduce_only = False
    position = limits.position
    if regime is Regime.TRENDING and trend_dir:
        if position * trend_dir < 0:
            reduce_only = True
            if explain:
                notes.append("trending: inventory against the trend, reduce-only")
        elif trend_dir < 0 and position >= 0:
            allow_bid = False
            if explain:
                notes.append("trending down: no bids (only reduce a short)")
        elif trend_dir > 0 and position <= 0:
            allow_ask = False
            if explain:
                notes.append("trending up: no asks (only reduce a long)")
    else:
        z = signals.trend_z
        if abs(z) >= rules.against_trend_reduce_z and position * z < 0:
            reduce_only = True
            if explain:
                notes.append(f"trend z {z:.1f} against inventory {position}: reduce-only")
    # limits
    excess = limits.soft_excess() if limits.mid_ticks else 0.0
    if excess > 0.0:
        settings: LimitSettings = limits.settings
        size *= 1.0 - (1.0 - settings.soft_min_size_mult) * excess
        gamma *= 1.0 + settings.soft_gamma_boost * excess
        if explain:
            notes.append(f"soft position limit: {excess:.0%} of the way to the hard limit")
    if limits.daily_breached or (limits.mid_ticks and limits.position_tl >= limits.hard_tl):
        reduce_only = True
        if explain:
            notes.append(f"reduce-only: {limit_reduce_only(limits)}")
    step = rules.step
    adjustments = QuoteAdjustments(
        spread_mult=_round(spread, step),
        size_mult=_round(size, step),
        gamma_mult=_round(gamma, step),
        levels=levels,
        reduce_only=reduce_only,
        allow_bid=allow_bid,
        allow_ask=allow_ask,
    )
    return adjustments, tuple(notes)
