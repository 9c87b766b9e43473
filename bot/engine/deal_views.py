"""The deal desk's journal and views: checkpoints, samples, ``/status`` and the run summary.

:class:`DealViews` is a part of :class:`~bot.engine.deal_desk.DealDesk`. The checkpoint is the
desk's own sub-ledgers (the calls', the loan's) with their marks, journaled with every phase,
step and sample so that a restart resumes them; a ``deal_sample`` every ``sample_interval_s``
carries the delta book, every account's inventory, the statement's channels and the
programs' progress (what ``mmbot report`` plots).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.engine.deal_book import statement
from bot.engine.deal_phase import Phase

_ZERO = Decimal(0)


class DealViews:
    """Checkpoint, samples and views of the deal desk (mixed into :class:`DealDesk`)."""

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
            "volume_event": self.engine.events,
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
