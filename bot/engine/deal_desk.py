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
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal, localcontext
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import structlog

from bot.core.events import NS_PER_S, Event, Timer, Trade
from bot.core.instrument import InstrumentSpec
from bot.core.orders import OrderFilled, OrderReport
from bot.dex.position import EXACT
from bot.engine.deal_accounts import DealAccount, program_of
from bot.engine.deal_book import DealDelta, delta_book, execution_snapshot, statement
from bot.engine.deal_hedge import DealHedge
from bot.engine.deal_pool import PoolVenue
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


class Phase(StrEnum):
    WAITING = "waiting"
    OPEN = "open"
    EXERCISE = "exercise"
    SETTLE = "settle"
    BUYBACK = "buyback"
    RETURN = "return"
    UNWIND = "unwind"
    CLOSING = "closing"
    CLOSED = "closed"


class DealDesk:
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
        if not state.sync.valid or book.best_bid is None or book.best_ask is None:
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
        if self.catching_up:
            return
        now = self.engine.clock.now
        kind = type(event)
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
        for program in self.active_programs():
            if program.mode != "participation":
                continue
            for account in self.accounts.values():
                if account.spot is not None and account.spot.key == trade.instrument:
                    program.on_volume(account.name, account.spot.size(trade.size))

    def evaluate(self, now: int) -> None:
        price = self.price()
        if price is None:
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

    # ---- steps (decide, note, commit, apply, done) ----------------------------------

    def decide(self, step: str, now: int, *, transfers: list[tuple[str, str, Decimal]], **extra: Any) -> None:
        """Record a step with effects, commit, then carry it out (see the module doc)."""
        payload = {
            "id": step,
            "ts": now,
            "transfers": [[account, asset, str(amount)] for account, asset, amount in transfers],
            **extra,
        }
        self.steps[step] = payload
        self.note("deal_step", payload)
        self._commit()
        self.apply(step, now)

    def account(self, name: str) -> tuple[DealAccount | None, Any]:
        if name == self.hedge_account.name:
            return self.hedge_account, self.hedge_account.exchange
        for account in self.accounts.values():
            if account.name == name:
                return account, account.exchange
        trading = self.mm.get(name)
        if trading is not None and trading.exchange is not None:
            return None, trading.exchange
        raise KeyError(f"no deal account {name!r}")

    def _transfer(self, step: str, index: int, name: str, asset: str, amount: Decimal) -> TransferRecord:
        _account, exchange = self.account(name)
        ref = f"{step}:{index}"
        record = exchange.transfer(asset, amount, ref, reason=step)
        if record is None:  # applied before a restart: find it
            record = self.applied[ref]
        else:
            self.applied[ref] = record
        exchange.flush()
        return record

    def apply(self, step: str, now: int) -> None:
        """Carry out a decided step (again after a restart: each transfer applies once)."""
        if step in self.done:
            return
        payload = self.steps[step]
        kind = step.split(":", 1)[0]
        if kind == "lp_burn" and self.pool.live:
            self.pool.burn(self.mark or _ZERO, now)
        records = [
            self._transfer(step, i, name, asset, Decimal(amount))
            for i, (name, asset, amount) in enumerate(payload["transfers"])
        ]
        with localcontext(EXACT):
            value = sum((r.amount * r.mark for r in records), _ZERO)
            if kind == "lp_seed":
                if not self.pool.live:
                    self.pool.mint(self.lp_tokens, self.lp_quote, -value, Decimal(payload["mark"]), now)
            elif kind == "lp_burn":
                self.pool.booked_burn(
                    value, Decimal(payload["tokens"]), Decimal(payload["quote"]), self.mark or _ZERO, now
                )
            elif kind == "exercise":
                settled = value
                self.exercise_channel += settled - self.options_mark
                self.options_settled += settled
                self.options_mark = _ZERO
                self.options = []
                self.exercised = payload.get("tiers", [])
            elif kind == "loan_return":
                withdrawn = -value
                returned = Decimal(payload["returned"])
                liability = returned * (
                    self.loan_price or _ZERO
                    if self.deal.loan_delta == "tokens"
                    else self.deal.loan.reference_price
                )
                self.loan_settlement += liability - withdrawn
                self.loan_settled += withdrawn
                self.loan_owed -= returned
                self.loan_short = Decimal(payload.get("short", "0"))
        self.done.add(step)
        self.note("deal_done", {"id": step, "ts": now, "value": str(value), **self.checkpoint()})
        self._commit()

    # ---- programs ----------------------------------------------------------------------

    def _start_program(self, program: Program, now: int) -> None:
        if program.name in self.programs:
            return  # decided before a restart
        base = execution_snapshot(self)
        self.programs[program.name] = program
        self.program_base[program.name] = {k: Decimal(v) for k, v in base.items()}
        self.note("deal_program", {"definition": program.definition(), "base": base, "ts": now})
        self._commit()
        self._log.info(
            "deal program", program=program.name, total=str(program.total), window_ns=program.window_ns
        )

    def _program_finished(self, name: str, now: int) -> bool:
        program = self.programs.get(name)
        if program is None:
            return True
        if name in self.program_end:
            return True
        if not self._exhausted(program):
            return False
        if any(self.accounts_by_name[a].in_flight(name) > 0 for a in program.targets):
            return False
        self._end_program(name, now)
        return True

    def _end_program(self, name: str, now: int) -> None:
        program = self.programs[name]
        end = execution_snapshot(self)
        self.program_end[name] = {k: Decimal(v) for k, v in end.items()}
        self.note("deal_program_end", {**program.as_dict(), "name": name, "end": end, "ts": now})
        self._commit()
        self._log.info(
            "deal program done", program=name, filled=str(program.done), unfilled=str(program.unfilled())
        )

    def _exhausted(self, program: Program) -> bool:
        if program.complete:
            return True
        for name in program.targets:
            account = self.accounts_by_name[name]
            left = program.remaining(name)
            if left <= 0 or account.spot is None:
                continue
            if program.side > 0 or left >= max(account.spot.min_qty, account.spot.qty_step):
                return False  # a buy is finished in full; a sale may leave dust below one order
        return True

    @property
    def accounts_by_name(self) -> dict[str, DealAccount]:
        return {a.name: a for a in self.accounts.values()}

    def _run_programs(self, now: int) -> None:
        for program in self.active_programs():
            if program.name in self.program_end:
                continue
            for name in program.targets:
                account = self.accounts_by_name[name]
                key = (program.name, name)
                if now < self.next_slice.get(key, 0):
                    continue
                due = program.due(name, now, account.in_flight(program.name))
                if due <= 0:
                    continue
                self._send_slice(program, account, due, now)
                self.next_slice[key] = now + self.slice_ns

    def _send_slice(self, program: Program, account: DealAccount, due: Decimal, now: int) -> None:
        spec = account.spot
        assert spec is not None
        book = account.exchange.book(spec.key)
        sale = self.settings.sale
        quantity = due if sale.max_slice is None else min(due, sale.max_slice)
        slip = sale.max_slippage_bps / Decimal(10000)
        if program.side < 0:
            best = book.best_bid
            if best is None:
                return
            limit = int((Decimal(best) * (1 - slip)).to_integral_value(rounding=ROUND_DOWN))
            quantity = min(quantity, account.tokens() - account.in_flight(program.name))
        else:
            best = book.best_ask
            if best is None:
                return
            limit = int((Decimal(best) * (1 + slip)).to_integral_value(rounding=ROUND_DOWN))
            affordable = account.quote() / (spec.price(limit) * (1 + spec.taker_fee)) * Decimal("0.999")
            quantity = min(quantity, affordable)
        if quantity <= 0 or limit <= 0:
            return
        account.send_slice(program.name, program.side, quantity, limit, now)

    # ---- the hedge account's margin ---------------------------------------------------

    def _margin(self, now: int, net: float, price: float) -> None:
        """Keep the hedge account's margin between 2x and 3x what the perp needs: move quote in
        from the deal accounts when it runs short, back to them (by weight) when it is idle --
        the sale's proceeds fund the hedge, the hedge's spare cash funds a buy-back."""
        if now < self.margin_at:
            return
        self.margin_at = now + NS_PER_S
        hedge = self.hedge_account
        leverage = Decimal(hedge.ledger.leverage)
        exposure = (abs(self.hedge.position()) + Decimal(abs(round(net)))) * Decimal(repr(price))
        equity = hedge.ledger.equity()
        need = 2 * exposure / leverage - equity
        transfers: list[tuple[str, str, Decimal]] = []
        if need > 0:
            need = (need / 1000).to_integral_value(rounding=ROUND_UP) * 1000
            for account in sorted(self.accounts.values(), key=lambda a: -a.quote()):
                free = (account.quote() - account.reserved_quote()).quantize(Decimal(1), rounding=ROUND_DOWN)
                take = min(need, free)
                if take > 0:
                    transfers += [(account.name, self.quote, -take), (hedge.name, self.quote, take)]
                    need -= take
                if need <= 0:
                    break
        else:
            spare = min(equity - 3 * exposure / leverage, hedge.quote())
            spare = (spare / 1000).to_integral_value(rounding=ROUND_DOWN) * 1000
            if spare >= 10_000 and self.phase is not Phase.WAITING:
                for name, amount in self._split_quote(spare).items():
                    if amount > 0:
                        transfers += [(hedge.name, self.quote, -amount), (name, self.quote, amount)]
        if transfers:
            self.margin_steps += 1
            self.decide(f"margin:{self.margin_steps}", now, transfers=transfers)

    def _split_quote(self, amount: Decimal) -> dict[str, Decimal]:
        total = sum((a.weight for a in self.accounts.values()), _ZERO)
        out = {
            a.name: (amount * a.weight / total).quantize(Decimal(1), rounding=ROUND_DOWN)
            for a in self.accounts.values()
        }
        out[self.ref_account.name] += amount - sum(out.values(), _ZERO)
        return out

    # ---- expiry and settlement ------------------------------------------------------

    def _expire(self, now: int, price: Decimal) -> None:
        sale = self.programs.get("sale")
        if sale is not None and "sale" not in self.program_end:
            if not sale.complete:
                sale.stop()
                self._log.warning("sale stopped at expiry", unsold=str(sale.unfilled()))
                self.messages.append(f"sale stopped at expiry with {sale.unfilled()} {self.token} unsold")
            self._end_program("sale", now)
        tiers = []
        budget = self.hedge_account.quote()
        strikes = _ZERO
        tokens = _ZERO
        for option in sorted(self.options, key=lambda o: o.strike):
            if price > option.strike:
                cost = option.strike * option.quantity
                if strikes + cost > budget:
                    self.messages.append(
                        f"call {option.strike} not exercised: the treasury holds {budget} {self.quote}"
                    )
                    continue
                strikes += cost
                tokens += option.quantity
                tiers.append({"strike": str(option.strike), "quantity": str(option.quantity)})
        if not tiers:
            # nothing in the money: the calls expire worthless (their mark is 0 at expiry)
            self.decide("exercise", now, transfers=[], tiers=[])
            self._set_phase(Phase.SETTLE, now, "calls expired out of the money")
            return
        transfers: list[tuple[str, str, Decimal]] = [(self.hedge_account.name, self.quote, -strikes)]
        deliveries = self._split(tokens)
        transfers += [(name, self.token, amount) for name, amount in deliveries.items() if amount > 0]
        self.decide("exercise", now, transfers=transfers, tiers=tiers)
        self._start_program(
            Program.create("exercise", -1, deliveries, now, self.settings.expiry.sell_window_s), now
        )
        self._set_phase(Phase.EXERCISE, now, f"{len(tiers)} call tier(s) exercised")

    def _split(self, tokens: Decimal) -> dict[str, Decimal]:
        """``tokens`` across the deal accounts by weight (lot-rounded; the rest to the reference)."""
        weights = {a.name: a.weight for a in self.accounts.values()}
        total = sum(weights.values(), _ZERO)
        out: dict[str, Decimal] = {}
        for account in self.accounts.values():
            assert account.spot is not None
            share = tokens * account.weight / total if total > 0 else _ZERO
            out[account.name] = (share // account.spot.lot_size) * account.spot.lot_size
        out[self.ref_account.name] += tokens - sum(out.values(), _ZERO)
        return out

    def _settle(self, now: int) -> bool:
        """Stop the quoting engines, sweep their accounts, burn the pool position; True when done."""
        if "stop_quoting" not in self.done:
            for trading in self.mm.values():
                pipeline = trading.pipeline
                exchange = trading.exchange
                if (
                    pipeline is not None
                    and exchange is not None
                    and not exchange.catching_up
                    and not pipeline.risk.killed
                ):
                    pipeline.kill("deal ended: loan returning", "deal", now)
            self.decide("stop_quoting", now, transfers=[])
        for name, trading in self.mm.items():
            step = f"sweep:{name}"
            if step in self.done:
                continue
            exchange = trading.exchange
            target = next((a for a in self.accounts.values() if a.engine == name), None)
            if exchange is None or target is None:
                self.done.add(step)
                continue
            if step not in self.steps:
                if exchange.orders or exchange.inflight or exchange.cancels_inflight:
                    return False  # quotes still being cancelled
                spec = self.mm_specs[name]
                tokens = spec.size(exchange.ledger.position_qty(spec.key))
                cash = exchange.ledger.balances.get(self.quote, _ZERO)
                transfers: list[tuple[str, str, Decimal]] = []
                if tokens > 0:
                    transfers += [(name, self.token, -tokens), (target.name, self.token, tokens)]
                if cash > 0:
                    transfers += [(name, self.quote, -cash), (target.name, self.quote, cash)]
                self.decide(step, now, transfers=transfers)
            else:
                self.apply(step, now)
        if "lp_burn" in self.steps:
            self.apply("lp_burn", now)
        elif self.pool.live:
            claim_tokens, claim_quote = self.pool.lp.tokens, self.pool.lp.quote
            lot = self.ref_account.spot.lot_size  # type: ignore[union-attr]
            tokens = (claim_tokens // lot) * lot
            transfers = [(self.ref_account.name, self.token, tokens)] if tokens > 0 else []
            transfers.append((self.hedge_account.name, self.quote, claim_quote))
            # the claim's dust below one lot stays unclaimed: its value leaves the books as entry/exit
            self.decide(
                "lp_burn",
                now,
                transfers=transfers,
                tokens=str(claim_tokens),
                quote=str(claim_quote),
                dust=str(claim_tokens - tokens),
            )
        return True

    def _after_settle(self, now: int) -> None:
        if self.deal.loan_delta == "tokens":
            held = sum((a.tokens() for a in self.accounts.values()), _ZERO)
            short = self.loan_owed - held
            if short > 0:
                targets = self._split(short)
                self._start_program(
                    Program.create("buyback", 1, targets, now, self.settings.expiry.return_window_s), now
                )
                self._set_phase(Phase.BUYBACK, now, f"buying back {short} {self.token}")
            else:
                self._set_phase(Phase.RETURN, now, "tokens owed are held")
        else:
            self._start_unwind(now)

    def _start_unwind(self, now: int) -> None:
        targets = {
            a.name: a.tokens()
            for a in self.accounts.values()
            if a.spot is not None and a.tokens() >= max(a.spot.min_qty, a.spot.qty_step)
        }  # dust below one order stays
        if targets:
            self._start_program(
                Program.create("unwind", -1, targets, now, self.settings.expiry.unwind_window_s), now
            )
            self._set_phase(Phase.UNWIND, now, "selling what is left")
        else:
            self._set_phase(Phase.CLOSING, now, "nothing left to sell")

    def _return_loan(self, now: int) -> None:
        if "loan_return" in self.steps:
            self.apply("loan_return", now)
            return
        owed = self.loan_owed
        transfers: list[tuple[str, str, Decimal]] = []
        if self.deal.loan_delta == "tokens":
            left = owed
            for account in sorted(self.accounts.values(), key=lambda a: a is not self.ref_account):
                take = min(left, account.tokens())
                if take > 0:
                    transfers.append((account.name, self.token, -take))
                    left -= take
            returned = owed - left
        else:
            debt = owed * self.deal.loan.reference_price
            left = debt
            for account in [self.hedge_account, *self.accounts.values()]:
                take = min(left, account.quote())
                if take > 0:
                    transfers.append((account.name, self.quote, -take))
                    left -= take
            paid = debt - left
            returned = (paid / self.deal.loan.reference_price).quantize(Decimal("1e-18"), rounding=ROUND_DOWN)
            left = owed - returned
        if left > 0:
            self.messages.append(f"loan returned short by {left} {self.token}")
            self._log.warning("loan returned short", short=str(left))
        self.decide("loan_return", now, transfers=transfers, returned=str(returned), short=str(left))

    def _close(self, now: int) -> None:
        final = statement(self)
        self.phase = Phase.CLOSED
        self.note("deal_closed", {"ts": now, "statement": final.as_dict(), **self.checkpoint()})
        self._commit()
        self._log.info(
            "deal closed",
            pnl=str(final.total()),
            ledger_pnl=str(final.ledger_pnl),
            difference=str(final.difference()),
        )

    # ---- journal -----------------------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        """The desk's own sub-ledgers (options, loan) with their marks, for a restart."""
        return {
            "phase": self.phase.value,
            "options_mark": str(self.options_mark),
            "options_start": str(self.options_start),
            "options_channel": str(self.options_channel),
            "options_settled": str(self.options_settled),
            "exercise_channel": str(self.exercise_channel),
            "exercised": self.exercised,
            "options_live": bool(self.options),
            "loan_owed": str(self.loan_owed),
            "loan_start": str(self.loan_start),
            "loan_price": None if self.loan_price is None else str(self.loan_price),
            "loan_channel": str(self.loan_channel),
            "loan_settlement": str(self.loan_settlement),
            "loan_settled": str(self.loan_settled),
            "loan_short": str(self.loan_short),
            "volume": {n: {a: str(v) for a, v in p.volume.items()} for n, p in self.programs.items()},
        }

    def restore_checkpoint(self, data: dict[str, Any]) -> None:
        self.phase = Phase(data["phase"])
        self.options_mark = Decimal(data["options_mark"])
        self.options_start = Decimal(data["options_start"])
        self.options_channel = Decimal(data["options_channel"])
        self.options_settled = Decimal(data["options_settled"])
        self.exercise_channel = Decimal(data["exercise_channel"])
        self.exercised = list(data.get("exercised") or [])
        if not data.get("options_live", True):
            self.options = []
        self.loan_owed = Decimal(data["loan_owed"])
        self.loan_start = Decimal(data["loan_start"])
        self.loan_price = None if data["loan_price"] is None else Decimal(data["loan_price"])
        self.loan_channel = Decimal(data["loan_channel"])
        self.loan_settlement = Decimal(data["loan_settlement"])
        self.loan_settled = Decimal(data["loan_settled"])
        self.loan_short = Decimal(data.get("loan_short", "0"))
        for name, volumes in (data.get("volume") or {}).items():
            program = self.programs.get(name)
            if program is not None:
                for account, value in volumes.items():
                    if account in program.volume:
                        program.volume[account] = Decimal(value)

    def _sample(self, now: int) -> None:
        delta = self.last
        st = statement(self)
        payload: dict[str, Any] = {
            "ts": now,
            "phase": self.phase.value,
            "price": None if self.mark is None else float(self.mark),
            "pool_price": self.pool.price() if self.pool.pair.reserve0 else None,
            "delta": None if delta is None else delta.as_dict(self.settings.sale.hedge_unsold),
            "band": self.settings.hedger.band,
            "hedge_busy": self.hedge.busy,
            "hedge_can_trade": self.hedge.can_trade() and now >= self.hedge.retry_at,
            "statement": {k: float(v) for k, v in st.channels.items()},
            "pnl": float(st.total()),
            "ledger_pnl": float(st.ledger_pnl),
            "programs": {n: p.as_dict() for n, p in self.programs.items()},
            "inventory": self.inventory(),
            "pool": {
                "swaps": self.pool.swaps,
                "arbitrage": self.pool.arbs,
                "noise": self.pool.noise,
                "value": str(self.pool.lp.value()),
            },
            **self.checkpoint(),
        }
        self.note("deal_sample", payload)

    def status(self) -> dict[str, Any]:
        delta = self.last
        st = statement(self)
        return {
            "deal": self.deal.name,
            "phase": self.phase.value,
            "loan_delta": self.deal.loan_delta,
            "price": None if self.mark is None else str(self.mark),
            "calendar": None if self.calendar is None else self.calendar.as_dict(),
            "delta": None if delta is None else delta.as_dict(self.settings.sale.hedge_unsold),
            "inventory": self.inventory(),
            "hedge": self.hedge.status(),
            "pool": self.pool.status(),
            "programs": {n: p.as_dict() for n, p in self.programs.items()},
            "loan": {
                "owed": str(self.loan_owed),
                "value": str(self.loan_value()),
                "short": str(self.loan_short),
            },
            "options": {"value": str(self.options_mark), "live": [o.name for o in self.options]},
            "statement": st.as_dict(),
            "messages": list(self.messages[-20:]),
        }

    def pnl(self) -> Decimal:
        """The deal's PnL now (the statement's total)."""
        return statement(self).total()

    def summary(self) -> dict[str, Any]:
        """What a run's summary.json says about the deal."""
        st = statement(self)
        delta = self.last
        return {
            "deal": self.deal.name,
            "phase": self.phase.value,
            "loan_delta": self.deal.loan_delta,
            "calendar": None if self.calendar is None else self.calendar.as_dict(),
            "statement": st.as_dict(),
            "inventory": self.inventory(),
            "delta": None if delta is None else delta.as_dict(self.settings.sale.hedge_unsold),
            "programs": {n: p.as_dict() for n, p in self.programs.items()},
            "pool": self.pool.status(),
            "hedge": self.hedge.status(),
            "loan": {"owed": str(self.loan_owed), "short": str(self.loan_short)},
            "exercised": self.exercised,
            "messages": list(self.messages),
        }

    def inventory(self) -> dict[str, dict[str, str]]:
        """Tokens and quote per account (quoting engines, deal accounts, hedge, pool)."""
        out: dict[str, dict[str, str]] = {}
        for name, trading in self.mm.items():
            if trading.exchange is None:
                continue
            spec = self.mm_specs[name]
            ledger = trading.exchange.ledger
            out[name] = {
                "venue": spec.venue,
                self.token: str(spec.size(ledger.position_qty(spec.key))),
                self.quote: str(ledger.balances.get(self.quote, _ZERO)),
            }
        for account in [*self.accounts.values(), self.hedge_account]:
            venue = (account.spot or account.perp).venue  # type: ignore[union-attr]
            out[account.name] = {
                "venue": venue,
                self.token: str(account.tokens()),
                self.quote: str(account.quote()),
            }
        out["hedge_perp"] = {
            "venue": self.hedge.spec.venue,
            self.token: str(self.hedge.position()),
            self.quote: "0",
        }
        out["pool"] = {
            "venue": self.pool.venue,
            self.token: str(self.pool.lp.tokens),
            self.quote: str(self.pool.lp.quote),
        }
        return out
