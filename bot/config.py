"""Configuration: pydantic-settings models loaded from TOML with ``MMBOT_*`` overrides.

Precedence (highest first): ``MMBOT_*`` environment variables (nested fields joined
with ``__``, e.g. ``MMBOT_LOGGING__LEVEL=debug``), then the TOML file, then the
defaults below. Unknown keys are errors. :func:`load_settings` turns every failure
(missing file, TOML syntax, unknown key, wrong type, out-of-range value) into one
:class:`ConfigError` whose message names the file, the field and the problem.

Every field carries a description; ``mmbot config check FILE`` prints the effective
values.
"""

from __future__ import annotations

import json
import os
import re
import types
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from bot.defaults import PACKAGED_CONFIG, Source, find_config
from bot.emulator.settings import BUNDLED_REPLAY_DIR, OfflineSettings, bundled_replay_files
from bot.errors import ConfigError
from bot.hedge.deal_settings import DealSettings
from bot.hedge.settings import HedgeSettings
from bot.inputmodel import check_host
from bot.market.estimators.params import EstimatorParams
from bot.market.feed_settings import FeedCheckSettings
from bot.paper.settings import PaperSettings
from bot.risk.settings import RiskSettings
from bot.strategy.obligation_params import ObligationParams, ObligationsSettings
from bot.tomlfile import ENV_PREFIX, env_name, format_validation_error, read_toml
from bot.venues.settings import (  # re-exported: bot.config is the settings namespace
    CCXT_VENUE_PREFIX,
    SYMBOL_PATTERN,
    AnyVenueName,
    BinanceSpotSettings,
    BinanceUsdmSettings,
    BinanceVenueSettings,
    BitgetVenueSettings,
    BybitLinearSettings,
    BybitSpotSettings,
    BybitVenueSettings,
    CcxtVenueSettings,
    OkxVenueSettings,
    StreamVenueSettings,
    VenueName,
    VenuesSettings,
    _Section,
    check_symbol,
)
from bot.venues.testnet_settings import TestnetSettings

__all__ = [
    "BUNDLED_REPLAY_DIR",
    "CCXT_VENUE_PREFIX",
    "DEFAULT_CONFIG",
    "ENV_PREFIX",
    "SYMBOL_PATTERN",
    "AnyVenueName",
    "BinanceSpotSettings",
    "BinanceUsdmSettings",
    "BinanceVenueSettings",
    "BitgetVenueSettings",
    "BybitLinearSettings",
    "BybitSpotSettings",
    "BybitVenueSettings",
    "CcxtVenueSettings",
    "ConfigError",
    "DashboardSettings",
    "DealSettings",
    "EngineSettings",
    "HttpSettings",
    "InstrumentRef",
    "LoggingSettings",
    "MarketSettings",
    "MetadataSettings",
    "ObligationParams",
    "ObligationsSettings",
    "OfflineSettings",
    "OkxVenueSettings",
    "QuotingSettings",
    "Settings",
    "StreamVenueSettings",
    "VenueName",
    "VenuesSettings",
    "bundled_replay_files",
    "check_symbol",
    "config_source",
    "format_validation_error",
    "load_settings",
    "read_toml",
]

DEFAULT_CONFIG = PACKAGED_CONFIG
"""The packaged default configuration (the same file as the repository's config/default.toml)."""


CONFIG_DEFAULTS: tuple[tuple[str, str, Any], ...] = (
    ("paper", "starting_balances", {"USDT": "100000", "BTC": "0.02"}),
    ("estimators", "vol_warmup_fraction", 0.1),
)
"""(section, key, value) the configuration defaults to although the component's own default
differs (a paper exchange or estimator built without a config keeps its own); every value
here is written out in config/default.toml (tests/test_defaults.py checks they agree)."""


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Minimum log level.")
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto = human-readable on a terminal, JSON lines otherwise."
    )
    file: Path | None = Field(
        None, description="Also write JSON logs to this file, rotated by size; none = stdout only."
    )
    max_bytes: int = Field(
        50_000_000, gt=0, le=1_000_000_000_000, description="Rotate the log file at this size."
    )
    backups: int = Field(5, ge=0, le=1000, description="Rotated log files kept.")


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[IPv6]:PORT`` for IPv6) -> (host, port); ValueError saying what is wrong.

    The host is an IPv4 or IPv6 address or a DNS name; the port 1-65535, or 0 for any
    free port."""
    text = text.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"{text!r} is not HOST:PORT ([IPv6]:PORT for IPv6)")
        if ":" not in host:
            raise ValueError(f"host {host!r} is not an IPv6 address")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"{text!r} is not HOST:PORT")
        if ":" in host:
            raise ValueError(f"{text!r}: write an IPv6 host in brackets, e.g. [::1]:8080")
    check_host(host)
    if not port_text.isdigit() or len(port_text) > 5:
        raise ValueError(f"port {port_text!r} is not a number")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port {port} is out of range (1-65535, or 0 for any free port)")
    return host, port


class DashboardSettings(_Section):
    """The live web page at ``/dashboard/`` (:mod:`bot.ops.dashboard`)."""

    enabled: bool = Field(True, description="Serve the live dashboard page and its event stream.")
    max_rate_hz: float = Field(
        4.0, ge=0.2, le=10.0, description="Updates pushed per second (also the history sampling rate)."
    )
    history_points: int = Field(
        3600, ge=10, le=100_000, description="History points kept per engine (3600 = 15 min at 4 Hz)."
    )
    max_clients: int = Field(
        8, ge=1, le=256, description="Concurrent dashboard streams; more are refused with 503."
    )
    client_queue: int = Field(
        8,
        ge=1,
        le=1000,
        description="Updates buffered per client; a client that falls further behind is dropped.",
    )
    write_timeout_s: float = Field(
        5.0, gt=0, le=60, description="A client that does not take an update in this time is dropped."
    )
    ladder_levels: int = Field(10, ge=1, le=100, description="Order-book levels per side in the ladder.")


class HttpSettings(_Section):
    enabled: bool = Field(True, description="Serve /healthz, /metrics and /status while running.")
    listen: str = Field(
        "127.0.0.1:8080",
        max_length=300,
        description="HOST:PORT for the ops HTTP server ([IPv6]:PORT for IPv6); port 1-65535, or 0 = "
        "any free port. Keep it on localhost unless a proxy guards it.",
    )
    max_connections: int = Field(
        32, ge=1, le=10_000, description="Open connections at most; more are answered 503 and closed."
    )
    idle_timeout_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Close a connection with no request in progress (keep-alive, or silent) after this long.",
    )
    read_timeout_s: float = Field(
        5.0,
        gt=0,
        le=600,
        description="A request's line and headers must arrive within this long of its first byte, its "
        "body within this long more.",
    )
    request_timeout_s: float = Field(
        10.0, gt=0, le=600, description="A request not answered within this long gets 503."
    )
    max_body_bytes: int = Field(
        65_536, ge=1024, le=16_777_216, description="Largest control request body accepted (413 above)."
    )
    token: SecretStr | None = Field(
        None,
        description="Bearer token enabling the control endpoints (kill, resume, strategy). "
        "Environment only: MMBOT_HTTP__TOKEN. Unset = control endpoints off.",
    )
    token_file: Path | None = Field(
        None, description="Read the control token from this file instead (Docker/K8s secrets)."
    )
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)

    def control_token(self) -> str | None:
        """The control token from the environment or the secret file, if any."""
        if self.token is not None:
            return self.token.get_secret_value()
        if self.token_file is not None:
            try:
                return self.token_file.read_text().strip() or None
            except OSError as exc:
                raise ConfigError(f"http.token_file: cannot read {self.token_file}: {exc.strerror}") from None
        return None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    @property
    def host_port(self) -> tuple[str, int]:
        return parse_listen(self.listen)


class MetadataSettings(_Section):
    source: Literal["auto", "exchange", "cache"] = Field(
        "auto",
        description="auto = ask the exchange (ccxt), fall back to the cache; exchange = must fetch; "
        "cache = never touch the network (offline runs always use the cache).",
    )
    timeout_s: float = Field(10.0, gt=0, le=120, description="Metadata request timeout.")


class MarketSettings(FeedCheckSettings):
    """``[market]``: book staleness and buffering, and the market-data cross-checks
    (:class:`~bot.market.feed_settings.FeedCheckSettings`: top of book, trades, depth
    silence, falling behind)."""

    stale_after_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="A book whose feed has been silent this long is invalid (core staleness rule).",
    )
    status_interval_s: float = Field(
        10.0, gt=0, le=86_400, description="How often `mmbot run` logs book state per instrument."
    )
    max_buffer: int = Field(
        10_000,
        ge=10,
        le=10_000_000,
        description="Diffs buffered per instrument while waiting for a snapshot.",
    )


class InstrumentRef(_Section):
    venue: AnyVenueName = Field(description="Venue of the market.")
    symbol: str = Field(
        pattern=SYMBOL_PATTERN, description="Exchange symbol, e.g. BTCUSDT (OKX: BTC-USDT-SWAP)."
    )

    @model_validator(mode="after")
    def _symbol_shape(self) -> InstrumentRef:
        check_symbol(self.venue, self.symbol)
        return self

    @property
    def key(self) -> str:
        return f"{self.venue}:{self.symbol}"


class EngineSettings(_Section):
    venue: AnyVenueName = Field(description="Venue whose book this engine quotes.")
    symbol: str = Field(pattern=SYMBOL_PATTERN, description="Exchange symbol, e.g. BTCUSDT (OKX: BTC-USDT).")
    strategy: str = Field(
        "as_default",
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$",
        description="Strategy profile: <strategy>.toml on the profile search path (quoting.strategies_dir, "
        "strategies/ next to the config file, ./config/strategies, the packaged profiles); switchable at runtime.",
    )
    quote: bool = Field(True, description="Quote this market (false = stream and observe only).")
    hedge: InstrumentRef | None = Field(
        None,
        description="Perpetual used to hedge this engine's delta (streamed alongside); any venue, "
        "e.g. quote binance_spot, hedge on bybit_linear.",
    )
    starting_balances: dict[str, Decimal] | None = Field(
        None,
        description="This engine's paper account at the start, per asset (each engine is one account "
        "on its venue); unset = paper.starting_balances.",
    )

    @model_validator(mode="after")
    def _symbol_shape(self) -> EngineSettings:
        check_symbol(self.venue, self.symbol)
        return self

    @field_validator("starting_balances")
    @classmethod
    def _balances(cls, value: dict[str, Decimal] | None) -> dict[str, Decimal] | None:
        if value is not None:
            PaperSettings(starting_balances=value)  # the same rules as paper.starting_balances
        return value

    @property
    def key(self) -> str:
        return f"{self.venue}:{self.symbol}"

    def instruments(self) -> list[str]:
        keys = [self.key]
        if self.hedge is not None:
            keys.append(self.hedge.key)
        return keys


class QuotingSettings(_Section):
    refresh_ticks: int = Field(
        1,
        ge=0,
        le=10_000,
        description="Keep a resting quote while its price is within this many ticks of the desired price.",
    )
    size_tolerance: float = Field(
        0.25,
        ge=0,
        lt=1,
        description="Keep a resting quote while its size is within this fraction of the desired size.",
    )
    max_order_age_s: float = Field(
        0.0, ge=0, le=86_400, description="Refresh quotes older than this (0 = never)."
    )
    reject_cooldown_s: float = Field(
        1.0,
        ge=0,
        le=3600,
        description="After the venue rejects an order, place nothing new on that side for this long.",
    )
    sample_interval_s: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="Journal a market/quotes/PnL sample this often (event time); reports read it.",
    )
    decide: Literal["every-event", "on-change"] = Field(
        "every-event",
        description="When a book change makes the strategy decide its quotes: every-event, or on-change = "
        "only when the top of book (prices, sizes), the volatility estimates or quotability changed "
        "(fills, order states, timers and risk still decide at once; estimators see every event).",
    )
    strategies_dir: Path | None = Field(
        None,
        description="Searched first for strategy profiles; then the 'strategies' folder next to the config "
        "file, ./config/strategies and the profiles shipped with mmbot.",
    )
    markout_ewma_fills: float = Field(
        20.0,
        ge=1,
        le=100_000,
        description="Markouts of our fills (1 s / 10 s / 60 s, per side) are also averaged as an EWMA with "
        "weight 1/N per fill; a profile's [costs] adverse_selection_weight widens quotes by it.",
    )


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


def config_source(path: Path | None) -> Source:
    """The config file ``load_settings(path)`` reads and why: ``path``, else
    ``./config/default.toml`` if present, else the packaged default (bot/defaults)."""
    return find_config(path)


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Load the config file (see :func:`config_source`) plus env overrides.

    ``overrides`` are applied on top of the file (used by CLI flags) but below env.
    """
    path = config_source(path).path
    source = str(path)
    data = read_toml(path)
    _refuse_secrets_in_file(data, source)
    _deep_merge(data, overrides)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None
    except SettingsError as exc:  # an MMBOT_* variable that is not the JSON its section needs
        raise ConfigError(_env_error(exc)) from None

    return _resolve_deal_file(settings, path)


def _resolve_deal_file(settings: Settings, config_path: Path) -> Settings:
    """A relative ``deal.file`` is looked up next to the config file first, then in the working
    directory (so ``file = "deals/abc.toml"`` in ``config/abc.toml`` works from any directory)."""
    file = settings.deal.file
    if file is None or file.is_absolute():
        return settings
    beside = config_path.parent / file
    if not beside.is_file():
        return settings  # as written: relative to the working directory (a missing file is named later)
    return settings.model_copy(update={"deal": settings.deal.model_copy(update={"file": beside})})


def _env_error(exc: SettingsError) -> str:
    """Name the ``MMBOT_*`` variable(s) behind a pydantic-settings parse failure."""
    match = re.search(r'field "([^"]+)"', str(exc))
    field = match.group(1) if match else ""
    culprits = []
    for name, value in sorted(os.environ.items()):
        if not name.upper().startswith(f"{ENV_PREFIX}{field.upper()}"):
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        if not _is_section(Settings, path):
            continue
        try:
            json.loads(value)
        except ValueError as err:
            culprits.append(f"{name}: not valid JSON for the [{'.'.join(path)}] section ({err})")
    if culprits:
        return "environment: " + "; ".join(culprits)
    return f"environment: cannot read {ENV_PREFIX}{field.upper()}*: {exc}"


def _is_section(model: Any, path: list[str]) -> bool:
    """True if ``path`` names a table (a model, dict or list) in the settings tree."""
    annotation: Any = model
    for part in path:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part)
            if field is None:
                return False
            annotation = field.annotation
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        else:
            return False
    annotation = _unwrap(annotation)
    return (isinstance(annotation, type) and issubclass(annotation, BaseModel)) or get_origin(annotation) in (
        dict,
        list,
    )


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (types.UnionType, Union) and len(args) == 1:
        return args[0]
    return annotation


SECRET_FIELDS: tuple[tuple[str, ...], ...] = (
    ("http", "token"),
    ("testnet", "binance_spot", "api_key"),
    ("testnet", "binance_spot", "api_secret"),
    ("testnet", "binance_usdm", "api_key"),
    ("testnet", "binance_usdm", "api_secret"),
)
"""Fields that may only come from the environment or secret files, never a config file."""


def _refuse_secrets_in_file(data: dict[str, Any], source: str) -> None:
    for path in SECRET_FIELDS:
        node: Any = data
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and path[-1] in node:
            dotted = ".".join(path)
            raise ConfigError(
                f"{source}: {dotted}: secrets may not be stored in config files; "
                f"set {env_name(path)} or use {dotted}_file"
            )


def _deep_merge(target: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value
