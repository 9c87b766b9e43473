"""Configuration of the paper exchange: the ``[paper]`` section of the config file.

Mounted into :class:`bot.config.Settings` as ``paper: PaperSettings``. Every field has
a description (``mmbot config check`` prints them with their effective values).
Money fields are ``Decimal``; write them as strings in TOML (``"0.0002"``) to keep them
exact (floats are converted through their shortest repr).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from bot.inputmodel import InputModel
from bot.paper.fees import FeeSchedule
from bot.paper.latency import DistributionKind, LatencyDistribution, LatencyModel


class _Section(InputModel):
    pass


class LatencySettings(_Section):
    """One latency distribution, in milliseconds of event time."""

    kind: Literal["constant", "uniform", "lognormal", "normal"] = Field(
        default="constant",
        description="constant = always `ms`; uniform = between low_ms and high_ms; "
        "lognormal = median `ms`, shape `sigma`; normal = mean `ms`, stdev `stdev_ms`.",
    )
    ms: float = Field(default=0.0, ge=0, description="Constant value, lognormal median or normal mean (ms).")
    low_ms: float = Field(default=0.0, ge=0, description="Lower bound of every draw (ms); uniform's low end.")
    high_ms: float = Field(
        default=0.0, ge=0, description="Upper bound of every draw (ms); 0 = unbounded. Uniform's high end."
    )
    sigma: float = Field(default=0.5, gt=0, le=5, description="Lognormal shape (stdev of log latency).")
    stdev_ms: float = Field(default=0.0, ge=0, description="Normal distribution standard deviation (ms).")

    @model_validator(mode="after")
    def _check(self) -> LatencySettings:
        if self.kind == "uniform" and not (self.high_ms > 0 and self.high_ms >= self.low_ms):
            raise ValueError("uniform latency needs high_ms > 0 and high_ms >= low_ms")
        if self.high_ms > 0 and self.high_ms < self.low_ms:
            raise ValueError("high_ms must be >= low_ms")
        return self

    def distribution(self) -> LatencyDistribution:
        return LatencyDistribution(
            kind=DistributionKind(self.kind),
            ms=self.ms,
            low_ms=self.low_ms,
            high_ms=self.high_ms,
            sigma=self.sigma,
            stdev_ms=self.stdev_ms,
        )


def _ms(value: float) -> LatencySettings:
    return LatencySettings(kind="constant", ms=value)


class PaperLatencySettings(_Section):
    order_entry: LatencySettings = Field(
        default_factory=lambda: _ms(20.0),
        description="From sending a new order until it is live (or rejected) at the venue.",
    )
    cancel: LatencySettings = Field(
        default_factory=lambda: _ms(20.0), description="From sending a cancel until the venue acts on it."
    )
    market_data: LatencySettings = Field(
        default_factory=lambda: _ms(10.0),
        description="How long before we receive a market event it happened at the venue: "
        "venue time of an event = its local_ts minus this.",
    )


class FeeOverride(_Section):
    maker: Decimal = Field(description='Maker fee rate, e.g. "0.0002"; negative = rebate.')
    taker: Decimal = Field(description='Taker fee rate, e.g. "0.0004".')

    @field_validator("maker", "taker")
    @classmethod
    def _range(cls, value: Decimal) -> Decimal:
        if not Decimal("-0.01") <= value <= Decimal("0.01"):
            raise ValueError(f"fee rate {value} is outside [-1 %, 1 %]; rates are fractions, not percent")
        return value

    def schedule(self) -> FeeSchedule:
        return FeeSchedule(maker=self.maker, taker=self.taker)


class JournalSettings(_Section):
    enabled: bool = Field(
        default=True, description="Journal every order, fill and funding payment to SQLite."
    )
    directory: str = Field(
        default="journal", description="Directory of journal files, relative to data_dir unless absolute."
    )
    synchronous: Literal["off", "normal", "full"] = Field(
        default="normal",
        description="SQLite synchronous mode. normal (WAL) survives kill -9; full also survives "
        "power loss at the cost of an fsync per commit; off leaves durability to the OS.",
    )
    commit_every: int = Field(
        default=1,
        ge=1,
        le=100_000,
        description="Input events per journal transaction. 1 = every event's records are committed "
        "before the next event is processed; larger values trade durability of the last events "
        "for replay speed (recovery still resumes exactly at a committed boundary).",
    )
    retry_initial_s: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="When a journal write fails (disk full, I/O error, read-only), the engine halts "
        "and the write is retried after this long, the delay doubling up to retry_max_s. Nothing "
        "is dropped meanwhile.",
    )
    retry_max_s: float = Field(
        default=30.0, gt=0, le=3600, description="Longest delay between journal write retries."
    )
    give_up_after_s: float = Field(
        default=0.0,
        ge=0,
        le=604_800,
        description="Stop `mmbot run` (exit 1, the reason in the summary) when the journal has been "
        "unable to write for this long; 0 = keep retrying while halted.",
    )
    on_recovery: Literal["resume", "stay_halted"] = Field(
        default="resume",
        description="When journal writes succeed again: resume = quoting re-enters through CRISIS "
        "(the normal way out of HALTED); stay_halted = stay HALTED (a journaled kill) until "
        "`mmbot resume`.",
    )

    @model_validator(mode="after")
    def _retry_order(self) -> JournalSettings:
        if self.retry_max_s < self.retry_initial_s:
            raise ValueError(
                f"retry_max_s ({self.retry_max_s}) must be at least retry_initial_s ({self.retry_initial_s})"
            )
        return self


class PaperSettings(_Section):
    """The paper exchange: latencies, queue model, fees, account, journal, recovery."""

    seed: int = Field(default=0, ge=0, description="Seed of the latency draws (runs are reproducible).")
    queue_model: Literal["risk_averse", "proportional", "power", "log"] = Field(
        default="risk_averse",
        description="How displayed-size decreases at our price that no trade explains (cancels) move "
        "us up the queue: risk_averse = never (only trades do); proportional = pro rata to the share "
        "of the queue ahead of us; power / log = hftbacktest's probabilistic ProbQueueModel with "
        "f(x) = x**queue_power or ln(1 + x): the share behind us is f(back) / (f(back) + f(front)).",
    )
    queue_power: float = Field(
        default=3.0,
        gt=0,
        le=20,
        description="Exponent n of the power queue model (large n: cancels mostly behind us).",
    )
    trade_window_ms: float = Field(
        default=300.0,
        ge=0,
        le=10_000,
        description="A displayed decrease at our price waits this long (venue time) for the trade that "
        "explains it before it counts as a cancel, so one traded lot never moves the queue twice. On "
        "the bundled Binance recordings ~20 % of trades arrive after the depth update that shows "
        "them, ~95 % of those within 300 ms. 0 = every decrease is a cancel at once (old behaviour).",
    )
    trade_memory_ms: float = Field(
        default=1_000.0,
        ge=0,
        le=600_000,
        description="A decrease counted as a cancel is remembered this long: a trade printing even "
        "later is then not counted against the queue again.",
    )
    latency: PaperLatencySettings = Field(default_factory=PaperLatencySettings)
    fees: dict[str, FeeOverride] = Field(
        default_factory=dict,
        description="Fee overrides keyed by venue (binance_spot) or instrument (binance_spot:BTCUSDT); "
        "default = the instrument metadata's fees.",
    )
    starting_balances: dict[str, Decimal] = Field(
        default_factory=lambda: {"USDT": Decimal(10_000)},
        description="Paper account balances at the start, per asset (e.g. USDT, BTC).",
    )
    leverage: int = Field(default=5, ge=1, le=125, description="Perpetual leverage for margin checks.")
    recovery: Literal["restore", "cancel"] = Field(
        default="restore",
        description="On restart, open paper orders are restored with their queue position, or "
        "cancelled with a journaled record.",
    )
    equity_interval_s: float = Field(
        default=60.0, gt=0, description="Event-time interval between equity-curve samples (journaled)."
    )
    journal: JournalSettings = Field(default_factory=JournalSettings)

    @field_validator("starting_balances")
    @classmethod
    def _balances(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for asset, amount in value.items():
            if not asset.isalnum() or asset.upper() != asset:
                raise ValueError(f"asset {asset!r} must be an upper-case symbol like USDT")
            if amount < 0:
                raise ValueError(f"starting balance of {asset} must not be negative, got {amount}")
        return value

    def latency_model(self) -> LatencyModel:
        return LatencyModel(
            entry=self.latency.order_entry.distribution(),
            cancel=self.latency.cancel.distribution(),
            market_data=self.latency.market_data.distribution(),
            seed=self.seed,
        )

    def fee_overrides(self) -> dict[str, FeeSchedule]:
        return {key: fee.schedule() for key, fee in self.fees.items()}
