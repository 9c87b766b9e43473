"""``mmbot ledger show`` against a real journal written by a paper exchange."""

from __future__ import annotations

import argparse
import json
import re
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from bot.commands import ledger as ledger_command
from bot.core.events import Side
from bot.errors import InputError
from bot.paper.exchange import PaperExchange
from bot.store.recovery import open_paper
from tests.helpers.paperkit import Feed, limit, settings, spot_spec


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    parser = argparse.ArgumentParser(prog="mmbot")
    ledger_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["ledger", "show", *argv])
    assert args.func(args) == 0
    return capsys.readouterr().out


def _decimals(value: object) -> object:
    """Every decimal string as a Decimal (for comparing numbers, not their spelling)."""
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items() if k != "starting_balances"}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return value
    return value


def _trade(tmp_path: Path) -> PaperExchange:
    balances = {"USDT": Decimal(100_000), "BTC": Decimal(1)}
    exchange, journal = open_paper([spot_spec()], settings(starting_balances=balances), tmp_path, "btc")
    assert journal is not None
    feed = Feed()
    for event in feed.open([(10000, 500)], [(10001, 400)]):
        exchange.on_event(event)
    exchange.submit(limit("bid-1", Side.BUY, 10000, 1000, feed.ts))
    exchange.on_event(feed.trade(Side.SELL, 10000, 1500))
    exchange.submit(limit("ask-1", Side.SELL, 10001, 1000, feed.ts))
    exchange.submit(limit("ask-2", Side.SELL, 10003, 2, feed.ts))
    exchange.on_event(feed.trade(Side.BUY, 10001, 1400))
    exchange.flush()
    return exchange  # journal left open: the command must read it while the writer lives


def test_ledger_show_json_matches_the_live_ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exchange = _trade(tmp_path)
    out = _run(capsys, "--data-dir", str(tmp_path), "--json")
    [report] = json.loads(out)["journals"]
    assert report["name"] == "btc"
    live = msgspec.to_builtins(exchange.ledger.snapshot())
    assert {k: v for k, v in report["ledger"].items() if k != "starting_balances"}.keys() == live.keys()
    # the same numbers, as exact fixed-point decimals (no trailing zeros, no exponent)
    assert _decimals(report["ledger"]) == _decimals(live)
    assert report["ledger"]["equity"] == "101000.35001" and report["ledger"]["balances"]["BTC"] == "1"
    assert report["ledger"]["starting_balances"] == {"BTC": "1", "USDT": "100000"}
    assert Decimal(report["ledger"]["attribution"]["total"]) == Decimal("0.30001")
    assert [f["client_id"] for f in report["recent_fills"]] == ["ask-1", "bid-1"]
    assert report["recent_fills"][0]["price"] == "1000.1" and report["recent_fills"][0]["size"] == "1.000"
    assert [o["client_id"] for o in report["open_orders"]] == ["ask-2"]


def test_ledger_show_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _trade(tmp_path)
    out = _run(capsys, "--data-dir", str(tmp_path), "--fills", "1")
    assert "PnL attribution (USDT)" in out
    # money in the quote's precision (4 decimals for a 0.1 tick), base amounts in the lot's
    assert re.search(r"spread capture +\+0\.1000\n", out) and re.search(r"total +\+0\.3000\n", out)
    assert re.search(r"BTC +1\.000  \(1\.000\)", out)
    assert "E-" not in out and "E+" not in out
    assert "Recent fills (1)" in out and "ask-1" in out and "bid-1" not in out.split("Recent fills")[1]
    assert "ask-2" in out  # the open order


def test_ledger_show_without_journals_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(InputError, match="no paper journals"):
        _run(capsys, "--data-dir", str(tmp_path))
    with pytest.raises(InputError, match="not found"):
        _run(capsys, "--data-dir", str(tmp_path / "missing"))
