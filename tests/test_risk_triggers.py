"""Each pull trigger alone halts in the event that shows it, names its rule and numbers, and
the machine comes back through CRISIS after the cooldown; kill switch, drawdown latch, restore."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from bot.core.events import Side
from bot.core.orders import CancelOrder, NewOrder
from bot.risk import (
    KillRecord,
    Regime,
    RegimeTransition,
    RiskManager,
    RiskSettings,
    Trigger,
    from_payload,
    to_payload,
)
from bot.risk.settings import LimitSettings, TriggerSettings
from tests.risk_helpers import NS, StateFeed, calm_manager, feed_for
from tests.specs import SPOT_BTC

MID = 6_000_000  # ticks = 60,000 USDT
LOT_VALUE = Decimal("0.01") * Decimal("0.00000001") * MID  # USDT per lot at the mid


def last_transition(records: list[object]) -> RegimeTransition:
    return [r for r in records if isinstance(r, RegimeTransition)][-1]


def order(size: int = 1000, side: Side = Side.BUY, ts: int = 0, cid: str = "o1") -> NewOrder:
    return NewOrder(client_id=cid, instrument=SPOT_BTC.key, side=side, size=size, price=MID - 10, ts=ts)


def test_depth_collapse_halts_in_the_same_event_without_smoothing() -> None:
    risk, feed, records = calm_manager(RiskSettings(triggers=TriggerSettings(depth_smoothing_s=0.0)))
    feed.depth_ask = 100_000  # 10 % of the baseline on one side only
    decision = risk.on_market(feed.step())
    assert decision.regime is Regime.HALTED and decision.pull_all
    record = last_transition(records)
    assert record.rule == "trigger.depth_collapse" and record.ts == feed.ts
    [reason] = record.reasons
    assert (reason.metric, reason.op, reason.threshold) == ("depth_ratio_ask", "<", 0.15)
    assert reason.observed == pytest.approx(0.1, abs=0.01)


def test_depth_collapse_with_default_smoothing_fires_when_the_smoothed_depth_crosses() -> None:
    """Depth drops to 5 %: the 0.5 s EWMA (weight 1 - exp(-0.1/0.5) per 100 ms event) reaches
    0.15 of the baseline after n = ln(0.10/0.95) / ln(exp(-0.2)) = 11.3 events."""
    risk, feed, records = calm_manager()
    feed.depth_bid = feed.depth_ask = 50_000
    regimes = feed_for(risk, feed, 2.0)
    crossing = math.ceil(math.log(0.10 / 0.95) / -0.2)  # 12th event
    assert regimes.index("halted") + 1 in (crossing, crossing + 1)  # the baseline drifts a hair
    assert last_transition(records).rule == "trigger.depth_collapse"


def test_depth_trigger_clears_with_hysteresis_and_returns_through_crisis_after_cooldown() -> None:
    risk, feed, records = calm_manager(RiskSettings(triggers=TriggerSettings(depth_smoothing_s=0.0)))
    feed.depth_bid = 100_000
    risk.on_market(feed.step())
    feed.depth_bid = 250_000  # above collapse (0.15) but below clear (0.3) of a baseline that
    # moves with a 120 s time constant: 0.25 / (0.25 + 0.75 exp(-10/120)) = 0.27 after 10 s
    assert set(feed_for(risk, feed, 10.0)) == {"halted"}
    assert "depth_collapse" in risk.status()["active_triggers"]
    feed.depth_bid = 1_000_000
    risk.on_market(feed.step())
    cleared_at = feed.ts
    assert risk.status()["active_triggers"] == {}
    regimes = feed_for(risk, feed, 31.0)
    resumed = cleared_at + (regimes.index("crisis") + 1) * feed.step_ns
    assert resumed - cleared_at >= 30 * NS  # the cooldown
    record = last_transition(records)
    assert (record.from_state, record.to_state, record.rule) == (Regime.HALTED, Regime.CRISIS, "halt.cleared")
    assert record.reasons[0].rule == "clear.depth_collapse" and record.reasons[0].threshold == 0.3


def test_repeated_halts_double_the_cooldown() -> None:
    risk, feed, _ = calm_manager(RiskSettings(triggers=TriggerSettings(depth_smoothing_s=0.0)))
    waits = []
    for _ in range(3):
        feed.depth_bid = 10_000
        risk.on_market(feed.step())
        assert risk.regime is Regime.HALTED
        feed.depth_bid = 1_000_000
        regimes = feed_for(risk, feed, 200.0)
        waits.append(regimes.index("crisis"))
        feed.depth_bid = 1_000_000
    assert waits[1] >= 2 * waits[0] - 2 and waits[2] >= 2 * waits[1] - 2


def test_price_jump_halts_against_a_sigma_from_before_the_jump() -> None:
    risk, feed, records = calm_manager()
    # 0.8 bps/sqrt(s), k = 8: threshold 6.4 bps over the 1 s dt floor; jump 10 bps
    feed.mid *= 1.001
    decision = risk.on_market(feed.step())
    assert decision.regime is Regime.HALTED
    [reason] = last_transition(records).reasons
    assert reason.rule == "trigger.price_jump" and reason.op == ">"
    assert reason.observed == pytest.approx(10.0, rel=0.01) and reason.threshold == pytest.approx(
        6.4, rel=1e-3
    )
    # the estimators' sigma absorbs the jump (contaminated); a second jump is still judged
    # against the pre-jump 0.8, not the inflated value
    feed.medium = feed.short = 6.0
    feed_for(risk, feed, 1.0)
    assert risk.signals.jump_sigma == pytest.approx(0.8, rel=1e-6)
    feed.mid *= 1.001
    risk.on_market(feed.step())
    assert risk.signals.jump is not None and risk.signals.jump.sigma_bps == pytest.approx(0.8, rel=1e-6)


def test_a_slide_is_caught_against_the_mid_a_second_earlier() -> None:
    risk, feed, records = calm_manager()
    regimes = []
    for _ in range(10):  # 10 steps of 1 bp in 1 s: each below the 6.4 bp threshold
        feed.mid *= 1.0001
        regimes.append(risk.on_market(feed.step()).regime.value)
    assert "halted" in regimes
    assert "mid ~1 s earlier" in last_transition(records).reasons[0].note


def test_noise_does_not_trigger_a_jump() -> None:
    risk, feed, _ = calm_manager()
    import random

    rng = random.Random(5)
    for _ in range(6000):  # 10 minutes of 0.8 bps/sqrt(s) noise at 100 ms
        feed.mid *= 1 + rng.gauss(0, 0.8e-4 * 0.1**0.5)
        risk.on_market(feed.step())
    assert risk.regime is Regime.CALM


@pytest.mark.parametrize("flag", ["book_valid", "feed_fresh"])
def test_book_invalid_or_feed_stale_halts_and_recovers_after_the_feed_cooldown(flag: str) -> None:
    risk, feed, records = calm_manager()
    decision = risk.on_market(feed.step(), **{flag: False})
    assert decision.regime is Regime.HALTED
    expected = "trigger.book_invalid" if flag == "book_valid" else "trigger.feed_stale"
    assert last_transition(records).rule == expected
    assert set(feed_for(risk, feed, 3.0, **{flag: False})) == {"halted"}
    regimes = feed_for(risk, feed, 6.0)
    assert regimes.index("crisis") in range(49, 52)  # 5 s feed cooldown


def test_crossed_book_in_the_state_counts_as_invalid() -> None:
    risk, feed, records = calm_manager()
    feed.book_ok = False
    assert risk.on_market(feed.step()).regime is Regime.HALTED
    assert last_transition(records).rule == "trigger.book_invalid"


def test_inventory_beyond_the_halt_limit_halts_in_the_same_call() -> None:
    risk, feed, records = calm_manager()
    halt_lots = int(Decimal(4000) / LOT_VALUE)  # 4000 USDT = halt_position
    decision = risk.on_position(halt_lots + 1_000, Decimal(0), feed.ts)
    assert decision.regime is Regime.HALTED
    [reason] = last_transition(records).reasons
    assert reason.rule == "trigger.inventory" and reason.threshold == 4000.0 and reason.observed > 4000.0
    # back below the hard limit (2000 USDT): clears, cooldown, CRISIS
    risk.on_position(int(Decimal(1500) / LOT_VALUE), Decimal(0), feed.ts)
    assert "inventory" not in risk.status()["active_triggers"]
    regimes = feed_for(risk, feed, 31.0)
    assert regimes[-1] == "crisis" and regimes.count("halted") >= 299


def test_drawdown_latches_until_resume_and_is_journaled() -> None:
    settings = RiskSettings(limits=LimitSettings(max_drawdown=Decimal(100), daily_loss=Decimal(1000)))
    risk, feed, records = calm_manager(settings)
    risk.on_position(0, Decimal(50), feed.ts)
    risk.on_position(0, Decimal(-49), feed.ts)
    assert risk.regime is Regime.CALM  # drawdown 99 < 100
    decision = risk.on_position(0, Decimal(-50), feed.ts)
    assert decision.regime is Regime.HALTED
    kill = [r for r in records if isinstance(r, KillRecord)]
    assert len(kill) == 1 and kill[0].trigger == "drawdown" and kill[0].source == "risk"
    reason = last_transition(records).reasons[0]
    assert reason.rule == "trigger.drawdown" and reason.observed == 100.0 and reason.threshold == 100.0
    risk.on_position(0, Decimal(80), feed.ts)  # equity recovers: still latched
    assert set(feed_for(risk, feed, 60.0)) == {"halted"}
    risk.resume("looked at it", "cli", feed.ts)
    assert risk.regime is Regime.CRISIS
    assert risk.limits.drawdown() == 0  # the peak restarts from the current equity


def test_kill_halts_in_the_same_call_vetoes_orders_and_survives_a_restart() -> None:
    journal: list[dict[str, object]] = []
    risk, feed, records = calm_manager()
    assert risk.check(order(ts=feed.ts)) is None
    record = risk.kill("operator said so", "signal", feed.ts)
    journal.extend(to_payload(r) for r in records if isinstance(r, KillRecord))
    assert risk.regime is Regime.HALTED and risk.decision.pull_all and risk.killed
    assert last_transition(records).rule == "trigger.manual_kill"
    assert record.action == "kill" and record.source == "signal" and record.reason == "operator said so"
    veto = risk.check(order(ts=feed.ts, cid="o2"))
    assert veto is not None and veto.rule == "halted"
    assert risk.check(CancelOrder(client_id="o1", instrument=SPOT_BTC.key, ts=feed.ts)) is None
    assert set(feed_for(risk, feed, 120.0)) == {"halted"}  # a healthy market does not undo a kill

    # restart: a fresh manager restored from the journaled records stays HALTED after warm-up
    restarted = RiskManager(RiskSettings(), SPOT_BTC)
    restarted.restore(from_payload(p) for p in journal)
    feed2 = StateFeed(start_ns=feed.ts)
    assert set(feed_for(restarted, feed2, 60.0)) == {"halted"}
    assert restarted.killed and "manual_kill" in restarted.status()["active_triggers"]
    # resume: back through CRISIS at once (no cooldown for a manual resume)
    resumed = restarted.resume("all clear", "http", feed2.ts)
    assert resumed.action == "resume" and restarted.regime is Regime.CRISIS
    # and a restart after the resume is not halted by the old kill
    again = RiskManager(RiskSettings(), SPOT_BTC)
    again.restore([*(from_payload(p) for p in journal), resumed])
    assert not again.killed


def test_kill_then_resume_restore_order_matters() -> None:
    risk = RiskManager(RiskSettings(), SPOT_BTC)
    kill = KillRecord(ts=1, action="kill", reason="a", source="cli")
    resume = KillRecord(ts=2, action="resume", reason="b", source="cli")
    risk.restore([kill, resume, kill])
    assert risk.killed
    risk = RiskManager(RiskSettings(), SPOT_BTC)
    risk.restore([kill, resume])
    assert not risk.killed and Trigger.WARMUP in risk.board.active
