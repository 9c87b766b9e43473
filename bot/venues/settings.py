"""Venue settings: endpoints, connection policy and fees of every market data venue.

Owned by the venues layer and part of the configuration (:mod:`bot.config` re-exports
everything here, so ``bot.config`` stays the settings namespace): one
section per native venue (Binance spot / USD-M, Bybit spot / linear, OKX spot / swap /
futures) and the ``[venues.ccxt.<name>]`` sections of the generic ccxt.pro adapter.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, Field, field_validator, model_validator

from bot.inputmodel import HttpUrl, InputModel, WsUrl, check_url
from bot.venues.binance.weights import depth_weight
from bot.venues.fee_tiers import tier_rates


class _Section(InputModel):
    pass


VenueName = Literal[
    "binance_spot",
    "binance_usdm",
    "bybit_spot",
    "bybit_linear",
    "okx_spot",
    "okx_swap",
    "okx_futures",
    "bitget_spot",
    "bitget_usdtm",
]

SYMBOL_PATTERN = r"^[A-Z0-9][A-Z0-9-]{1,39}$"
"""Binance / Bybit symbols (``BTCUSDT``) and OKX instrument ids (``BTC-USDT-SWAP``)."""

CCXT_VENUE_PREFIX = "ccxt_"
"""Venue names ``ccxt_<name>`` are served by the generic ccxt.pro adapter per ``[venues.ccxt.<name>]``."""


def is_ccxt_venue(venue: str) -> bool:
    return venue.startswith(CCXT_VENUE_PREFIX)


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


METADATA_TIER = "metadata"
"""``fee_tier = "metadata"``: the rates the venue's metadata states (ccxt: the regular tier)."""


class _VenuePolicy(_Section):
    """Reconnect backoff and per-account fee overrides, shared by every venue's settings."""

    reconnect_min_s: float = Field(0.5, gt=0, description="First reconnect delay (exponential backoff).")
    reconnect_max_s: float = Field(30.0, gt=0, description="Reconnect delay cap.")
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
    fee_tier: str | None = Field(
        None,
        min_length=1,
        max_length=32,
        description="The account's published fee tier (e.g. vip0, vip3, lp1, mm2; see bot/venues/fee_tiers.py "
        "and `mmbot markets show`): its maker/taker rates apply to every instrument of the venue. "
        'maker_fee/taker_fee override it; "metadata" or unset = the metadata\'s rates.',
    )

    @model_validator(mode="after")
    def _check_venue_policy(self) -> _VenuePolicy:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        if (self.maker_fee is None) != (self.taker_fee is None):
            raise ValueError("set both maker_fee and taker_fee, or neither")
        return self


class BinanceVenueSettings(_VenuePolicy):
    """Endpoints and connection policy of one Binance market (spot or USD-M)."""

    network: Literal["mainnet", "testnet"] = Field(
        "mainnet", description="Which public endpoints to use when no URL is set explicitly."
    )
    ws_url: WsUrl | None = Field(
        None,
        description="Websocket base URL (USD-M: the /public route for depth and bookTicker). "
        "Unset = the network's default.",
    )
    ws_market_url: WsUrl | None = Field(
        None, description="USD-M only: websocket /market route (aggTrade, markPrice). Unset = default."
    )
    rest_url: HttpUrl | None = Field(None, description="REST base URL. Unset = the network's default.")
    depth_speed_ms: int = Field(
        100,
        description="Diff-depth stream speed (spot: 100 or 1000; USD-M: 0 (real time, @depth@0ms), "
        "100, 250, 500).",
    )
    trade_stream: Literal["trade", "aggTrade"] = Field("trade", description="Public trade stream to use.")
    book_ticker: bool = Field(True, description="Subscribe to bookTicker (exact top-of-book checks).")
    snapshot_limit: int = Field(1000, ge=5, le=5000, description="Levels per side in REST depth snapshots.")
    rest_weight_per_minute: int | None = Field(
        None,
        gt=0,
        le=1_000_000,
        description="REST request-weight budget per window (throttled client side). Unset = the "
        "venue's REQUEST_WEIGHT limit read from exchangeInfo rateLimits at the first snapshot, or "
        "Binance's documented limit if that read fails (spot 6000, USD-M 2400 per minute).",
    )
    rest_weight_window_s: float = Field(
        60.0,
        gt=0,
        le=3600,
        description="The window that budget applies to (Binance counts per minute; when the limit is "
        "read from exchangeInfo, its interval is used).",
    )
    snapshot_retry_min_s: float = Field(
        0.25,
        ge=0,
        description="A snapshot retried before the book was valid again (attempt n >= 2) waits "
        "snapshot_retry_min_s x 2^(n-2) first, capped at snapshot_retry_max_s.",
    )
    snapshot_retry_max_s: float = Field(30.0, gt=0, description="Snapshot retry back-off cap.")
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
    connect_timeout_s: float = Field(10.0, gt=0, description="Websocket / REST connect timeout.")

    def _check_budget(self, venue: str) -> None:
        weight = depth_weight(venue, self.snapshot_limit)
        if self.rest_weight_per_minute is not None and self.rest_weight_per_minute < weight:
            raise ValueError(
                f"rest_weight_per_minute {self.rest_weight_per_minute} is below the weight of one "
                f"depth snapshot ({weight} at snapshot_limit {self.snapshot_limit})"
            )
        if self.snapshot_retry_max_s < self.snapshot_retry_min_s:
            raise ValueError("snapshot_retry_max_s must be >= snapshot_retry_min_s")


class BinanceSpotSettings(BinanceVenueSettings):
    fee_tier: str | None = Field(
        "lp1",
        min_length=1,
        max_length=32,
        description="Published fee tier of the account (bot/venues/fee_tiers.py): vip0..vip9, vip0_bnb, vip9_bnb, or lp1 (Spot Liquidity Provider Program, maker 0 %: mmbot is a market maker). maker_fee/taker_fee override it.",
    )

    @model_validator(mode="after")
    def _budget(self) -> BinanceSpotSettings:
        self._check_budget("binance_spot")
        return self

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
    fee_tier: str | None = Field(
        "vip0",
        min_length=1,
        max_length=32,
        description="Published fee tier of the account: vip0..vip9, or lp1..lp3 (USD-M Liquidity Provider Program, maker rebates). maker_fee/taker_fee override it.",
    )

    @model_validator(mode="after")
    def _budget(self) -> BinanceUsdmSettings:
        self._check_budget("binance_usdm")
        return self

    @field_validator("depth_speed_ms")
    @classmethod
    def _speed(cls, value: int) -> int:
        if value not in (0, 100, 250, 500):
            raise ValueError(f"must be 0, 100, 250 or 500 on Binance USD-M, got {value}")
        return value

    @field_validator("snapshot_limit")
    @classmethod
    def _limit(cls, value: int) -> int:
        if value not in (5, 10, 20, 50, 100, 500, 1000):
            raise ValueError(f"must be one of 5, 10, 20, 50, 100, 500, 1000 on Binance USD-M, got {value}")
        return value


class StreamVenueSettings(_VenuePolicy):
    """Endpoints and connection policy shared by venues whose book snapshot comes in the
    websocket stream (Bybit v5, OKX): subscribe by message, resubscribe to resync."""

    ws_url: WsUrl | None = Field(None, description="Websocket URL. Unset = the network's default.")
    rest_url: HttpUrl | None = Field(
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
    connect_timeout_s: float = Field(10.0, gt=0, description="Websocket / REST connect timeout.")
    snapshot_timeout_s: float = Field(
        10.0,
        gt=0,
        description="A resubscription that has not produced a book snapshot after this long may be retried.",
    )
    max_subscriptions_per_connection: int = Field(
        100, ge=1, le=1000, description="Split the subscriptions over several connections beyond this many."
    )

    @model_validator(mode="after")
    def _check_policy(self) -> StreamVenueSettings:
        if self.stale_after_s <= self.ping_interval_s:
            raise ValueError("stale_after_s must be greater than ping_interval_s")
        return self


class BybitVenueSettings(StreamVenueSettings):
    """Bybit v5 public market data (``orderbook``, ``publicTrade``, ``tickers``)."""

    fee_tier: str | None = Field(
        "vip0",
        min_length=1,
        max_length=32,
        description="Published fee tier of the account: vip0..vip5, supreme, or the Market Maker Incentive Program's mm1.. (maker rebates). maker_fee/taker_fee override it.",
    )

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

    fee_tier: str | None = Field(
        "lv1",
        min_length=1,
        max_length=32,
        description="Published fee tier of the account: spot lv1..lv5, vip1..vip8; swaps and futures lv1. maker_fee/taker_fee override it.",
    )

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


class BitgetVenueSettings(StreamVenueSettings):
    """Bitget v2 public market data (``books*``, ``trade``, ``ticker``) of ``bitget_spot`` or
    ``bitget_usdtm`` (USDT-M perpetuals).

    Fees: unset ``maker_fee`` / ``taker_fee`` take the symbol's rates from metadata. Bitget's
    regular (VIP 0) rates are 0.1 % maker / 0.1 % taker on spot and 0.02 % / 0.06 % on USDT-M
    futures (fee schedule https://www.bitget.com/fee); set them here for your account's tier
    or BGB discount.
    """

    network: Literal["mainnet", "demo"] = Field(
        "mainnet", description="mainnet, or demo (Bitget demo trading's public endpoint)."
    )
    channel: Literal["books", "books1", "books5", "books15"] = Field(
        "books",
        description="Book channel: books (every level, snapshot + updates with seq and checksum), "
        "or books1 / books5 / books15 (the top levels as a full book each push).",
    )
    ticker: bool = Field(
        True, description="USDT-M only: subscribe to ticker for mark price and funding (MarkPrice events)."
    )
    max_subscriptions_per_connection: int = Field(
        50,
        ge=1,
        le=1000,
        description="Split the subscriptions over several connections beyond this many (Bitget "
        "allows 1000 channels per connection and recommends fewer than 50).",
    )


class CcxtVenueSettings(_VenuePolicy):
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
    timeout_s: float = Field(10.0, gt=0, le=120, description="REST / connect timeout handed to ccxt.")

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: dict[str, str]) -> dict[str, str]:
        for key, url in value.items():
            if not key or any(not part for part in key.split(".")):
                raise ValueError(f"{key!r}: expected a dotted path into exchange.urls, e.g. 'api.ws.spot'")
            if not url.startswith(("http://", "https://", "ws://", "wss://")):
                raise ValueError(f"{key!r}: {url!r} must start with http(s):// or ws(s)://")
            try:
                check_url(url, ("http", "https", "ws", "wss"), templates=True)
            except ValueError as exc:
                raise ValueError(f"{key!r}: {exc}") from None
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
    bitget_spot: BitgetVenueSettings = Field(default_factory=BitgetVenueSettings)
    bitget_usdtm: BitgetVenueSettings = Field(default_factory=BitgetVenueSettings)
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

    @model_validator(mode="after")
    def _fee_tiers(self) -> VenuesSettings:
        for venue in get_args(VenueName):
            tier = getattr(self, venue).fee_tier
            if tier is not None and tier != METADATA_TIER:
                try:
                    tier_rates(venue, tier)
                except ValueError as exc:
                    raise ValueError(f"{venue}.fee_tier: {exc}") from None
        for name, section in self.ccxt.items():
            if section.fee_tier is not None:
                raise ValueError(
                    f"ccxt.{name}.fee_tier: no published tiers for ccxt venues; set maker_fee/taker_fee"
                )
        return self

    def fee_rates(self, venue: str) -> tuple[Decimal, Decimal] | None:
        """(maker, taker) this account pays on ``venue`` per the settings, or None (metadata's)."""
        if is_ccxt_venue(venue):
            section: Any = self.ccxt.get(venue.removeprefix(CCXT_VENUE_PREFIX))
        else:
            section = getattr(self, venue, None)
        if section is None:
            return None
        if section.maker_fee is not None and section.taker_fee is not None:
            return section.maker_fee, section.taker_fee
        if section.fee_tier is not None and section.fee_tier != METADATA_TIER:
            tier = tier_rates(venue, section.fee_tier)
            return tier.maker, tier.taker
        return None

    def for_venue(self, venue: str) -> Any:
        """The settings section of ``venue`` (``BinanceVenueSettings``, ``BybitVenueSettings``,
        ``OkxVenueSettings`` or ``BitgetVenueSettings``; all carry ``rest_url``, ``maker_fee``
        and ``taker_fee``)."""
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
