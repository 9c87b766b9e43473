"""The strategy profile file's schema (:class:`StrategyProfile`, a pydantic model): which
quoter, its parameter table, the ladder and the costs.

Kept apart from :mod:`bot.strategy.profile` (loading, binding and the quoter it builds) so that
module can be compiled with mypyc, which does not compile pydantic models. Re-exported by
:mod:`bot.strategy.profile`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from bot.strategy.inputs import FairValue
from bot.strategy.params import (
    AvellanedaStoikovParams,
    CostParams,
    FixedSpreadParams,
    GlftParams,
    LadderParams,
    SpreadOptimizerParams,
    _Params,
)

QuoterName = Literal["avellaneda_stoikov", "glft", "fixed_spread", "spread_optimizer"]


class StrategyProfile(_Params):
    """One strategy profile: which quoter, its parameters and the ladder."""

    name: str = Field(
        default="",
        max_length=64,
        description="Profile name (defaults to the file name without .toml).",
    )
    description: str = Field(default="", max_length=500, description="Free text shown in status output.")
    quoter: QuoterName = Field(description="Which quoter runs; its parameters are the table of that name.")
    fair_value: FairValue = Field(
        default="mid", description="Fair value s the model starts from: mid or micro (imbalance-weighted)."
    )
    avellaneda_stoikov: AvellanedaStoikovParams | None = Field(
        default=None, description="Avellaneda-Stoikov parameters."
    )
    glft: GlftParams | None = Field(default=None, description="GLFT parameters.")
    fixed_spread: FixedSpreadParams | None = Field(default=None, description="Fixed-spread parameters.")
    spread_optimizer: SpreadOptimizerParams | None = Field(
        default=None, description="Static spread optimizer parameters."
    )
    ladder: LadderParams = Field(description="Levels, sizes and limits.")
    costs: CostParams = Field(
        default_factory=CostParams,
        description="Fee break-even floor and the optional adverse-selection widening (bot.strategy.costs).",
    )

    @model_validator(mode="after")
    def _quoter_table(self) -> StrategyProfile:
        if getattr(self, self.quoter) is None:
            raise ValueError(f"quoter = {self.quoter!r} needs a [{self.quoter}] table")
        return self

    def model_params(self) -> _Params:
        params: _Params = getattr(self, self.quoter)
        return params

    def sigma_horizon_s(self) -> float | None:
        """The estimator horizon the quoter reads sigma from (None: fixed sigma or none used)."""
        params = self.model_params()
        if getattr(params, "sigma", None) is not None or not hasattr(params, "sigma_horizon_s"):
            return None
        horizon: float = params.sigma_horizon_s
        return horizon
