"""The whole deal at full speed (`mmbot replay synthetic:... --config` with a [deal] section):
Binance and Bybit spot + the ABCUSDT perp on one clock, the deal desk beside the quoting engines.

Checked on the journals the run leaves (not on the desk's own memory):

- the statement's channels sum *exactly* to the PnL computed from state (every account's
  equity minus its start, the pool position, the calls, the loan), at the close and at every
  restart-free step, and the report and `--json` show it;
- exercise at expiry settles exactly: the strikes paid are sum(K x q) of the calls in the money,
  the tokens delivered are sum(q), split across the deal accounts, and sold by the exercise
  program; the out-of-the-money call lapses;
- the loan's return: a dollar debt is paid as loan.tokens x reference price; a token loan returns
  exactly loan.tokens tokens, the shortfall bought back first;
- the pool is journaled swap by swap: replaying the notes through a fresh pair reproduces every
  reserve, and the initial sale sold its allotment exactly once;
- through the crash, the hedger keeps the net delta inside its band whenever it can trade.
- the perp's funding is the venue's formula and is the statement's funding channel;
- a participation-rate sale sells at most its share of each venue's traded volume, and keeps up.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from bot.core.orders import FundingPayment
from bot.dex.pair import PancakePair
from bot.paper.records import TransferRecord
from bot.report.html import embedded_deals
from bot.store.journal import Journal
from tests.deal_kit import LOAN, POOL, notes, transfers, write_config, write_deal

SCENARIO = "synthetic:abc_crash?duration=200&seed=3"


def replay(tmp_path: Path, config: Path, scenario: str = SCENARIO, name: str = "run") -> Path:
    out = tmp_path / name
    code = main(["replay", scenario, "--config", str(config), "--out", str(out), "--progress", "off"])
    assert code == 0
    return out


def summary(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "summary.json").read_text()))


def all_transfers(out: Path) -> dict[str, list[TransferRecord]]:
    paths = [*sorted((out / "deal").glob("*.sqlite")), *sorted((out / "journal").glob("*.sqlite"))]
    return {path.stem: transfers(path) for path in paths}


@pytest.fixture(scope="module")
def exercised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dollar-debt deal whose 0.50 and 0.60 calls end in the money (the 2.00 one does not)."""
    tmp_path = tmp_path_factory.mktemp("exercise")
    deal = write_deal(tmp_path, strikes=("0.50", "0.60", "2.00"))
    return replay(tmp_path, write_config(tmp_path, deal))


def test_the_statement_adds_up_exactly_at_the_close(
    exercised: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deal = summary(exercised)["deal"]
    assert deal["phase"] == "closed"
    statement = deal["statement"]
    assert Decimal(statement["difference"]) == 0
    assert Decimal(statement["total"]) == Decimal(statement["ledger_pnl"])
    assert sum(Decimal(v) for v in statement["channels"].values()) == Decimal(statement["total"])
    (closed,) = notes(exercised, "deal_closed")
    assert Decimal(closed["statement"]["difference"]) == 0
    # after the close only dust below one order (< 1 ABC) is left to mark: cents at most
    assert abs(Decimal(closed["statement"]["total"]) - Decimal(statement["total"])) < Decimal("0.1")
    # every channel of the deal ran: the sale, the pool, the hedge, the calls and their exercise
    channels = {k: Decimal(v) for k, v in statement["channels"].items()}
    for name in ("sale", "exercise_sale", "unwind", "lp_fees", "impermanent_loss", "hedge", "options"):
        assert channels[name] != 0, name
    assert channels["other"] == 0  # every deal-account fill belongs to a program
    # at every sample the running statement matched its state too (floats in the sample)
    for sample in notes(exercised, "deal_sample"):
        assert sample["pnl"] == pytest.approx(sample["ledger_pnl"], abs=1e-6)
    # and the report shows it (HTML section, embedded JSON, terminal text)
    assert main(["report", str(exercised)]) == 0
    text = capsys.readouterr().out
    assert "(exact)" in text and "impermanent loss" in text and "deal abc" in text
    assert "inventory per account and venue (at the end of the run, phase closed)" in text
    assert "deal-abc_bybit      bybit_spot" in text and "pool                pancakeswap" in text
    assert "net delta, tokens: spot " in text and "(band 5,000)" in text
    (embedded,) = embedded_deals((exercised / "report.html").read_text())
    assert embedded["statement"]["difference"] == statement["difference"]
    assert set(embedded["inventory"]) >= {
        "abc_binance",
        "abc_bybit",
        "deal-abc_binance",
        "deal-hedge",
        "pool",
    }
    assert {"spot", "lp", "options", "perp", "loan", "hedged_net"} <= set(embedded["delta"])


def test_exercise_at_expiry_settles_exactly(exercised: Path) -> None:
    (step,) = [n for n in notes(exercised, "deal_step") if n["id"] == "exercise"]
    assert step["tiers"] == [
        {"strike": "0.50", "quantity": "100000"},
        {"strike": "0.60", "quantity": "100000"},
    ]
    by_account = all_transfers(exercised)
    exercise = [t for records in by_account.values() for t in records if t.reason == "exercise"]
    strikes = [t for t in exercise if t.asset == "USDT"]
    tokens = [t for t in exercise if t.asset == "ABC"]
    assert [(t.amount, t.mark) for t in strikes] == [
        (Decimal(-110_000), Decimal(1))
    ]  # 0.50 x 100k + 0.60 x 100k
    assert sum(t.amount for t in tokens) == Decimal(200_000)
    assert all(t.amount > 0 for t in tokens) and len(tokens) == 2  # split across both venues
    deal = summary(exercised)["deal"]
    program = deal["programs"]["exercise"]
    assert sum(Decimal(v) for v in program["targets"].values()) == Decimal(200_000)
    assert Decimal(200_000) - sum(Decimal(v) for v in program["filled"].values()) < Decimal(
        "0.2"
    )  # < min qty
    assert deal["exercised"] == step["tiers"]
    # the calls' value went into the settlement: exercise channel = delivered value - strikes - the
    # calls' mark at that moment (intrinsic at expiry, but on two venues' marks: only cents apart)
    (done,) = [n for n in notes(exercised, "deal_done") if n["id"] == "exercise"]
    settled = sum(t.amount * t.mark for t in exercise)
    assert Decimal(done["value"]) == settled
    assert Decimal(done["options_settled"]) == settled and Decimal(done["options_mark"]) == 0
    assert abs(Decimal(done["exercise_channel"])) < Decimal("0.005") * settled
    assert not done["options_live"]


def test_a_dollar_debt_is_paid_in_quote_after_the_hedge_is_closed(exercised: Path) -> None:
    deal = summary(exercised)["deal"]
    loan = [t for records in all_transfers(exercised).values() for t in records if t.reason == "loan_return"]
    assert sum(t.amount for t in loan) == -Decimal(LOAN)  # LOAN ABC x 1.00 USDT
    assert {t.asset for t in loan} == {"USDT"}
    assert Decimal(deal["loan"]["owed"]) == 0 and Decimal(deal["loan"]["short"]) == 0
    phases = [n["phase"] for n in notes(exercised, "deal_phase")]
    assert phases == ["open", "exercise", "settle", "unwind", "closing", "return"]
    assert Decimal(deal["inventory"]["hedge_perp"]["ABC"]) == 0  # flat before the debt was paid
    tokens_left = sum(Decimal(row["ABC"]) for row in deal["inventory"].values())
    assert tokens_left < 1  # dust below the venues' minimum order


def test_the_pool_is_journaled_swap_by_swap_and_the_sale_sold_once(exercised: Path) -> None:
    pool_notes = [n for n in notes(exercised) if n["_note"] in ("pool_swap", "pool_liquidity")]
    assert [n["kind"] for n in pool_notes if n["_note"] == "pool_liquidity"] == ["mint", "burn"]
    first = pool_notes[0]
    assert first["kind"] == "mint" and Decimal(first["tokens"]) == Decimal(POOL // 2)
    pair = PancakePair()
    pair.restore(first["pair"])
    swaps = 0
    for note in pool_notes[1:]:
        if note["_note"] == "pool_liquidity":
            break
        pair.swap_exact_in(note["zero_for_one"], int(note["amount_in"]))
        assert pair.state() == note["pair"]  # nothing lost, nothing twice
        swaps += 1
    assert {n["kind"] for n in pool_notes if n["_note"] == "pool_swap"} == {"arb", "noise"}
    assert swaps == summary(exercised)["deal"]["pool"]["swaps"] > 20
    sale = summary(exercised)["deal"]["programs"]["sale"]
    # every lent token neither quoting (150,000 + 80,000) nor pooled is sold, exactly once
    sold = LOAN - 150_000 - 80_000 - POOL // 2
    assert sum(Decimal(v) for v in sale["targets"].values()) == Decimal(sold)
    filled = sum(Decimal(v) for v in sale["filled"].values())
    assert Decimal(0) <= Decimal(sold) - filled < Decimal("0.2")


def test_a_token_loan_is_returned_in_tokens(tmp_path: Path) -> None:
    deal = write_deal(tmp_path, loan_delta="tokens")
    out = replay(tmp_path, write_config(tmp_path, deal), scenario="synthetic:abc_calm?duration=200&seed=5")
    result = summary(out)["deal"]
    assert result["phase"] == "closed" and Decimal(result["statement"]["difference"]) == 0
    phases = [n["phase"] for n in notes(out, "deal_phase")]
    # bought back what was missing, rounded up to whole orders: the few tokens over are unwound
    assert phases[:4] == ["open", "settle", "buyback", "return"] and phases[-1] == "closing"
    loan = [t for records in all_transfers(out).values() for t in records if t.reason == "loan_return"]
    assert {t.asset for t in loan} == {"ABC"} and sum(t.amount for t in loan) == -Decimal(LOAN)
    buyback = result["programs"]["buyback"]  # what the sale sold, bought back (and the market's moves)
    assert sum(Decimal(v) for v in buyback["filled"].values()) > Decimal(200_000)
    # a token loan is a short of LOAN tokens: hedged by a long perp while it was owed
    samples = notes(out, "deal_sample")
    open_samples = [s for s in samples if s["phase"] == "open" and s["delta"]["perp"] != 0]
    assert open_samples and all(s["delta"]["loan"] == -LOAN for s in open_samples)
    assert max(s["delta"]["perp"] for s in open_samples) > LOAN / 4


def test_the_hedger_keeps_the_net_delta_in_its_band_through_the_crash(exercised: Path) -> None:
    samples = [s for s in notes(exercised, "deal_sample") if s["delta"] is not None]
    band = samples[0]["band"]
    outside = [s for s in samples if abs(s["delta"]["hedged_net"]) > band]
    # whenever the book is outside the band, a hedge order is working (or the perp cannot trade)
    assert all(s["hedge_busy"] or not s["hedge_can_trade"] for s in outside)
    # excursions are short: after the opening hedge (and the settle's LP burn) the net is back
    # inside the band at the next sample, through the crash
    opening = samples[0]["ts"] + 10 * 1_000_000_000
    crash = [s for s in samples if s["ts"] > opening and s["phase"] == "open"]
    assert len(crash) > 30
    streak = longest = 0
    for sample in crash:
        streak = streak + 1 if abs(sample["delta"]["hedged_net"]) > band else 0
        longest = max(longest, streak)
    assert longest <= 2, "outside the band for more than two consecutive seconds"
    assert sum(abs(s["delta"]["hedged_net"]) > band for s in crash) <= 0.1 * len(crash)
    hedges = notes(exercised, "hedge_done")
    assert hedges and all(Decimal(h["filled"]) > 0 for h in hedges)


def test_a_participation_sale_follows_each_venues_traded_volume(tmp_path: Path) -> None:
    """``sale.mode = "participation"``: until its deadline each deal account has sold at most
    ``participation x`` the volume its venue traded since the sale began (the public tape the desk
    saw, journaled in every sample), and has kept up with it; at the deadline the rest is sold."""
    deal = write_deal(tmp_path)
    # the calls expire 90 s in (the sale's deadline is at 30 s): what is left at the deadline is
    # sold by IOC slices as fast as the books' displayed depth within max_slippage_bps absorbs it
    # (each level once, until the venue shows new liquidity there) -- about half a minute for the
    # sale's rest here; 60 s left it 258 ABC short at expiry
    config = write_config(tmp_path, deal, term_s=90)
    text = config.read_text().replace('mode = "twap"', 'mode = "participation"\nparticipation = 0.25', 1)
    config.write_text(text)
    out = replay(tmp_path, config, scenario="synthetic:abc_calm?duration=120&seed=7")
    (program,) = [n for n in notes(out, "deal_program") if n["definition"]["name"] == "sale"]
    definition = program["definition"]
    assert definition["mode"] == "participation" and definition["participation"] == 0.25
    deadline = definition["start_ns"] + definition["window_ns"]
    during = [
        s for s in notes(out, "deal_sample") if s["ts"] < deadline and s["programs"].get("sale") is not None
    ]
    assert len(during) > 20
    for sample in during:
        filled = sample["programs"]["sale"]["filled"]
        volume = sample["volume"]["sale"]
        for account, sold in filled.items():
            assert Decimal(sold) <= Decimal("0.25") * Decimal(volume[account]), (sample["ts"], account)
    last = during[-1]  # and it kept up: within a slice interval of its share (the books absorb it)
    for account, sold in last["programs"]["sale"]["filled"].items():
        allowed = Decimal("0.25") * Decimal(last["volume"]["sale"][account])
        assert allowed > 0, account  # every venue traded during the window
        assert Decimal(sold) >= Decimal("0.8") * min(allowed, Decimal(definition["targets"][account])), (
            account
        )
    sale = summary(out)["deal"]["programs"]["sale"]
    sold_total = sum(Decimal(v) for v in sale["filled"].values())
    assert Decimal(LOAN - 150_000 - 80_000 - POOL // 2) - sold_total < Decimal(
        "0.2"
    )  # the rest at the deadline


def test_the_perps_funding_is_the_venues_formula_and_lands_in_the_statement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay that crosses the 8-hour funding boundary (2023-11-15 00:00 UTC) with the book
    hedged: the hedge account is paid ``-position x contract size x mark x rate`` (Binance USD-M's
    funding fee: position notional at the mark price x the funding rate, longs pay a positive rate),
    and the deal statement's funding channel is exactly that, still summing to the state's PnL."""
    deal = write_deal(tmp_path)
    config = write_config(tmp_path, deal)
    monkeypatch.chdir(tmp_path)  # a relative --out: the deal's journals go to RUN_DIR/deal all the same
    # 200 s: the deal closes ~122 s in -- the unwind of ~334,000 ABC after expiry (60 s) takes about
    # a minute of market time, as the books' displayed depth within max_slippage_bps absorbs it (each
    # level once, until the venue shows new liquidity there); 100 s ended the replay mid-unwind
    scenario = "synthetic:abc_calm?duration=200&seed=5&start=1700006370"
    assert main(["replay", scenario, "--config", str(config), "--out", "run", "--progress", "off"]) == 0
    out = tmp_path / "run"
    assert sorted(p.name for p in (out / "deal").glob("*.sqlite")) == [
        "deal-abc_binance.sqlite",
        "deal-abc_bybit.sqlite",
        "deal-hedge.sqlite",
    ]
    with Journal.open(out / "deal" / "deal-hedge.sqlite", readonly=True) as journal:
        (payment,) = [r for _, _, _, r in journal.records() if isinstance(r, FundingPayment)]
    assert payment.ts == 1_700_006_400 * 10**9 and payment.instrument == "binance_usdm:ABCUSDT"
    assert payment.position < 0 and payment.rate > 0  # the book is long tokens, hedged short; shorts receive
    mark = payment.mark_price * Decimal("0.0001")  # the perp's tick
    assert payment.amount == -payment.position * 1 * mark * payment.rate > 0  # contract size 1 ABC
    for path in (out / "journal").glob("*.sqlite"):  # the quoting accounts hold no perp: no funding
        with Journal.open(path, readonly=True) as journal:
            assert not [r for _, _, _, r in journal.records() if isinstance(r, FundingPayment)]
    statement = summary(out)["deal"]["statement"]
    assert Decimal(statement["channels"]["funding"]) == payment.amount
    assert Decimal(statement["difference"]) == 0
    # the terminal line gives the whole book's PnL, not the first engine's
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "2 engines" in line and "deal abc closed" in line
    assert f"PnL {Decimal(statement['total']):,.2f} (the whole book; statement - ledger = " in line
    assert Decimal(line.split("statement - ledger = ")[1].split(";")[0]) == 0
    assert main(["report", "run"]) == 0  # and the report finds the deal there
    assert "deal abc (deal): phase closed" in capsys.readouterr().out
