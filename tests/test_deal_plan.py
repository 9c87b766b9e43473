"""Deal planner on config/deals/abc.toml: the worked example's arithmetic, deltas and hedges.

Worked example (issue 6; after @agintender's "call-option model" analysis, July 2025):
3,000,000 ABC lent at $1.00; $100k per side on Binance, $50k per side on Bybit and on
Bitget within +/-2 %; a $1,000,000 50/50 PancakeSwap pool; calls on 100,000 ABC at
1.25, 1.50 and 2.00. Required: 700,000 ABC deployed as sell inventory, 700,000 USDT
needed (700,000 ABC sold for it at $1), 1,600,000 ABC left over, 2,300,000 ABC sold at
the start. Option deltas: mmbot LIBRARY_NOTES (S=1, r=0, T=1): 132,610 / 177,289 /
202,372 at sigma 0.8 / 1.2 / 1.5.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

import bot.cli
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.hedge.deal import load_deal
from bot.hedge.dealbook import deal_book, valuation_ns
from bot.hedge.hedger import HedgerSettings, decide_hedge
from bot.hedge.planner import date_ns, plan_deal

ABC = Path(__file__).resolve().parents[1] / "config" / "deals" / "abc.toml"
START = dt.date(2026, 12, 1)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[str]], int]:
    """``bot.cli.main`` with the deal command registered (the lead adds it to COMMAND_MODULES)."""
    return bot.cli.main


def test_worked_example_arithmetic_from_the_deal_file() -> None:
    plan = plan_deal(load_deal(ABC, START), valuation_date=START)
    assert plan.sell_inventory_tokens == Decimal(700_000)
    assert plan.quote_needed == Decimal(700_000)
    assert plan.funding_sale_tokens == Decimal(700_000)
    assert plan.idle_tokens == Decimal(1_600_000)
    assert plan.initial_sale_tokens == Decimal(2_300_000)
    assert plan.shortfall_tokens == 0
    venues = {(v.venue, v.kind): (v.tokens, v.quote) for v in plan.deployment}
    assert venues == {
        ("binance", "cex"): (Decimal(100_000), Decimal(100_000)),
        ("bybit", "cex"): (Decimal(50_000), Decimal(50_000)),
        ("bitget", "cex"): (Decimal(50_000), Decimal(50_000)),
        ("pancakeswap", "lp"): (Decimal(500_000), Decimal(500_000)),
    }


@pytest.mark.parametrize(
    ("vol", "expected"), [(None, 132_610), (0.8, 132_610), (1.2, 177_289), (1.5, 202_372)]
)
def test_option_deltas_and_their_hedge(vol: float | None, expected: int) -> None:
    plan = plan_deal(load_deal(ABC, START), valuation_date=START, volatility=vol)
    assert plan.years_to_expiry == 1.0
    assert round(plan.options_delta) == expected
    assert plan.option_hedge == -plan.options_delta
    assert [str(line.strike) for line in plan.options] == ["1.25", "1.50", "2.00"]
    assert all(line.delta_per_token * 100_000 == pytest.approx(line.delta) for line in plan.options)


def test_delta_book_after_the_sale_and_the_neutralising_perp() -> None:
    """abc.toml takes the worked example's view (loan_delta = "usd_debt"): after selling
    2,300,000 the book holds 200,000 (CEX asks) + 500,000 (LP) + 132,610 (calls)."""
    plan = plan_deal(load_deal(ABC, START), valuation_date=START)
    assert plan.loan_delta == "usd_debt"
    d = plan.delta_after_sale
    assert d.spot == 200_000.0  # the CEX ask inventory is all the spot left
    assert d.lp == pytest.approx(500_000.0)
    assert d.loan == 0.0  # a dollar debt carries no token delta
    assert plan.perp_hedge_linear == pytest.approx(-700_000.0)
    assert plan.perp_hedge == pytest.approx(-(700_000.0 + plan.options_delta))
    assert round(plan.perp_hedge) == -832_610
    # selling only what the quote needs leaves the 1,600,000 idle tokens to hedge as well
    assert plan.minimal_sale_perp_hedge == pytest.approx(-(2_300_000.0 + plan.options_delta))
    assert plan.perp_hedge_by_convention["usd_debt"] == pytest.approx(plan.perp_hedge)
    assert round(plan.perp_hedge_by_convention["tokens"]) == 2_167_390


def test_token_loan_convention(tmp_path: Path) -> None:
    """loan_delta = "tokens": the loan is a short of 3,000,000, so after the same sale the
    book is short 2,167,390 and the neutralising perp is a long of that size."""
    path = tmp_path / "abc_tokens.toml"
    path.write_text(ABC.read_text().replace('loan_delta = "usd_debt"', 'loan_delta = "tokens"'))
    plan = plan_deal(load_deal(path, START), valuation_date=START)
    assert plan.initial_sale_tokens == Decimal(2_300_000)  # the sale does not depend on the view
    d = plan.delta_after_sale
    assert d.loan == -3_000_000.0
    assert plan.perp_hedge_linear == pytest.approx(2_300_000.0)
    assert round(plan.perp_hedge) == 2_167_390
    assert plan.minimal_sale_perp_hedge == pytest.approx(700_000.0 - plan.options_delta)
    usd = plan_deal(load_deal(ABC, START), valuation_date=START)
    assert plan.perp_hedge_by_convention == pytest.approx(usd.perp_hedge_by_convention)
    # the two views differ by exactly the tokens owed
    assert plan.perp_hedge - usd.perp_hedge == pytest.approx(3_000_000.0)


@pytest.mark.parametrize("loan_delta", ["usd_debt", "tokens"])
def test_the_hedgers_delta_book_agrees_with_the_plan(loan_delta: str, tmp_path: Path) -> None:
    """The deal's positions as the live hedger builds them (bot.hedge.dealbook, with the
    spot the plan leaves): without a perp the hedger's order is the plan's perp hedge; with
    it, no trade -- in either loan_delta convention."""
    path = tmp_path / "deal.toml"
    path.write_text(ABC.read_text().replace('loan_delta = "usd_debt"', f'loan_delta = "{loan_delta}"'))
    deal = load_deal(path, START)
    plan = plan_deal(deal, valuation_date=START)
    book = deal_book(deal)  # loan per convention, calls, LP deposited at the reference price
    spot_after_sale = plan.sell_inventory_tokens - sum(v.tokens for v in plan.deployment if v.kind == "lp")
    assert spot_after_sale == Decimal(200_000)
    book.set_spot("ABC", spot_after_sale)
    spec = InstrumentSpec(
        venue="binance_usdm",
        symbol="ABCUSDT",
        kind=InstrumentKind.PERP,
        base="ABC",
        quote="USDT",
        tick_size=Decimal("0.0001"),
        lot_size=Decimal(1),
        qty_step=Decimal(1),
    )
    settings = HedgerSettings(band=5_000)
    now = valuation_ns(deal, date_ns(START) - 86_400 * 10**9)  # before the start: valued at the start
    assert now == date_ns(START)
    first = decide_hedge(book.breakdown("ABC", 1.0, now).net, settings, spec)
    assert first is not None
    assert int(first.side) * first.quantity == Decimal(round(plan.perp_hedge))
    book.set_perp("ABC", Decimal(round(plan.perp_hedge)))
    assert decide_hedge(book.breakdown("ABC", 1.0, now).net, settings, spec) is None


def test_valuation_date_before_start_values_at_start_and_later_shortens_t() -> None:
    deal = load_deal(ABC, dt.date(2026, 1, 1))
    early = plan_deal(deal, valuation_date=dt.date(2026, 1, 1))
    assert early.valuation_date == START and early.years_to_expiry == 1.0
    mid = plan_deal(deal, valuation_date=dt.date(2027, 6, 1))
    assert mid.years_to_expiry == pytest.approx(183 / 365)
    assert mid.options_delta < early.options_delta  # OTM calls lose delta as time passes


def test_other_prices_keep_the_identities() -> None:
    deal = load_deal(ABC, START)
    for price in ("0.5", "0.8", "1.37", "3"):
        plan = plan_deal(deal, valuation_date=START, price=Decimal(price))
        p = Decimal(price)
        assert plan.quote_needed == Decimal(700_000)
        assert plan.funding_sale_tokens == pytest.approx(Decimal(700_000) / p, abs=Decimal("1e-8"))
        total = plan.sell_inventory_tokens + plan.funding_sale_tokens + plan.idle_tokens
        assert total == deal.loan.tokens
        assert plan.initial_sale_tokens == plan.funding_sale_tokens + plan.idle_tokens
        assert plan.delta_after_sale.lp == pytest.approx(float(Decimal(500_000) / p))
    cheap = plan_deal(deal, valuation_date=START, price=Decimal("0.2"))
    assert cheap.shortfall_tokens == Decimal(7_000_000) - deal.loan.tokens
    assert cheap.idle_tokens == 0


def test_cli_text_and_json(cli: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["deal", "plan", str(ABC), "--date", "2026-12-01"]) == 0
    text = capsys.readouterr().out
    for needle in ("700,000", "1,600,000", "2,300,000", "132,610", "-832,610", "+2,167,390", "pancakeswap"):
        assert needle in text
    assert cli(["deal", "plan", str(ABC), "--date", "2026-12-01", "--vol", "1.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["inventory"] == {
        "sell_inventory_tokens": "700000",
        "quote_needed": "700000",
        "funding_sale_tokens": "700000",
        "idle_tokens": "1600000",
        "shortfall_tokens": "0",
        "initial_sale_tokens": "2300000",
    }
    assert round(out["options_total"]["delta"]) == 202_372
    assert out["perp_hedge"]["total"] == pytest.approx(-out["delta_after_sale"]["net"])
    assert out["loan_delta"] == "usd_debt"
    by_view = out["alternatives"]["perp_hedge_by_loan_delta"]
    assert by_view["usd_debt"] == pytest.approx(out["perp_hedge"]["total"])
    assert by_view["tokens"] - by_view["usd_debt"] == pytest.approx(3_000_000.0)
    books = out["alternatives"]["delta_by_loan_delta"]
    assert books["tokens"]["loan"] == -3_000_000.0 and books["usd_debt"]["loan"] == 0.0
    assert books["tokens"]["net"] == pytest.approx(-by_view["tokens"])
    assert books["usd_debt"]["net"] == pytest.approx(-by_view["usd_debt"])


def test_cli_shows_the_hedge_under_both_conventions_side_by_side(
    cli: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["deal", "plan", str(ABC)]) == 0
    text = capsys.readouterr().out
    header = next(line for line in text.splitlines() if 'loan_delta = "tokens"' in line)
    assert 'loan_delta = "usd_debt" *' in header  # the file's convention is marked
    loan = next(line for line in text.splitlines() if line.strip().startswith("loan obligation"))
    assert loan.split()[-2:] == ["-3,000,000", "0"]
    hedge = next(line for line in text.splitlines() if line.strip().startswith("perp hedge for"))
    assert hedge.split()[-2:] == ["+2,167,390", "-832,610"]


def test_cli_price_override(cli: Callable[[list[str]], int], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["deal", "plan", str(ABC), "--date", "2026-12-01", "--price", "0.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["price"] == "0.5"
    assert out["inventory"]["funding_sale_tokens"] == "1400000"
