"""The sections of the settings tree that belong to no component: logging, the HTTP endpoints
and dashboard, run metadata, market-data rules, instruments, engines and quoting cadence.
(The components' and edges' own settings models live beside them and are assembled in
:mod:`bot.config.settings`.)"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from bot.errors import ConfigError
from bot.inputmodel import check_host
from bot.market.feed_settings import FeedCheckSettings
from bot.paper.settings import PaperSettings
from bot.venues.settings import (
    SYMBOL_PATTERN,
    AnyVenueName,
    _Section,
    check_symbol,
)


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
