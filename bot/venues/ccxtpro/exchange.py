"""Building a ccxt.pro exchange from ``[venues.ccxt.<name>]`` and finding markets in it.

* :func:`build_exchange`: ``getattr(ccxt.pro, exchange)(config)`` with rate limiting on,
  the configured timeout and options (``defaultType`` = the market type unless the
  options set it), then sandbox (``set_sandbox_mode``) or demo
  (``enable_demo_trading``), then the URL overrides.
* URL overrides change single entries of ``exchange.urls`` addressed by dotted path
  (``"api.public"``, ``"api.ws.spot"``); the whole dict is never replaced, so every
  endpoint not named keeps ccxt's value. A path that does not name an existing URL
  string is an error listing the exchange's URL keys.
* :func:`find_market`: an mmbot symbol (upper-case letters and digits, e.g.
  ``BTCUSDT``) names the market of the configured type whose exchange id, stripped of
  separators, equals it (OKX ``BTC-USDT-SWAP`` is ``BTCUSDTSWAP``), else the one whose
  base+quote equals it (``BTCUSDT`` is OKX's ``BTC/USDT:USDT`` swap). An explicit
  ``symbols`` entry in the config maps it to a ccxt unified symbol instead.

Nothing here opens a connection: ccxt creates its HTTP session lazily.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from bot.errors import InputError

_SEPARATORS = re.compile(r"[^A-Z0-9]")


class CcxtVenueSettings(Protocol):
    """What building an exchange reads of a ``[venues.ccxt.<name>]`` section
    (:class:`bot.venues.settings.CcxtVenueSettings`, whose validator calls
    :func:`check_settings`: a Protocol keeps the dependency one way)."""

    @property
    def exchange(self) -> str: ...
    @property
    def market_type(self) -> str: ...
    @property
    def options(self) -> dict[str, Any]: ...
    @property
    def timeout_s(self) -> float: ...
    @property
    def sandbox(self) -> bool: ...
    @property
    def demo(self) -> bool: ...
    @property
    def urls(self) -> dict[str, str]: ...


def _ccxt_pro() -> Any:
    """``ccxt.pro``, imported on first use (it takes about half a second)."""
    import ccxt.pro  # type: ignore[import-untyped]

    return ccxt.pro


def supported_exchanges() -> list[str]:
    return list(_ccxt_pro().exchanges)


def check_exchange_id(exchange_id: str) -> None:
    """ValueError naming close matches if ccxt.pro has no exchange ``exchange_id``."""
    known = supported_exchanges()
    if exchange_id not in known:
        close = difflib.get_close_matches(exchange_id, known, n=3)
        hint = (
            f"; did you mean {', '.join(close)}?" if close else f" ({len(known)} are known, e.g. kraken, okx)"
        )
        raise ValueError(f"ccxt.pro has no exchange {exchange_id!r}{hint}")


def url_keys(urls: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted paths of every URL string in a ccxt ``urls`` tree."""
    for key, value in urls.items():
        path = f"{prefix}{key}"
        if isinstance(value, str) and value.startswith(("http", "ws")):
            yield path
        elif isinstance(value, Mapping):
            yield from url_keys(value, path + ".")


def apply_url_overrides(exchange: Any, overrides: Mapping[str, str]) -> None:
    """Replace the single URL entries named by dotted paths; ValueError for an unknown path."""
    for dotted, url in overrides.items():
        node: Any = exchange.urls
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        leaf = parts[-1]
        if not isinstance(node, dict) or not isinstance(node.get(leaf), str):
            keys = ", ".join(sorted(url_keys(exchange.urls)))
            raise ValueError(
                f"urls: {dotted!r} is not a URL key of ccxt's {exchange.id}; its URL keys: {keys}"
            )
        node[leaf] = url


def exchange_config(settings: CcxtVenueSettings) -> dict[str, Any]:
    options = copy.deepcopy(settings.options)
    options.setdefault("defaultType", settings.market_type)
    return {
        "enableRateLimit": True,
        "timeout": max(1, int(settings.timeout_s * 1000)),
        "options": options,
    }


def build_exchange(settings: CcxtVenueSettings) -> Any:
    """A fresh, unconnected ccxt.pro exchange for ``settings`` (ValueError on bad settings)."""
    check_exchange_id(settings.exchange)
    exchange = getattr(_ccxt_pro(), settings.exchange)(exchange_config(settings))
    if settings.sandbox:
        try:
            exchange.set_sandbox_mode(True)
        except Exception as exc:  # ccxt raises NotSupported without test URLs
            raise ValueError(f"sandbox: {settings.exchange} has no sandbox in ccxt ({exc})") from None
    if settings.demo:
        enable = getattr(exchange, "enable_demo_trading", None)
        if enable is None:
            raise ValueError(f"demo: ccxt's {settings.exchange} has no demo trading mode")
        try:
            enable(True)
        except Exception as exc:
            raise ValueError(f"demo: {settings.exchange}: {exc}") from None
    apply_url_overrides(exchange, settings.urls)
    return exchange


def check_settings(settings: CcxtVenueSettings) -> None:
    """Config-time validation that needs ccxt: the exchange id, sandbox/demo, URL keys."""
    build_exchange(settings)


# --------------------------------------------------------------------------- markets


def normalized(text: str) -> str:
    """``"BTC-USDT-SWAP"`` -> ``"BTCUSDTSWAP"``: the mmbot spelling of an exchange id."""
    return _SEPARATORS.sub("", text.upper())


def _of_type(market: Mapping[str, Any], market_type: str) -> bool:
    return bool(market.get("spot")) if market_type == "spot" else bool(market.get("swap"))


def find_market(
    markets: Mapping[str, Mapping[str, Any]],
    symbol: str,
    *,
    market_type: str,
    venue: str,
    exchange_id: str,
    overrides: Mapping[str, str] | None = None,
) -> Mapping[str, Any]:
    """The ccxt market an mmbot ``symbol`` names (see module doc); InputError if none or ambiguous."""
    explicit = (overrides or {}).get(symbol)
    if explicit is not None:
        market = markets.get(explicit)
        if market is None:
            raise InputError(
                f"{venue}: symbols.{symbol} = {explicit!r} is not a market of {exchange_id} "
                f"(close: {', '.join(difflib.get_close_matches(explicit, list(markets), n=3)) or 'none'})"
            )
        if not _of_type(market, market_type):
            raise InputError(f"{venue}: symbols.{symbol} = {explicit!r} is not a {market_type} market")
        return market
    candidates = [m for m in markets.values() if _of_type(m, market_type)]
    by_id = [m for m in candidates if normalized(str(m.get("id", ""))) == symbol]
    found = by_id or [
        m for m in candidates if normalized(str(m.get("base", "")) + str(m.get("quote", ""))) == symbol
    ]
    if len(found) == 1:
        return found[0]
    if not found:
        names = sorted({normalized(str(m.get("id", ""))) for m in candidates})
        close = difflib.get_close_matches(symbol, names, n=3)
        raise InputError(
            f"{venue}: no {market_type} market {symbol} on {exchange_id} ({len(candidates)} {market_type} "
            f"markets; close: {', '.join(close) or 'none'})"
        )
    unified = ", ".join(sorted(str(m.get("symbol")) for m in found))
    raise InputError(
        f"{venue}: {symbol} matches several {exchange_id} markets ({unified}); choose one with "
        f'[venues.ccxt.<name>.symbols] {symbol} = "<unified symbol>"'
    )
