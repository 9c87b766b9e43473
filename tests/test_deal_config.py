"""`[deal]` configuration: what is refused, with one message naming the field (exit 2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.config import ConfigError, load_settings
from bot.engine.deal_setup import build_deal, read_deal
from bot.replay.readers import shipped_spec
from tests.deal_kit import write_config, write_deal


def settings_with(tmp_path: Path, extra: str = "", **kw: Any) -> Any:
    return load_settings(write_config(tmp_path, write_deal(tmp_path, **kw), extra=extra))


def specs(settings: Any) -> dict[str, Any]:
    return {key: shipped_spec(key) for key in settings.instruments()}


def test_config_abc_runs_the_deal_desk() -> None:
    settings = load_settings(Path(__file__).resolve().parents[1] / "config" / "abc.toml")
    assert settings.deal.enabled and settings.deal.hedge is not None
    assert settings.deal.hedge.key == "binance_usdm:ABCUSDT" and settings.deal.term_s == 1380
    assert "binance_usdm:ABCUSDT" in settings.instruments()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[deal]\nfile = "x.toml"\n', r"deal\.hedge: the perpetual .* is required"),
        ('[deal]\nfile = "x.toml"\nhedge = {venue = "nowhere", symbol = "ABCUSDT"}\n', r"deal\.hedge"),
        (
            '[deal]\nfile = "x.toml"\nhedge = {venue = "binance_usdm", symbol = "ABCUSDT"}\nname = "abc"\n',
            r"deal\.name",
        ),
        (
            '[deal]\nfile = "x.toml"\nhedge = {venue = "binance_usdm", symbol = "ABCUSDT"}\nreference = "nope"\n',
            r"deal\.reference: no engine named 'nope'",
        ),
        (
            '[deal]\nfile = "x.toml"\nhedge = {venue = "binance_usdm", symbol = "ABCUSDT"}\n'
            "[deal.sale]\nvenues = {nope = 1}\n",
            r"deal\.sale\.venues\.nope",
        ),
        (
            '[deal]\nfile = "x.toml"\nhedge = {venue = "binance_usdm", symbol = "ABCUSDT"}\nterm_s = 0\n',
            r"term_s",
        ),
        ('[deal.sale]\nmode = "vwap"\n', r"deal\.sale\.mode"),
    ],
)
def test_bad_deal_sections_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[engines.abc]\nvenue = "binance_spot"\nsymbol = "ABCUSDT"\n' + text)
    with pytest.raises(ConfigError, match=message):
        load_settings(path)
    assert main(["config", "check", str(path)]) == 2


def test_deployments_the_loan_cannot_cover_are_refused(tmp_path: Path) -> None:
    small = settings_with(tmp_path, loan=300_000)  # 230,000 quoting + 100,000 pooled > 300,000
    with pytest.raises(ConfigError, match=r"exceed the loan \(300000\)"):
        build_deal(small, specs(small), {"abc_binance": object(), "abc_bybit": object()}, tmp_path)
    big = settings_with(tmp_path, extra="")
    over = big.model_copy(
        update={
            "deal": big.deal.model_copy(update={"sale": big.deal.sale.model_copy(update={"tokens": 10**7})})
        }
    )
    with pytest.raises(ConfigError, match=r"deal\.sale\.tokens: 10000000 is more than"):
        build_deal(over, specs(over), {"abc_binance": object(), "abc_bybit": object()}, tmp_path)
    poor = big.model_copy(update={"deal": big.deal.model_copy(update={"treasury": {"USDT": 1000}})})
    with pytest.raises(ConfigError, match=r"deal\.treasury: 1000 USDT cannot fund the pool's quote side"):
        build_deal(poor, specs(poor), {"abc_binance": object(), "abc_bybit": object()}, tmp_path)


def test_a_deal_no_engine_trades_or_a_perp_on_another_token_is_refused(tmp_path: Path) -> None:
    settings = settings_with(tmp_path)
    with pytest.raises(ConfigError, match=r"no quoting engine trades ABCUSDT spot"):
        build_deal(settings, specs(settings), {}, tmp_path)
    wrong = settings.model_copy(
        update={
            "deal": settings.deal.model_copy(
                update={"hedge": settings.deal.hedge.model_copy(update={"symbol": "BTCUSDT"})}
            )
        }  # type: ignore[union-attr]
    )
    everything = {**specs(settings), "binance_usdm:BTCUSDT": shipped_spec("binance_usdm:BTCUSDT")}
    with pytest.raises(
        ConfigError,
        match=r"deal\.hedge: binance_usdm:BTCUSDT is a perp on BTC/USDT, not a ABC/USDT perpetual",
    ):
        build_deal(wrong, everything, {"abc_binance": object(), "abc_bybit": object()}, tmp_path)
    missing = settings.model_copy(
        update={"deal": settings.deal.model_copy(update={"file": tmp_path / "no-such.toml"})}
    )
    with pytest.raises(ConfigError, match=r"no-such\.toml"):
        build_deal(missing, specs(settings), {"abc_binance": object()}, tmp_path)


def test_a_relative_deal_file_is_found_next_to_the_config_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(tmp_path)  # not the repository: "deals/abc.toml" only exists beside the config
    settings = load_settings(repo / "config" / "abc.toml")
    assert settings.deal.file == repo / "config" / "deals" / "abc.toml"
    assert read_deal(settings) is not None
    # next to the config file wins; otherwise the working directory; otherwise one message naming it
    (tmp_path / "deals").mkdir()
    (tmp_path / "deals" / "abc.toml").write_text((repo / "config" / "deals" / "abc.toml").read_text())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    text = (repo / "config" / "abc.toml").read_text()
    (elsewhere / "abc.toml").write_text(text)
    assert load_settings(elsewhere / "abc.toml").deal.file == Path("deals/abc.toml")  # the working dir's
    (elsewhere / "abc.toml").write_text(text.replace('file = "deals/abc.toml"', 'file = "nope/abc.toml"'))
    missing = load_settings(elsewhere / "abc.toml")
    with pytest.raises(ConfigError, match=r"deal\.file: nope/abc\.toml: file not found"):
        read_deal(missing)
