"""The deal's book: its net delta across venues and its statement, read from the desk's parts.

:func:`delta_book` sums the deal's delta (tokens) where it sits -- each quoting account's
inventory, each deal account's, the pool position's claim, the calls (Black-Scholes on
the deal's calendar), the perp and the loan (per the deal's ``loan_delta``) -- and says
what the hedger steers: the net without the tokens the running block trades are about to
sell or buy (unless ``sale.hedge_unsold``).

:func:`statement` books the PnL by channel (:mod:`bot.hedge.statement`) from the paper
ledgers' attributions, the programs' execution snapshots, the pool position's accounting
and the desk's own marks, and computes the same PnL from state for the check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any, Protocol

from bot.core.instrument import InstrumentSpec
from bot.dex.position import EXACT
from bot.engine.deal_accounts import DealAccount
from bot.engine.deal_hedge import DealHedge
from bot.engine.deal_pool import PoolVenue
from bot.hedge.deal import Deal
from bot.hedge.delta import OptionPosition
from bot.hedge.programs import Program
from bot.hedge.statement import PROGRAM_CHANNELS, DealStatement

_ZERO = Decimal(0)


class DealDesk(Protocol):
    """What the book reads of the desk (:class:`bot.engine.deal_desk.DealDesk`; a protocol, so
    this module does not import the desk that imports it)."""

    deal: Deal
    mm: Mapping[str, Any]
    """Quoting engines (``TradingEngine``: ``.exchange``) by name."""
    mm_specs: Mapping[str, InstrumentSpec]
    accounts: Mapping[str, DealAccount]
    hedge_account: DealAccount
    hedge: DealHedge
    pool: PoolVenue
    options: list[OptionPosition]
    programs: dict[str, Program]
    program_base: dict[str, dict[str, Decimal]]
    program_end: dict[str, dict[str, Decimal]]
    loan_owed: Decimal
    loan_start: Decimal
    loan_settled: Decimal
    loan_channel: Decimal
    loan_settlement: Decimal
    options_mark: Decimal
    options_start: Decimal
    options_settled: Decimal
    options_channel: Decimal
    exercise_channel: Decimal

    def valuation_ns(self, now: int) -> int: ...

    def loan_value(self) -> Decimal: ...

    def model_info(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class DealDelta:
    price: float
    spot: dict[str, float]
    """Tokens per location: ``<engine>`` (quoting account), ``deal-<engine>`` (deal account)."""
    lp: float
    options: float
    option_detail: dict[str, float]
    perp: float
    loan: float
    in_programs: float
    """Tokens the initial sale will still sell within its window (held, but about to leave: the
    sale is their hedge unless ``sale.hedge_unsold``); 0 once the window is over. The other
    programs' tokens are hedged as they are held."""
    pending_hedge: float
    gamma: float = 0.0
    options_value: float = 0.0
    options_theta: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def spot_total(self) -> float:
        return sum(self.spot.values())

    @property
    def net(self) -> float:
        return self.spot_total + self.lp + self.options + self.perp + self.loan

    def hedged_net(self, hedge_unsold: bool) -> float:
        """What the hedger steers: the net, less what the initial sale is about to sell."""
        return self.net if hedge_unsold else self.net - self.in_programs

    def as_dict(self, hedge_unsold: bool) -> dict[str, Any]:
        return {
            "price": self.price,
            "spot": dict(self.spot),
            "spot_total": self.spot_total,
            "lp": self.lp,
            "options": self.options,
            "option_detail": dict(self.option_detail),
            "perp": self.perp,
            "loan": self.loan,
            "net": self.net,
            "in_programs": self.in_programs,
            "hedged_net": self.hedged_net(hedge_unsold),
            "pending_hedge": self.pending_hedge,
            "gamma": self.gamma,
            "options_value": self.options_value,
        }


def delta_book(desk: DealDesk, price: float, now: int) -> DealDelta:
    spot: dict[str, float] = {}
    for name, trading in desk.mm.items():
        exchange = trading.exchange
        spec = desk.mm_specs[name]
        if exchange is not None:
            spot[name] = float(spec.size(exchange.ledger.position_qty(spec.key)))
    for account in desk.accounts.values():
        spot[account.name] = float(account.tokens())
    options = 0.0
    detail: dict[str, float] = {}
    gamma = value = theta = 0.0
    valuation = desk.valuation_ns(now)
    for option in desk.options:
        greeks = option.greeks(price, valuation)
        qty = float(option.quantity)
        detail[option.name] = qty * greeks.delta
        options += qty * greeks.delta
        gamma += qty * greeks.gamma
        value += qty * greeks.price
        theta += qty * greeks.theta
    lp = float(desk.pool.lp.tokens)
    if lp and desk.pool.pair.reserve0:
        gamma -= lp / (2 * price)
    sale = desk.programs.get("sale")
    in_window = sale is not None and "sale" not in desk.program_end and now < sale.start_ns + sale.window_ns
    in_programs = float(sale.remaining()) if sale is not None and in_window else 0.0
    loan = -float(desk.loan_owed) if desk.deal.loan_delta == "tokens" else 0.0
    return DealDelta(
        price=price,
        spot=spot,
        lp=lp,
        options=options,
        option_detail=detail,
        perp=float(desk.hedge.position()),
        loan=loan,
        in_programs=in_programs,
        pending_hedge=desk.hedge.pending_delta(),
        gamma=gamma,
        options_value=value,
        options_theta=theta,
    )


def statement(desk: DealDesk) -> DealStatement:
    """The deal's PnL by channel, and the same PnL from state (``ledger_pnl``)."""
    st = DealStatement(quote=desk.deal.quote)
    with localcontext(EXACT):
        state_pnl = _ZERO
        for trading in desk.mm.values():
            if trading.exchange is None:
                continue
            att = trading.exchange.ledger.attribution()
            st.add("cex_spread", att.spread_capture)
            st.add("cex_rebates", att.rebates)
            st.add("cex_fees", att.fees)
            st.add("cex_inventory", att.inventory)
            st.add("funding", att.funding)
            state_pnl += att.total
        for account in desk.accounts.values():
            att = account.ledger.attribution()
            execution = att.spread_capture + att.rebates + att.fees
            claimed = _ZERO
            for name, program in desk.programs.items():
                base = desk.program_base.get(name, {}).get(account.name)
                if base is None or account.name not in program.targets:
                    continue
                end = desk.program_end.get(name, {}).get(account.name)
                spent = (end if end is not None else execution) - base
                st.add(PROGRAM_CHANNELS[name], spent)
                claimed += spent
            st.add("other", execution - claimed)
            st.add("deal_inventory", att.inventory)
            st.add("funding", att.funding)
            state_pnl += att.total
        att = desk.hedge_account.ledger.attribution()
        st.add("hedge", att.spread_capture + att.rebates + att.fees + att.inventory)
        st.add("funding", att.funding)
        state_pnl += att.total
        lp = desk.pool.lp
        st.add("lp_fees", lp.fees)
        st.add("impermanent_loss", lp.impermanent_loss)
        st.add("lp_delta", lp.delta_pnl)
        st.add("lp_entry_exit", lp.entry_exit)
        state_pnl += lp.value() - lp.basis
        st.add("options", desk.options_channel)
        st.add("exercise", desk.exercise_channel)
        state_pnl += desk.options_mark + desk.options_settled - desk.options_start
        st.add("loan", desk.loan_channel)
        st.add("loan_settlement", desk.loan_settlement)
        state_pnl += desk.loan_start - desk.loan_value() - desk.loan_settled
        st.ledger_pnl = state_pnl
    st.info = desk.model_info()
    return st


def execution_snapshot(desk: DealDesk) -> dict[str, str]:
    """Each deal account's spread + rebates + fees now (a program's start/end mark)."""
    out: dict[str, str] = {}
    for account in desk.accounts.values():
        att = account.ledger.attribution()
        with localcontext(EXACT):
            out[account.name] = str(att.spread_capture + att.rebates + att.fees)
    return out
