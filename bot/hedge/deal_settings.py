"""The ``[deal]`` section of the config file: running a deal file as one book.

Mounted into :class:`bot.config.Settings` as ``deal: DealSettings``. With ``file`` set
(a deal file, ``config/deals/*.toml``), ``mmbot run`` and ``mmbot replay`` run the deal
desk beside the quoting engines (:mod:`bot.engine.deal_desk`): the deal's own accounts
on every venue that quotes its token, the PancakeSwap pool, the perp hedge of the whole
book and the deal's lifecycle (initial sale, market making, exercise at expiry, the
loan's return, the unwind). The engines' own hedgers are then off for the deal's token:
the desk hedges the book as a whole.

The deal file is the contract (loan, obligations, pool, calls); this section says how
it is run here: the perpetual, the compressed calendar of a simulation (``term_s``),
how the sale is executed, the pool's flow and the windows of the closing steps.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field

from bot.hedge.hedger import HedgerSettings
from bot.inputmodel import InputModel


class _Strict(InputModel):
    """Strict like every settings model (:class:`~bot.inputmodel.InputModel`): no unknown keys,
    no NaN/inf, sane magnitudes and durations."""


class PerpRef(_Strict):
    venue: str = Field(description="Venue of the perpetual, e.g. binance_usdm.")
    symbol: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$", description="Its symbol, e.g. ABCUSDT.")

    @property
    def key(self) -> str:
        return f"{self.venue}:{self.symbol}"


class SaleSettings(_Strict):
    """How the initial sale is executed (taker orders through the deal's venue accounts)."""

    tokens: Decimal | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Tokens to sell. Unset = every lent token not deployed: loan.tokens - the quoting "
        "engines' starting tokens - the pool's token side (the deal plan's 'initial sale'). Fewer: the "
        "rest stays in the deal accounts (held, and hedged).",
    )
    mode: Literal["twap", "participation"] = Field(
        "twap",
        description="twap = evenly over window_s; participation = a share of each venue's traded volume "
        "(then window_s is the deadline: what is left is sold evenly until it).",
    )
    window_s: float = Field(
        300.0, gt=0, allow_inf_nan=False, description="Sale window, seconds of market time."
    )
    participation: float = Field(
        0.1, gt=0, le=1, allow_inf_nan=False, description="participation mode: share of the venue's volume."
    )
    interval_s: float = Field(1.0, gt=0, le=3600, description="One slice per venue at most this often.")
    max_slice: Decimal | None = Field(
        None, gt=0, allow_inf_nan=False, description="Largest order, tokens (unset = no cap)."
    )
    max_slippage_bps: Decimal = Field(
        Decimal(50),
        ge=0,
        allow_inf_nan=False,
        description="Slices are IOC limit orders this far through the touch: a thin book is never "
        "swept further (the rest waits for the next slice).",
    )
    venues: dict[str, Decimal] = Field(
        default_factory=dict,
        description="Weights per quoting engine (e.g. {abc_binance = 2, abc_bybit = 1}). Empty = the "
        "deal's [[cex]] bid sizes of each engine's exchange.",
    )
    hedge_unsold: bool = Field(
        False,
        description="Hedge the initial sale's tokens still to be sold on the perp too. false = the sale "
        "is their hedge: while its window lasts, the net delta the hedger steers excludes them (reported "
        "apart); what is still unsold when the window ends is hedged. Tokens of the later programs "
        "(exercise, buy-back, unwind) are always hedged while held.",
    )


class PoolSettings(_Strict):
    """The simulated PancakeSwap v2 pool's outside flow."""

    seed: int | None = Field(None, ge=0, description="Noise-flow seed; unset = paper.seed.")
    noise_rate_per_s: float = Field(
        0.2, ge=0, le=100, allow_inf_nan=False, description="Noise swaps per second of market time."
    )
    noise_notional: Decimal = Field(
        Decimal(1000), gt=0, allow_inf_nan=False, description="Median noise swap, quote currency."
    )
    noise_sigma: float = Field(1.0, ge=0, le=5, description="Log-std of the noise swap size.")
    noise_buy_probability: float = Field(0.5, ge=0, le=1, description="Share of noise swaps that buy.")
    arb_cost_bps: Decimal = Field(
        Decimal(10),
        ge=0,
        allow_inf_nan=False,
        description="The arbitrageur's cost on the outside price (CEX fee + spread + gas), bps.",
    )
    arb_min_profit: Decimal = Field(
        Decimal(1), ge=0, allow_inf_nan=False, description="Smallest arbitrage worth doing, quote."
    )
    protocol_fee: bool = Field(
        True, description="feeTo set: the protocol takes 8/25 of the fee growth (PancakeSwap v2 default)."
    )


class ExpirySettings(_Strict):
    """Windows of the closing steps, seconds of market time."""

    sell_window_s: float = Field(60.0, gt=0, description="Selling the tokens received by exercise.")
    return_window_s: float = Field(60.0, gt=0, description="Buying back tokens owed (loan_delta = tokens).")
    unwind_window_s: float = Field(60.0, gt=0, description="Selling what is left, closing the hedge.")


class DealHedger(HedgerSettings):
    band: float = Field(
        1000.0,
        gt=0,
        allow_inf_nan=False,
        description="Dead band of the deal's net delta, tokens: no hedge while |net - target| <= band.",
    )


class DealSettings(_Strict):
    """``[deal]``: run a deal file as one book (see the module doc)."""

    file: Path | None = Field(
        None,
        description="The deal file (config/deals/*.toml); a relative path is looked up next to the config "
        "file, then in the working directory. Unset = no deal desk (the default).",
    )
    name: str = Field(
        "deal",
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
        description="Name of the desk's engine, accounts and journals (<data_dir>/deal/NAME*.sqlite).",
    )
    reference: str | None = Field(
        None,
        description="Engine whose quoted market's mid is the deal's mark (pool arbitrage, options, "
        "LP, loan). Unset = the first engine trading the deal's token.",
    )
    hedge: PerpRef | None = Field(
        None, description="The perpetual the whole book is hedged on (required with `file`)."
    )
    term_s: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Compressed calendar: the deal's term (loan.start to loan.expiry) lasts this many "
        "seconds of market time from the first event; options decay on that calendar. Unset = the "
        "real dates (the deal starts at loan.start, expires at loan.expiry).",
    )
    treasury: dict[str, Decimal] = Field(
        default_factory=lambda: {"USDT": Decimal(800_000)},
        description="The hedge account's starting balances (quote): the pool's quote side, strikes "
        "and the perp's margin.",
    )
    leverage: int = Field(5, ge=1, le=125, description="The hedge account's leverage (perp margin).")
    sample_interval_s: float = Field(1.0, gt=0, description="Journal a deal sample this often.")
    retry_after_s: float = Field(1.0, gt=0, le=3600, description="Pause after a hedge that traded nothing.")
    hedger: DealHedger = Field(default_factory=DealHedger)
    sale: SaleSettings = Field(default_factory=SaleSettings)
    pool: PoolSettings = Field(default_factory=PoolSettings)
    expiry: ExpirySettings = Field(default_factory=ExpirySettings)

    @property
    def enabled(self) -> bool:
        return self.file is not None
