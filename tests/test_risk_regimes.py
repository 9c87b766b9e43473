"""Regime state machine on hand-made market states: warm-up, dwell, hysteresis, priorities,
multi-horizon rules and the explainability records."""

from __future__ import annotations

import math
import random

import msgspec

from bot.core.events import Side
from bot.core.orders import NewOrder
from bot.risk import (
    KillRecord,
    Regime,
    RegimeTransition,
    RiskManager,
    RiskSettings,
    from_payload,
    record_type,
    to_payload,
)
from bot.risk.settings import RegimeSettings, TriggerSettings
from bot.risk.signals import SignalTracker
from tests.risk_helpers import ABSOLUTE, NS, StateFeed, calm_manager, feed_for
from tests.specs import SPOT_BTC


def transitions(records: list[object]) -> list[RegimeTransition]:
    return [r for r in records if isinstance(r, RegimeTransition)]


def test_starts_halted_until_warm_then_crisis_then_calm_after_the_dwell() -> None:
    records: list[object] = []
    risk = RiskManager(ABSOLUTE, SPOT_BTC, sink=records.append)
    assert risk.regime is Regime.HALTED and risk.decision.pull_all
    feed = StateFeed()
    feed.medium = None  # the medium vol (the jump reference) is not warm yet
    assert set(feed_for(risk, feed, 30.0)) == {"halted"}
    assert "warmup" in risk.status()["active_triggers"]
    feed.medium = 0.8
    first = risk.on_market(feed.step())
    assert first.regime is Regime.CRISIS and not first.pull_all  # leaves HALTED through CRISIS
    [record] = transitions(records)
    assert (record.from_state, record.to_state, record.rule) == (Regime.HALTED, Regime.CRISIS, "halt.cleared")
    # calm signals, but CRISIS holds for its minimum dwell (20 s) ...
    regimes = feed_for(risk, feed, 19.8)
    assert set(regimes) == {"crisis"}
    # ... and then moves down
    regimes = feed_for(risk, feed, 0.3)
    assert regimes[-1] == "calm"
    last = transitions(records)[-1]
    assert last.rule == "crisis.exit" and last.ts - record.ts >= 20 * NS
    [exit_reason, *_] = last.reasons
    assert (exit_reason.metric, exit_reason.op, exit_reason.threshold) == ("short_ratio", "<", 2.0)
    assert exit_reason.observed is not None and math.isclose(exit_reason.observed, 0.8, rel_tol=1e-3)


def test_hysteresis_no_flapping_around_the_crisis_enter_threshold() -> None:
    """Short vol oscillating around the 3.0 enter threshold (medium high): one transition in,
    none out while it stays above the 2.0 exit threshold."""
    risk, feed, records = calm_manager()
    before = len(transitions(records))
    rng = random.Random(7)
    feed.medium = 3.0
    seen = []
    for i in range(3000):  # 5 minutes
        feed.short = 3.0 + 0.25 * math.sin(i / 7.0) + rng.uniform(-0.15, 0.15)
        seen.append(risk.on_market(feed.step()).regime)
    new = transitions(records)[before:]
    assert len(new) == 1 and new[0].to_state is Regime.CRISIS
    assert seen[-1] is Regime.CRISIS
    # now noise around the exit threshold's upper side, never below it: still no flapping
    for i in range(1200):
        feed.short = 2.3 + 0.25 * math.sin(i / 5.0) + rng.uniform(-0.04, 0.04)
        risk.on_market(feed.step())
    assert len(transitions(records)[before:]) == 1


def test_noise_around_the_enter_threshold_without_hysteresis_would_flap() -> None:
    """Control for the test above: with exit == enter the same signal flaps (dwell 0)."""
    settings = RiskSettings(
        regimes=ABSOLUTE.regimes.model_copy(
            update={
                "crisis_exit_short": 3.0,
                "crisis_enter_short": 3.0,
                "min_dwell_s": {"calm": 0, "ranging": 0, "trending": 0, "crisis": 0},
            }
        )
    )
    risk, feed, records = calm_manager(settings)
    rng = random.Random(7)
    feed.medium = 3.0
    for i in range(600):
        feed.short = 3.0 + 0.25 * math.sin(i / 7.0) + rng.uniform(-0.15, 0.15)
        risk.on_market(feed.step())
    assert len(transitions(records)) > 10


def test_hysteresis_on_trend_strength() -> None:
    risk, feed, records = calm_manager()
    before = len(transitions(records))
    feed.buy_rate, feed.sell_rate = 1.0, 3.0  # one-sided selling: flow imbalance -0.5
    rng = random.Random(3)
    for i in range(3000):
        feed.trend = -7.0 + 0.8 * math.sin(i / 11.0) + rng.uniform(-0.3, 0.3)
        risk.on_market(feed.step())
    new = transitions(records)[before:]
    assert [t.to_state for t in new] == [Regime.TRENDING]
    z, flow = new[0].reasons
    assert z.metric == "abs_trend_z" and z.observed is not None and z.observed >= 7.0 and z.note == "down"
    assert flow.metric == "aligned_flow_imbalance" and flow.observed == 0.5
    # the trend fades below the exit threshold: back to CALM once the dwell allows
    feed.trend = -3.0
    feed_for(risk, feed, 31.0)
    assert risk.regime is Regime.CALM
    assert transitions(records)[-1].reasons[0].metric == "trend_z_in_direction"


def test_a_strong_trend_with_balanced_flow_is_not_trending() -> None:
    """A ranging market's swing looks like a trend for minutes; one-sided flow tells them apart."""
    risk, feed, _ = calm_manager()
    feed.trend = -9.0
    assert set(feed_for(risk, feed, 60.0)) == {"calm"}
    feed.buy_rate, feed.sell_rate = 1.0, 2.0  # imbalance -1/3 < 0.4
    assert set(feed_for(risk, feed, 10.0)) == {"calm"}
    feed.buy_rate, feed.sell_rate = 1.0, 4.0  # -0.6
    assert feed_for(risk, feed, 0.1) == ["trending"]


def test_crisis_has_priority_over_trending() -> None:
    risk, feed, _ = calm_manager()
    feed.trend, feed.buy_rate, feed.sell_rate = 9.0, 4.0, 1.0
    assert feed_for(risk, feed, 0.1) == ["trending"]
    feed.short, feed.medium = 4.0, 3.0
    assert feed_for(risk, feed, 0.1) == ["crisis"]  # escalation: no dwell


def test_no_calming_down_while_short_vol_is_at_crisis_level() -> None:
    risk, feed, _records = calm_manager()
    feed.trend, feed.buy_rate, feed.sell_rate = 9.0, 4.0, 1.0
    feed_for(risk, feed, 40.0)
    assert risk.regime is Regime.TRENDING
    feed.trend, feed.short, feed.medium = 0.0, 4.0, 1.0  # trend gone, short vol spiking, medium low
    assert set(feed_for(risk, feed, 30.0)) == {"trending"}
    feed.short = 1.0
    assert feed_for(risk, feed, 0.1) == ["calm"]


def test_transition_records_serialise_and_explain() -> None:
    risk, feed, records = calm_manager()
    feed.short, feed.medium = 4.0, 3.0
    risk.on_market(feed.step())
    record = transitions(records)[-1]
    assert record.to_state is Regime.CRISIS and record.rule == "crisis.enter"
    assert (
        record.instrument == SPOT_BTC.key and record.ts == feed.ts and record.seq == len(transitions(records))
    )
    metrics = {(r.metric, r.op, r.threshold) for r in record.reasons}
    assert metrics == {("short_ratio", ">=", 3.0), ("medium_ratio", ">=", 2.2)}
    assert record.signals["sigma_short_bps"] is not None and math.isclose(
        record.signals["sigma_short_bps"], 4.0, rel_tol=1e-6
    )
    assert record.signals["baseline_bps"] == 1.0 and record.signals["short_ratio"] == 4.0
    assert "crisis.enter: short_ratio 4 >= 3 x baseline vol" in record.text()
    payload = to_payload(record)
    assert payload["type"] == record_type(record) == "regime_transition"
    # through JSON (what the journal stores) and back, with or without the tag in the payload
    text = msgspec.json.encode(payload)
    assert from_payload(text) == record
    untagged = {k: v for k, v in msgspec.json.decode(text).items() if k != "type"}
    assert from_payload(untagged, "regime_transition") == record
    # the decision names the regime's reasons
    assert any("crisis.enter" in line for line in risk.decision.reasons)
    status = risk.status()
    assert status["regime"] == "crisis" and status["last_transition"]["rule"] == "crisis.enter"


def test_multi_horizon_rules_shape_the_adjustments() -> None:
    risk, feed, _ = calm_manager(base_levels=2)
    adj = risk.decision.adjustments
    assert (adj.spread_mult, adj.size_mult, adj.levels) == (1.0, 1.0, 2)
    # short vol up (2x medium): wider, gain 1 -> x2
    feed.short, feed.medium = 1.6, 0.8
    adj = risk.on_market(feed.step(1.0)).adjustments
    assert adj.spread_mult == 2.0 and adj.size_mult == 1.0
    # medium vol up vs the long reference (2x): smaller size, one more level
    feed.short, feed.medium, feed.long = 1.6, 1.6, 0.8
    decision = risk.on_market(feed.step(1.0))
    assert decision.adjustments.size_mult == 0.5 and decision.adjustments.levels == 3
    assert any("medium vol 2.00x long" in note for note in decision.reasons)
    feed.short, feed.medium, feed.long = 0.8, 0.8, 0.8
    assert risk.on_market(feed.step(1.0)).adjustments == risk.on_market(feed.step(1.0)).adjustments
    assert risk.decision.adjustments.size_mult == 1.0
    # long trend against inventory -> reduce-only (any state)
    risk.on_position(50_000, None, feed.ts)  # long
    feed.trend = -4.0
    assert risk.on_market(feed.step(1.0)).adjustments.reduce_only
    feed.trend = 4.0
    assert not risk.on_market(feed.step(1.0)).adjustments.reduce_only


def test_trending_profile_exits_inventory_against_the_trend() -> None:
    risk, feed, _ = calm_manager()
    feed.trend, feed.buy_rate, feed.sell_rate = -9.0, 1.0, 4.0
    decision = risk.on_market(feed.step())
    assert decision.regime is Regime.TRENDING
    profile = RiskSettings().profiles.trending
    adj = decision.adjustments
    assert adj.size_mult == profile.size_mult and adj.gamma_mult == profile.gamma_mult
    assert not adj.allow_bid and adj.allow_ask and not adj.reduce_only  # flat: no buying into a fall
    risk.on_position(30_000, None, feed.ts)  # long against the down trend: exit
    adj = risk.on_market(feed.step()).adjustments
    assert adj.reduce_only
    risk.on_position(-30_000, None, feed.ts)  # short, with the trend: bids may cover
    adj = risk.on_market(feed.step()).adjustments
    assert adj.allow_bid and adj.allow_ask and not adj.reduce_only


def test_disabled_manager_is_inert_but_kill_still_halts() -> None:
    risk = RiskManager(RiskSettings(enabled=False), SPOT_BTC)
    feed = StateFeed()
    feed.short, feed.medium = 9.0, 9.0
    decision = risk.on_market(feed.step())
    assert decision.regime is Regime.CALM and not decision.pull_all
    huge = NewOrder(
        client_id="x", instrument=SPOT_BTC.key, side=Side.BUY, size=10**12, price=6_000_000, ts=feed.ts
    )
    assert risk.check(huge) is None  # no limits either
    record = risk.kill("test", "cli", feed.ts)
    assert isinstance(record, KillRecord) and risk.decision.pull_all


# ---- long-horizon vol estimator against closed forms -----------------------------------


def _long_vol(mids: list[float]) -> float:
    tracker = SignalTracker(RegimeSettings(), TriggerSettings())
    feed = StateFeed()
    for mid in mids:
        feed.mid = mid
        tracker.update(feed.step(1.0), feed.ts)
    return tracker.long_vol


def test_long_vol_of_a_random_walk_is_its_sigma() -> None:
    """Brownian log-mid with sigma = 2 bps/sqrt(s): lagged-return vol estimates 2 (within
    sampling error of ~20 effective independent 30 s returns per 300 s window)."""
    rng = random.Random(11)
    sigma = 2e-4
    log_mid = math.log(6_000_000.0)
    mids = []
    for _ in range(3000):
        log_mid += rng.gauss(0.0, sigma)
        mids.append(math.exp(log_mid))
    assert abs(_long_vol(mids) / 2.0 - 1.0) < 0.35


def test_long_vol_leaves_a_steady_drift_out_and_sees_slow_swings() -> None:
    drift = [6_000_000.0 * math.exp(-1e-4 * t) for t in range(1200)]  # 1 bp/s steady fall
    assert _long_vol(drift) < 0.05
    # a 50 bp swing with a 420 s period: quiet second to second, large over 30 s
    swing = [6_000_000.0 * (1 + 0.005 * math.sin(2 * math.pi * t / 420.0)) for t in range(1800)]
    one_second = 0.005 * 2 * math.pi / 420.0 * 1e4 / math.sqrt(2)  # rms speed, bps/s
    assert _long_vol(swing) > 2.5 * one_second
