"""The volatility-regime state machine: CALM, RANGING, TRENDING, CRISIS, HALTED.

Classification (priority order, first match wins). Volatilities are read as ratios to
the instrument's own baseline volatility (:mod:`bot.risk.signals`: ``short_ratio``,
``medium_ratio``, ``long_ratio``), so the thresholds mean "this many times the
instrument's normal" on any instrument:

- **CRISIS**: short vol >= ``crisis_enter_short`` x baseline *and* medium vol >=
  ``crisis_enter_medium`` x baseline (high vol second to second and over minutes);
- **TRENDING**: ``|trend z| >= trend_enter_z`` *and* traded flow imbalance in the
  trend's direction >= ``trend_enter_flow`` (a clear one-sided trend; the z-score is the
  drift over its own standard error). Long-horizon vol is high in a trend too (the
  drift), so trend strength, not vol, decides;
- **RANGING**: long-horizon (lagged-return) vol >= ``ranging_enter_long`` x baseline
  and short vol below the crisis level: big slow swings, quiet second to second;
- **CALM**: none of the above.

The default thresholds are calibrated on real recordings (``mmbot regimes calibrate``,
:mod:`bot.risk.calibrate`).

Hysteresis: the *current* state is tested with its exit thresholds (it stays until
``short < crisis_exit_short`` or ``medium < crisis_exit_medium``, ``|z| < trend_exit_z``
or aligned flow ``< trend_exit_flow``, ``long < ranging_exit_long``), every other state
with its enter thresholds. An unknown signal (nan: still warming up) never enters a
state and never ends one. Moves to a more severe state (CALM < RANGING < TRENDING <
CRISIS < HALTED) are immediate; moves to a less severe one wait for the current
state's minimum dwell time.

HALTED: any active pull trigger (:mod:`bot.risk.triggers`) halts at once. The machine
leaves HALTED only when no trigger is active and the cooldown has passed, and always
into CRISIS (very wide, small), from where the normal rules take it down as the
dwell times allow; nor is any move to a less severe state made while the short vol is
at crisis level. The machine starts HALTED on a ``warmup`` trigger that clears once
the book is valid and the medium vol (the price-jump reference) is known.

Every transition is a :class:`~bot.risk.explain.RegimeTransition` with its rule, the
conditions behind it and all signal values.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from bot.risk.explain import SEVERITY, Reason, Regime, RegimeTransition
from bot.risk.settings import RegimeSettings
from bot.risk.signals import SignalTracker
from bot.risk.triggers import Trigger, TriggerBoard

_NS = 1_000_000_000
_X = "x baseline vol"


class _Thresholds:
    """The settings' thresholds as compiled attributes: read on every step, where a pydantic
    model's attributes go through its ``__getattr__`` hook."""

    __slots__ = (
        "crisis_enter_medium",
        "crisis_enter_short",
        "crisis_exit_medium",
        "crisis_exit_short",
        "ranging_enter_long",
        "ranging_exit_long",
        "trend_enter_flow",
        "trend_enter_z",
        "trend_exit_flow",
        "trend_exit_z",
    )

    def __init__(self, settings: RegimeSettings) -> None:
        self.crisis_enter_short: float = settings.crisis_enter_short
        self.crisis_enter_medium: float = settings.crisis_enter_medium
        self.crisis_exit_short: float = settings.crisis_exit_short
        self.crisis_exit_medium: float = settings.crisis_exit_medium
        self.trend_enter_z: float = settings.trend_enter_z
        self.trend_enter_flow: float = settings.trend_enter_flow
        self.trend_exit_z: float = settings.trend_exit_z
        self.trend_exit_flow: float = settings.trend_exit_flow
        self.ranging_enter_long: float = settings.ranging_enter_long
        self.ranging_exit_long: float = settings.ranging_exit_long


class RegimeMachine:
    """State, dwell and transition records of one instrument's regime."""

    __slots__ = (
        "_dwell_ns",
        "_s",
        "_t",
        "entered_ts",
        "instrument",
        "last",
        "reasons",
        "seq",
        "sink",
        "state",
        "trend_dir",
    )

    def __init__(
        self,
        settings: RegimeSettings,
        instrument: str = "",
        sink: Callable[[RegimeTransition], None] | None = None,
    ) -> None:
        self._s = settings
        self._t = _Thresholds(settings)
        self._dwell_ns = {
            state: int(settings.dwell_s(state.value) * _NS) for state in Regime if state is not Regime.HALTED
        }
        self.instrument = instrument
        self.sink = sink
        self.state = Regime.HALTED
        self.entered_ts = 0
        self.trend_dir = 0
        """+1 up / -1 down while TRENDING (the direction it was entered with), else 0."""
        self.reasons: tuple[Reason, ...] = (Reason(rule="startup", note="waiting for market data"),)
        self.last: RegimeTransition | None = None
        self.seq = 0

    # ---- the step ---------------------------------------------------------------------

    def step(self, signals: SignalTracker, board: TriggerBoard, now: int) -> RegimeTransition | None:
        """Advance on this event; returns the transition if the state changed."""
        state = self.state
        if not self.entered_ts:
            self.entered_ts = now
        if board.active:
            fired = board.take_fired()
            if state is Regime.HALTED:
                self.reasons = board.reasons()
                return None
            board.halt_started(now)
            first = fired[0] if fired else next(iter(board.active))
            return self._move(Regime.HALTED, f"trigger.{first.value}", board.reasons(), signals, now)
        if state is Regime.HALTED:
            ready = board.ready_at()
            if now < ready or not signals.known:
                return None
            reasons = (
                *board.cleared.values(),
                Reason(
                    rule="halt.cooldown",
                    metric="halted_s",
                    observed=round((now - self.entered_ts) / _NS, 3),
                    note="no trigger active; cooldown over; re-entering through CRISIS",
                ),
            )
            return self._move(Regime.CRISIS, "halt.cleared", reasons, signals, now)
        target, rule, reasons = self._classify(state, signals)
        if target is state:
            return None
        if SEVERITY[target] < SEVERITY[state]:
            if now - self.entered_ts < self._dwell_ns[state]:
                return None
            if signals.short_ratio >= self._t.crisis_enter_short:
                return None  # never calm down while short vol is at crisis level
            if target is not Regime.CALM:  # say why the current state ended, too
                reasons = (*self._exit_reasons(state, signals)[:-1], *reasons)
        return self._move(target, rule, reasons, signals, now)

    def _move(
        self, target: Regime, rule: str, reasons: tuple[Reason, ...], signals: SignalTracker, now: int
    ) -> RegimeTransition:
        self.seq += 1
        record = RegimeTransition(
            ts=now,
            instrument=self.instrument,
            from_state=self.state,
            to_state=target,
            rule=rule,
            reasons=reasons,
            signals=signals.values(),
            seq=self.seq,
        )
        self.state = target
        self.entered_ts = now
        self.reasons = reasons
        self.last = record
        if target is Regime.TRENDING:
            z = signals.trend_z
            self.trend_dir = 1 if z > 0 else -1
        else:
            self.trend_dir = 0
        if self.sink is not None:
            self.sink(record)
        return record

    # ---- classification ---------------------------------------------------------------

    def _classify(self, current: Regime, sig: SignalTracker) -> tuple[Regime, str, tuple[Reason, ...]]:
        """Target state, the rule and the reasons (built only when the state changes)."""
        s = self._t
        short = sig.short_ratio
        medium = sig.medium_ratio
        # CRISIS
        if current is Regime.CRISIS:
            if not (short < s.crisis_exit_short or medium < s.crisis_exit_medium):
                return current, "", ()
        elif short >= s.crisis_enter_short and medium >= s.crisis_enter_medium:
            return (
                Regime.CRISIS,
                "crisis.enter",
                (
                    Reason(rule="crisis.enter", metric="short_ratio", observed=short, op=">=",
                           threshold=s.crisis_enter_short, unit=_X),
                    Reason(rule="crisis.enter", metric="medium_ratio", observed=medium, op=">=",
                           threshold=s.crisis_enter_medium, unit=_X),
                ),
            )  # fmt: skip
        # TRENDING
        z = sig.trend_z
        flow = sig.flow
        if current is Regime.TRENDING:
            d = self.trend_dir
            if not (z * d < s.trend_exit_z or flow * d < s.trend_exit_flow):
                return current, "", ()
        elif abs(z) >= s.trend_enter_z and flow * math.copysign(1.0, z) >= s.trend_enter_flow:
            return (
                Regime.TRENDING,
                "trending.enter",
                (
                    Reason(rule="trending.enter", metric="abs_trend_z", observed=abs(z), op=">=",
                           threshold=s.trend_enter_z, note="up" if z > 0 else "down"),
                    Reason(rule="trending.enter", metric="aligned_flow_imbalance",
                           observed=flow * math.copysign(1.0, z), op=">=", threshold=s.trend_enter_flow),
                ),
            )  # fmt: skip
        # RANGING
        long_vol = sig.long_ratio
        if current is Regime.RANGING:
            if not long_vol < s.ranging_exit_long:
                return current, "", ()
        elif long_vol >= s.ranging_enter_long and not short >= s.crisis_enter_short:
            return (
                Regime.RANGING,
                "ranging.enter",
                (
                    Reason(rule="ranging.enter", metric="long_ratio", observed=long_vol, op=">=",
                           threshold=s.ranging_enter_long, unit=_X),
                    Reason(rule="ranging.enter", metric="short_ratio", observed=short, op="<",
                           threshold=s.crisis_enter_short, unit=_X, note="short vol below crisis"),
                ),
            )  # fmt: skip
        if current is Regime.CALM:
            return current, "", ()
        return Regime.CALM, f"{current.value}.exit", self._exit_reasons(current, sig)

    def _exit_reasons(self, current: Regime, sig: SignalTracker) -> tuple[Reason, ...]:
        s = self._t
        rule = f"{current.value}.exit"
        if current is Regime.CRISIS:
            reasons = [
                Reason(rule=rule, metric="short_ratio", observed=sig.short_ratio, op="<",
                       threshold=s.crisis_exit_short, unit=_X)
                if sig.short_ratio < s.crisis_exit_short
                else Reason(rule=rule, metric="medium_ratio", observed=sig.medium_ratio, op="<",
                            threshold=s.crisis_exit_medium, unit=_X)
            ]  # fmt: skip
        elif current is Regime.TRENDING:
            d = self.trend_dir
            reasons = [
                Reason(rule=rule, metric="trend_z_in_direction", observed=sig.trend_z * d, op="<",
                       threshold=s.trend_exit_z)
                if sig.trend_z * d < s.trend_exit_z
                else Reason(rule=rule, metric="aligned_flow_imbalance", observed=sig.flow * d, op="<",
                            threshold=s.trend_exit_flow)
            ]  # fmt: skip
        elif current is Regime.RANGING:
            reasons = [
                Reason(rule=rule, metric="long_ratio", observed=sig.long_ratio, op="<",
                       threshold=s.ranging_exit_long, unit=_X)
            ]  # fmt: skip
        else:
            reasons = []
        reasons.append(
            Reason(rule="calm", note="no other state's entry condition holds", metric="long_ratio",
                   observed=sig.long_ratio if sig.long_ratio == sig.long_ratio else None, op="<",
                   threshold=s.ranging_enter_long, unit=_X)
        )  # fmt: skip
        return tuple(reasons)


__all__ = ["Regime", "RegimeMachine", "Trigger"]
