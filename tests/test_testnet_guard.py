"""Testnet execution can never place an order on mainnet, and its keys are handled as secrets.

The guard checks what ccxt will really use (every URL in ``exchange.urls['api']`` and the
sandbox / demo-trading flag), not a config flag; a refused configuration stops `mmbot run`
with exit 2 before anything starts (no emulator, no connection)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import ccxt.async_support as ccxt_async
import pytest
from pydantic import SecretStr

from bot.config import ConfigError, Settings, load_settings
from bot.errors import InputError
from bot.ops.execution import plan_execution
from bot.venues.testnet import order_endpoint_problems

REPO = Path(__file__).resolve().parents[1]
KEY = "FAKE-TESTNET-KEY-0a1b2c3d4e5f"
SECRET = "FAKE-TESTNET-SECRET-9z8y7x6w5v"
ENGINES = {
    "btc": {
        "venue": "binance_spot",
        "symbol": "BTCUSDT",
        "hedge": {"venue": "binance_usdm", "symbol": "BTCUSDT"},
    }
}


def keys(venue: str = "binance_spot") -> dict[str, str]:
    return {"api_key": KEY, "api_secret": SECRET}


def settings(**testnet: object) -> Settings:
    return Settings(
        execution="testnet",
        engines=ENGINES,
        testnet={"binance_spot": keys(), "binance_usdm": keys(), **testnet},
        http={"enabled": False},
    )


async def test_paper_mode_needs_nothing_and_default_testnet_urls_pass() -> None:
    assert plan_execution(Settings(http={"enabled": False})) is None
    plan = plan_execution(settings())
    assert plan is not None
    try:
        spot, usdm = plan.exchanges["binance_spot"], plan.exchanges["binance_usdm"]
        assert spot.urls["api"]["private"].startswith("https://testnet.binance.vision/")
        assert spot.isSandboxModeEnabled
        assert usdm.urls["api"]["fapiPrivate"].startswith("https://demo-fapi.binance.com/")
        assert usdm.options["enableDemoTrading"]
        assert order_endpoint_problems(spot, "binance_spot") == []
        assert order_endpoint_problems(usdm, "binance_usdm") == []
    finally:
        await plan.close()


@pytest.mark.parametrize(
    ("venue", "url", "host", "words"),
    [
        ("binance_spot", "https://api.binance.com", "api.binance.com", "Binance mainnet host"),
        ("binance_usdm", "https://fapi.binance.com", "fapi.binance.com", "Binance mainnet host"),
        ("binance_spot", "https://binance-proxy.example.org", "binance-proxy.example.org", "not a known"),
    ],
)
async def test_a_mainnet_or_unknown_order_endpoint_is_refused(
    venue: str, url: str, host: str, words: str
) -> None:
    with pytest.raises(InputError) as err:
        plan_execution(settings(**{venue: {**keys(), "rest_url": url}}))
    message = str(err.value)
    assert f"testnet.{venue}.rest_url" in message and "refusing to start" in message
    assert host in message and words in message
    assert KEY not in message and SECRET not in message


async def test_loopback_test_doubles_are_allowed() -> None:
    plan = plan_execution(settings(binance_spot={**keys(), "rest_url": "http://127.0.0.1:9"}))
    assert plan is not None
    assert plan.exchanges["binance_spot"].urls["api"]["private"] == "http://127.0.0.1:9/api/v3"
    await plan.close()


async def test_the_guard_reads_ccxt_state_not_config_flags() -> None:
    spot = ccxt_async.binance({"apiKey": KEY, "secret": SECRET})  # sandbox never switched on
    problems = order_endpoint_problems(spot, "binance_spot")
    assert "ccxt binance: sandbox mode is off" in problems
    assert any("https://api.binance.com/api/v3 (ccxt urls.api.private)" in p for p in problems)
    # sandbox on, but one URL key pointed back at mainnet afterwards
    spot.set_sandbox_mode(True)
    assert order_endpoint_problems(spot, "binance_spot") == []
    spot.urls["api"]["private"] = "https://api.binance.com/api/v3"
    assert order_endpoint_problems(spot, "binance_spot") == [
        "https://api.binance.com/api/v3 (ccxt urls.api.private): api.binance.com is a Binance mainnet host"
    ]
    # USD-M: the deprecated futures sandbox is not demo trading
    usdm = ccxt_async.binanceusdm({"apiKey": KEY, "secret": SECRET})
    usdm.set_sandbox_mode(True)
    assert order_endpoint_problems(usdm, "binance_usdm") == ["ccxt binanceusdm: demo trading is off"]
    await spot.close()
    await usdm.close()


def test_missing_keys_are_refused_naming_the_variable() -> None:
    with pytest.raises(InputError, match="MMBOT_TESTNET__BINANCE_SPOT__API_KEY"):
        plan_execution(Settings(execution="testnet", engines=ENGINES, http={"enabled": False}))
    partial = Settings(
        execution="testnet",
        engines=ENGINES,
        testnet={"binance_spot": keys(), "binance_usdm": {"api_key": KEY}},
        http={"enabled": False},
    )
    with pytest.raises(InputError, match="MMBOT_TESTNET__BINANCE_USDM__API_SECRET"):
        plan_execution(partial)


def test_keys_in_a_config_file_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(f'execution = "testnet"\n[testnet.binance_usdm]\napi_secret = "{SECRET}"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    assert "testnet.binance_usdm.api_secret: secrets may not be stored in config files" in message
    assert "MMBOT_TESTNET__BINANCE_USDM__API_SECRET" in message and SECRET not in message


def test_keys_from_environment_and_secret_files_stay_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "usdm_key"
    key_file.write_text(KEY + "\n")
    secret_file = tmp_path / "usdm_secret"
    secret_file.write_text(SECRET + "\n")
    path = tmp_path / "bot.toml"
    path.write_text(
        'execution = "testnet"\n[testnet.binance_usdm]\n'
        f'api_key_file = "{key_file}"\napi_secret_file = "{secret_file}"\n'
    )
    monkeypatch.setenv("MMBOT_TESTNET__BINANCE_SPOT__API_KEY", KEY)
    monkeypatch.setenv("MMBOT_TESTNET__BINANCE_SPOT__API_SECRET", SECRET)
    loaded = load_settings(path)
    spot = loaded.testnet.binance_spot.credentials("binance_spot")
    usdm = loaded.testnet.binance_usdm.credentials("binance_usdm")
    assert [s.get_secret_value() for s in (*spot, *usdm)] == [KEY, SECRET, KEY, SECRET]
    for text in (repr(loaded), str(loaded), loaded.model_dump_json(), repr(spot), str(usdm)):
        assert KEY not in text and SECRET not in text
    assert isinstance(loaded.testnet.binance_spot.api_key, SecretStr)
    secret_file.write_text("")
    with pytest.raises(InputError, match=r"testnet\.binance_usdm\.api_secret_file: .* is empty"):
        loaded.testnet.binance_usdm.credentials("binance_usdm")
    secret_file.unlink()
    with pytest.raises(InputError, match=r"testnet\.binance_usdm\.api_secret_file: cannot read"):
        loaded.testnet.binance_usdm.credentials("binance_usdm")


def _run(cfg: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(cfg), "--offline", "--duration", "30"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "MMBOT_LOGGING__FORMAT": "json", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_refuses_a_mainnet_order_endpoint_with_exit_2_before_starting(tmp_path: Path) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\nexecution = "testnet"\n[http]\nlisten = "127.0.0.1:0"\n'
        '[testnet.binance_spot]\nrest_url = "https://api.binance.com"\n'
    )
    env = {"MMBOT_TESTNET__BINANCE_SPOT__API_KEY": KEY, "MMBOT_TESTNET__BINANCE_SPOT__API_SECRET": SECRET}
    result = _run(cfg, env)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "testnet.binance_spot.rest_url: refusing to start" in result.stderr
    assert "api.binance.com is a Binance mainnet host" in result.stderr
    assert "Traceback" not in result.stderr
    assert "emulator started" not in result.stderr and "mmbot running" not in result.stderr
    assert KEY not in result.stderr + result.stdout and SECRET not in result.stderr + result.stdout
    # the same config without keys: refused naming the variable to set
    result = _run(cfg, {})
    assert result.returncode == 2
    assert "MMBOT_TESTNET__BINANCE_SPOT__API_KEY" in result.stderr
