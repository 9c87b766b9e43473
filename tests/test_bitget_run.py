"""`mmbot run --offline` on Bitget: a config that chooses ``bitget_usdtm`` engines, the
in-process emulator replaying the real 2022 recording in Bitget's v2 protocol, the real
adapter over a real websocket -- as a real process, and in-process with the per-venue
summary checked in detail."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.commands.run import run_bot
from bot.config import load_settings
from tests.bitget_kit import BITGET_FILE

REPO = Path(__file__).resolve().parents[1]


def write_config(tmp_path: Path) -> Path:
    # profiles sized for DASH and UNI (order steps 0.01 DASH and 1 UNI; the bundled
    # profiles quote 0.001 BTC)
    (tmp_path / "strategies").mkdir()
    for name, size, limit in (("dash", "0.1", "1"), ("uni", "1", "10")):
        (tmp_path / "strategies" / f"{name}.toml").write_text(
            f"""
quoter = "fixed_spread"
description = "Fixed 5-tick half spread, {size} {name.upper()}"
fair_value = "mid"

[fixed_spread]
half_spread_ticks = 5.0

[ladder]
levels = 1
size = "{size}"
max_position = "{limit}"
post_only = true
"""
        )
    config = tmp_path / "bitget.toml"
    config.write_text(
        f"""
data_dir = "{tmp_path / "data"}"

[http]
enabled = false

[market]
stale_after_s = 30
status_interval_s = 60

[engines.dash]
venue = "bitget_usdtm"
symbol = "DASHUSDT"
strategy = "dash"

[engines.uni]
venue = "bitget_usdtm"
symbol = "UNIUSDT"
strategy = "uni"

[venues.bitget_usdtm]
channel = "books"

[offline]
replay = ["{BITGET_FILE}"]
speed = 1.0
loop = true
"""
    )
    return config


def test_mmbot_run_offline_on_bitget_as_a_process(tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", config, "--offline", "--duration", "4", "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    rows = {row["instrument"]: row for row in summary["instruments"]}
    assert set(rows) == {"bitget_usdtm:DASHUSDT", "bitget_usdtm:UNIUSDT"}
    for key, row in rows.items():
        assert row["valid"], key
        assert row["best_bid"] is not None and row["best_ask"] is not None, key
        assert row["snapshots"] >= 1 and row["applied"] > 0 and row["checksums"] > 0, key
        assert row["gaps"] == 0 and row["checksum_failures"] == 0 and row["crossed"] == 0, key
    stats = summary["adapters"]["bitget_usdtm"]
    assert stats["connections_opened"] >= 1 and stats["decode_errors"] == 0


async def test_offline_run_summary_in_process(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path))
    summary = await run_bot(settings, offline=True, duration_s=3.0)
    rows = {row["instrument"]: row for row in summary["instruments"]}
    dash = rows["bitget_usdtm:DASHUSDT"]
    assert dash["valid"] and dash["levels"] > 100
    assert dash["checksums"] == dash["applied"] + dash["snapshots"]  # every message verified
    assert float(dash["best_bid"]) < float(dash["best_ask"])
    assert set(summary["adapters"]) == {"bitget_usdtm"}
