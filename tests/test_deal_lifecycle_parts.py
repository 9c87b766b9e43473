"""The deal's pure lifecycle parts: the compressed calendar, the execution programs, the statement."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from bot.hedge.calendar import DealCalendar
from bot.hedge.deal import load_deal
from bot.hedge.dealbook import date_ns
from bot.hedge.programs import Program
from bot.hedge.statement import NAMES, DealStatement, format_statement

REPO = Path(__file__).resolve().parents[1]
DEAL = load_deal(REPO / "config" / "deals" / "abc.toml", dt.date(2026, 1, 1))
S = 1_000_000_000
T0 = 1_700_000_000 * S


def test_compressed_calendar_maps_the_term_onto_market_seconds() -> None:
    calendar = DealCalendar.compressed(DEAL, T0, 1380.0)
    assert calendar.expiry_ns == T0 + 1380 * S
    assert calendar.deal_time(T0) == date_ns(dt.date(2026, 12, 1))
    assert calendar.deal_time(calendar.expiry_ns) == date_ns(dt.date(2027, 12, 1))
    # half-way through the market window is half-way through the year (ACT/365: 182.5 days)
    assert calendar.deal_time(T0 + 690 * S) == date_ns(dt.date(2026, 12, 1)) + 365 * 86_400 * S // 2
    assert calendar.scale == pytest.approx(365 * 86_400 / 1380)
    assert calendar.deal_time(T0 - S) == calendar.deal_start_ns  # clamped
    assert calendar.deal_time(calendar.expiry_ns + S) == calendar.deal_expiry_ns
    assert not calendar.expired(calendar.expiry_ns - 1) and calendar.expired(calendar.expiry_ns)
    real = DealCalendar.real(DEAL)
    assert real.scale == 1 and real.deal_time(real.start_ns + 5 * S) == real.start_ns + 5 * S
    with pytest.raises(ValueError):
        DealCalendar.compressed(DEAL, T0, 0)


def test_twap_program_schedules_evenly_and_counts_in_flight() -> None:
    program = Program.create("sale", -1, {"a": Decimal(1000), "b": Decimal(500)}, T0, 100.0)
    assert program.due("a", T0) == 0
    assert program.due("a", T0 + 25 * S) == 250
    assert program.due("a", T0 + 25 * S, in_flight=Decimal(100)) == 150
    program.on_fill("a", Decimal(250))
    assert program.due("a", T0 + 25 * S) == 0 and program.due("a", T0 + 50 * S) == 250
    assert program.due("b", T0 + 200 * S) == 500  # past the window: everything
    assert program.remaining() == 1250 and not program.complete
    program.on_fill("a", Decimal(750))
    program.on_fill("b", Decimal(500))
    assert program.complete and program.remaining() == 0
    again = Program.from_definition(program.definition())
    assert again.targets == program.targets and again.window_ns == 100 * S and again.done == 0


def test_participation_program_follows_volume_until_its_deadline() -> None:
    program = Program.create(
        "sale", -1, {"a": Decimal(1000)}, T0, 60.0, mode="participation", participation=0.1
    )
    program.on_volume("a", Decimal(2000))
    assert program.due("a", T0 + 10 * S) == 200  # 10 % of the 2,000 traded
    program.on_fill("a", Decimal(200))
    program.on_volume("a", Decimal(500))
    assert program.due("a", T0 + 20 * S) == 50
    assert program.due("a", T0 + 60 * S) == 800  # the deadline: the rest
    program.stop()
    assert program.complete and program.due("a", T0 + 61 * S) == 0 and program.unfilled() == 800


def test_statement_sums_channels_and_checks_them_against_state() -> None:
    st = DealStatement()
    assert set(st.channels) == set(NAMES)
    st.add("cex_spread", Decimal("10.5"))
    st.add("hedge", Decimal("-3.25"))
    st.add("lp_fees", Decimal("0.000000000000000001"))
    st.ledger_pnl = Decimal("7.250000000000000001")
    assert st.total() == st.ledger_pnl and st.check()
    st.ledger_pnl += Decimal("1e-18")
    assert not st.check() and st.difference() == Decimal("-1e-18")
    with pytest.raises(KeyError):
        st.add("nope", Decimal(1))
    text = "\n".join(format_statement(st.as_dict()))
    assert "CEX spread capture" in text and "(!)" in text
