"""The deal desk's block trades: running its execution programs through the deal accounts.

:class:`DealPrograms` is a part of :class:`~bot.engine.deal_desk.DealDesk`. A program
(:class:`~bot.hedge.programs.Program`: the sale, the exercised tokens' sale, the buy-back,
the unwind) is journaled with the deal accounts' execution totals at its start; every
``sale.interval_s`` each account sends what is due as one IOC limit order at most
``sale.max_slippage_bps`` through the touch (a buy rounds up to the venue's minimum order,
so what is owed is bought in full); the program ends when every target is filled (a sale
may leave dust below one order) and nothing is in flight, journaled with the accounts'
execution totals then -- the statement's channel of the program is the difference.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import structlog

from bot.engine.deal_accounts import DealAccount
from bot.engine.deal_book import execution_snapshot
from bot.hedge.programs import Program

log = structlog.get_logger("bot.deal")

_ZERO = Decimal(0)


class DealPrograms:
    """Program scheduling and slices of the deal desk (mixed into :class:`DealDesk`)."""

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
            if program.side > 0 or not self._dust(program, account, left):
                return False  # a buy is finished in full; a sale may leave dust below one order
        return True

    def _dust(self, program: Program, account: DealAccount, tokens: Decimal) -> bool:
        """``tokens`` are below the venue's smallest sell order: under its minimum quantity or
        step, or under its minimum notional at the price a slice would be sent at now."""
        spec = account.spot
        assert spec is not None
        if (tokens // spec.qty_step) * spec.qty_step < max(spec.min_qty, spec.qty_step):
            return True
        limit = self._limit(program, account)
        return (
            bool(spec.min_notional) and limit is not None and tokens * spec.price(limit) < spec.min_notional
        )

    def _limit(self, program: Program, account: DealAccount) -> int | None:
        """A slice's limit price: at most ``sale.max_slippage_bps`` through the touch (None: no touch)."""
        spec = account.spot
        assert spec is not None
        book = account.exchange.book(spec.key)
        slip = self.settings.sale.max_slippage_bps / Decimal(10000)
        best = book.best_bid if program.side < 0 else book.best_ask
        if best is None:
            return None
        return int((Decimal(best) * (1 + program.side * slip)).to_integral_value(rounding=ROUND_DOWN))

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
        sale = self.settings.sale
        quantity = due if sale.max_slice is None else min(due, sale.max_slice)
        limit = self._limit(program, account)
        if limit is None:
            return
        if program.side < 0:
            quantity = min(quantity, account.tokens() - account.in_flight(program.name))
        else:
            affordable = account.quote() / (spec.price(limit) * (1 + spec.taker_fee)) * Decimal("0.999")
            quantity = min(quantity, affordable)
        if quantity <= 0 or limit <= 0:
            return
        account.send_slice(program.name, program.side, quantity, limit, now)
