"""The ``[hedge]`` section of the config file: which engines hedge, and how.

Mounted into :class:`bot.config.Settings` as ``hedge: HedgeSettings``. The section's
fields are the defaults for every engine that has a ``hedge`` perpetual
(``[engines.NAME] hedge = {venue = "binance_usdm", symbol = "BTCUSDT"}``);
``[hedge.engines.NAME]`` overrides any of them for one engine (band and sizes are in
that engine's base asset, so a multi-asset config usually needs per-engine bands).

Besides the hedge decision and execution settings of
:class:`~bot.hedge.hedger.HedgerSettings` (band, target, min/max order size, taker or
passive-then-taker), an engine may name a deal file (``config/deals/*.toml``) whose
loan (per its ``loan_delta``), call options and LP positions join the engine's net
delta, override the options' volatility, and count base-asset holdings kept outside
the paper account (``external_spot``).

Hedging is off unless ``enabled = true`` (here or per engine): an engine with a hedge
instrument then only streams it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from bot.hedge.hedger import HedgerSettings
from bot.inputmodel import InputModel

_HEDGER_FIELDS = tuple(HedgerSettings.model_fields)


@dataclass(frozen=True, slots=True)
class EngineHedge:
    """The resolved hedging settings of one engine."""

    hedger: HedgerSettings
    deal: Path | None
    volatility: float | None
    external_spot: Decimal
    retry_after_s: float

    @property
    def enabled(self) -> bool:
        return self.hedger.enabled


class HedgeOverride(InputModel):
    """``[hedge.engines.NAME]``: any ``[hedge]`` field, for one engine only."""

    enabled: bool | None = None
    band: float | None = Field(None, gt=0, allow_inf_nan=False)
    target: float | None = Field(None, allow_inf_nan=False)
    min_hedge: Decimal | None = Field(None, ge=0, allow_inf_nan=False)
    max_order: Decimal | None = Field(None, gt=0, allow_inf_nan=False)
    mode: Literal["taker", "passive"] | None = None
    passive_timeout_s: float | None = Field(None, gt=0, le=3600)
    passive_offset_ticks: int | None = Field(None, ge=0, le=1_000_000)
    deal: Path | None = None
    volatility: float | None = Field(None, gt=0, le=10, allow_inf_nan=False)
    external_spot: Decimal | None = Field(None, allow_inf_nan=False)
    retry_after_s: float | None = Field(None, gt=0, le=3600)


class HedgeSettings(HedgerSettings):
    """Delta hedging on each engine's perpetual (defaults for every hedged engine)."""

    enabled: bool = Field(
        False,
        description="Hedge the net delta of every engine that has a `hedge` perpetual. false = the "
        "perpetual is only streamed (and the net delta still reported).",
    )
    band: float = Field(
        0.01,
        gt=0,
        allow_inf_nan=False,
        description="Dead band in base-asset units: no hedge while |net delta - target| <= band. Must "
        "be at least half the perp's minimum order (min qty / min notional) to be reachable.",
    )
    deal: Path | None = Field(
        None,
        description="Deal file (config/deals/*.toml) whose loan (per its loan_delta), call options and "
        "LP positions join the net delta of the engine trading the deal's token (a relative path is "
        "relative to the working directory). Unset = no deal.",
    )
    volatility: float | None = Field(
        None,
        gt=0,
        le=10,
        allow_inf_nan=False,
        description="Annualised volatility for the deal's option deltas (0.8 = 80 %). Unset = the deal's "
        "valuation.volatility.",
    )
    external_spot: Decimal = Field(
        Decimal(0),
        allow_inf_nan=False,
        description="Base-asset holdings outside this engine's paper account (e.g. inventory on other "
        "exchanges), counted in the spot delta. Signed; default 0.",
    )
    retry_after_s: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="After a hedge order that traded nothing (rejected, no liquidity), wait this long "
        "(event time) before the next attempt.",
    )
    engines: dict[str, HedgeOverride] = Field(
        default_factory=dict,
        description="Per-engine overrides of any field above, keyed by engine name ([hedge.engines.NAME]).",
    )

    @model_validator(mode="after")
    def _check_overrides(self) -> HedgeSettings:
        for name in self.engines:
            try:
                self.resolve(name)
            except ValidationError as exc:
                problems = "; ".join(
                    (".".join(str(p) for p in err["loc"]) + ": " if err["loc"] else "")
                    + err["msg"].removeprefix("Value error, ")
                    for err in exc.errors()
                )
                raise ValueError(f"engines.{name}: {problems}") from None
        return self

    def resolve(self, engine: str) -> EngineHedge:
        """The settings of ``engine``: this section with its override applied."""
        override = self.engines.get(engine)
        values: dict[str, Any] = {
            name: getattr(self, name)
            for name in (*_HEDGER_FIELDS, "deal", "volatility", "external_spot", "retry_after_s")
        }
        if override is not None:
            for name in override.model_fields_set:
                values[name] = getattr(override, name)
        hedger = HedgerSettings(**{name: values[name] for name in _HEDGER_FIELDS})
        return EngineHedge(
            hedger=hedger,
            deal=values["deal"],
            volatility=values["volatility"],
            external_spot=Decimal(values["external_spot"] or 0),
            retry_after_s=float(values["retry_after_s"]),
        )
