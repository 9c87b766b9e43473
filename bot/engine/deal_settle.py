"""The deal's end: exercise at expiry, settlement, the loan's return and the close.

:class:`DealSettlement` is a part of :class:`~bot.engine.deal_desk.DealDesk`. At expiry the
sale stops, calls in the money are exercised (strikes from the treasury, tokens to the deal
accounts by weight, sold by the ``exercise`` program); ``settle`` stops the quoting engines
(a kill: their quotes are pulled), sweeps their accounts into the deal accounts once their
orders are closed and burns the pool position; then the loan is returned per the deal's
``loan_delta`` (tokens: buy back what is missing, return them, unwind the rest; a dollar
debt: unwind, close the perp, pay it) and the deal closes with its final statement.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import structlog

from bot.engine.deal_book import statement
from bot.engine.deal_phase import Phase
from bot.hedge.programs import Program

log = structlog.get_logger("bot.deal")

_ZERO = Decimal(0)


class DealSettlement:
    """Expiry, settlement and the loan's return (mixed into :class:`DealDesk`)."""

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
        payers = self._free_quote()
        budget = sum(payers.values(), _ZERO)
        strikes = _ZERO
        tokens = _ZERO
        for option in sorted(self.options, key=lambda o: o.strike):
            if price > option.strike:
                cost = option.strike * option.quantity
                if strikes + cost > budget:
                    self.messages.append(
                        f"call {option.strike} not exercised: the deal's accounts hold {budget} {self.quote} free"
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
        transfers: list[tuple[str, str, Decimal]] = []
        left = strikes
        for name, free in payers.items():  # the strikes come from the sale's proceeds first
            take = min(left, free)
            if take > 0:
                transfers.append((name, self.quote, -take))
                left -= take
        deliveries = self._split(tokens)
        transfers += [(name, self.token, amount) for name, amount in deliveries.items() if amount > 0]
        self.decide("exercise", now, transfers=transfers, tiers=tiers)
        self._start_program(
            Program.create("exercise", -1, deliveries, now, self.settings.expiry.sell_window_s), now
        )
        self._set_phase(Phase.EXERCISE, now, f"{len(tiers)} call tier(s) exercised")

    def _free_quote(self) -> dict[str, Decimal]:
        """Quote each account can pay out now, deal accounts (most first), then the hedge account's
        cash beyond 1.2x the perp's margin (the next margin step refills it from the proceeds)."""
        out = {
            a.name: (a.quote() - a.reserved_quote()).quantize(Decimal("1e-6"), rounding=ROUND_DOWN)
            for a in sorted(self.accounts.values(), key=lambda a: -a.quote())
        }
        hedge = self.hedge_account
        price = self.mark or _ZERO
        margin = Decimal("1.2") * abs(self.hedge.position()) * price / Decimal(hedge.ledger.leverage)
        spare = min(hedge.quote(), hedge.ledger.equity() - margin)
        out[hedge.name] = max(_ZERO, spare.quantize(Decimal("1e-6"), rounding=ROUND_DOWN))
        return out

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
