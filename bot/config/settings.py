"""The whole :class:`Settings` tree (TOML + ``MMBOT_*`` environment), assembled from the
components' and edges' settings models and the sections in :mod:`bot.config.sections`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.config.sections import (
    EngineSettings,
    HttpSettings,
    InstrumentRef,
    LoggingSettings,
    MarketSettings,
    MetadataSettings,
    QuotingSettings,
)
from bot.defaults import PACKAGED_CONFIG
from bot.emulator.settings import OfflineSettings
from bot.hedge.deal_settings import DealSettings
from bot.hedge.settings import HedgeSettings
from bot.market.estimators.params import EstimatorParams
from bot.paper.settings import PaperSettings
from bot.risk.settings import RiskSettings
from bot.strategy.obligation_params import ObligationsSettings
from bot.tomlfile import ENV_PREFIX
from bot.venues.settings import (
    CCXT_VENUE_PREFIX,
    VenuesSettings,
)
from bot.venues.testnet_settings import TestnetSettings

DEFAULT_CONFIG = PACKAGED_CONFIG
"""The packaged default configuration (the same file as the repository's config/default.toml)."""


CONFIG_DEFAULTS: tuple[tuple[str, str, Any], ...] = (
    ("paper", "starting_balances", {"USDT": "100000", "BTC": "0.02"}),
    ("estimators", "vol_warmup_fraction", 0.1),
)
"""(section, key, value) the configuration defaults to although the component's own default
differs (a paper exchange or estimator built without a config keeps its own); every value
here is written out in config/default.toml (tests/test_defaults.py checks they agree)."""


class Settings(BaseSettings):
    """Everything `mmbot` reads from config files and ``MMBOT_*`` variables."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        nested_model_default_partial_update=True,
    )

    data_dir: Path = Field(Path("data"), description="Journal, ledger and caches live here.")
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    metadata: MetadataSettings = Field(default_factory=MetadataSettings)
    market: MarketSettings = Field(default_factory=MarketSettings)
    venues: VenuesSettings = Field(default_factory=VenuesSettings)
    engines: dict[str, EngineSettings] = Field(
        default_factory=lambda: {"btcusdt": EngineSettings(venue="binance_spot", symbol="BTCUSDT")},
        description="One engine per quoted market, keyed by a short name.",
    )
    offline: OfflineSettings = Field(default_factory=OfflineSettings)
    quoting: QuotingSettings = Field(default_factory=QuotingSettings)
    estimators: EstimatorParams = Field(default_factory=EstimatorParams)
    paper: PaperSettings = Field(default_factory=PaperSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    execution: Literal["paper", "testnet"] = Field(
        "paper",
        description="paper = orders go to the paper exchange only; testnet = also mirrored to the "
        "exchange testnet through ccxt (keys from the environment) and reconciled. Mainnet order "
        "endpoints are always refused.",
    )
    testnet: TestnetSettings = Field(default_factory=TestnetSettings)
    hedge: HedgeSettings = Field(default_factory=HedgeSettings)
    obligations: ObligationsSettings = Field(default_factory=ObligationsSettings)
    deal: DealSettings = Field(default_factory=DealSettings)

    def paper_for(self, engine: str) -> PaperSettings:
        """The paper settings of one engine's account (its own starting balances, if set)."""
        settings = self.engines.get(engine)
        balances = settings.starting_balances if settings is not None else None
        if balances is None:
            return self.paper
        return self.paper.model_copy(update={"starting_balances": balances})

    @model_validator(mode="after")
    def _obligation_engines(self) -> Settings:
        limits = self.risk.limits
        for name, obligation in self.obligations.engines.items():
            where = f"obligations.engines.{name}"
            engine = self.engines.get(name)
            if engine is None:
                raise ValueError(f"{where}: no engine named {name!r}; engines: {sorted(self.engines)}")
            if not engine.quote:
                raise ValueError(f"{where}: engines.{name} does not quote (quote = false)")
            if not obligation.quote or not self.risk.enabled:
                continue
            for side in ("bid", "ask"):
                target = getattr(obligation, f"{side}_depth") * obligation.target_factor
                if target > limits.max_notional_per_side:
                    raise ValueError(
                        f"{where}.{side}_depth: {getattr(obligation, f'{side}_depth')} plus the "
                        f"{obligation.depth_buffer_pct} % buffer = {target.normalize():f} exceeds "
                        f"risk.limits.max_notional_per_side {limits.max_notional_per_side}"
                    )
                if target > limits.max_position:
                    raise ValueError(
                        f"{where}.{side}_depth: {target.normalize():f} with its buffer exceeds "
                        f"risk.limits.max_position {limits.max_position} (a fully filled ladder must fit)"
                    )
                per_level = target / obligation.depth_levels
                if per_level > limits.max_order:
                    raise ValueError(
                        f"{where}.depth_levels: {obligation.depth_levels} levels make orders of "
                        f"{per_level.normalize():f}, above risk.limits.max_order {limits.max_order}; "
                        "use more levels or a larger max_order"
                    )
            if 2 * (obligation.depth_levels + 2) > limits.max_open_orders:
                raise ValueError(
                    f"{where}.depth_levels: {obligation.depth_levels} levels + 2 guards per side need "
                    f"risk.limits.max_open_orders >= {2 * (obligation.depth_levels + 2)} plus the "
                    f"strategy's own quotes (now {limits.max_open_orders})"
                )
        return self

    @model_validator(mode="before")
    @classmethod
    def _documented_defaults(cls, data: Any) -> Any:
        """The configuration's defaults where they differ from a component's own, so that a
        file that leaves a key out gets the value config/default.toml documents."""
        if not isinstance(data, dict):
            return data
        for section, key, value in CONFIG_DEFAULTS:
            table = data.get(section)
            if table is None:
                table = data[section] = {}
            if isinstance(table, dict) and key not in table:
                table[key] = value
        return data

    @model_validator(mode="after")
    def _hedge_engines(self) -> Settings:
        for name in self.hedge.engines:
            engine = self.engines.get(name)
            if engine is None:
                raise ValueError(
                    f"hedge.engines.{name}: no engine named {name!r}; engines: {sorted(self.engines)}"
                )
            if engine.hedge is None and self.hedge.resolve(name).enabled:
                raise ValueError(
                    f"hedge.engines.{name}: hedging is enabled but engines.{name}.hedge (the perpetual) is not set"
                )
        return self

    @model_validator(mode="after")
    def _deal_desk(self) -> Settings:
        deal = self.deal
        if not deal.enabled:
            return self
        if deal.hedge is None:
            raise ValueError("deal.hedge: the perpetual ({venue, symbol}) is required when deal.file is set")
        try:
            InstrumentRef(venue=deal.hedge.venue, symbol=deal.hedge.symbol)  # type: ignore[arg-type]
        except ValidationError as exc:
            problems = "; ".join(err["msg"].removeprefix("Value error, ") for err in exc.errors())
            raise ValueError(f"deal.hedge: {problems}") from None
        if deal.name in self.engines:
            raise ValueError(f"deal.name: {deal.name!r} is also an engine's name; choose another")
        if deal.reference is not None and deal.reference not in self.engines:
            raise ValueError(
                f"deal.reference: no engine named {deal.reference!r}; engines: {sorted(self.engines)}"
            )
        for name, weight in deal.sale.venues.items():
            if name not in self.engines:
                raise ValueError(
                    f"deal.sale.venues.{name}: no engine named {name!r}; engines: {sorted(self.engines)}"
                )
            if weight < 0:
                raise ValueError(f"deal.sale.venues.{name}: weight must be >= 0, got {weight}")
        if deal.sale.venues and not any(w > 0 for w in deal.sale.venues.values()):
            raise ValueError("deal.sale.venues: at least one weight must be positive")
        return self

    @field_validator("engines")
    @classmethod
    def _engines_nonempty(cls, value: dict[str, EngineSettings]) -> dict[str, EngineSettings]:
        if not value:
            raise ValueError("at least one engine is required")
        for name in value:
            if not name.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"engine name {name!r} may only use letters, digits, '-' and '_'")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init kwargs (see load_settings); env must beat it.
        return env_settings, init_settings, file_secret_settings

    @model_validator(mode="after")
    def _ccxt_venues_defined(self) -> Settings:
        for name, engine in self.engines.items():
            refs = [("venue", engine.venue)] + ([("hedge.venue", engine.hedge.venue)] if engine.hedge else [])
            for field, venue in refs:
                section = venue.removeprefix(CCXT_VENUE_PREFIX)
                if venue.startswith(CCXT_VENUE_PREFIX) and section not in self.venues.ccxt:
                    raise ValueError(
                        f"engines.{name}.{field}: venue {venue!r} needs a [venues.ccxt.{section}] section"
                    )
        return self

    def instruments(self) -> list[str]:
        """All instrument keys any engine needs, in a stable order."""
        keys: list[str] = []
        for engine in self.engines.values():
            for key in engine.instruments():
                if key not in keys:
                    keys.append(key)
        if self.deal.enabled and self.deal.hedge is not None and self.deal.hedge.key not in keys:
            keys.append(self.deal.hedge.key)  # the deal desk's perpetual
        return keys
