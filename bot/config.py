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

import os
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.errors import InputError
from bot.hedge.settings import HedgeSettings
from bot.market.estimators.params import EstimatorParams
from bot.paper.settings import PaperSettings
from bot.risk.settings import RiskSettings
from bot.venues.testnet_settings import TestnetSettings

ENV_PREFIX = "MMBOT_"
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = PACKAGE_DIR.parent / "config" / "default.toml"
BUNDLED_REPLAY_DIR = PACKAGE_DIR / "emulator" / "data"

VenueName = Literal[
    "binance_spot", "binance_usdm", "bybit_spot", "bybit_linear", "okx_spot", "okx_swap", "okx_futures"
]

SYMBOL_PATTERN = r"^[A-Z0-9][A-Z0-9-]{1,39}$"
"""Binance / Bybit symbols (``BTCUSDT``) and OKX instrument ids (``BTC-USDT-SWAP``)."""

CCXT_VENUE_PREFIX = "ccxt_"
"""Venue names ``ccxt_<name>`` are served by the generic ccxt.pro adapter per ``[venues.ccxt.<name>]``."""


def _check_venue_name(value: str) -> str:
    if value in get_args(VenueName):
        return value
    name = value.removeprefix(CCXT_VENUE_PREFIX)
    if value.startswith(CCXT_VENUE_PREFIX) and name and name.replace("_", "").isalnum() and name.islower():
        return value
    native = " or ".join(repr(v) for v in get_args(VenueName))
    raise ValueError(
        f"Input should be {native}, or 'ccxt_<name>' for a [venues.ccxt.<name>] section (got {value!r})"
    )


AnyVenueName = Annotated[str, AfterValidator(_check_venue_name)]
"""A native venue (:data:`VenueName`) or ``ccxt_<name>``."""


class ConfigError(InputError):
    """Bad configuration; the message is meant for the user as is."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Minimum log level.")
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto = human-readable on a terminal, JSON lines otherwise."
    )
    file: Path | None = Field(
        None, description="Also write JSON logs to this file, rotated by size; none = stdout only."
    )
    max_bytes: int = Field(50_000_000, gt=0, description="Rotate the log file at this size.")
    backups: int = Field(5, ge=0, description="Rotated log files kept.")


class HttpSettings(_Section):
    enabled: bool = Field(True, description="Serve /healthz, /metrics and /status while running.")
    listen: str = Field(
        "127.0.0.1:8080",
        pattern=r"^[^:\s]+:\d{1,5}$",
        description="HOST:PORT for the ops HTTP server; port 0 = any free port. Keep it on localhost "
        "unless a proxy guards it.",
    )
    token: SecretStr | None = Field(
        None,
        description="Bearer token enabling the control endpoints (kill, resume, strategy). "
        "Environment only: MMBOT_HTTP__TOKEN. Unset = control endpoints off.",
    )
    token_file: Path | None = Field(
        None, description="Read the control token from this file instead (Docker/K8s secrets)."
    )

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

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host, int(port)


class MetadataSettings(_Section):
    source: Literal["auto", "exchange", "cache"] = Field(
        "auto",
        description="auto = ask the exchange (ccxt), fall back to the cache; exchange = must fetch; "
        "cache = never touch the network (offline runs always use the cache).",
    )
    timeout_s: float = Field(10.0, gt=0, le=120, description="Metadata request timeout.")


class MarketSettings(_Section):
    stale_after_s: float = Field(
        5.0,
        gt=0,
        le=3600,
        description="A book whose feed has been silent this long is invalid (core staleness rule).",
    )
    status_interval_s: float = Field(
        10.0, gt=0, description="How often `mmbot run` logs book state per instrument."
    )
    max_buffer: int = Field(
        10_000, ge=10, description="Diffs buffered per instrument while waiting for a snapshot."
    )


class BinanceVenueSettings(_Section):
    """Endpoints and connection policy of one Binance market (spot or USD-M)."""

    network: Literal["mainnet", "testnet"] = Field(
        "mainnet", description="Which public endpoints to use when no URL is set explicitly."
    )
    ws_url: str | None = Field(
        None,
        description="Websocket base URL (USD-M: the /public route for depth and bookTicker). "
        "Unset = the network's default.",
    )
    ws_market_url: str | None = Field(
        None, description="USD-M only: websocket /market route (aggTrade, markPrice). Unset = default."
    )
    rest_url: str | None = Field(None, description="REST base URL. Unset = the network's default.")
    depth_speed_ms: int = Field(
        100, description="Diff-depth stream speed (spot: 100 or 1000; USD-M: 100, 250, 500)."
    )
    trade_stream: Literal["trade", "aggTrade"] = Field("trade", description="Public trade stream to use.")
    book_ticker: bool = Field(True, description="Subscribe to bookTicker (exact top-of-book checks).")
    snapshot_limit: int = Field(1000, ge=5, le=5000, description="Levels per side in REST depth snapshots.")
    rest_weight_per_minute: int = Field(
        1200, gt=0, description="REST request-weight budget per minute (throttled client side)."
    )
    ping_interval_s: float = Field(20.0, gt=0, description="Client websocket ping interval.")
    ping_timeout_s: float = Field(
        20.0, gt=0, description="Drop the connection if a ping is unanswered this long."
    )
    stale_after_s: float = Field(10.0, gt=0, description="Reconnect when no message arrives for this long.")
    max_connection_age_s: float = Field(
        23.5 * 3600,
        gt=0,
        description="Reconnect proactively before Binance's 24 h connection limit.",
    )
    reconnect_min_s: float = Field(0.5, gt=0, description="First reconnect delay (exponential backoff).")
    reconnect_max_s: float = Field(30.0, gt=0, description="Reconnect delay cap.")
    connect_timeout_s: float = Field(10.0, gt=0, description="Websocket / REST connect timeout.")
    maker_fee: Decimal | None = Field(
        None,
        ge=Decimal("-0.01"),
        le=Decimal("0.01"),
        description="Maker fee rate for this account (e.g. 0.0002; negative = rebate). Unset = from metadata.",
    )
    taker_fee: Decimal | None = Field(
        None,
        ge=Decimal("-0.01"),
        le=Decimal("0.01"),
        description="Taker fee rate for this account. Unset = from metadata.",
    )

    @model_validator(mode="after")
    def _check_backoff(self) -> BinanceVenueSettings:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        if (self.maker_fee is None) != (self.taker_fee is None):
            raise ValueError("set both maker_fee and taker_fee, or neither")
        return self


class BinanceSpotSettings(BinanceVenueSettings):
    @field_validator("depth_speed_ms")
    @classmethod
    def _speed(cls, value: int) -> int:
        if value not in (100, 1000):
            raise ValueError(f"must be 100 or 1000 on Binance spot, got {value}")
        return value

    @field_validator("ws_market_url")
    @classmethod
    def _no_market_route(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("applies to binance_usdm only")
        return value


class BinanceUsdmSettings(BinanceVenueSettings):
    @field_validator("depth_speed_ms")
    @classmethod
    def _speed(cls, value: int) -> int:
        if value not in (100, 250, 500):
            raise ValueError(f"must be 100, 250 or 500 on Binance USD-M, got {value}")
        return value

    @field_validator("snapshot_limit")
    @classmethod
    def _limit(cls, value: int) -> int:
        if value not in (5, 10, 20, 50, 100, 500, 1000):
            raise ValueError(f"must be one of 5, 10, 20, 50, 100, 500, 1000 on Binance USD-M, got {value}")
        return value


class StreamVenueSettings(_Section):
    """Endpoints and connection policy shared by venues whose book snapshot comes in the
    websocket stream (Bybit v5, OKX): subscribe by message, resubscribe to resync."""

    ws_url: str | None = Field(None, description="Websocket URL. Unset = the network's default.")
    rest_url: str | None = Field(
        None, description="REST base URL (instrument metadata via ccxt). Unset = the network's default."
    )
    trades: bool = Field(True, description="Subscribe to public trades.")
    ping_interval_s: float = Field(
        20.0, gt=0, description="Application-level ping interval (the venue drops silent clients)."
    )
    ping_timeout_s: float = Field(10.0, gt=0, description="Reconnect if a ping gets no answer this long.")
    stale_after_s: float = Field(
        30.0,
        gt=0,
        description="Reconnect when no message arrives for this long (must exceed the ping interval).",
    )
    max_connection_age_s: float = Field(
        23.5 * 3600,
        gt=0,
        description="Reconnect proactively after this long (a fresh connection, a fresh book).",
    )
    reconnect_min_s: float = Field(0.5, gt=0, description="First reconnect delay (exponential backoff).")
    reconnect_max_s: float = Field(30.0, gt=0, description="Reconnect delay cap.")
    connect_timeout_s: float = Field(10.0, gt=0, description="Websocket / REST connect timeout.")
    snapshot_timeout_s: float = Field(
        10.0,
        gt=0,
        description="A resubscription that has not produced a book snapshot after this long may be retried.",
    )
    max_subscriptions_per_connection: int = Field(
        100, ge=1, le=1000, description="Split the subscriptions over several connections beyond this many."
    )
    maker_fee: Decimal | None = Field(
        None,
        ge=Decimal("-0.01"),
        le=Decimal("0.01"),
        description="Maker fee rate for this account (e.g. 0.0002; negative = rebate). Unset = from metadata.",
    )
    taker_fee: Decimal | None = Field(
        None,
        ge=Decimal("-0.01"),
        le=Decimal("0.01"),
        description="Taker fee rate for this account. Unset = from metadata.",
    )

    @model_validator(mode="after")
    def _check_policy(self) -> StreamVenueSettings:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        if (self.maker_fee is None) != (self.taker_fee is None):
            raise ValueError("set both maker_fee and taker_fee, or neither")
        if self.stale_after_s <= self.ping_interval_s:
            raise ValueError("stale_after_s must be greater than ping_interval_s")
        return self


class BybitVenueSettings(StreamVenueSettings):
    """Bybit v5 public market data (``orderbook``, ``publicTrade``, ``tickers``)."""

    network: Literal["mainnet", "testnet"] = Field(
        "mainnet", description="Which public endpoints to use when no URL is set explicitly."
    )
    depth: int = Field(
        50, description="orderbook depth: spot 1, 50, 200 or 1000; linear 1, 50, 200, 500 or 1000."
    )
    tickers: bool = Field(
        True, description="Linear only: subscribe to tickers for mark price and funding (MarkPrice events)."
    )


class BybitSpotSettings(BybitVenueSettings):
    @field_validator("depth")
    @classmethod
    def _depth(cls, value: int) -> int:
        if value not in (1, 50, 200, 1000):
            raise ValueError(f"must be 1, 50, 200 or 1000 on Bybit spot, got {value}")
        return value


class BybitLinearSettings(BybitVenueSettings):
    @field_validator("depth")
    @classmethod
    def _depth(cls, value: int) -> int:
        if value not in (1, 50, 200, 500, 1000):
            raise ValueError(f"must be 1, 50, 200, 500 or 1000 on Bybit linear, got {value}")
        return value


class OkxVenueSettings(StreamVenueSettings):
    """OKX v5 public market data (``books*``, ``trades``, ``funding-rate`` + ``mark-price``)."""

    network: Literal["mainnet", "demo"] = Field(
        "mainnet", description="mainnet, or demo (OKX demo trading's public endpoint)."
    )
    channel: Literal["books", "books5", "bbo-tbt"] = Field(
        "books",
        description="Book channel: books (400 levels, snapshot + updates with seqId and checksum), "
        "books5 (top 5, full book each push) or bbo-tbt (top of book, tick by tick).",
    )
    funding: bool = Field(
        True, description="Swaps only: subscribe to funding-rate and mark-price (MarkPrice events)."
    )


class CcxtVenueSettings(_Section):
    """One exchange served through ccxt.pro (venue name ``ccxt_<section name>``)."""

    exchange: str = Field(
        pattern=r"^[a-z][a-z0-9]*$", description="ccxt exchange id, e.g. kraken, okx, bybit, binance."
    )
    market_type: Literal["spot", "swap"] = Field(
        "spot", description="Which of the exchange's markets the symbols name: spot or perpetual swaps."
    )
    sandbox: bool = Field(False, description="Use the exchange's testnet URLs (ccxt set_sandbox_mode).")
    demo: bool = Field(
        False, description="Use the exchange's demo-trading URLs (ccxt enable_demo_trading, e.g. Binance)."
    )
    urls: dict[str, str] = Field(
        default_factory=dict,
        description="Replace single entries of ccxt's exchange.urls, keyed by dotted path, e.g. "
        '"api.public" or "api.ws.spot" (never the whole dict). Applied after sandbox/demo.',
    )
    options: dict[str, Any] = Field(
        default_factory=dict, description="Merged into ccxt's exchange.options (e.g. fetchMarkets types)."
    )
    symbols: dict[str, str] = Field(
        default_factory=dict,
        description="Map an mmbot symbol (e.g. BTCUSDT) to a ccxt unified symbol (e.g. 'BTC/USDT:USDT') "
        "where the automatic match by market id or base+quote is ambiguous.",
    )
    book_depth: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="Levels per side ccxt keeps (watch_order_book limit); unset = ccxt default "
        "(Binance 1000, which truncates deep levels; 5000 matches the native adapter's book).",
    )
    trades: bool = Field(True, description="Stream public trades (watch_trades).")
    funding: bool = Field(
        True, description="Swaps: stream mark price and funding (watch_funding_rate / watch_mark_price)."
    )
    lot_size: Decimal | None = Field(
        None,
        gt=0,
        description="Finest size the venue publishes in books/trades when finer than the order step; "
        "unset = from the market (Binance: base/quantity precision; others: the amount step).",
    )
    stale_after_s: float = Field(
        30.0, gt=0, description="No book update for this long: the book is invalid and ccxt reconnects."
    )
    reconnect_min_s: float = Field(0.5, gt=0, description="First retry delay (exponential backoff).")
    reconnect_max_s: float = Field(30.0, gt=0, description="Retry delay cap.")
    timeout_s: float = Field(10.0, gt=0, le=120, description="REST / connect timeout handed to ccxt.")
    maker_fee: Decimal | None = Field(
        None,
        ge=Decimal("-0.01"),
        le=Decimal("0.01"),
        description="Maker fee rate override; unset = metadata.",
    )
    taker_fee: Decimal | None = Field(
        None,
        ge=Decimal("-0.01"),
        le=Decimal("0.01"),
        description="Taker fee rate override; unset = metadata.",
    )

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: dict[str, str]) -> dict[str, str]:
        for key, url in value.items():
            if not key or any(not part for part in key.split(".")):
                raise ValueError(f"{key!r}: expected a dotted path into exchange.urls, e.g. 'api.ws.spot'")
            if not url.startswith(("http://", "https://", "ws://", "wss://")):
                raise ValueError(f"{key!r}: {url!r} must start with http(s):// or ws(s)://")
        return value

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: dict[str, str]) -> dict[str, str]:
        for ours in value:
            if not (2 <= len(ours) <= 30 and ours.isalnum() and ours.upper() == ours):
                raise ValueError(f"{ours!r}: mmbot symbols are upper-case letters and digits, e.g. BTCUSDT")
        return value

    @model_validator(mode="after")
    def _check(self) -> CcxtVenueSettings:
        if self.sandbox and self.demo:
            raise ValueError("set sandbox or demo, not both")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        if (self.maker_fee is None) != (self.taker_fee is None):
            raise ValueError("set both maker_fee and taker_fee, or neither")
        from bot.venues.ccxtpro.exchange import check_settings  # imports ccxt only when configured

        check_settings(self)
        return self


class VenuesSettings(_Section):
    binance_spot: BinanceSpotSettings = Field(default_factory=BinanceSpotSettings)
    binance_usdm: BinanceUsdmSettings = Field(default_factory=BinanceUsdmSettings)
    bybit_spot: BybitSpotSettings = Field(default_factory=BybitSpotSettings)
    bybit_linear: BybitLinearSettings = Field(default_factory=BybitLinearSettings)
    okx_spot: OkxVenueSettings = Field(default_factory=OkxVenueSettings)
    okx_swap: OkxVenueSettings = Field(default_factory=OkxVenueSettings)
    okx_futures: OkxVenueSettings = Field(default_factory=OkxVenueSettings)
    ccxt: dict[str, CcxtVenueSettings] = Field(
        default_factory=dict,
        description="Exchanges served by the generic ccxt.pro adapter; [venues.ccxt.kraken] is venue "
        "'ccxt_kraken' in engines.",
    )

    @field_validator("ccxt")
    @classmethod
    def _ccxt_names(cls, value: dict[str, CcxtVenueSettings]) -> dict[str, CcxtVenueSettings]:
        for name in value:
            if not (name and name.replace("_", "").isalnum() and name.islower()):
                raise ValueError(f"venue name {name!r} may only use lower-case letters, digits and '_'")
        return value

    def for_venue(self, venue: str) -> Any:
        """The settings section of ``venue`` (``BinanceVenueSettings``, ``BybitVenueSettings``
        or ``OkxVenueSettings``; all carry ``rest_url``, ``maker_fee`` and ``taker_fee``)."""
        if venue not in VenuesSettings.model_fields:
            raise ValueError(f"unknown venue {venue!r}")
        return getattr(self, venue)

    def ccxt_venue(self, venue: str) -> CcxtVenueSettings:
        """The ``[venues.ccxt.<name>]`` section of venue ``ccxt_<name>`` (KeyError if absent)."""
        return self.ccxt[venue.removeprefix(CCXT_VENUE_PREFIX)]


def check_symbol(venue: str, symbol: str) -> None:
    """Venue-specific symbol shape: OKX instrument ids have dashes, the others none."""
    if venue.startswith("okx_"):
        if "-" not in symbol:
            raise ValueError(f"OKX instrument ids look like BTC-USDT or BTC-USDT-SWAP, got {symbol!r}")
        if venue == "okx_swap" and not symbol.endswith("-SWAP"):
            raise ValueError(f"okx_swap instruments end in -SWAP, got {symbol!r}")
        if venue == "okx_spot" and symbol.count("-") != 1:
            raise ValueError(f"okx_spot instruments look like BTC-USDT, got {symbol!r}")
        if venue == "okx_futures" and (symbol.count("-") != 2 or symbol.endswith("-SWAP")):
            raise ValueError(f"okx_futures instruments look like BTC-USD-250627, got {symbol!r}")
    elif "-" in symbol:
        raise ValueError(f"{venue} symbols have no dashes (e.g. BTCUSDT), got {symbol!r}")


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
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="Strategy profile: config/strategies/<strategy>.toml (switchable at runtime).",
    )
    quote: bool = Field(True, description="Quote this market (false = stream and observe only).")
    hedge: InstrumentRef | None = Field(
        None,
        description="Perpetual used to hedge this engine's delta (streamed alongside); any venue, "
        "e.g. quote binance_spot, hedge on bybit_linear.",
    )

    @model_validator(mode="after")
    def _symbol_shape(self) -> EngineSettings:
        check_symbol(self.venue, self.symbol)
        return self

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
    max_order_age_s: float = Field(0.0, ge=0, description="Refresh quotes older than this (0 = never).")
    reject_cooldown_s: float = Field(
        1.0,
        ge=0,
        description="After the venue rejects an order, place nothing new on that side for this long.",
    )
    sample_interval_s: float = Field(
        1.0, gt=0, description="Journal a market/quotes/PnL sample this often (event time); reports read it."
    )
    strategies_dir: Path | None = Field(
        None,
        description="Where strategy profiles live; default: the 'strategies' folder next to the config file.",
    )


class OfflineSettings(_Section):
    replay: list[Path] = Field(
        default_factory=list,
        description="Recordings the in-process emulator replays for `mmbot run --offline`; "
        "empty = the bundled real Binance recordings.",
    )
    speed: float = Field(1.0, gt=0, le=10_000, description="Replay speed (1 = recorded pace).")
    host: str = Field("127.0.0.1", description="Emulator bind address.")
    port: int = Field(0, ge=0, le=65535, description="Emulator port; 0 = any free port.")
    loop: bool = Field(True, description="Restart the replay when it ends (connections drop, books resync).")


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
        return keys


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning I/O and syntax failures into :class:`ConfigError`."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a TOML file") from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc}") from None


def _env_name(location: tuple[int | str, ...]) -> str:
    return ENV_PREFIX + "__".join(str(part).upper() for part in location)


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One message naming the source, each bad field and the problem."""
    lines = []
    for error in exc.errors():
        location = tuple(error["loc"])
        field = ".".join(str(part) for part in location) or "(top level)"
        kind = error["type"]
        if kind == "extra_forbidden":
            problem = "unknown key"
        elif kind == "missing":
            problem = "required key is missing"
        else:
            problem = error["msg"].removeprefix("Value error, ")
            if kind != "value_error" and "input" in error and not isinstance(error["input"], dict | list):
                problem += f" (got {error['input']!r})"
        env = _env_name(location)
        origin = f" [from environment {env}]" if env in os.environ else ""
        lines.append(f"{source}: {field}: {problem}{origin}")
    return "\n".join(lines)


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Load ``path`` (default ``config/default.toml`` if present) plus env overrides.

    ``overrides`` are applied on top of the file (used by CLI flags) but below env.
    """
    data: dict[str, Any] = {}
    if path is None:
        source = "(defaults)"
        if DEFAULT_CONFIG.is_file():
            path = DEFAULT_CONFIG
    if path is not None:
        source = str(path)
        data = read_toml(path)
    _refuse_secrets_in_file(data, source)
    _deep_merge(data, overrides)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


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
                f"set {_env_name(path)} or use {dotted}_file"
            )


def _deep_merge(target: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = value


def bundled_replay_files() -> list[Path]:
    """The real Binance recordings shipped with the package, in replay order."""
    return sorted(BUNDLED_REPLAY_DIR.glob("binance_*.gz"))
