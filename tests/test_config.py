"""Config loading: TOML + MMBOT_* env overrides, and one clear error per bad input (exit code 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, load_settings

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(text)
    return path


def test_default_file_is_valid_and_env_overrides_nested_field(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(REPO / "config" / "default.toml")
    assert settings.logging.level == "info"
    assert settings.engines["btcusdt"].symbol == "BTCUSDT"
    monkeypatch.setenv("MMBOT_LOGGING__LEVEL", "debug")
    monkeypatch.setenv("MMBOT_ENGINES__BTCUSDT__SYMBOL", "ETHUSDT")
    monkeypatch.setenv("MMBOT_VENUES__BINANCE_SPOT__NETWORK", "testnet")
    settings = load_settings(REPO / "config" / "default.toml")
    assert settings.logging.level == "debug"
    assert settings.engines["btcusdt"].symbol == "ETHUSDT"
    assert settings.engines["btcusdt"].venue == "binance_spot"  # untouched sibling field kept
    assert settings.venues.binance_spot.network == "testnet"
    assert settings.venues.binance_spot.depth_speed_ms == 100


def test_env_beats_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[market]\nstale_after_s = 3.0\n")
    assert load_settings(path).market.stale_after_s == 3.0
    monkeypatch.setenv("MMBOT_MARKET__STALE_AFTER_S", "7.5")
    assert load_settings(path).market.stale_after_s == 7.5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[logging]\nlevl = "info"\n', "logging.levl: unknown key"),
        ('[market]\nstale_after_s = "soon"\n', "market.stale_after_s: Input should be a valid number"),
        ("[market]\nstale_after_s = -1\n", "market.stale_after_s: Input should be greater than 0"),
        (
            "[venues.binance_usdm]\ndepth_speed_ms = 77\n",
            "venues.binance_usdm.depth_speed_ms: must be 0, 100, 250 or 500",
        ),
        ('[engines.x]\nvenue = "binance_spot"\n', "engines.x.symbol: required key is missing"),
        (
            '[engines.x]\nvenue = "kraken"\nsymbol = "BTCUSDT"\n',
            "engines.x.venue: Input should be 'binance_spot'",
        ),
        ("[logging\nlevel = 1\n", "invalid TOML"),
    ],
)
def test_bad_file_gives_one_clear_message(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert expected in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml")


def test_bad_env_value_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMBOT_MARKET__STALE_AFTER_S", "-2")
    with pytest.raises(ConfigError, match=r"from environment MMBOT_MARKET__STALE_AFTER_S"):
        load_settings(write(tmp_path, ""))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[logging]\nlevl = "info"\n', "logging.levl: unknown key"),
        ("[market]\nstale_after_s = 0\n", "market.stale_after_s"),
    ],
)
def test_config_check_exit_code_2(
    tmp_path: Path, text: str, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, text)
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert needle in err
    assert "Traceback" not in err


def test_config_check_missing_file_subprocess(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "config", "check", str(tmp_path / "missing.toml")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 2
    assert "missing.toml: file not found" in result.stderr
    assert result.stderr.count("\n") == 1  # one line, no traceback


def test_config_check_prints_effective_values(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMBOT_LOGGING__LEVEL", "warning")
    assert main(["config", "check", str(REPO / "config" / "default.toml"), "--json"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["config"] == {"path": str(REPO / "config" / "default.toml"), "origin": "--config"}
    assert report["environment"] == ["MMBOT_LOGGING__LEVEL"]
    effective = report["settings"]
    assert effective["logging"]["level"] == "warning"
    assert effective["engines"]["btcusdt"]["venue"] == "binance_spot"


def test_bad_cli_argument_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["config", "frobnicate"])
    assert info.value.code == 2
