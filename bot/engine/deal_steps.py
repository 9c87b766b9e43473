"""Steps with effects of the deal desk: decided, journaled, then carried out once.

:class:`DealSteps` is a part of :class:`~bot.engine.deal_desk.DealDesk` (a mixin over its
state). A step -- the pool deposit, exercise, a sweep, the pool burn, a margin move, the
loan's return -- is first journaled as a ``deal_step`` note (its transfers, with amounts) in
the hedge account's unit of work and committed; then each transfer is applied with the
``ref`` ``<step>:<index>`` (an account applies a ref once: a step re-applied after a crash
skips what was done), then the desk books what the step moved in its own books (the pool
position's basis, the calls' settlement, the loan's) and journals ``deal_done`` with its
checkpoint. The hedge account's margin is kept between 2x and 3x the perp's need by such
steps between it and the deal accounts.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Decimal, localcontext
from typing import Any

import structlog

from bot.core.events import NS_PER_S
from bot.dex.position import EXACT
from bot.engine.deal_accounts import DealAccount
from bot.engine.deal_phase import Phase
from bot.paper.records import TransferRecord

log = structlog.get_logger("bot.deal")

_ZERO = Decimal(0)


class DealSteps:
    """Step mechanics and margin of the deal desk (mixed into :class:`DealDesk`)."""

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
        if record is None:  # applied before a restart: the deal accounts' journals were folded at start
            found = self.applied.get(ref)
            if found is None:
                if step.split(":", 1)[0] in ("lp_seed", "lp_burn", "exercise", "loan_return"):
                    raise KeyError(f"deal step {step}: transfer {ref} was applied but is not in the journals")
                # a quoting account's side of a sweep: its value is not booked by the desk
                found = TransferRecord(
                    ts=0, asset=asset, amount=amount, mark=Decimal(0), ref=ref, reason=step
                )
            record = found
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
