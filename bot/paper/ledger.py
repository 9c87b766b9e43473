"""The paper account's exact ledger: balances, positions, fees, funding, PnL attribution.

The ledger changes only through three kinds of records, which are exactly what the
journal stores -- so folding the journal rebuilds it bit for bit:

- ``apply_fill(fill, mid, mark)``: an execution, with the public book's mid and the
  instrument's valuation mark at that moment;
- ``apply_funding(payment)``: a perpetual funding settlement;
- ``apply_marks(sample)``: a revaluation of open positions (equity-curve point);
- ``apply_transfer(asset, amount, mark, ref, ts)``: a deposit or withdrawal (not a trade).

Money is ``Decimal`` computed in a context that *traps* inexact results (60 digits):
every stored amount is exact, or the ledger raises. Display-only ratios (average entry,
effective entry, margin) are computed separately and never fed back.

**Valuation.** Every instrument has a valuation mark ``v``: the mid of the public book
for spot, the venue's mark price for perpetuals (the mid until the first mark price).
``v`` changes only when a record carries a new one. Equity, in the quote asset shared
by all instruments, is::

    equity = balance[quote] + sum_spot(qty * unit * v) + sum_perp((v * qty - cost) * unit)

(``qty`` signed lots, ``unit`` = lot size x contract size, ``cost`` = sum of open FIFO
lots' price x signed lots). ``equity_start`` is the starting quote balance plus each
starting spot inventory valued at its instrument's first mark. ``total = equity -
equity_start``.

**PnL attribution** -- five components that sum to ``total`` exactly (a tested
invariant, not a definition by difference). For a fill of side ``s`` (+1 buy / -1
sell), price ``p``, size ``x`` (in base units), fee ``f``, book mid ``m`` and valuation
mark ``v`` at the fill:

- ``spread_capture`` = sum of ``s * (m - p) * x``: what we bought below / sold above mid.
- ``rebates`` = sum of ``-f`` over fills with ``f < 0`` (maker rebates received).
- ``fees`` = ``-`` sum of ``f`` over fills with ``f > 0`` (fees paid; <= 0).
- ``funding`` = sum of funding payments received (paid ones are negative).
- ``inventory`` (mark-to-market) = sum over revaluations of ``qty * (v_new - v_old)``
  plus, per fill, ``s * x * (v - m)`` (the gap between the book mid and the valuation
  mark, non-zero only for perpetuals valued on the mark price).

**Transfers** (a deposit ``amount > 0`` or a withdrawal ``< 0`` of the quote asset or of a
spot base asset, valued at ``mark``) move the balance and ``equity_start`` by the same
``amount * mark``: they are not PnL, and no attribution component changes (the spot
position is revalued at ``mark`` first). The position's starting inventory moves with
them, so inventory measured from the start (the quoting pipeline's) is unchanged.

Why they sum: a fill changes equity by ``s*x*v - s*x*p - f`` =
``s*x*(m - p) + s*x*(v - m) - f``; a revaluation by ``qty*(v_new - v_old)``; funding by
its amount. Realized PnL (FIFO, gross of fees) is reported per position but is not an
attribution component: it is a split of spread + inventory between closed and open
lots.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    localcontext,
)

import msgspec

from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.core.orders import FundingPayment, OrderFilled
from bot.errors import InputError

EXACT = Context(
    prec=60,
    rounding=ROUND_HALF_EVEN,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact, Rounded],
)
"""Arithmetic context of every accounting operation: any rounding raises."""

_DISPLAY = Context(prec=34, rounding=ROUND_HALF_EVEN)
_ZERO = Decimal(0)
_DISPLAY_QUANTUM = Decimal("1e-8")


class MarkSample(msgspec.Struct, frozen=True, kw_only=True, tag="marks"):
    """Valuation marks (quote per base unit) at ``ts``: one equity-curve point."""

    ts: int
    marks: dict[str, Decimal]


class Attribution(msgspec.Struct, frozen=True, kw_only=True):
    spread_capture: Decimal
    rebates: Decimal
    fees: Decimal
    funding: Decimal
    inventory: Decimal
    total: Decimal

    def components_sum(self) -> Decimal:
        with localcontext(EXACT):
            return self.spread_capture + self.rebates + self.fees + self.funding + self.inventory


class PositionSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    instrument: str
    kind: str
    qty: int
    """Signed lots (spot: base inventory)."""
    size: Decimal
    """Signed size in base units (qty x lot size)."""
    mark: Decimal | None
    avg_entry: Decimal | None
    effective_entry: Decimal | None
    """Average entry including the fees/rebates of the fills that opened the open lots."""
    cost: Decimal
    realized: Decimal
    unrealized: Decimal
    fees_paid: Decimal
    rebates: Decimal
    funding: Decimal
    margin: Decimal
    fills: int
    bought: int
    sold: int


class LedgerSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    quote: str
    balances: dict[str, Decimal]
    positions: dict[str, PositionSnapshot]
    attribution: Attribution
    equity: Decimal
    equity_start: Decimal
    fills: int
    last_ts: int


class _Lot:
    """One open FIFO lot: entry price, signed lots, display-only share of opening fees."""

    __slots__ = ("fee", "lots", "price")

    def __init__(self, price: Decimal, lots: int, fee: Decimal) -> None:
        self.price = price
        self.lots = lots
        self.fee = fee


class _Position:
    __slots__ = (
        "bought",
        "cost",
        "fees_paid",
        "fills",
        "funding",
        "is_spot",
        "lots",
        "mark",
        "open_fees",
        "qty",
        "realized",
        "rebates",
        "sold",
        "spec",
        "spread",
        "start_qty",
        "tick",
        "unit",
    )

    def __init__(self, spec: InstrumentSpec, qty: int) -> None:
        self.spec = spec
        self.is_spot = spec.kind is InstrumentKind.SPOT
        self.tick = spec.tick_size
        with localcontext(EXACT):
            self.unit = spec.lot_size * spec.contract_size
        self.qty = qty
        self.start_qty = qty
        self.lots: deque[_Lot] = deque()
        self.cost = _ZERO
        self.open_fees = _ZERO
        self.realized = _ZERO
        self.fees_paid = _ZERO
        self.rebates = _ZERO
        self.funding = _ZERO
        self.spread = _ZERO
        self.mark: Decimal | None = None
        self.fills = 0
        self.bought = 0
        self.sold = 0

    def trade(self, price: Decimal, lots: int, fee: Decimal) -> Decimal:
        """FIFO update for a fill of signed ``lots`` at ``price``; returns realized PnL."""
        realized = _ZERO
        rest = lots
        queue = self.lots
        while rest and queue and (queue[0].lots > 0) != (rest > 0):
            lot = queue[0]
            lot_price, lot_lots, lot_fee = lot.price, lot.lots, lot.fee
            closing = min(abs(rest), abs(lot_lots)) * (1 if lot_lots > 0 else -1)
            realized += (price - lot_price) * closing * self.unit
            self.cost -= lot_price * closing
            if closing == lot_lots:
                queue.popleft()
                self.open_fees = _DISPLAY.subtract(self.open_fees, lot_fee)
            else:
                share = _DISPLAY.divide(_DISPLAY.multiply(lot_fee, Decimal(closing)), Decimal(lot_lots))
                lot.lots = lot_lots - closing
                lot.fee = _DISPLAY.subtract(lot_fee, share)
                self.open_fees = _DISPLAY.subtract(self.open_fees, share)
            rest += closing
        if rest:
            share = (
                fee if rest == lots else _DISPLAY.divide(_DISPLAY.multiply(fee, Decimal(rest)), Decimal(lots))
            )
            queue.append(_Lot(price, rest, share))
            self.cost += price * rest
            self.open_fees = _DISPLAY.add(self.open_fees, share)
        self.qty += lots
        self.realized += realized
        return realized

    def unrealized(self) -> Decimal:
        if self.mark is None or not self.qty:
            return _ZERO
        return (self.mark * self.qty - self.cost) * self.unit

    def snapshot(self, leverage: int) -> PositionSnapshot:
        qty = self.qty
        avg = effective = None
        if qty:
            avg = _DISPLAY.divide(self.cost, Decimal(qty)).quantize(_DISPLAY_QUANTUM, context=_DISPLAY)
            effective_cost = _DISPLAY.add(_DISPLAY.multiply(self.cost, self.unit), self.open_fees)
            effective = _DISPLAY.divide(effective_cost, _DISPLAY.multiply(Decimal(qty), self.unit)).quantize(
                _DISPLAY_QUANTUM, context=_DISPLAY
            )
        margin = _ZERO
        if not self.is_spot and self.mark is not None and qty:
            exposure = _DISPLAY.multiply(_DISPLAY.multiply(Decimal(abs(qty)), self.unit), self.mark)
            margin = _DISPLAY.divide(exposure, Decimal(leverage)).quantize(_DISPLAY_QUANTUM, context=_DISPLAY)
        with localcontext(EXACT):
            return PositionSnapshot(
                instrument=self.spec.key,
                kind=str(self.spec.kind),
                qty=qty,
                size=self.spec.lot_size * qty,
                mark=self.mark,
                avg_entry=avg,
                effective_entry=effective,
                cost=self.cost * self.unit,
                realized=self.realized,
                unrealized=self.unrealized(),
                fees_paid=self.fees_paid,
                rebates=self.rebates,
                funding=self.funding,
                margin=margin,
                fills=self.fills,
                bought=self.bought,
                sold=self.sold,
            )


class Ledger:
    """Exact paper-account ledger over a set of instruments sharing one quote asset."""

    def __init__(
        self,
        specs: Iterable[InstrumentSpec],
        starting_balances: Mapping[str, Decimal],
        *,
        leverage: int = 1,
        curve_points: int = 10_000,
    ) -> None:
        specs = list(specs)
        if not specs:
            raise InputError("the ledger needs at least one instrument")
        quotes = {spec.quote for spec in specs}
        if len(quotes) != 1:
            raise InputError(f"all paper instruments must share one quote asset, got {sorted(quotes)}")
        self.quote = quotes.pop()
        self.leverage = leverage
        self.balances: dict[str, Decimal] = {
            asset: Decimal(amount) for asset, amount in starting_balances.items()
        }
        self.balances.setdefault(self.quote, _ZERO)
        self.positions: dict[str, _Position] = {}
        self._spot_of: dict[str, _Position] = {}
        self.transfer_refs: set[str] = set()
        self.transferred = _ZERO
        """Net value of the transfers (deposits - withdrawals), each at its mark."""
        spot_bases: dict[str, str] = {}
        for spec in specs:
            qty = 0
            if spec.kind is InstrumentKind.SPOT:
                if spec.base in spot_bases:
                    raise InputError(
                        f"{spec.key} and {spot_bases[spec.base]} trade the same base asset {spec.base}; "
                        "the ledger values each spot base asset through one instrument"
                    )
                spot_bases[spec.base] = spec.key
                amount = self.balances.setdefault(spec.base, _ZERO)
                lots, remainder = divmod(amount, spec.lot_size)
                if remainder:
                    raise InputError(
                        f"starting balance {amount} {spec.base} is not a multiple of {spec.key}'s lot size "
                        f"{spec.lot_size}"
                    )
                qty = int(lots)
            self.positions[spec.key] = _Position(spec, qty)
            if spec.kind is InstrumentKind.SPOT:
                self._spot_of[spec.base] = self.positions[spec.key]
        self.equity_start = self.balances[self.quote]
        self.starting_balances: dict[str, Decimal] = dict(self.balances)
        """The account at the start (every asset, including zero base balances)."""
        self.spread_capture = _ZERO
        self.rebates = _ZERO
        self.fees = _ZERO
        self.funding = _ZERO
        self.inventory = _ZERO
        self.fill_count = 0
        self.last_ts = 0
        self.equity_curve: deque[tuple[int, Decimal]] = deque(maxlen=curve_points)

    # ---- records ---------------------------------------------------------------------

    def apply_fill(self, fill: OrderFilled, mid: Decimal, mark: Decimal) -> None:
        """Book one execution. ``mid`` = public book mid, ``mark`` = valuation mark, both
        in quote per base unit at the fill."""
        position = self.positions[fill.instrument]
        with localcontext(EXACT):
            self._revalue(position, mark)
            lots = fill.size * int(fill.side)
            size = lots * position.unit
            price = position.tick * fill.price
            fee = fill.fee
            spread = (mid - price) * size
            self.spread_capture += spread
            position.spread += spread
            self.inventory += (mark - mid) * size
            if fee < 0:
                self.rebates -= fee
                position.rebates -= fee
            else:
                self.fees -= fee
                position.fees_paid += fee
            realized = position.trade(price, lots, fee)
            quote = self.balances
            if position.is_spot:
                base = position.spec.base
                quote[base] = quote.get(base, _ZERO) + lots * position.spec.lot_size
                quote[self.quote] -= price * size + fee
            else:
                quote[self.quote] += realized - fee
            position.fills += 1
            if lots > 0:
                position.bought += lots
            else:
                position.sold -= lots
        self.fill_count += 1
        self.last_ts = max(self.last_ts, fill.ts)

    def apply_funding(self, payment: FundingPayment) -> None:
        position = self.positions[payment.instrument]
        with localcontext(EXACT):
            self.balances[payment.asset] = self.balances.get(payment.asset, _ZERO) + payment.amount
            self.funding += payment.amount
            position.funding += payment.amount
        self.last_ts = max(self.last_ts, payment.ts)

    def apply_marks(self, sample: MarkSample) -> None:
        """Revalue positions at ``sample.marks`` and append an equity-curve point."""
        with localcontext(EXACT):
            for instrument, mark in sample.marks.items():
                position = self.positions.get(instrument)
                if position is not None:
                    self._revalue(position, mark)
        self.last_ts = max(self.last_ts, sample.ts)
        self.equity_curve.append((sample.ts, self.equity()))

    def check_transfer(self, asset: str, amount: Decimal, ref: str) -> str | None:
        """Why :meth:`apply_transfer` would refuse this transfer, or ``None``."""
        if ref in self.transfer_refs:
            return f"transfer {ref!r} already applied"
        if asset != self.quote:
            position = self._spot_of.get(asset)
            if position is None:
                return f"no spot instrument holds {asset} in this account"
            if amount % position.spec.lot_size:
                return f"{amount} {asset} is not a multiple of the lot size {position.spec.lot_size}"
        if amount < 0 and self.balances.get(asset, _ZERO) + amount < 0:
            return f"withdrawal of {-amount} {asset} exceeds the balance {self.balances.get(asset, _ZERO)}"
        return None

    def apply_transfer(self, asset: str, amount: Decimal, mark: Decimal, ref: str, ts: int) -> None:
        """Book a deposit (``amount`` > 0) or withdrawal (< 0) of ``asset`` at ``mark``."""
        problem = self.check_transfer(asset, amount, ref)
        if problem is not None:
            raise InputError(problem)
        with localcontext(EXACT):
            if asset != self.quote:
                position = self._spot_of[asset]
                self._revalue(position, mark)
                lots = int(amount / position.spec.lot_size)
                position.qty += lots
                position.start_qty += lots
                if lots > 0:
                    position.lots.append(_Lot(mark, lots, _ZERO))
                    position.cost += mark * lots
                else:
                    self._remove_lots(position, -lots)
            value = amount * mark
            self.balances[asset] = self.balances.get(asset, _ZERO) + amount
            self.equity_start += value
            self.transferred += value
        self.transfer_refs.add(ref)
        self.last_ts = max(self.last_ts, ts)

    @staticmethod
    def _remove_lots(position: _Position, lots: int) -> None:
        """Take ``lots`` out of a long spot position, oldest lots first (nothing realized)."""
        queue = position.lots
        while lots and queue:
            lot = queue[0]
            taken = min(lots, lot.lots)
            position.cost -= lot.price * taken
            if taken == lot.lots:
                queue.popleft()
                position.open_fees = _DISPLAY.subtract(position.open_fees, lot.fee)
            else:
                share = _DISPLAY.divide(_DISPLAY.multiply(lot.fee, Decimal(taken)), Decimal(lot.lots))
                lot.lots -= taken
                lot.fee = _DISPLAY.subtract(lot.fee, share)
                position.open_fees = _DISPLAY.subtract(position.open_fees, share)
            lots -= taken

    def _revalue(self, position: _Position, mark: Decimal) -> None:
        old = position.mark
        if old is None:
            position.mark = mark
            if position.qty:  # starting inventory enters equity at its first mark
                self.equity_start += position.qty * position.unit * mark
                position.lots.append(_Lot(mark, position.qty, _ZERO))
                position.cost += mark * position.qty
            return
        if mark != old:
            self.inventory += (mark - old) * position.qty * position.unit
            position.mark = mark

    # ---- reads -----------------------------------------------------------------------

    def position_qty(self, instrument: str) -> int:
        return self.positions[instrument].qty

    def start_qty(self, instrument: str) -> int:
        """Position at the start of the account (spot: starting base balance in lots)."""
        return self.positions[instrument].start_qty

    def mark(self, instrument: str) -> Decimal | None:
        return self.positions[instrument].mark

    def spread_capture_of(self, instrument: str) -> Decimal:
        """The ``spread_capture`` attribution component of ``instrument``'s fills alone."""
        return self.positions[instrument].spread

    def position_snapshot(self, instrument: str) -> PositionSnapshot:
        """One position's snapshot (what :meth:`snapshot` lists for it)."""
        return self.positions[instrument].snapshot(self.leverage)

    def equity(self, marks: Mapping[str, Decimal] | None = None) -> Decimal:
        """Equity in the quote asset at the ledger's marks (or at ``marks`` where given)."""
        with localcontext(EXACT):
            total = self.balances[self.quote]
            for key, position in self.positions.items():
                mark = position.mark if marks is None else marks.get(key, position.mark)
                if mark is None or position.mark is None:
                    continue
                if position.is_spot:
                    total += position.qty * position.unit * mark
                elif position.qty:
                    total += (mark * position.qty - position.cost) * position.unit
            return total

    def attribution(self) -> Attribution:
        with localcontext(EXACT):
            return Attribution(
                spread_capture=self.spread_capture,
                rebates=self.rebates,
                fees=self.fees,
                funding=self.funding,
                inventory=self.inventory,
                total=self.equity() - self.equity_start,
            )

    def snapshot(self) -> LedgerSnapshot:
        return LedgerSnapshot(
            quote=self.quote,
            balances=dict(sorted(self.balances.items())),
            positions={key: pos.snapshot(self.leverage) for key, pos in sorted(self.positions.items())},
            attribution=self.attribution(),
            equity=self.equity(),
            equity_start=self.equity_start,
            fills=self.fill_count,
            last_ts=self.last_ts,
        )
