"""``mmbot markets show``: output, modes and exit codes, through the real CLI entry point."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from bot import cli


@pytest.fixture(autouse=True)
def markets_command_registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # bot/cli.py lists its command modules; the lead adds this one there.
    yield
    structlog.reset_defaults()  # the command routes logs to stderr if nobody configured them


def write_config(
    tmp_path: Path, *, symbol: str = "BTCUSDT", hedge: bool = True, rest_url: str | None = None
) -> Path:
    """A config whose data_dir is under tmp_path; ``rest_url`` redirects binance_spot REST."""
    text = (
        f'data_dir = "{tmp_path / "data"}"\n\n[engines.main]\nvenue = "binance_spot"\nsymbol = "{symbol}"\n'
    )
    if hedge:
        text += f'hedge = {{ venue = "binance_usdm", symbol = "{symbol}" }}\n'
    if rest_url:
        text += f'\n[venues.binance_spot]\nrest_url = "{rest_url}"\n'
    config = tmp_path / "mmbot.toml"
    config.write_text(text)
    return config


def refused_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_offline_json_lists_the_configured_instruments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert cli.main(["markets", "show", "--config", str(config), "--offline", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {row["instrument"]: row for row in out["instruments"]}
    assert list(rows) == ["binance_spot:BTCUSDT", "binance_usdm:BTCUSDT"]
    spot, perp = rows["binance_spot:BTCUSDT"], rows["binance_usdm:BTCUSDT"]
    assert (spot["tick_size"], spot["lot_size"], spot["qty_step"]) == ("0.01", "0.00000001", "0.00001")
    assert (perp["tick_size"], perp["min_notional"], perp["taker_fee"]) == ("0.1", "100", "0.0005")
    assert spot["origin"] == perp["origin"] == "shipped"
    # the fees in use: each venue's fee tier (defaults: Binance spot on the MM programme, USD-M VIP 0)
    assert (spot["maker_fee"], spot["taker_fee"]) == ("0", "0.001")
    assert spot["fees_from"].startswith("fee tier lp1 (Binance Spot Liquidity Provider Program")
    assert perp["fees_from"].startswith("fee tier vip0 (Binance USD-M futures fee schedule")


def test_a_configured_fee_tier_or_rates_are_what_markets_show_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    config.write_text(
        config.read_text()
        + '\n[venues.binance_spot]\nfee_tier = "vip3"\n'
        + '\n[venues.binance_usdm]\nmaker_fee = "-0.00005"\ntaker_fee = "0.0004"\n'
    )
    assert cli.main(["markets", "show", "--config", str(config), "--offline", "--json"]) == 0
    rows = {row["instrument"]: row for row in json.loads(capsys.readouterr().out)["instruments"]}
    spot, perp = rows["binance_spot:BTCUSDT"], rows["binance_usdm:BTCUSDT"]
    assert (spot["maker_fee"], spot["taker_fee"]) == ("0.00042", "0.0006")
    assert (perp["maker_fee"], perp["taker_fee"], perp["fees_from"]) == (
        "-0.00005",
        "0.0004",
        "maker_fee/taker_fee in the config",
    )


def test_table_output_shows_values_and_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    assert cli.main(["markets", "show", "--config", str(config), "--offline"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["instrument", "kind", "tick"]
    assert lines[1].split()[:3] == ["binance_spot:BTCUSDT", "spot", "0.01"]
    assert lines[2].split()[:3] == ["binance_usdm:BTCUSDT", "perp", "0.1"]
    assert any(line.startswith("binance_usdm:BTCUSDT: shipped: ") for line in lines)


def test_default_mode_falls_back_to_cache_and_keeps_json_clean(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, hedge=False, rest_url=refused_url())
    code = cli.main(["markets", "show", "--config", str(config), "--json", "--timeout", "5"])
    captured = capsys.readouterr()
    assert code == 0
    rows = json.loads(captured.out)["instruments"]  # warnings did not leak into stdout
    assert [row["origin"] for row in rows] == ["shipped"]
    assert "market_metadata_fetch_failed" in captured.err


def test_refresh_fails_with_exit_1_when_the_exchange_is_unreachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, hedge=False, rest_url=refused_url())
    code = cli.main(["markets", "show", "--config", str(config), "--refresh", "--timeout", "5"])
    assert code == 1
    err = capsys.readouterr().err
    assert "could not refresh market metadata" in err and "binance_spot:BTCUSDT" in err
    assert not (tmp_path / "data" / "cache" / "markets.json").exists()


def test_unknown_symbol_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, symbol="DOGEUSDT")
    assert cli.main(["markets", "show", "--config", str(config), "--offline"]) == 2
    err = capsys.readouterr().err
    assert "DOGEUSDT" in err and "binance_spot" in err and "Traceback" not in err


def test_offline_and_refresh_are_exclusive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    with pytest.raises(SystemExit) as caught:
        cli.main(["markets", "show", "--config", str(config), "--offline", "--refresh"])
    assert caught.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
