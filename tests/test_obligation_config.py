"""Obligation configuration: config/abc.toml carries the deal's obligations and funds them; bad
obligation settings, per-engine balances and offline scenarios are refused with one message that
names the field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest

from bot.config import ConfigError, Settings, VenueName, load_settings
from bot.hedge.deal import load_deal

REPO = Path(__file__).resolve().parents[1]
ABC = REPO / "config" / "abc.toml"
DEAL = REPO / "config" / "deals" / "abc.toml"


def exchange_of(venue: str) -> str:
    return venue.split("_", 1)[0]


def test_abc_config_carries_the_deals_obligations() -> None:
    settings = load_settings(ABC)
    deal = load_deal(DEAL, dt.date(2026, 12, 1))
    cex = {c.exchange: c for c in deal.cex}
    configured = {}
    for name, obligation in settings.obligations.engines.items():
        engine = settings.engines[name]
        configured[exchange_of(engine.venue)] = (engine, obligation)
        c = cex[exchange_of(engine.venue)]
        assert obligation.band_pct == c.band_pct
        assert obligation.bid_depth == c.bid_size and obligation.ask_depth == c.ask_size
        assert obligation.max_spread_pct == Decimal("0.1")
        assert engine.symbol == f"{deal.token}{deal.quote}"
    assert {"binance", "bybit"} <= set(configured)
    # every deal venue mmbot can trade has its engine (Bitget joins when its venue lands)
    venues = {exchange_of(v) for v in get_args(VenueName)}
    assert {c for c in cex if c in venues} <= set(configured)
    # every quoting engine has an obligation, and every engine hedges on the ABC perpetual
    assert set(settings.engines) == set(settings.obligations.engines)
    assert all(
        e.hedge is not None and e.hedge.key == "binance_usdm:ABCUSDT" for e in settings.engines.values()
    )
    assert settings.offline.scenario == "abc_launch"


def test_abc_balances_fund_each_obligation_with_its_buffer() -> None:
    """At the token's 1 USDT start price, each account holds the obligation plus the depth ladder's
    buffer plus the reserve, on both sides, with room for the strategy's own quotes."""
    settings = load_settings(ABC)
    for name, obligation in settings.obligations.engines.items():
        balances = settings.engines[name].starting_balances
        assert balances is not None
        keep = 1 - obligation.reserve_pct / 100
        # asks sit up to 2 % above mid: 1 ABC is worth at most ~1 USDT of depth at 1.00
        need = obligation.ask_depth * obligation.target_factor
        assert balances["ABC"] * keep >= need * Decimal("1.1"), name
        assert balances["USDT"] * keep >= obligation.bid_depth * obligation.target_factor * Decimal("1.1"), (
            name
        )
        # the risk limits hold a fully placed ladder (also checked at load time)
        limits = settings.risk.limits
        assert limits.max_notional_per_side >= need and limits.max_position >= need


def base(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "engines": {"abc": {"venue": "binance_spot", "symbol": "ABCUSDT"}},
        "obligations": {
            "engines": {
                "abc": {"max_spread_pct": "0.1", "band_pct": "2", "bid_depth": "1000", "ask_depth": "1000"}
            }
        },
    }
    for key, value in extra.items():
        data[key] = value
    return data


def load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return load_settings(path)


def test_obligation_for_an_unknown_engine(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"obligations\.engines\.nope: no engine named 'nope'"):
        load(
            tmp_path,
            """
[engines.abc]
venue = "binance_spot"
symbol = "ABCUSDT"
[obligations.engines.nope]
max_spread_pct = "0.1"
band_pct = "2"
bid_depth = "1000"
ask_depth = "1000"
""",
        )


def test_obligation_beyond_the_risk_limits(tmp_path: Path) -> None:
    text = """
[engines.abc]
venue = "binance_spot"
symbol = "ABCUSDT"
[obligations.engines.abc]
max_spread_pct = "0.1"
band_pct = "2"
bid_depth = "100000"
ask_depth = "1000"
"""
    with pytest.raises(
        ConfigError,
        match=r"bid_depth: 100000 plus the 20 % buffer = 120000 exceeds "
        r"risk\.limits\.max_notional_per_side 3000",
    ):
        load(tmp_path, text)
    with pytest.raises(
        ConfigError, match=r"depth_levels: 8 levels make orders of 15000, above risk\.limits\.max_order 500"
    ):
        load(
            tmp_path,
            text
            + "[risk.limits]\nmax_notional_per_side = '200000'\nmax_position = '200000'\nhalt_position = '300000'\n",
        )


def obligation(**overrides: str) -> dict[str, Any]:
    terms = {"max_spread_pct": "0.1", "band_pct": "2", "bid_depth": "1000", "ask_depth": "1000", **overrides}
    return base(obligations={"engines": {"abc": terms}})


def test_obligation_field_checks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"depth_buffer_pct 10 is below 100 / \(depth_levels - 1\) = 14\.3"):
        Settings(**obligation(depth_buffer_pct="10"))
    with pytest.raises(ValueError, match="max_spread_pct"):
        Settings(**obligation(max_spread_pct="0"))
    with pytest.raises(ValueError, match="depth_from_pct must be below depth_to_pct"):
        Settings(**obligation(depth_from_pct="50", depth_to_pct="40"))
    with pytest.raises(ConfigError, match=r"deal_start needs a time zone"):
        load(tmp_path, "[obligations]\ndeal_start = 2026-12-01T00:00:00\n")
    assert Settings(**obligation()).obligations.engines["abc"].bid_depth == Decimal(1000)


def test_engine_balances_and_offline_scenario(tmp_path: Path) -> None:
    engines = '[engines.abc]\nvenue = "binance_spot"\nsymbol = "ABCUSDT"\n'
    settings = load(tmp_path, engines + 'starting_balances = { USDT = "500", ABC = "7" }\n')
    assert settings.paper_for("abc").starting_balances == {"USDT": Decimal(500), "ABC": Decimal(7)}
    assert settings.paper_for("other") == settings.paper
    with pytest.raises(ConfigError, match=r"engines\.abc\.starting_balances.*upper-case"):
        load(tmp_path, engines + 'starting_balances = { usdt = "500" }\n')
    with pytest.raises(ConfigError, match=r"offline.*scenario 'nope' is unknown; scenarios: .*abc_launch"):
        load(tmp_path, engines + '[offline]\nscenario = "nope"\n')
    with pytest.raises(ConfigError, match=r"offline.*either replay files or a scenario"):
        load(tmp_path, engines + '[offline]\nscenario = "abc_calm"\nreplay = ["x.gz"]\n')
