"""Logging by config: JSON lines with engine/instrument/regime context, level, a size-rotated file
that stays JSON, stream-only when no file is set, and credentials masked everywhere (by key name
and by value, including rendered tracebacks), and a log file on a disk that refuses writes reported
once, not once per line. The regime context comes from the real quoting
pipeline running on the bundled real Binance recording."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
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


REPO = Path(__file__).resolve().parents[1]
WRITER = """
import os, resource, signal, sys
from pathlib import Path
import structlog
from bot.config import LoggingSettings
from bot.ops.logging import configure_logging
path = Path(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
configure_logging(LoggingSettings(format="json", file=path), stream=sys.stderr)
log = structlog.get_logger("t")
log.info("before")
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(path), hard))  # the file may not grow
for i in range(200):
    log.info("during", i=i)
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
log.info("after")
"""


def test_a_log_file_that_cannot_be_written_is_reported_once_not_per_line(tmp_path: Path) -> None:
    """A real process whose log file the kernel stops extending (RLIMIT_FSIZE: EFBIG, as on a
    full disk): one error line on stderr (a pipe, which the limit does not touch), every line
    still on the stream, no traceback per line, and one line when the file takes writes again."""
    path = tmp_path / "mmbot.log"
    result = subprocess.run(
        [sys.executable, "-c", WRITER, str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Logging error" not in result.stderr and "Traceback" not in result.stderr
    stream = lines(result.stderr)
    failed = [r for r in stream if r["event"].startswith("log file not writable")]
    again = [r for r in stream if r["event"].startswith("log file writable again")]
    assert len(failed) == 1 and "File too large" in failed[0]["event"] and failed[0]["level"] == "error"
    assert len(again) == 1 and "(200 lines failed to write)" in again[0]["event"]
    assert [r["event"] for r in stream].count("during") == 200  # the stream lost nothing
    written = [r["event"] for r in lines(path.read_text())]
    assert written[0] == "before" and written[-1] == "after"
