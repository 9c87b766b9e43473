"""Bad deal files are refused with one clear error naming the file and the field.

Each case edits a copy of config/deals/abc.toml, then checks that (a) the library raises
one ``InputError`` whose message starts with the file name and names the field, and
(b) ``mmbot deal plan`` exits with code 2, prints nothing on stdout (nothing ran) and
one error on stderr without a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import bot.cli
from bot.errors import InputError
from bot.hedge.deal import load_deal

ABC = Path(__file__).resolve().parents[1] / "config" / "deals" / "abc.toml"
START = dt.date(2026, 12, 1)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[str]], int]:
    return bot.cli.main


def edited(tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    text = ABC.read_text()
    assert old in text, old
    path = tmp_path / "deal.toml"
    path.write_text(text.replace(old, new, count))
    return path


CASES = {
    "negative size": ("bid_size = 100_000", "bid_size = -100_000", "cex.0.bid_size", "greater than 0"),
    "zero ask size": ("ask_size = 50_000", "ask_size = 0", "cex.1.ask_size", "greater than 0"),
    "zero loan": ("tokens = 3_000_000", "tokens = 0", "loan.tokens", "greater than 0"),
    "zero LP": ("size = 1_000_000", "size = 0", "lp.0.size", "greater than 0"),
    "negative quantity": ("quantity = 100_000", "quantity = -5", "calls.0.quantity", "greater than 0"),
    "zero band": ('band_pct = "2"', 'band_pct = "0"', "cex.0.band_pct", "greater than 0"),
    "non-positive strike": ('strike = "1.25"', 'strike = "0"', "calls.0.strike", "greater than 0"),
    "negative strike": ('strike = "1.25"', 'strike = "-1.25"', "calls.0.strike", "greater than 0"),
    "unsorted strikes": ('strike = "1.50"', 'strike = "2.50"', "calls", "ascending"),
    "duplicate strike": ('strike = "1.50"', 'strike = "1.25"', "calls", "ascending"),
    "expiry before start": ("expiry = 2027-12-01", "expiry = 2026-11-30", "loan.expiry", "after start"),
    "LP larger than loan": ("size = 1_000_000", "size = 3_000_001", "lp", "larger than the loan"),
    "unknown key": ('quote = "USDT"', 'quote = "USDT"\ncolour = "red"', "colour", "unknown key"),
    "unknown nested key": ('exchange = "bybit"', 'exchange = "bybit"\nfee = 1', "cex.1.fee", "unknown key"),
    "wrong type": ("volatility = 0.8", 'volatility = "high"', "valuation.volatility", "number"),
    "missing key": (
        'reference_price = "1.00"',
        "# removed",
        "loan.reference_price",
        "required key is missing",
    ),
    "unknown loan_delta": (
        'loan_delta = "usd_debt"',
        'loan_delta = "dollars"',
        "loan_delta",
        "Input should be 'tokens' or 'usd_debt'",
    ),
    "missing loan_delta": (
        'loan_delta = "usd_debt"',
        "# removed",
        "loan_delta",
        "the two views put the perp hedge a whole loan apart",
    ),
    "loan_delta not a string": ('loan_delta = "usd_debt"', "loan_delta = 1", "loan_delta", "'tokens'"),
    "duplicate exchange": ('exchange = "bitget"', 'exchange = "bybit"', "cex", "listed twice"),
    "TOML syntax": ("tokens = 3_000_000", "tokens = = 3", "invalid TOML", ""),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file_one_clear_error(
    case: str, tmp_path: Path, cli: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new, field, problem = CASES[case]
    path = edited(tmp_path, old, new)
    with pytest.raises(InputError) as info:
        load_deal(path, START)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert f": {field}" in message or field in message.split(": ", 2)[1]
    assert problem in message
    assert "\n" not in message  # one error, not a cascade
    assert cli(["deal", "plan", str(path), "--date", "2026-12-01"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("mmbot: error:") == 1 and "Traceback" not in captured.err
    assert str(path) in captured.err


def test_expiry_in_the_past_relative_to_the_valuation_date(
    cli: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(
        InputError, match=r"loan\.expiry: 2027-12-01 is not after the valuation date 2028-01-02"
    ):
        load_deal(ABC, dt.date(2028, 1, 2))
    assert load_deal(ABC, dt.date(2027, 11, 30)).loan.expiry == dt.date(2027, 12, 1)
    assert cli(["deal", "plan", str(ABC), "--date", "2028-01-02"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "loan.expiry" in captured.err


def test_missing_file(
    tmp_path: Path, cli: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(InputError, match="file not found"):
        load_deal(missing, START)
    assert cli(["deal", "plan", str(missing)]) == 2
    assert f"{missing}: file not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--price", "-1"], "--price"),
        (["--price", "abc"], "--price"),
        (["--price", "nan"], "--price"),
        (["--vol", "0"], "--vol"),
        (["--vol", "x"], "--vol"),
        (["--date", "01/12/2026"], "--date"),
    ],
)
def test_bad_arguments(
    args: list[str], needle: str, cli: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["deal", "plan", str(ABC), *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and needle in captured.err


def test_several_problems_are_listed_together(tmp_path: Path) -> None:
    path = tmp_path / "deal.toml"
    path.write_text(
        ABC.read_text().replace("bid_size = 100_000", "bid_size = -1").replace("rate = 0.0", "rat = 0")
    )
    with pytest.raises(InputError) as info:
        load_deal(path, START)
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{path}: ") for line in lines)
    assert any("cex.0.bid_size" in line for line in lines) and any("valuation.rat" in line for line in lines)


def test_missing_loan_delta_says_why_it_matters(tmp_path: Path) -> None:
    path = edited(tmp_path, 'loan_delta = "usd_debt"', "# removed")
    with pytest.raises(InputError) as info:
        load_deal(path, START)
    message = str(info.value)
    for needle in (
        "required key is missing",
        '"tokens"',
        "a short of 3,000,000 tokens",
        '"usd_debt"',
        "both",
    ):
        assert needle in message, needle


def test_the_valuation_date_is_the_files_or_the_arguments_never_the_clock(
    tmp_path: Path, cli: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["deal", "plan", str(ABC), "--json"]) == 0  # abc.toml: [valuation] date = 2026-12-01
    assert json.loads(capsys.readouterr().out)["valuation_date"] == "2026-12-01"
    assert cli(["deal", "plan", str(ABC), "--date", "2027-06-01", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["valuation_date"] == "2027-06-01"
    undated = edited(tmp_path, "date = 2026-12-01", "# no date")
    assert cli(["deal", "plan", str(undated)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "no valuation date" in captured.err and "--date" in captured.err
    assert cli(["deal", "plan", str(undated), "--date", "2026-12-01"]) == 0
