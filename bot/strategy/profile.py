"""Strategy profiles (``config/strategies/*.toml``) and the quoter they build.

A profile names a quoter, carries that quoter's parameter table and a ``[ladder]``
table::

    quoter = "avellaneda_stoikov"
    fair_value = "mid"
    [avellaneda_stoikov]
    gamma = 0.05
    ...
    [ladder]
    size = "0.001"
    max_position = "0.01"
    [costs]                  # optional: fee break-even and adverse selection
    min_edge_bps = 0.5

:func:`load_profile` validates a file and raises :class:`bot.config.ConfigError` (an
``InputError``, exit code 2) naming the file, the field and the problem.
:func:`build_quoter` binds a profile to an instrument and returns a
:class:`StrategyQuoter` whose :meth:`~StrategyQuoter.quote` is a pure function of
(market state, position, adjustments).

Compiled with mypyc; the :class:`StrategyProfile` model lives in
:mod:`bot.strategy.profile_schema` (re-exported here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import msgspec
from pydantic import ValidationError

from bot.core.instrument import InstrumentSpec
from bot.errors import ConfigError
from bot.market.estimators.state import MarketState
from bot.strategy.avellaneda_stoikov import AvellanedaStoikovQuoter
from bot.strategy.costs import NO_ADVERSE, AdverseSelection, FeeRates, apply_costs, fee_ticks
from bot.strategy.fixed_spread import FixedSpreadQuoter
from bot.strategy.glft import GlftQuoter
from bot.strategy.inputs import FairValue, fair_value
from bot.strategy.ladder import LadderSpec, QuoteRules, build_ladder, to_lots
from bot.strategy.params import (
    AvellanedaStoikovParams,
    FixedSpreadParams,
    GlftParams,
    LadderParams,
    SpreadOptimizerParams,
)
from bot.strategy.profile_schema import QuoterName, StrategyProfile
from bot.strategy.spread_optimizer import SpreadOptimizerQuoter
from bot.strategy.types import NO_ADJUSTMENT, DesiredQuotes, QuoteAdjustments, Theo
from bot.tomlfile import format_validation_error, read_toml

__all__ = [
    "MAX_QUOTE_DISTANCE",
    "ModelQuoter",
    "QuoterName",
    "StrategyProfile",
    "StrategyQuoter",
    "bind_ladder",
    "build_quoter",
    "check_horizons",
    "load_profile",
    "make_model",
]


def load_profile(path: Path) -> StrategyProfile:
    """Read and validate a profile file (ConfigError names file, field, problem)."""
    data = read_toml(path)
    data.setdefault("name", path.stem)
    try:
        return StrategyProfile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None


def check_horizons(profile: StrategyProfile, horizons_s: tuple[float, ...], source: str = "") -> None:
    """Raise ConfigError if the profile reads sigma at a horizon the estimators lack."""
    horizon = profile.sigma_horizon_s()
    if horizon is not None and horizon not in horizons_s:
        where = source or f"profile {profile.name!r}"
        raise ConfigError(
            f"{where}: {profile.quoter}.sigma_horizon_s: {horizon:g} is not one of the estimator "
            f"horizons {[float(h) for h in horizons_s]}"
        )


class ModelQuoter(Protocol):
    name: str

    def theo(
        self, state: MarketState, fair: float, q: float, adj: QuoteAdjustments, fee: float = 0.0
    ) -> Theo | str: ...


def make_model(profile: StrategyProfile) -> ModelQuoter:
    params = profile.model_params()
    if isinstance(params, AvellanedaStoikovParams):
        return AvellanedaStoikovQuoter(params)
    if isinstance(params, GlftParams):
        return GlftQuoter(params)
    if isinstance(params, FixedSpreadParams):
        return FixedSpreadQuoter(params)
    if isinstance(params, SpreadOptimizerParams):
        return SpreadOptimizerQuoter(params)
    raise AssertionError(f"unknown quoter {profile.quoter}")  # pragma: no cover


def bind_ladder(params: LadderParams, spec: InstrumentSpec, source: str = "ladder") -> LadderSpec:
    """Ladder sizes in lots for ``spec``; ConfigError if a size is below the order step."""
    size = to_lots(spec, params.size, step=True)
    if size <= 0:
        raise ConfigError(
            f"{source}.size: {params.size} is below the order step {spec.qty_step} of {spec.key}"
        )
    max_position = to_lots(spec, params.max_position, step=False)
    if max_position < size:
        raise ConfigError(f"{source}.max_position: {params.max_position} is below one order ({params.size})")
    return LadderSpec(
        levels=params.levels,
        spacing_ticks=params.spacing_ticks,
        size_lots=size,
        size_growth=params.size_growth,
        inventory_shaping=params.inventory_shaping,
        max_position_lots=max_position,
        target_lots=to_lots(spec, params.inventory_target, step=False),
        post_only=params.post_only,
        bump_to_min=params.bump_to_min,
    )


class StrategyQuoter:
    """A profile bound to an instrument and its fees: ``quote(state, position_lots, adj)`` is pure."""

    __slots__ = ("fair_source", "fees", "ladder", "model", "profile", "rules")

    def __init__(
        self, profile: StrategyProfile, ladder: LadderSpec, rules: QuoteRules, fees: FeeRates | None = None
    ) -> None:
        self.profile = profile
        self.model = make_model(profile)
        self.ladder = ladder
        self.rules = rules
        self.fees = fees if fees is not None else FeeRates()
        self.fair_source: FairValue = profile.fair_value

    @property
    def name(self) -> str:
        return self.profile.name

    def inventory_q(self, position_lots: int) -> float:
        """Inventory in quote units, measured from the target."""
        return (position_lots - self.ladder.target_lots) / self.ladder.size_lots

    def quote(
        self,
        state: MarketState,
        position_lots: int,
        adj: QuoteAdjustments = NO_ADJUSTMENT,
        adverse: AdverseSelection = NO_ADVERSE,
    ) -> DesiredQuotes:
        """Desired quotes for ``state`` and a position of ``position_lots``; ``adverse`` are the
        recent markouts of our fills (used when the profile's costs ask for it)."""
        q = self.inventory_q(position_lots)
        if not state.book_ok:
            return DesiredQuotes(q=q, note="book not valid")
        fair = fair_value(state, self.fair_source)
        theo = self.model.theo(state, fair, q, adj, fee_ticks(self.fees.maker, fair))
        if isinstance(theo, str):
            return DesiredQuotes(fair=fair, q=q, note=theo)
        best_bid = state.best_bid or None
        best_ask = state.best_ask or None
        theo = apply_costs(
            theo,
            fees=self.fees,
            costs=self.profile.costs,
            post_only=self.ladder.post_only,
            best_bid=best_bid,
            best_ask=best_ask,
            adverse=adverse,
        )
        theo = _within_reach(theo)
        return build_ladder(
            theo,
            best_bid=best_bid,
            best_ask=best_ask,
            position_lots=position_lots,
            ladder=self.ladder,
            rules=self.rules,
            adj=adj,
            q=q,
        )


MAX_QUOTE_DISTANCE = 0.1
"""A side the model puts further than this fraction of the price from fair value is not
quoted (e.g. GLFT when the fee is many times the intensity's decay length 1/k: its
inventory term grows like exp(k * fee / 2) -- the model's way of saying no fills come)."""


def _within_reach(theo: Theo) -> Theo:
    reach = abs(theo.fair) * MAX_QUOTE_DISTANCE
    far_bid = not theo.bid >= theo.fair - reach  # also true for nan
    far_ask = not theo.ask <= theo.fair + reach
    if not (far_bid and theo.allow_bid) and not (far_ask and theo.allow_ask):
        return theo
    note = f"model quote beyond {MAX_QUOTE_DISTANCE:.0%} of the price (fees vs fill intensity?)"
    return msgspec.structs.replace(
        theo,
        allow_bid=theo.allow_bid and not far_bid,
        allow_ask=theo.allow_ask and not far_ask,
        note="; ".join(n for n in (theo.note, note) if n),
    )


def build_quoter(
    profile: StrategyProfile, spec: InstrumentSpec, fees: FeeRates | None = None
) -> StrategyQuoter:
    """Bind ``profile`` to ``spec`` (ConfigError if its sizes do not fit the instrument).

    ``fees``: what the venue will charge (the paper exchange's schedule); default the
    spec's maker/taker rates."""
    ladder = bind_ladder(profile.ladder, spec, source=f"profile {profile.name!r}: ladder")
    return StrategyQuoter(profile, ladder, QuoteRules.from_spec(spec), fees or FeeRates.from_spec(spec))
