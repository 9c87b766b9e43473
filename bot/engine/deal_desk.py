"""The deal desk: a deal file run as one book, from the first event to the loan's return.

:class:`DealDesk` is the handler of its own engine (all the deal token's spot markets and
the perpetual), registered after the desk's paper accounts (:mod:`bot.engine.deal_accounts`).
On every event it marks the deal at the reference market's mid, runs the pool
(:mod:`bot.engine.deal_pool`), advances the lifecycle and re-hedges the whole book
(:mod:`bot.engine.deal_hedge`). Phases (market time, :class:`~bot.hedge.calendar.DealCalendar`):

``waiting`` -> ``open`` (start: the pool's liquidity is deposited, the initial sale
program starts; market making and hedging run) -> at expiry ``exercise`` (calls in the
money are exercised: the strikes are paid from the treasury, the tokens delivered to the
deal accounts and sold by the ``exercise`` program) -> ``settle`` (the quoting engines are
stopped, their accounts swept into the deal accounts, the pool position burned) ->
``loan_delta = "tokens"``: ``buyback`` (buy what is owed and missing) -> ``return`` (the
tokens go back) -> ``unwind`` (sell what is left); ``"usd_debt"``: ``unwind`` ->
``return`` (the debt is paid in quote) -> ``closing`` (the perp is flattened) -> ``closed``.

Crash safety: every step with effects is decided first -- a ``deal_step`` note in the
hedge account's unit of work, committed at once -- and then carried out by transfers
whose ``ref`` makes each one apply once; a ``deal_done`` note closes it. A restarted
desk re-reads its notes, re-applies what a crash interrupted and continues; programs'
progress is folded from the accounts' fills. Nothing is decided while an account replays
journaled input (``catching_up``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import TYPE_CHECKING, Any

import structlog

from bot.core.events import NS_PER_S, Event, Timer, Trade
from bot.core.instrument import InstrumentSpec
from bot.core.orders import OrderFilled, OrderReport
from bot.dex.position import EXACT
from bot.engine.deal_accounts import DealAccount, program_of
from bot.engine.deal_book import DealDelta, delta_book
from bot.engine.deal_hedge import DealHedge
from bot.engine.deal_phase import Phase
from bot.engine.deal_pool import PoolVenue
from bot.engine.deal_programs import DealPrograms
from bot.engine.deal_settle import DealSettlement
from bot.engine.deal_steps import DealSteps
from bot.engine.deal_views import DealViews
from bot.engine.loop import Engine
from bot.hedge.attribution import ModelPnl
from bot.hedge.calendar import DealCalendar
from bot.hedge.deal import Deal
from bot.hedge.deal_settings import DealSettings
from bot.hedge.dealbook import deal_options
from bot.hedge.delta import DeltaBreakdown, OptionPosition
from bot.hedge.programs import Program
from bot.paper.records import TransferRecord

if TYPE_CHECKING:
    from bot.engine.assemble import TradingEngine

log = structlog.get_logger("bot.deal")

_ZERO = Decimal(0)
_MONEY = Decimal("1e-8")


class DealDesk(DealSteps, DealPrograms, DealSettlement, DealViews):
    def __init__(
        self,
        engine: Engine,
        deal: Deal,
        settings: DealSettings,
        *,
        reference: str,
        accounts: dict[str, DealAccount],
        hedge_account: DealAccount,
        mm: Mapping[str, TradingEngine],
        mm_specs: Mapping[str, InstrumentSpec],
        pool: PoolVenue,
        sale_tokens: Decimal,
        lp_tokens: Decimal,
        lp_quote: Decimal,
    ) -> None:
        self.engine = engine
        self.deal = deal
        self.settings = settings
        self.name = settings.name
        self.reference = reference
        self.ref_state = engine.instruments[reference]
        self.accounts = accounts
        self.hedge_account = hedge_account
        self.ref_account = next(
            a for a in accounts.values() if a.spot is not None and a.spot.key == reference
        )
        self.mm = dict(mm)
        self.mm_specs = dict(mm_specs)
        self.pool = pool
        self.sale_tokens = sale_tokens
        self.lp_tokens = lp_tokens
        self.lp_quote = lp_quote
        assert hedge_account.perp is not None
        self.hedge = DealHedge(
            hedge_account,
            engine.instruments[hedge_account.perp.key],
            settings.hedger,
            retry_after_s=settings.retry_after_s,
            note=self.note,
        )
        self.token = deal.token
        self.quote = deal.quote
        self.phase = Phase.WAITING
        self.calendar: DealCalendar | None = None if settings.term_s is not None else DealCalendar.real(deal)
        self.options: list[OptionPosition] = deal_options(deal)
        self.exercised: list[dict[str, str]] = []
        self.mark: Decimal | None = None
        self.options_mark = _ZERO
        self.options_start = _ZERO
        self.options_channel = _ZERO
        self.options_settled = _ZERO
        self.exercise_channel = _ZERO
        self.loan_owed = deal.loan.tokens
        self.loan_start = _ZERO
        self.loan_price: Decimal | None = None
        self.loan_channel = _ZERO
        self.loan_settlement = _ZERO
        self.loan_settled = _ZERO
        self.loan_short = _ZERO
        self.programs: dict[str, Program] = {}
        self.program_base: dict[str, dict[str, Decimal]] = {}
        self.program_end: dict[str, dict[str, Decimal]] = {}
        self.steps: dict[str, dict[str, Any]] = {}
        self.done: set[str] = set()
        self.model = ModelPnl()
        self.last: DealDelta | None = None
        self.next_sample = 0
        self.volume_event = -1
        """The engine's event count at the checkpoint the programs' participation volume was
        restored from: while a resumed replay catches up, later trades are counted again."""
        self.next_slice: dict[tuple[str, str], int] = {}
        self.sample_ns = int(settings.sample_interval_s * NS_PER_S)
        self.slice_ns = int(settings.sale.interval_s * NS_PER_S)
        self.evaluations = 0
        self.messages: list[str] = []
        self.margin_at = 0
        self.margin_steps = 0
        self.pending: list[str] = []
        """Steps decided but not carried out before a restart: finished at the next evaluation."""
        self.allotments: dict[str, Decimal] = {}
        """Sale tokens each deal account was funded with."""
        self.applied: dict[str, TransferRecord] = {}
        """Transfers the desk made, by ref (folded from the accounts' journals at start)."""
        self._log = log.bind(deal=deal.name)

    # ---- notes (the hedge account's unit of work) ------------------------------------

    def note(self, kind: str, payload: dict[str, Any]) -> None:
        self.hedge_account.exchange.note(kind, payload)

    def _commit(self) -> None:
        self.hedge_account.exchange.flush()

    # ---- views -----------------------------------------------------------------------

    @property
    def catching_up(self) -> bool:
        return self.hedge_account.catching_up or any(a.catching_up for a in self.accounts.values())

    def price(self) -> Decimal | None:
        """The deal's mark: the reference market's mid (exact)."""
        state = self.ref_state
        book = state.book
        if not state.quotable or book.best_bid is None or book.best_ask is None:
            return None
        return Decimal(book.best_bid + book.best_ask) * state.spec.tick_size / 2

    def valuation_ns(self, now: int) -> int:
        calendar = self.calendar
        return now if calendar is None else calendar.deal_time(now)

    def active_programs(self) -> list[Program]:
        return [p for n, p in self.programs.items() if not p.complete and n not in self.program_end]

    def loan_value(self) -> Decimal:
        """The loan's liability at its mark (tokens x price, or the fixed dollar debt)."""
        with localcontext(EXACT):
            if self.deal.loan_delta == "tokens":
                return self.loan_owed * (self.loan_price or _ZERO)
            return self.loan_owed * self.deal.loan.reference_price

    def model_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"gamma_scalping": self.model.as_dict()}
        lp = self.pool.lp
        if lp.price0 is not None and self.mark is not None:
            from bot.dex.position import hold_il

            info["lp_vs_hold_closed_form"] = hold_il(float(self.mark), float(lp.price0))
        if self.calendar is not None:
            info["calendar"] = self.calendar.as_dict()
        info["loan_short"] = str(self.loan_short)
        info["exercised"] = list(self.exercised)
        return info

    # ---- the handler -----------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        if self.phase is Phase.CLOSED:
            return
        now = self.engine.clock.now
        kind = type(event)
        if self.catching_up:
            if kind is Trade and self.engine.events > self.volume_event:
                self._on_trade(event)  # type: ignore[arg-type]
            return
        if kind is Trade:
            self._on_trade(event)  # type: ignore[arg-type]
        elif kind is not Timer and event.instrument not in (self.reference, self.hedge.spec.key):  # type: ignore[union-attr]
            return
        self.evaluate(now)

    def on_report(self, account: DealAccount, report: OrderReport) -> None:
        if account.catching_up:
            return
        now = self.engine.clock.now
        if account is self.hedge_account:
            self.hedge.on_report(report, now)
            return
        if isinstance(report, OrderFilled):
            program = self.programs.get(program_of(report.client_id))
            if program is not None and account.spot is not None:
                program.on_fill(account.name, account.spot.size(report.size))

    def _on_trade(self, trade: Trade) -> None:
        now = self.engine.clock.now
        for program in self.active_programs():
            if program.mode != "participation" or now < program.start_ns:
                continue
            for account in self.accounts.values():
                if account.spot is not None and account.spot.key == trade.instrument:
                    program.on_volume(account.name, account.spot.size(trade.size))

    def held(self) -> str | None:
        """Why the desk does nothing now: one of its accounts' journals cannot write (a step
        would be lost, so none is taken until the writes succeed again), else None."""
        for account in (self.hedge_account, *self.accounts.values()):
            if account.exchange.failed is not None:
                return account.exchange.failed
        return None

    def evaluate(self, now: int) -> None:
        price = self.price()
        if price is None or self.held() is not None:
            return
        self.evaluations += 1
        if self.phase is Phase.WAITING:
            self.mark = price
            if self.calendar is not None and not self.calendar.started(now):
                return
            self._start(now, price)
        self._mark(now, price)
        if self.pending:
            steps, self.pending = self.pending, []
            for step in steps:
                self._log.info("deal step finished after a restart", step=step)
                self.apply(step, now)
        self._lifecycle(now, price)
        delta = self.last = delta_book(self, float(price), now)
        if self.phase not in (Phase.CLOSING, Phase.CLOSED, Phase.RETURN):
            net = delta.hedged_net(self.settings.sale.hedge_unsold) + self.hedge.pending_delta()
            self._margin(now, net, float(price))
            self.hedge.step(now, net, float(price))
        if now >= self.next_sample:
            self.next_sample = now + self.sample_ns
            self._sample(now)

    # ---- marks -------------------------------------------------------------------------

    def _mark(self, now: int, price: Decimal) -> None:
        self.mark = price
        self.pool.advance(now, price)
        value = self._options_value(price, now)
        with localcontext(EXACT):
            self.options_channel += value - self.options_mark
            self.options_mark = value
            if self.deal.loan_delta == "tokens" and self.loan_price is not None and price != self.loan_price:
                self.loan_channel -= self.loan_owed * (price - self.loan_price)
        self.loan_price = price
        if self.options:
            breakdown = self._breakdown(price, now)
            self.model.update(self.valuation_ns(now), breakdown)

    def _options_value(self, price: Decimal, now: int) -> Decimal:
        if not self.options:
            return _ZERO
        valuation = self.valuation_ns(now)
        total = sum(float(o.quantity) * o.greeks(float(price), valuation).price for o in self.options)
        return Decimal(repr(total)).quantize(_MONEY, rounding=ROUND_HALF_EVEN)

    def _breakdown(self, price: Decimal, now: int) -> DeltaBreakdown:
        valuation = self.valuation_ns(now)
        options = value = theta = gamma = 0.0
        for option in self.options:
            greeks = option.greeks(float(price), valuation)
            qty = float(option.quantity)
            options += qty * greeks.delta
            value += qty * greeks.price
            theta += qty * greeks.theta
            gamma += qty * greeks.gamma
        lp = float(self.pool.lp.tokens)
        return DeltaBreakdown(
            asset=self.token,
            price=float(price),
            spot=0.0,
            loan=0.0,
            perp=0.0,
            options=options,
            lp=lp,
            options_value=value,
            options_theta=theta,
            options_gamma=gamma,
            lp_value=float(self.pool.lp.value()),
        )

    # ---- lifecycle ---------------------------------------------------------------------

    def _set_phase(self, phase: Phase, now: int, why: str = "") -> None:
        self._log.info("deal phase", phase=phase.value, previous=self.phase.value, why=why)
        self.phase = phase
        self.note("deal_phase", {"phase": phase.value, "ts": now, "why": why, **self.checkpoint()})
        self._commit()

    def _start(self, now: int, price: Decimal) -> None:
        if self.settings.term_s is not None:
            self.calendar = DealCalendar.compressed(self.deal, now, self.settings.term_s)
        assert self.calendar is not None
        self.loan_price = price
        value = self._options_value(price, now)
        self.options_mark = self.options_start = value
        self.loan_start = self.loan_value()
        self.note(
            "deal_start",
            {
                "deal": self.deal.name,
                "loan_delta": self.deal.loan_delta,
                "ts": now,
                "price": str(price),
                "calendar": self.calendar.as_dict(),
                "options_value": str(value),
                "loan_value": str(self.loan_start),
                "loan_owed": str(self.loan_owed),
                "sale_tokens": str(self.sale_tokens),
                "lp": {"tokens": str(self.lp_tokens), "quote": str(self.lp_quote)},
                "accounts": {a.name: str(a.weight) for a in self.accounts.values()},
            },
        )
        self.pool.start_flow(now)
        self.decide(
            "lp_seed",
            now,
            transfers=[
                (self.ref_account.name, self.token, -self.lp_tokens),
                (self.hedge_account.name, self.quote, -self.lp_quote),
            ],
            mark=str(price),
        )
        if self.sale_tokens > 0:
            targets = {
                a.name: min(self.allotment(a), a.tokens())
                for a in self.accounts.values()
                if self.allotment(a) > 0
            }
            self._start_program(
                Program.create(
                    "sale",
                    -1,
                    targets,
                    now,
                    self.settings.sale.window_s,
                    mode=self.settings.sale.mode,
                    participation=self.settings.sale.participation,
                ),
                now,
            )
        self._set_phase(Phase.OPEN, now, "deal started")

    def allotment(self, account: DealAccount) -> Decimal:
        """The sale tokens this account was funded with (weights of the deal's venues)."""
        return self.allotments.get(account.name, _ZERO)

    def _lifecycle(self, now: int, price: Decimal) -> None:
        phase = self.phase
        calendar = self.calendar
        assert calendar is not None
        self._run_programs(now)
        if phase is Phase.OPEN:
            if "sale" in self.programs:
                self._program_finished("sale", now)
            if calendar.expired(now):
                self._expire(now, price)
        elif phase is Phase.EXERCISE:
            if self._program_finished("exercise", now):
                self._set_phase(Phase.SETTLE, now, "exercised tokens sold")
        elif phase is Phase.SETTLE:
            if self._settle(now):
                self._after_settle(now)
        elif phase is Phase.BUYBACK:
            if self._program_finished("buyback", now):
                self._set_phase(Phase.RETURN, now, "tokens owed bought back")
        elif phase is Phase.RETURN:
            self._return_loan(now)
            if self.deal.loan_delta == "tokens":
                self._start_unwind(now)
            else:
                self._close(now)
        elif phase is Phase.UNWIND and self._program_finished("unwind", now):
            self._set_phase(Phase.CLOSING, now, "unwound")
        elif phase is Phase.CLOSING and self.hedge.close(now):
            if self.deal.loan_delta == "tokens":
                self._close(now)
            else:
                self._set_phase(Phase.RETURN, now, "hedge closed: paying the debt")
