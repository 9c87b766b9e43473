"""Testnet order client: ccxt in sandbox / demo-trading mode, and the guard against mainnet.

:func:`make_testnet_exchange` builds the ccxt client of one venue the only ways mmbot
allows: Binance spot with ``set_sandbox_mode(True)`` (``testnet.binance.vision``), Binance
USD-M with ``enable_demo_trading(True)`` (``demo-fapi.binance.com``; ccxt's futures
sandbox is deprecated and refuses signed calls). An optional ``rest_url`` override
replaces individual ``urls['api']`` keys (never the whole dict).

:func:`order_endpoint_problems` then checks what ccxt will *actually* use -- every URL
in ``exchange.urls['api']`` and the sandbox / demo flag -- against an allow-list of
testnet hosts plus loopback addresses (test doubles). :func:`check_order_endpoints`
turns any problem into an :class:`~bot.errors.InputError` (exit 2) naming the field,
the URL and the host: an order can never reach a mainnet endpoint by configuration.

:class:`TestnetClient` wraps the few calls the executor needs (place, cancel, fetch one,
open orders, cancel all) and translates both ways: integer ticks/lots <-> exact decimal
strings, Binance order states -> :class:`~bot.venues.testnet_states.TestnetState`, ccxt errors
-> rejections (final) or transient failures (looked up again later). Error texts are
scrubbed of query strings (signatures) and of the credentials themselves.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async
import structlog
from ccxt.base import errors as ccxt_errors
from pydantic import SecretStr

from bot.core.instrument import InstrumentSpec
from bot.core.orders import NewOrder, OrderType, TimeInForce
from bot.errors import InputError
from bot.venues.testnet_settings import TestnetVenueSettings
from bot.venues.testnet_states import TestnetState

log = structlog.get_logger("bot.venues.testnet")

TESTNET_HOSTS = frozenset(
    {
        "testnet.binance.vision",  # spot testnet (ccxt sandbox mode)
        "testnet.binancefuture.com",  # futures testnet (listed in ccxt's sandbox URL set)
        "demo-api.binance.com",  # demo trading
        "demo-fapi.binance.com",
        "demo-dapi.binance.com",
    }
)


@dataclass(frozen=True, slots=True)
class TestnetVenue:
    __test__ = False

    ccxt_id: str
    mode: str  # "sandbox" | "demo"
    order_url_key: str  # the urls['api'] key order calls go to
    market_types: tuple[str, ...]
    url_paths: tuple[tuple[str, str], ...]  # urls['api'] key -> path appended to rest_url


TESTNET_VENUES: dict[str, TestnetVenue] = {
    "binance_spot": TestnetVenue(
        "binance",
        "sandbox",
        "private",
        ("spot",),
        (("public", "/api/v3"), ("private", "/api/v3"), ("v1", "/api/v1")),
    ),
    "binance_usdm": TestnetVenue(
        "binanceusdm",
        "demo",
        "fapiPrivate",
        ("linear",),
        (
            ("fapiPublic", "/fapi/v1"),
            ("fapiPublicV2", "/fapi/v2"),
            ("fapiPublicV3", "/fapi/v3"),
            ("fapiPrivate", "/fapi/v1"),
            ("fapiPrivateV2", "/fapi/v2"),
            ("fapiPrivateV3", "/fapi/v3"),
            ("fapiData", "/futures/data"),
        ),
    ),
}

CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


# --------------------------------------------------------------------------- the guard


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _walk_urls(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        out: list[tuple[str, str]] = []
        for key, item in value.items():
            out.extend(_walk_urls(item, f"{path}.{key}"))
        return out
    return []


def order_endpoint_problems(exchange: Any, venue: str) -> list[str]:
    """Why this ccxt client could send an order somewhere other than a testnet ([] = safe)."""
    info = TESTNET_VENUES[venue]
    problems = []
    if info.mode == "sandbox" and not getattr(exchange, "isSandboxModeEnabled", False):
        problems.append(f"ccxt {exchange.id}: sandbox mode is off")
    if info.mode == "demo" and not exchange.options.get("enableDemoTrading"):
        problems.append(f"ccxt {exchange.id}: demo trading is off")
    urls = _walk_urls(exchange.urls.get("api"), "urls.api")
    if not urls:
        problems.append(f"ccxt {exchange.id}: no API URLs")
    for where, url in urls:
        host = (urlsplit(url).hostname or "").lower()
        if host in TESTNET_HOSTS or _is_loopback(host):
            continue
        what = "a Binance mainnet host" if host.endswith("binance.com") else "not a known testnet host"
        problems.append(f"{url} (ccxt {where}): {host or '(no host)'} is {what}")
    return problems


def check_order_endpoints(exchange: Any, venue: str, field: str) -> None:
    """InputError (exit 2) naming ``field`` unless every order URL is a testnet or loopback one."""
    problems = order_endpoint_problems(exchange, venue)
    if problems:
        allowed = ", ".join(sorted(TESTNET_HOSTS))
        raise InputError(
            f"{field}: refusing to start: orders could reach a non-testnet endpoint: "
            + "; ".join(problems)
            + f". Testnet execution only talks to {allowed} or a loopback address."
        )


def make_testnet_exchange(
    venue: str, settings: TestnetVenueSettings, key: SecretStr, secret: SecretStr, *, timeout_s: float
) -> Any:
    """A ccxt client for ``venue``'s testnet, already checked against mainnet endpoints."""
    info = TESTNET_VENUES.get(venue)
    if info is None:
        raise InputError(f"testnet execution: unsupported venue {venue!r}")
    exchange = getattr(ccxt_async, info.ccxt_id)(
        {
            "apiKey": key.get_secret_value(),
            "secret": secret.get_secret_value(),
            "timeout": max(1, int(timeout_s * 1000)),
            "enableRateLimit": True,
            "verbose": False,
            "options": {
                "fetchMarkets": {"types": list(info.market_types)},
                "fetchCurrencies": False,
                "fetchMargins": False,
                "warnOnFetchOpenOrdersWithoutSymbol": False,
            },
        }
    )
    if info.mode == "sandbox":
        exchange.set_sandbox_mode(True)
    else:
        exchange.enable_demo_trading(True)
    field = f"testnet.{venue}"
    if settings.rest_url is not None:
        field = f"testnet.{venue}.rest_url"
        base = settings.rest_url.rstrip("/")
        for url_key, path in info.url_paths:
            exchange.urls["api"][url_key] = base + path
    check_order_endpoints(exchange, venue, field)  # before any request is made
    return exchange


# --------------------------------------------------------------------------- the client


@dataclass(frozen=True, slots=True)
class RemoteOrder:
    """What the testnet says about one order."""

    state: str
    filled: int
    exchange_id: str | None = None
    reason: str = ""
    client_id: str | None = None
    side: int = 0
    """+1 buy, -1 sell (0: not reported)."""
    size: int = 0
    """Order size in lots (0: not reported)."""
    price: int | None = None
    """Limit price in ticks (None: market order or not reported)."""


class Failure(Exception):
    """A testnet call that failed; ``final`` = the exchange refused it (no retry helps)."""

    def __init__(self, message: str, *, final: bool, auth: bool = False) -> None:
        super().__init__(message)
        self.final = final
        self.auth = auth


_RAW_STATES = {
    "NEW": TestnetState.OPEN,
    "PARTIALLY_FILLED": TestnetState.OPEN,
    "PENDING_NEW": TestnetState.OPEN,
    "FILLED": TestnetState.FILLED,
    "CANCELED": TestnetState.CANCELLED,
    "CANCELLED": TestnetState.CANCELLED,
    "PENDING_CANCEL": TestnetState.OPEN,
    "EXPIRED": TestnetState.CANCELLED,
    "EXPIRED_IN_MATCH": TestnetState.CANCELLED,
    "REJECTED": TestnetState.REJECTED,
}


class TestnetClient:
    """Order calls on one venue's testnet through ccxt, in mmbot's units."""

    __test__ = False

    def __init__(
        self, venue: str, exchange: Any, specs: dict[str, InstrumentSpec], secrets: tuple[str, ...] = ()
    ) -> None:
        self.venue = venue
        self.exchange = exchange
        self.specs = specs
        self.symbols: dict[str, str] = {}
        """Instrument key -> ccxt unified symbol (after :meth:`start`)."""
        self._secrets = tuple(s for s in secrets if s)
        self.endpoint = urlsplit(str(exchange.urls["api"][TESTNET_VENUES[venue].order_url_key])).netloc
        """host[:port] orders go to (shown in /status and the journal)."""

    async def start(self) -> None:
        """Load the testnet's markets and map every instrument to its ccxt symbol."""
        try:
            await self.exchange.load_markets()
        except ccxt_errors.BaseError as exc:
            raise self._failure(exc) from None
        for key, spec in self.specs.items():
            markets = self.exchange.markets_by_id.get(spec.symbol) or []
            wanted = "spot" if self.venue == "binance_spot" else "swap"
            symbol = next((m["symbol"] for m in markets if m.get("type") == wanted), None)
            if symbol is None:
                raise Failure(f"{self.venue} testnet has no market {spec.symbol}", final=True)
            self.symbols[key] = symbol

    async def close(self) -> None:
        await self.exchange.close()

    # ---- calls -----------------------------------------------------------------------

    async def place(self, order: NewOrder, testnet_id: str) -> RemoteOrder:
        spec = self.specs[order.instrument]
        params: dict[str, Any] = {"newClientOrderId": testnet_id}
        if order.order_type is OrderType.MARKET:
            kind, price = "market", None
        else:
            assert order.price is not None
            kind, price = "limit", _plain(spec.price(order.price))
            if order.tif is TimeInForce.GTX:
                params["postOnly"] = True
            else:
                params["timeInForce"] = order.tif.value.upper()
        if order.reduce_only:
            params["reduceOnly"] = True
        try:
            raw = await self.exchange.create_order(
                self.symbols[order.instrument],
                kind,
                "buy" if order.side > 0 else "sell",
                _plain(spec.size(order.size)),
                price,
                params,
            )
        except ccxt_errors.BaseError as exc:
            raise self._failure(exc) from None
        remote = self._parse(order.instrument, raw)
        if remote.state == TestnetState.CANCELLED and remote.filled == 0 and order.tif is TimeInForce.GTX:
            # USD-M answers a post-only order that would cross with EXPIRED: it never rested
            return RemoteOrder(TestnetState.REJECTED, 0, remote.exchange_id, "post-only order expired")
        return remote

    async def cancel(self, instrument: str, testnet_id: str) -> RemoteOrder:
        try:
            raw = await self.exchange.cancel_order(
                None, self.symbols[instrument], {"origClientOrderId": testnet_id}
            )
        except ccxt_errors.BaseError as exc:
            raise self._failure(exc) from None
        return self._parse(instrument, raw)

    async def fetch(self, instrument: str, testnet_id: str) -> RemoteOrder | None:
        """The order's current state; None if the testnet does not know it."""
        try:
            raw = await self.exchange.fetch_order(
                None, self.symbols[instrument], {"origClientOrderId": testnet_id}
            )
        except ccxt_errors.OrderNotFound:
            return None
        except ccxt_errors.BaseError as exc:
            raise self._failure(exc) from None
        return self._parse(instrument, raw)

    async def open_orders(self, instrument: str) -> dict[str, RemoteOrder]:
        """Open testnet orders of the instrument by client order id."""
        try:
            raws = await self.exchange.fetch_open_orders(self.symbols[instrument])
        except ccxt_errors.BaseError as exc:
            raise self._failure(exc) from None
        out = {}
        for raw in raws:
            remote = self._parse(instrument, raw)
            if remote.client_id:
                out[remote.client_id] = remote
        return out

    async def balances(self, assets: list[str]) -> dict[str, dict[str, str]]:
        """``{asset: {"free": ..., "locked": ...}}`` of the testnet account (exact decimal text)."""
        try:
            raw = await self.exchange.fetch_balance()
        except ccxt_errors.BaseError as exc:
            raise self._failure(exc) from None
        out = {}
        for asset in assets:
            entry = raw.get(asset) or {}
            out[asset] = {"free": _text(entry.get("free")), "locked": _text(entry.get("used"))}
        return out

    async def cancel_all(self, instrument: str) -> None:
        try:
            await self.exchange.cancel_all_orders(self.symbols[instrument])
        except ccxt_errors.OrderNotFound:
            return
        except ccxt_errors.BaseError as exc:
            # Binance answers -2011 "Unknown order sent." when there is nothing to cancel
            if "-2011" in str(exc):
                return
            raise self._failure(exc) from None

    # ---- translation -----------------------------------------------------------------

    def _parse(self, instrument: str, raw: dict[str, Any]) -> RemoteOrder:
        info = raw.get("info") or {}
        spec = self.specs[instrument]
        status = str(info.get("status") or "").upper()
        state = _RAW_STATES.get(status)
        if state is None:
            state = {
                "open": TestnetState.OPEN,
                "closed": TestnetState.FILLED,
                "canceled": TestnetState.CANCELLED,
                "expired": TestnetState.CANCELLED,
                "rejected": TestnetState.REJECTED,
            }.get(str(raw.get("status")), TestnetState.SENT)
        executed = info.get("executedQty")
        if executed is None:
            executed = raw.get("filled")
        filled = _lots(spec, executed)
        order_id = info.get("orderId", raw.get("id"))
        side = str(info.get("side") or raw.get("side") or "").lower()
        price = info.get("price", raw.get("price"))
        price_ticks = None
        if price not in (None, "", 0, "0"):
            try:
                price_ticks = spec.prices.from_decimal(Decimal(str(price)))
            except (ArithmeticError, ValueError):
                price_ticks = None  # off the tick grid: reported as unknown
        return RemoteOrder(
            state,
            filled,
            str(order_id) if order_id is not None else None,
            "",
            str(info.get("clientOrderId") or raw.get("clientOrderId") or "") or None,
            side=1 if side == "buy" else -1 if side == "sell" else 0,
            size=_lots(spec, info.get("origQty", raw.get("amount"))),
            price=price_ticks,
        )

    def scrub(self, text: str) -> str:
        """An error text without query strings (signatures) or credentials."""
        text = re.sub(r"\?[^\s\"']*", "?...", text)
        for secret in self._secrets:
            text = text.replace(secret, "**********")
        return text[:300]

    def _failure(self, exc: Exception) -> Failure:
        message = self.scrub(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, ccxt_errors.AuthenticationError | ccxt_errors.PermissionDenied):
            return Failure(message, final=True, auth=True)
        if isinstance(exc, ccxt_errors.NetworkError):
            return Failure(message, final=False)
        return Failure(message, final=True)


def _lots(spec: InstrumentSpec, value: Any) -> int:
    """Exchange quantity -> lots (exact; a value off the lot grid is floored, never rounded up)."""
    if value in (None, ""):
        return 0
    try:
        quantity = Decimal(str(value))
    except ArithmeticError:
        return 0
    return int(quantity // spec.lot_size)


def _text(value: Any) -> str:
    """A balance amount from ccxt (float or str) as plain exact decimal text."""
    if value in (None, ""):
        return "0"
    try:
        return _plain(Decimal(str(value)))
    except ArithmeticError:
        return "0"


def _plain(value: Decimal) -> str:
    """A decimal as plain positional text (never exponent notation)."""
    text = format(value.normalize(), "f")
    return text
