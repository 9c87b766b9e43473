"""Logging by config: JSON lines with engine/instrument/regime context, level, a size-rotated file
that stays JSON, stream-only when no file is set, and credentials masked everywhere (by key name
and by value, including rendered tracebacks). The regime context comes from the real quoting
pipeline running on the bundled real Binance recording."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from bot.config import LoggingSettings
from bot.engine.assemble import build_engine, load_strategy
from bot.ops import logging as ops_logging
from bot.ops.logging import REDACTED, configure_logging, register_secrets
from bot.strategy.profile import build_quoter
from tests.specs import SPOT_BTC
from tests.trading_kit import FAST_AS, FAST_FIXED, fast_settings, recorded_events, write_profile


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    yield
    configure_logging(LoggingSettings())  # back to the default stderr handler (closes files)
    ops_logging._SECRET_VALUES.clear()


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_rotating_file_stays_json_with_context(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "mmbot.log"
    stream = io.StringIO()
    configure_logging(
        LoggingSettings(level="info", format="json", file=path, max_bytes=4000, backups=2), stream=stream
    )
    log = structlog.get_logger("bot.test").bind(
        engine="btc", instrument="binance_spot:BTCUSDT", regime="calm"
    )
    for i in range(300):
        log.info("quote refreshed", seq=i, bid="61737.63", ask="61737.64")
    files = sorted(path.parent.iterdir())
    assert [f.name for f in files] == ["mmbot.log", "mmbot.log.1", "mmbot.log.2"]  # backups = 2
    seen: list[int] = []
    for file in files:
        assert file.stat().st_size <= 4000 + 400  # rotated at max_bytes (one record of slack)
        for record in lines(file.read_text()):
            assert record["engine"] == "btc" and record["instrument"] == "binance_spot:BTCUSDT"
            assert record["regime"] == "calm" and record["level"] == "info"
            assert record["event"] == "quote refreshed" and record["timestamp"].endswith("Z")
            seen.append(record["seq"])
    assert max(seen) == 299 and lines(path.read_text())[-1]["seq"] == 299  # newest in the live file
    assert len(seen) < 300  # the oldest records rotated out
    assert len(lines(stream.getvalue())) == 300  # the stream got everything


def test_level_from_config_and_stream_only_without_a_file(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure_logging(LoggingSettings(level="warning", format="json"), stream=stream)
    log = structlog.get_logger("bot.test")
    log.info("hidden")
    log.warning("shown", engine="btc")
    logging.getLogger("aiohttp.access").info("third-party info hidden")
    assert [r["event"] for r in lines(stream.getvalue())] == ["shown"]
    root = logging.getLogger()
    assert len(root.handlers) == 1 and isinstance(root.handlers[0], logging.StreamHandler)
    assert not list(tmp_path.iterdir())


def test_credentials_are_masked_by_name_and_by_value_even_in_tracebacks(tmp_path: Path) -> None:
    key, secret = "tn-key-4f1c2a9e8b7d", "tn-secret-0c9d8e7f6a5b"
    register_secrets(key, secret, "abc")  # too short values are not registered
    path = tmp_path / "mmbot.log"
    stream = io.StringIO()
    configure_logging(LoggingSettings(format="json", file=path), stream=stream)
    log = structlog.get_logger("bot.test")
    log.info("connected", api_key=key, url=f"https://x/?k={key}")
    log.warning("call failed", error=f"binance rejected {secret}", nested={"detail": [secret]})
    try:
        raise RuntimeError(f"boom with {secret}")
    except RuntimeError:
        log.exception("crashed")
    logging.getLogger("ccxt").error("stdlib record leaking %s", key)
    for text in (stream.getvalue(), path.read_text()):
        assert key not in text and secret not in text
        records = lines(text)
        assert records[0]["api_key"] == REDACTED and records[0]["url"] == f"https://x/?k={REDACTED}"
        assert records[1]["nested"] == {"detail": [REDACTED]}
        assert "RuntimeError: boom with " + REDACTED in records[2]["exception"]
        assert records[3]["event"] == f"stdlib record leaking {REDACTED}"


def test_pipeline_logs_carry_engine_instrument_and_the_current_regime(tmp_path: Path) -> None:
    strategies = tmp_path / "strategies"
    write_profile(strategies, "fast_as", FAST_AS)
    write_profile(strategies, "wide", FAST_FIXED)
    settings = fast_settings(tmp_path / "data")
    trading = build_engine(
        "btc",
        settings.engines["btc"],
        settings,
        {SPOT_BTC.key: SPOT_BTC},
        profile=load_strategy(strategies, "fast_as"),
        data_dir=tmp_path / "data",
    )
    stream = io.StringIO()
    configure_logging(LoggingSettings(format="json"), stream=stream)
    pipeline = trading.pipeline
    assert pipeline is not None
    start = pipeline.decision.regime.value
    try:
        for event in recorded_events(seconds=60):
            trading.engine.on_event(event)
            if pipeline.decision.regime.value != start:
                break
        now = trading.engine.clock.now
        pipeline.switch_quoter(build_quoter(load_strategy(strategies, "wide"), SPOT_BTC), now, source="test")
    finally:
        trading.close()
    records = [r for r in lines(stream.getvalue()) if r.get("logger") == "bot.trading"]
    transitions = [r for r in records if r["event"] == "regime transition"]
    assert transitions, "no regime transition in 60 s of recorded data"
    current = pipeline.decision.regime.value
    assert current != start
    for record in transitions:
        assert record["regime"] == record["to_state"]
        assert record["engine"] == "btc" and record["instrument"] == SPOT_BTC.key
    (switch,) = [r for r in records if r["event"] == "strategy switched"]
    assert switch["regime"] == current and switch["engine"] == "btc"
