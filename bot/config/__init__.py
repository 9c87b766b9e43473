"""Configuration: pydantic-settings models loaded from TOML with ``MMBOT_*`` overrides.

Precedence (highest first): ``MMBOT_*`` environment variables (nested fields joined
with ``__``, e.g. ``MMBOT_LOGGING__LEVEL=debug``), then the TOML file, then the
defaults below. Unknown keys are errors. :func:`load_settings` turns every failure
(missing file, TOML syntax, unknown key, wrong type, out-of-range value) into one
:class:`ConfigError` whose message names the file, the field and the problem.

Every field carries a description; ``mmbot config check FILE`` prints the effective
values.

The package: :mod:`bot.config.sections` (logging, HTTP, engines, quoting...),
:mod:`bot.config.settings` (the tree) and :mod:`bot.config.loading` (file, environment, errors);
this module re-exports them, and the components' settings models, as one namespace.
"""

from __future__ import annotations

from bot.config.loading import SECRET_FIELDS, config_source, load_settings
from bot.config.sections import (
    DashboardSettings,
    EngineSettings,
    HttpSettings,
    InstrumentRef,
    LoggingSettings,
    MarketSettings,
    MetadataSettings,
    QuotingSettings,
    parse_listen,
)
from bot.config.settings import CONFIG_DEFAULTS, DEFAULT_CONFIG, Settings
from bot.emulator.settings import BUNDLED_REPLAY_DIR, OfflineSettings, bundled_replay_files
from bot.errors import ConfigError
from bot.hedge.deal_settings import DealSettings
from bot.strategy.obligation_params import ObligationParams, ObligationsSettings
from bot.tomlfile import ENV_PREFIX, format_validation_error, read_toml
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
    check_symbol,
)

__all__ = [
    "BUNDLED_REPLAY_DIR",
    "CCXT_VENUE_PREFIX",
    "CONFIG_DEFAULTS",
    "DEFAULT_CONFIG",
    "ENV_PREFIX",
    "SECRET_FIELDS",
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
    "parse_listen",
    "read_toml",
]
