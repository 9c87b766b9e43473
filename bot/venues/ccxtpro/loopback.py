"""Settings that point ccxt's Binance classes at mmbot's loopback emulator.

The emulator speaks Binance's protocol (:mod:`bot.emulator.protocol`), so ccxt's own
``binance`` (spot) and ``binanceusdm`` (USD-M swaps) drive it once single URL entries
are overridden (never the whole ``urls`` dict):

* REST: ``api.public`` -> ``<emulator>/api/v3`` (exchangeInfo, depth snapshots) or
  ``api.fapiPublic`` -> ``<emulator>/fapi/v1``.
* Spot websocket: ``api.ws.spot`` -> ``ws://<emulator>/ws/stream``. ccxt appends a
  stream index (``/0``, ``/1``) and sends ``SUBSCRIBE``; the emulator's raw ``/ws/...``
  route accepts that (it logs the path pieces as unknown streams that stay silent).
  The path must contain ``/stream``: ccxt tells a spot connection from a futures one
  by that substring of the URL (on mainnet it is in the host name,
  ``stream.binance.com``); without it ccxt files spot depth under the swap market and
  the book never resolves.
* USD-M websocket: ``api.ws.linear`` -> ``ws://<emulator>/ws``. ccxt rewrites a
  linear URL ending in ``/ws`` to ``/public/ws`` (depth, trades) or ``/market/ws``
  (mark price), exactly the emulator's route split.

``load_markets`` is limited to the one market type served (one exchangeInfo request;
margin pairs and currencies would need API keys).
"""

from __future__ import annotations

from typing import Any, Literal

from bot.errors import InputError
from bot.venues.settings import CcxtVenueSettings

EMULATED: dict[str, str] = {"binance": "spot", "binanceusdm": "swap"}
"""ccxt exchange ids whose protocol the emulator speaks, with the market type it serves."""


def emulator_venue_settings(
    http_base: str, market_type: Literal["spot", "swap"] = "spot", **fields: Any
) -> CcxtVenueSettings:
    """``CcxtVenueSettings`` for ccxt's Binance against the emulator at ``http_base``
    (``http://host:port``); ``fields`` override or extend the result."""
    base = http_base.rstrip("/")
    ws = "ws://" + base.removeprefix("http://")
    if market_type == "spot":
        values: dict[str, Any] = {
            "exchange": "binance",
            "urls": {"api.public": base + "/api/v3", "api.ws.spot": ws + "/ws/stream"},
            "options": {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False, "fetchCurrencies": False},
        }
    else:
        values = {
            "exchange": "binanceusdm",
            "urls": {"api.fapiPublic": base + "/fapi/v1", "api.ws.linear": ws + "/ws"},
            "options": {
                "fetchMarkets": {"types": ["linear"]},
                "fetchMargins": False,
                "fetchCurrencies": False,
            },
        }
    values["market_type"] = market_type
    values.update(fields)
    return CcxtVenueSettings(**values)


def offline_venue_settings(settings: CcxtVenueSettings, http_base: str) -> CcxtVenueSettings:
    """``settings`` redirected to the in-process emulator (``mmbot run --offline``).

    Only ccxt's ``binance`` (spot) and ``binanceusdm`` (swap) speak the emulator's
    protocol; any other ccxt venue is an :class:`InputError` in offline mode. URLs and
    the market-loading options are replaced, sandbox/demo switched off, everything else
    (depth, staleness, fees, symbol map) kept.
    """
    if EMULATED.get(settings.exchange) != settings.market_type:
        served = " or ".join(f"exchange = {e!r} with market_type = {t!r}" for e, t in EMULATED.items())
        raise InputError(
            f"offline mode: the emulator speaks Binance's protocol and cannot serve ccxt exchange "
            f"{settings.exchange!r} ({settings.market_type}); use {served}"
        )
    target = emulator_venue_settings(http_base, settings.market_type)
    return settings.model_copy(
        update={
            "urls": dict(target.urls),
            "options": {**settings.options, **target.options},
            "sandbox": False,
            "demo": False,
        }
    )
