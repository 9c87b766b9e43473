"""The synthetic regime scenarios (bot.emulator.scenarios) streamed through the real engine,
estimators and risk manager: each phase drives the machine into its state within a bounded
time / number of events, without flapping; in the crash (default settings) the
depth-collapse trigger halts before the price has moved 1 % and the machine comes back
through CRISIS after the recovery and the cooldown.

The regime phases run with the thresholds they were designed around (``ABSOLUTE``: a
baseline fixed at 1 bps/sqrt(s), crisis at 3.0 / 2.2, ranging at 2.0, trend z 7 with flow
0.4). The defaults are calibrated on real BTCUSDT recordings instead, and by real standards
these phases are extreme -- the synthetic "trend" falls 1 bp a second (36 % an hour) with a
realized vol twice BTC's normal, which the defaults call CRISIS: tests/test_regimes_real.py
holds the defaults to real data."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.core.instrument import InstrumentSpec
from bot.risk import Regime, RegimeTransition
from tests.risk_helpers import ABSOLUTE, NS, SPOT_ETH, ScenarioRun, run_scenario
from tests.specs import SPOT_BTC

EXPECTED = {"calm": "calm", "ranging": "ranging", "trend": "trending", "crisis": "crisis"}


@pytest.fixture(scope="module")
def regimes_run() -> ScenarioRun:
    return run_scenario("regimes", seed=1, settings=ABSOLUTE)


def _entry(run: ScenarioRun, phase: str, state: str) -> tuple[float, int]:
    """(seconds, events) from the start of ``phase`` until the machine is in ``state``."""
    indices = run.phase_indices(phase)
    first = run.first(indices, state)
    assert first is not None, f"{state} never reached in phase {phase}"
    return (run.ts[first] - run.ts[indices[0]]) / NS, first - indices[0]


def test_regimes_scenario_each_phase_reaches_its_state(regimes_run: ScenarioRun) -> None:
    run = regimes_run
    bounds_s = {"calm": 100.0, "ranging": 120.0, "trend": 240.0, "crisis": 240.0}
    for phase, state in EXPECTED.items():
        seconds, events = _entry(run, phase, state)
        assert seconds <= bounds_s[phase], (phase, seconds)
        assert events <= 50 * bounds_s[phase], (phase, events)  # the stream has ~45 events/s


def test_regimes_scenario_holds_each_state_without_flapping(regimes_run: ScenarioRun) -> None:
    run = regimes_run
    calm = run.phase_indices("calm")
    warm = run.first(calm, "calm")
    assert warm is not None and run.share(range(warm, calm[-1] + 1), {"calm"}) == 1.0
    ranging = run.phase_indices("ranging")
    assert run.share(ranging, {"ranging"}) >= 0.85
    assert run.share(ranging, {"crisis", "halted"}) == 0.0
    trend = run.phase_indices("trend")
    entered = run.first(trend, "trending")
    assert entered is not None and run.share(range(entered, trend[-1] + 1), {"trending"}) == 1.0
    crisis = run.phase_indices("crisis")
    assert run.share(crisis, {"crisis", "halted"}) >= 0.9
    assert run.share(crisis, {"crisis"}) >= 0.3
    assert run.share(crisis, {"calm", "ranging"}) == 0.0
    # no flapping: few transitions over 36 minutes, and the calm/ranging/trend phases each
    # see at most two (the entry, and possibly one more)
    assert len(run.transitions) <= 12
    for phase in ("calm", "ranging", "trend"):
        indices = run.phase_indices(phase)
        lo, hi = run.ts[indices[0]], run.ts[indices[-1]]
        assert sum(lo <= t.ts <= hi for t in run.transitions) <= 2, phase


def test_regimes_scenario_transitions_explain_themselves(regimes_run: ScenarioRun) -> None:
    for record in regimes_run.transitions:
        assert record.reasons and record.rule
        assert record.signals["mid"] is not None
        if record.rule.endswith(".enter"):
            for reason in record.reasons:
                assert (
                    reason.metric
                    and reason.op
                    and reason.threshold is not None
                    and reason.observed is not None
                )


@pytest.mark.parametrize(("scenario", "seed"), [("calm", 2), ("ranging", 2), ("trend", 2), ("crisis", 2)])
def test_single_phase_scenarios_settle_in_their_state(scenario: str, seed: int) -> None:
    run = run_scenario(scenario, seed=seed, settings=ABSOLUTE)
    state = EXPECTED[scenario]
    seconds, _ = _entry(run, scenario, state)
    assert seconds <= 240.0
    indices = run.phase_indices(scenario)
    second_half = range(indices[len(indices) // 2], indices[-1] + 1)
    assert run.share(second_half, {state}) >= 0.8, run.share(second_half, {state})
    assert len(run.transitions) <= 4


@pytest.mark.parametrize(
    ("seed", "spec", "price"), [(1, SPOT_BTC, "60000"), (2, SPOT_BTC, "60000"), (1, SPOT_ETH, "3000")]
)
def test_crash_depth_collapse_halts_before_the_drop_and_recovers_through_crisis(
    seed: int, spec: InstrumentSpec, price: str
) -> None:
    """Same default thresholds for BTC at 60,000 and ETH at 3,000 (scale-free units)."""
    run = run_scenario("crash", seed=seed, spec=spec, start_price=Decimal(price))
    withdrawal = run.phase_indices("withdrawal")
    crash = run.phase_indices("crash")
    start_mid = run.mid[withdrawal[0]]
    halts = [t for t in run.transitions if t.to_state is Regime.HALTED and t.ts >= run.ts[withdrawal[0]]]
    halt = halts[0]
    assert halt.rule == "trigger.depth_collapse"
    halt_index = run.ts.index(halt.ts)
    assert halt.ts < run.ts[crash[0]]  # before the crash phase starts
    assert abs(run.mid[halt_index] / start_mid - 1.0) < 0.01
    one_pct = next(i for i in range(withdrawal[0], len(run.mid)) if abs(run.mid[i] / start_mid - 1) >= 0.01)
    assert run.ts[one_pct] - halt.ts >= 1 * NS  # at least a second of lead
    # HALTED through the whole drop
    assert run.share(crash, {"halted"}) == 1.0
    # back through CRISIS in the recovery, after the cooldown
    after = [t for t in run.transitions if t.ts > halt.ts]
    back = after[0]
    assert (back.from_state, back.to_state, back.rule) == (Regime.HALTED, Regime.CRISIS, "halt.cleared")
    assert back.ts > run.ts[crash[-1]]
    cooldown = next(r for r in back.reasons if r.rule == "halt.cooldown")
    assert cooldown.observed is not None and cooldown.observed >= 30.0
    cleared = {r.rule for r in back.reasons}
    assert "clear.depth_collapse" in cleared
    # quoting again and no further halt until the end of the scenario
    assert all(t.to_state is not Regime.HALTED for t in after)
    assert run.regime[-1] in ("calm", "ranging")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 4, 5, 6])
def test_regimes_and_crash_on_more_seeds(seed: int) -> None:
    run = run_scenario("regimes", seed=seed, settings=ABSOLUTE)
    for phase, state in EXPECTED.items():
        seconds, _ = _entry(run, phase, state)
        assert seconds <= 240.0, (phase, seconds)
    assert run.share(run.phase_indices("ranging"), {"crisis", "halted", "trending"}) <= 0.1
    assert len(run.transitions) <= 14
    crash = run_scenario("crash", seed=seed)
    first_halt = next(t for t in crash.transitions if t.to_state is Regime.HALTED and t.seq > 1)
    assert isinstance(first_halt, RegimeTransition) and first_halt.rule == "trigger.depth_collapse"
    assert first_halt.ts < crash.ts[crash.phase_indices("crash")[0]]
