"""`mmbot sweep` specs and the pieces that need no replay: bad specs exit 2 with one message
naming the field; grid and random points; the objective's ordering property; the Pareto
front on a hand-checked set; the example spec under config/sweeps/ is valid."""

from __future__ import annotations

import itertools
import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cli import main
from bot.sweep.objectives import get_objective, pnl_per_risk
from bot.sweep.results import PointResult, mark_pareto
from bot.sweep.space import grid_points, random_points
from bot.sweep.spec import Choice, Range, load_spec
from tests.sweep_helpers import DAY, REPO, write_spec

GOOD = f"""
[sweep]
objective = "pnl"
[base]
strategy = "as_default"
[[recordings]]
name = "day"
files = ["{DAY}"]
[params]
"strategy.avellaneda_stoikov.gamma" = [1e-7, 1e-5]
"""


def run(tmp_path: Path, body: str, *extra: str) -> int:
    spec = write_spec(tmp_path / "spec.toml", body)
    return main(["sweep", str(spec), "--dry-run", *extra])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('"strategy.avellaneda_stoikov.gamma"', '"strategy.avellaneda_stoikov.gama"'),
            "params.strategy.avellaneda_stoikov.gama: unknown parameter: no key 'avellaneda_stoikov.gama'",
        ),
        (
            ('"strategy.avellaneda_stoikov.gamma"', '"config.risk.no_such_key"'),
            "params.config.risk.no_such_key: unknown parameter: no key 'risk.no_such_key'",
        ),
        (('"strategy.avellaneda_stoikov.gamma"', '"gamma"'), "params.gamma: unknown parameter: names are"),
        (
            ('"strategy.avellaneda_stoikov.gamma"', '"strategy.avellaneda_stoikov"'),
            "params.strategy.avellaneda_stoikov: is a table, not a value",
        ),
        (
            ('"strategy.avellaneda_stoikov.gamma"', '"strategy.avellaneda_stoikov.gamma.x"'),
            "no key 'avellaneda_stoikov.gamma.x' (keys here: none: not a table)",
        ),
        (("[1e-7, 1e-5]", "[]"), "params.strategy.avellaneda_stoikov.gamma: empty list of values"),
        (
            ("[1e-7, 1e-5]", "1e-7"),
            "params.strategy.avellaneda_stoikov.gamma: expected a list of values or a range",
        ),
        (("[1e-7, 1e-5]", "{ low = 1e-5, high = 1e-7 }"), "low (1e-05) must be below high"),
        (
            ("[1e-7, 1e-5]", "{ low = 1e-7, high = 1e-5 }"),
            "a grid needs a list of values or a range with step or num",
        ),
        (("binance_spot_btcusdt_20240808.gz", "no_such_day.gz"), "recordings[0].files[0]:"),
        (
            ('objective = "pnl"', 'objective = "pnl_per_moon"'),
            "sweep.objective: unknown objective 'pnl_per_moon'",
        ),
        (('objective = "pnl"', 'method = "random"'), "sweep.trials: required for method 'random'"),
        (('objective = "pnl"', 'method = "anneal"'), "sweep.method:"),
        (("[sweep]", "[sweeps]"), "sweeps: unknown key"),
        (("[1e-7, 1e-5]", "[1e-7, -1.0]"), "avellaneda_stoikov.gamma: Input should be greater than 0"),
        (('strategy = "as_default"', 'strategy = "no_such_profile"'), "strategy 'no_such_profile'"),
    ],
)
def test_bad_specs_exit_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], message: str
) -> None:
    body = GOOD.replace(*change)
    assert body != GOOD
    assert run(tmp_path, body) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert str(tmp_path / "spec.toml") in err or "--" in err
    assert err.count("mmbot: error:") == 1


def test_no_parameters_and_no_recordings_are_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, GOOD.split("[params]")[0]) == 2
    assert "params: no parameter to vary" in capsys.readouterr().err
    body = GOOD.replace(f'[[recordings]]\nname = "day"\nfiles = ["{DAY}"]\n', "")
    assert run(tmp_path, body) == 2
    assert "recordings: required key is missing" in capsys.readouterr().err
    assert run(tmp_path, GOOD.replace(f'files = ["{DAY}"]', 'synthetic = "nosuch"')) == 2
    assert "recordings[0].synthetic:" in capsys.readouterr().err
    assert run(tmp_path, GOOD + '[fixed]\n"strategy.avellaneda_stoikov.gamma" = 1e-6\n') == 2
    assert "fixed.strategy.avellaneda_stoikov.gamma: also in [params]" in capsys.readouterr().err


def test_environment_override_of_a_swept_key_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMBOT_PAPER__SEED", "3")
    assert (
        run(
            tmp_path,
            GOOD.replace("strategy.avellaneda_stoikov.gamma", "config.paper.seed").replace(
                "1e-7, 1e-5", "1, 2"
            ),
        )
        == 2
    )
    assert (
        "config.paper.seed: the environment variable MMBOT_PAPER__SEED overrides" in capsys.readouterr().err
    )


def test_out_dir_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = write_spec(tmp_path / "spec.toml", GOOD)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("mine")
    assert main(["sweep", str(spec), "--out", str(busy)]) == 2
    assert "already exists and is not empty; choose another --out" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "no sweep to resume here" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--workers", "0"]) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err
    # nobody listens there: refused at once (Ray itself would retry for minutes), nothing created
    assert main(["sweep", str(spec), "--out", str(tmp_path / "r"), "--ray", "127.0.0.1:1"]) == 2
    assert "--ray 127.0.0.1:1: " in capsys.readouterr().err and not (tmp_path / "r").exists()
    # a sweep directory whose spec has changed cannot be resumed
    started = tmp_path / "started"
    started.mkdir()
    before = tomllib.loads(GOOD.replace('objective = "pnl"', 'objective = "sharpe"'))
    (started / "sweep.json").write_text(json.dumps({"spec": before, "fingerprint": ""}))
    assert main(["sweep", str(spec), "--out", str(started), "--resume"]) == 2
    assert "the spec changed since this sweep started (in sweep)" in capsys.readouterr().err
    (started / "sweep.json").write_text(json.dumps({"spec": tomllib.loads(GOOD), "fingerprint": "0" * 64}))
    assert main(["sweep", str(spec), "--out", str(started), "--resume"]) == 2
    assert "the base config, strategy profile or recordings changed" in capsys.readouterr().err


def test_dry_run_lists_the_grid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = GOOD.replace(
        "[params]\n", '[params]\n"strategy.ladder.spacing_ticks" = { low = 10, high = 50, step = 20 }\n'
    )
    assert run(tmp_path, body) == 0
    out = capsys.readouterr().out
    assert "grid, 6 points x 1 recordings" in out
    assert "strategy.ladder.spacing_ticks=50, strategy.avellaneda_stoikov.gamma=1e-05" in out


def test_example_spec_is_valid() -> None:
    spec = load_spec(REPO / "config" / "sweeps" / "as_gamma_spacing.toml")
    assert spec.method == "grid" and len(grid_points(spec.params)) == 9
    assert all(path.is_file() for recording in spec.recordings for path in recording.files)
    assert main(["sweep", str(spec.path), "--dry-run"]) == 0


def test_grid_and_random_points() -> None:
    params = {
        "a": Choice((1, 2)),
        "b": Range(low=10, high=30, integer=True, step=10),
        "c": Range(low=1e-6, high=1e-2, integer=False, log=True, num=5),
    }
    points = grid_points(params)
    assert len(points) == 2 * 3 * 5
    assert points[0] == {"a": 1, "b": 10, "c": 1e-6} and points[-1] == {"a": 2, "b": 30, "c": 0.01}
    assert [p["c"] for p in points[:5]] == [1e-6, 1e-5, 1e-4, 1e-3, 1e-2]
    draws = random_points(params | {"d": Range(low=0.5, high=1.5, integer=False)}, 200, seed=7)
    assert draws == random_points(params | {"d": Range(low=0.5, high=1.5, integer=False)}, 200, seed=7)
    assert draws != random_points(params | {"d": Range(low=0.5, high=1.5, integer=False)}, 200, seed=8)
    assert {p["a"] for p in draws} == {1, 2} and {p["b"] for p in draws} == {10, 20, 30}
    assert all(1e-6 <= p["c"] <= 1e-2 and 0.5 <= p["d"] <= 1.5 for p in draws)
    # log-uniform: about as many draws in each decade
    decades = [sum(1 for p in draws if 10**k <= p["c"] < 10 ** (k + 1)) for k in range(-6, -2)]
    assert min(decades) > 25


@given(st.floats(-1e4, 1e4), st.floats(0.01, 1e4), st.floats(0, 1e3), st.floats(0, 1e3))
def test_pnl_per_risk_never_ranks_a_dominated_point_higher(
    pnl: float, risk: float, less: float, more: float
) -> None:
    """If p has at least q's PnL and at most q's risk, p scores at least as well."""
    p = pnl_per_risk(pnl + less, risk)
    q = pnl_per_risk(pnl, risk + more)
    assert p is not None and q is not None and p >= q


def test_objectives_read_the_row() -> None:
    row = {"pnl_total": -2.0, "inventory_risk": 4.0, "summary": {"fills": 7}, "markout_pnl": {"10s": 1.5}}
    assert get_objective("pnl_per_inventory_risk")(row) == -8.0
    assert get_objective("pnl_per_inventory_risk")({**row, "pnl_total": 2.0}) == 0.5
    assert get_objective("pnl_per_inventory_risk")({**row, "inventory_risk": 0.0}) is None
    assert get_objective("markout_pnl_10s")(row) == 1.5
    assert get_objective("field:summary.fills")(row) == 7.0
    assert get_objective("field:summary.obligations.uptime")(row) is None
    assert get_objective("max_drawdown").direction == "minimize"


def test_pareto_front() -> None:
    coords = {0: (10.0, 5.0), 1: (8.0, 3.0), 2: (9.0, 6.0), 3: (3.0, 1.0), 4: (10.0, 7.0), 5: (2.0, 1.0)}
    points = [PointResult(i, {}, None, pnl, risk) for i, (pnl, risk) in coords.items()]
    points.append(PointResult(6, {}, None, None, 1.0))
    mark_pareto(points)
    assert {p.point for p in points if p.pareto} == {0, 1, 3}
    # brute force: on the front exactly when nothing is at least as good on both, better on one
    for p, q in itertools.permutations(points[:6], 2):
        if (
            q.pnl >= p.pnl
            and q.inventory_risk <= p.inventory_risk
            and (q.pnl, q.inventory_risk) != (p.pnl, p.inventory_risk)
        ):
            assert not p.pareto
