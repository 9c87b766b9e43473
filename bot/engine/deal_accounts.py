"""The deal desk's paper accounts: one per venue that quotes the deal's token, plus the hedge account.

A :class:`DealAccount` is a paper exchange (its own journal in ``<data_dir>/deal/``)
registered as a handler of the desk's engine, so it sees the same public books as the
quoting engines but keeps its own ledger: the deal's block trades (the sale, the
exercised tokens' sale, the buy-back, the unwind) and its transfers (the pool's deposit,
exercise, the loan's return) never touch the market maker's quoting accounts or their
risk limits. The hedge account trades the perpetual and holds the treasury (the quote
the pool, the strikes and the perp's margin come from); its journal also carries the
desk's own notes (:meth:`~bot.paper.exchange.PaperExchange.note`).

Program orders are IOC limit orders with client ids ``<program>-<n>`` (``sale-17``); the
account knows how much of each program is in flight, and folds its journal's fills back
into per-program totals after a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from bot.core.events import Side
from bot.core.instrument import InstrumentSpec
from bot.core.orders import NewOrder, OrderReport, OrderType, TimeInForce
from bot.paper.exchange import PaperExchange
from bot.paper.ledger import Ledger
from bot.paper.records import FillRecord, TransferRecord
from bot.paper.settings import PaperSettings
from bot.store.journal import Journal
from bot.store.recovery import open_paper

DEAL_DIR = "deal"


def program_of(client_id: str) -> str:
    """The program (or ``hedge``) an order of a deal account belongs to."""
    return client_id.split("-", 1)[0]


@dataclass
class DealAccount:
    name: str
    exchange: PaperExchange
    journal: Journal | None
    spot: InstrumentSpec | None
    perp: InstrumentSpec | None = None
    engine: str | None = None
    """The quoting engine on the same venue (None for the hedge account)."""
    weight: Decimal = Decimal(0)
    """Share of the deal's block trades on this venue."""
    start_fills: dict[str, Decimal] = field(default_factory=dict)
    """Tokens filled per program, folded from the journal at start."""
    transfers: list[TransferRecord] = field(default_factory=list)
    """Transfers folded from the journal at start."""

    @property
    def ledger(self) -> Ledger:
        return self.exchange.ledger

    @property
    def catching_up(self) -> bool:
        return self.exchange.catching_up

    def tokens(self) -> Decimal:
        """Tokens this account holds (spot inventory)."""
        if self.spot is None:
            return Decimal(0)
        return self.spot.size(self.exchange.ledger.position_qty(self.spot.key))

    def quote(self) -> Decimal:
        return self.exchange.ledger.balances.get(self.exchange.ledger.quote, Decimal(0))

    def reserved_quote(self) -> Decimal:
        """Quote reserved by resting buy orders."""
        markets = self.exchange.markets.values()
        return sum((m.buy_factor * m.open_buy_units for m in markets if m.is_spot), Decimal(0))

    def in_flight(self, program: str) -> Decimal:
        """Tokens of ``program`` sent and not yet done (resting or on their way)."""
        if self.spot is None:
            return Decimal(0)
        lots = sum(o.remaining for o in self.exchange.orders.values() if program_of(o.client_id) == program)
        lots += sum(c.size for c in self.exchange.inflight.values() if program_of(c.client_id) == program)
        return self.spot.size(lots)

    def send_slice(self, program: str, side: int, tokens: Decimal, limit: int, now: int) -> NewOrder | None:
        """One IOC limit order of ``program`` for ``tokens`` (rounded down to the order step)."""
        spec = self.spot
        if spec is None:
            return None
        step = spec.qty_step
        quantity = (tokens // step) * step
        if side > 0 and tokens > 0:
            # a buy may round up to the venue's minimum order: what is owed is bought in full
            quantity = max(quantity, -(-tokens // step) * step, spec.min_qty)
            while spec.min_notional and quantity * spec.price(limit) < spec.min_notional:
                quantity += step
        if quantity < spec.min_qty or quantity <= 0:
            return None
        if spec.min_notional and quantity * spec.price(limit) < spec.min_notional:
            return None
        order = NewOrder(
            client_id=f"{program}-{self.exchange.commands + 1}",
            instrument=spec.key,
            side=Side.BUY if side > 0 else Side.SELL,
            size=int(quantity / spec.lot_size),
            price=limit,
            order_type=OrderType.LIMIT,
            tif=TimeInForce.IOC,
            ts=now,
        )
        self.exchange.submit(order)
        return order


def open_account(
    name: str,
    specs: list[InstrumentSpec],
    settings: PaperSettings,
    data_dir: Path,
    *,
    replay: bool,
    on_report: Callable[[OrderReport], None],
) -> tuple[PaperExchange, Journal | None, dict[str, Decimal], list[TransferRecord]]:
    """Open (or restore) one deal account's paper exchange in ``data_dir/deal``; returns it,
    its journal, the tokens filled per program and the transfers found in the journal."""
    journal_settings = settings.journal.model_copy(update={"directory": DEAL_DIR})  # under data_dir
    paper = settings.model_copy(update={"journal": journal_settings})
    exchange, journal = open_paper(specs, paper, data_dir, name, replay=replay, on_report=on_report)
    fills: dict[str, Decimal] = {}
    transfers: list[TransferRecord] = []
    if journal is not None:
        by_key = {spec.key: spec for spec in specs}
        for _seq, _position, _ts, record in journal.records():
            if isinstance(record, FillRecord):
                fill = record.fill
                spec = by_key[fill.instrument]
                program = program_of(fill.client_id)
                fills[program] = fills.get(program, Decimal(0)) + spec.size(fill.size) * spec.contract_size
            elif isinstance(record, TransferRecord):
                transfers.append(record)
    return exchange, journal, fills, transfers
