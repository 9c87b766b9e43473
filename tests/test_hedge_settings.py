"""The ``[hedge]`` config section: defaults, per-engine overrides, validation; a hedger that
is configured off only reports."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.engine.assemble import build_engine, load_strategy
from bot.hedge.settings import HedgeSettings
from tests.test_hedging_pipeline import SPECS, real_events
from tests.trading_kit import FAST_AS, REPO, write_profile

HEDGED = """
[engines.btc]
venue = "binance_spot"
symbol = "BTCUSDT"
hedge = { venue = "binance_usdm", symbol = "BTCUSDT" }

[engines.eth]
venue = "binance_spot"
symbol = "ETHUSDT"
hedge = { venue = "binance_usdm", symbol = "ETHUSDT" }

[engines.sol]
venue = "binance_spot"
symbol = "SOLUSDT"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(HEDGED + text)
    return path


def test_defaults_hedge_nothing() -> None:
    settings = HedgeSettings()
    assert settings.enabled is False
    resolved = settings.resolve("any")
    assert resolved.enabled is False and resolved.hedger.band == 0.01 and resolved.deal is None
    assert load_settings(REPO / "config" / "default.toml").hedge.enabled is False
    shipped = load_settings(REPO / "config" / "hedged.toml")
    assert shipped.hedge.enabled and shipped.engines["btcusdt"].hedge is not None


def test_section_defaults_and_per_engine_overrides(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[hedge]
enabled = true
band = 0.01
mode = "passive"
max_order = "2"
[hedge.engines.eth]
band = 0.2
mode = "taker"
external_spot = "-1.5"
""",
    )
    settings = load_settings(path)
    btc, eth = settings.hedge.resolve("btc"), settings.hedge.resolve("eth")
    assert (btc.hedger.band, btc.hedger.mode, btc.hedger.max_order) == (0.01, "passive", Decimal(2))
    assert (eth.hedger.band, eth.hedger.mode, eth.hedger.max_order) == (0.2, "taker", Decimal(2))
    assert eth.external_spot == Decimal("-1.5") and btc.external_spot == 0


def test_environment_overrides_a_single_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBOT_HEDGE__BAND", "0.05")
    settings = load_settings(write(tmp_path, "[hedge]\nenabled = true\nband = 0.01\n"))
    assert settings.hedge.band == 0.05 and settings.hedge.enabled


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[hedge]\nbnd = 1\n", "hedge.bnd: unknown key"),
        ("[hedge]\nband = 0\n", "hedge.band: Input should be greater than 0"),
        ('[hedge]\nmode = "maker"\n', "hedge.mode: Input should be 'taker' or 'passive'"),
        ("[hedge.engines.doge]\nband = 1\n", "hedge.engines.doge: no engine named 'doge'"),
        ("[hedge.engines.btc]\nbnd = 1\n", "hedge.engines.btc.bnd: unknown key"),
        (
            '[hedge]\nmin_hedge = "1"\n[hedge.engines.btc]\nmax_order = "0.5"\n',
            "hedge: engines.btc: max_order must be >= min_hedge",
        ),
        (
            "[hedge.engines.sol]\nenabled = true\n",
            "hedge.engines.sol: hedging is enabled but engines.sol.hedge (the perpetual) is not set",
        ),
    ],
)
def test_bad_hedge_section_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_deal_file_is_refused_at_assembly(tmp_path: Path) -> None:
    from tests.hedge_kit import hedged_settings

    strategies = tmp_path / "strategies"
    write_profile(strategies, "fast_as", FAST_AS)
    settings = hedged_settings(tmp_path / "data", {"enabled": True, "deal": str(tmp_path / "nope.toml")})
    with pytest.raises(ConfigError, match=r"nope\.toml: file not found"):
        build_engine(
            "btc",
            settings.engines["btc"],
            settings,
            SPECS,
            profile=load_strategy(strategies, "fast_as"),
            data_dir=tmp_path / "data",
        )


def test_hedging_off_reports_the_net_delta_and_never_trades(tmp_path: Path) -> None:
    from tests.hedge_kit import hedged_settings

    strategies = tmp_path / "strategies"
    write_profile(strategies, "fast_as", FAST_AS)
    settings = hedged_settings(
        tmp_path / "data",
        {"enabled": False},
        paper={"starting_balances": {"USDT": "100000", "BTC": "0.02"}},
    )
    trading = build_engine(
        "btc",
        settings.engines["btc"],
        settings,
        SPECS,
        profile=load_strategy(strategies, "fast_as"),
        data_dir=tmp_path / "data",
    )
    hedger, exchange = trading.hedger, trading.exchange
    assert hedger is not None and exchange is not None
    for event in real_events(60):
        trading.engine.on_event(event)
    assert hedger.orders == 0 and exchange.ledger.position_qty("binance_usdm:BTCUSDT") == 0
    net = hedger.net_delta()
    assert net is not None and net == pytest.approx(float(exchange.ledger.balances["BTC"]))
    assert trading.status()["hedge"]["enabled"] is False
    trading.close()
