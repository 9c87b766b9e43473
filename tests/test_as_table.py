"""The Avellaneda-Stoikov (2008) simulation table, reproduced.

Source: M. Avellaneda, S. Stoikov, "High-frequency trading in a limit order book",
Quantitative Finance 8(3), 2008, section 4 (s0 = 100, T = 1, sigma = 2, dt = 0.005,
q0 = 0, A = 140, k = 1.5, 1000 paths; gamma = 0.1, 0.01, 0.5). The paper's numbers
used here are those quoted in issue 4 (``bot.research.as_table.PAPER``).

Sampling error: the paper's figures come from 1000 paths too, so each carries the same
sampling error as ours; a difference is compared with the combined standard error
sqrt(2) * SE(ours), SE from our own paths (std/sqrt(n) for means, the kurtosis-aware
delta-method SE for standard deviations). "Within sampling error" = within 3 combined SEs.

What mmbot gets (default: full time-varying spread, fill distances measured from the
mid at the end of each step, seed 1, 1000 paths):

    gamma  strategy   spread  profit  std(profit)  std(final q)     paper
    0.1    inventory   1.29    63.44     6.53          2.88         62.94 / 5.89 / 2.80
    0.1    symmetric   1.29    67.18    13.13          8.58         67.21 / 13.43 / 8.66
    0.01   inventory   1.33    67.11     8.85          5.25         66.78 / 8.76 / 4.70
    0.01   symmetric   1.33    67.41    13.87          8.80         67.36 / 13.40 / 8.65
    0.5    inventory   1.15    47.42     5.80          1.91         33.92 / - / -
    0.5    symmetric   1.15    58.26    11.40          7.17

Ten of the twelve gamma 0.1 / 0.01 comparisons sit within 3 combined SEs. Two do not,
on every seed we tried (1-8): the gamma 0.1 inventory std(profit) -- 6.5 with the
time-varying spread (6.6 measuring fills at the start of the step), paper 5.89; only the
constant-spread reading gets near it (6.0), at the price of a low mean profit (62.2) and
a gamma = 0.5 profit of 21 -- and the gamma 0.01 inventory std(final q): 5.2-5.4 with
every reading (fill reference start/end, spread full/constant), paper 4.70. A 20,000-path
run gives about 6.46 and 5.27 (test_discrepancies_persist_with_many_paths). They are
asserted within 5 combined SEs and documented here rather than tuned away.

Independent reproductions (LIBRARY_NOTES) measure fill distances from the mid the quotes
were set at; with ``fill_reference="start"`` mmbot lands where they do: inventory ~64.8
(gamma 0.1) and ~68.4 (gamma 0.01), symmetric 68-69 -- tested below too. Measuring
from the end-of-step mid (adverse selection inside the step) is what brings the mean
profits to the paper's values.

gamma = 0.5: the paper's inventory mean profit 33.92 is not reproduced -- we get ~47-49
with the time-varying spread and ~21-24 with the constant (2/gamma) ln(1 + gamma/k)
spread, matching the independent reproductions (48-50 and ~24). With gamma = 0.5 the
skew gamma sigma^2 (T - t) = 2 (T - t) per share pushes the loaded side's quote through
the mid after a single fill, so profit depends strongly on how fills on the wrong side of
the mid are discretised (the per-step fill probability is capped at 1); the paper does
not say how it did this, and 33.92 lies between the two readings.
"""

from __future__ import annotations

import json
import math

import pytest

from bot import cli
from bot.research.as_table import PAPER, StrategyResult, StudyConfig, run_study

COMBINED = math.sqrt(2.0)  # paper and mmbot: independent 1000-path estimates
METRICS = (
    ("profit", "mean_profit", "se_mean_profit"),
    ("std_profit", "std_profit", "se_std_profit"),
    ("std_final_q", "std_final_q", "se_std_final_q"),
)
NOT_REPRODUCED = {(0.1, "inventory", "std_profit"), (0.01, "inventory", "std_final_q")}


def by_key(rows: list[StrategyResult]) -> dict[tuple[float, str], StrategyResult]:
    return {(row.gamma, row.strategy): row for row in rows}


@pytest.fixture(scope="module")
def table() -> dict[tuple[float, str], StrategyResult]:
    return by_key(run_study(StudyConfig()))


def z_score(row: StrategyResult, paper_name: str, attr: str, se_attr: str) -> float:
    paper = getattr(PAPER[(row.gamma, row.strategy)], paper_name)
    return float((getattr(row, attr) - paper) / (COMBINED * getattr(row, se_attr)))


def test_spread_column_is_exact(table: dict[tuple[float, str], StrategyResult]) -> None:
    for gamma, expected in ((0.1, 1.29), (0.01, 1.33), (0.5, 1.15)):
        for strategy in ("inventory", "symmetric"):
            assert round(table[(gamma, strategy)].spread, 2) == expected
    assert table[(0.1, "inventory")].spread == pytest.approx(1.2908, abs=5e-5)
    assert table[(0.01, "inventory")].spread == pytest.approx(1.3289, abs=5e-5)
    assert table[(0.5, "inventory")].spread == pytest.approx(1.1507, abs=5e-5)
    # the quoted spread also carries gamma sigma^2 (T - t): on average + gamma * 4 * 0.5025
    assert table[(0.5, "inventory")].mean_quoted_spread == pytest.approx(1.1507 + 0.5 * 4 * 0.5025, abs=1e-3)


@pytest.mark.parametrize("gamma", [0.1, 0.01])
@pytest.mark.parametrize("strategy", ["inventory", "symmetric"])
def test_matches_paper_within_sampling_error(
    table: dict[tuple[float, str], StrategyResult], gamma: float, strategy: str
) -> None:
    row = table[(gamma, strategy)]
    for paper_name, attr, se_attr in METRICS:
        z = z_score(row, paper_name, attr, se_attr)
        bound = 5.0 if (gamma, strategy, paper_name) in NOT_REPRODUCED else 3.0
        assert abs(z) <= bound, f"{gamma} {strategy} {attr}: {getattr(row, attr):.2f} is {z:+.1f} SE off"


@pytest.mark.parametrize("gamma", [0.1, 0.01, 0.5])
def test_inventory_strategy_has_lower_risk(
    table: dict[tuple[float, str], StrategyResult], gamma: float
) -> None:
    inventory, symmetric = table[(gamma, "inventory")], table[(gamma, "symmetric")]
    se_profit = math.hypot(inventory.se_std_profit, symmetric.se_std_profit)
    se_q = math.hypot(inventory.se_std_final_q, symmetric.se_std_final_q)
    assert inventory.std_profit < symmetric.std_profit - 5 * se_profit
    assert inventory.std_final_q < symmetric.std_final_q - 5 * se_q
    assert inventory.std_final_q < 0.7 * symmetric.std_final_q
    # both strategies end near flat on average
    for row in (inventory, symmetric):
        assert abs(row.mean_final_q) < 4 * row.se_mean_final_q + 0.1


def test_start_of_step_fills_land_where_independent_reproductions_do() -> None:
    rows = by_key(run_study(StudyConfig(fill_reference="start")))

    def near(row: StrategyResult, low: float, high: float) -> bool:
        se = 3 * row.se_mean_profit
        return low - se <= row.mean_profit <= high + se

    assert near(rows[(0.1, "inventory")], 64.0, 65.0)
    assert near(rows[(0.01, "inventory")], 68.4, 68.4)
    assert near(rows[(0.1, "symmetric")], 68.0, 69.0)
    assert near(rows[(0.01, "symmetric")], 68.0, 69.0)
    assert near(rows[(0.5, "inventory")], 48.0, 50.0)
    constant = by_key(run_study(StudyConfig(fill_reference="start", spread="constant", gammas=(0.5,))))
    assert near(constant[(0.5, "inventory")], 23.5, 24.5)


def test_gamma_half_paper_profit_is_not_reproduced(table: dict[tuple[float, str], StrategyResult]) -> None:
    """Documents the gamma = 0.5 gap (module docstring): every reading is far from 33.92."""
    readings = [table[(0.5, "inventory")]]
    for config in (
        StudyConfig(gammas=(0.5,), spread="full", fill_reference="start"),
        StudyConfig(gammas=(0.5,), spread="constant", fill_reference="end"),
        StudyConfig(gammas=(0.5,), spread="constant", fill_reference="start"),
        StudyConfig(gammas=(0.5,), price="normal"),
    ):
        readings.append(by_key(run_study(config))[(0.5, "inventory")])
    for row in readings:
        assert abs(row.mean_profit - 33.92) > 10 * COMBINED * row.se_mean_profit
    assert 45.0 < table[(0.5, "inventory")].mean_profit < 50.0  # default reading


def test_seeded_and_deterministic() -> None:
    a = run_study(StudyConfig(paths=50, seed=7, gammas=(0.1,)))
    b = run_study(StudyConfig(paths=50, seed=7, gammas=(0.1,)))
    c = run_study(StudyConfig(paths=50, seed=8, gammas=(0.1,)))
    assert a == b
    assert a != c


def test_discrepancies_persist_with_many_paths() -> None:
    """20,000 paths: our SE shrinks ~4.5x, the paper's stays; the two documented gaps remain."""
    rows = by_key(run_study(StudyConfig(paths=20_000, seed=3, gammas=(0.1, 0.01))))
    for (gamma, strategy), row in rows.items():
        for paper_name, attr, se_attr in METRICS:
            paper_se = getattr(row, se_attr) * math.sqrt(20_000 / 1000)
            z = (getattr(row, attr) - getattr(PAPER[(gamma, strategy)], paper_name)) / math.hypot(
                paper_se, getattr(row, se_attr)
            )
            if (gamma, strategy, paper_name) in NOT_REPRODUCED:
                assert z > 2.0
            else:
                assert abs(z) < 3.0, (gamma, strategy, attr, z)


def test_research_command(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["research", "as-table", "--paths", "100", "--seed", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["paths"] == 100 and len(out["rows"]) == 6
    expected = run_study(StudyConfig(paths=100, seed=3))
    assert out["rows"][0]["mean_profit"] == expected[0].mean_profit
    assert cli.main(["research", "as-table", "--paths", "100", "--gamma", "0.1"]) == 0
    text = capsys.readouterr().out
    assert "Avellaneda-Stoikov (2008)" in text and "62.94 / 5.89 / 2.80" in text
    assert cli.main(["research", "as-table", "--paths", "1"]) == 2
    assert "--paths must be between 2" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["research", "as-table", "--spread", "wide"])
    assert exit_info.value.code == 2
