"""A loopback stand-in for the Binance spot testnet and USD-M demo REST APIs (orders only).

Only the internet is replaced: the bot's real ccxt client talks HTTP to this aiohttp
server on 127.0.0.1 (``testnet.<venue>.rest_url``). It checks what a real testnet checks
first -- the ``X-MBX-APIKEY`` header and the HMAC-SHA256 ``signature`` over the exact
query/body -- and answers in Binance's documented JSON shapes (spot ``/api/v3/...``,
USD-M ``/fapi/v1/...``) with Binance's error codes (-2015 bad key, -1022 bad signature,
-2010 rejected, -2011 unknown order on cancel, -2013 unknown order on query).

Tests steer it: ``policy(order) -> None | (code, msg)`` rejects orders, :meth:`fill`
executes an open order, :meth:`seed` places an order as an earlier run (or someone else)
would have, ``balances`` is what the account endpoints report (spot ``/api/v3/account``,
USD-M ``/fapi/v2|v3/account``), ``fail_next`` answers HTTP 503 (a network-level failure).
``exchangeInfo`` comes from the schema-faithful files in ``tests/data``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

DATA = Path(__file__).resolve().parents[1] / "data"
Policy = Callable[[dict[str, Any]], tuple[int, str] | None]


class FakeTestnet:
    def __init__(self, api_key: str, api_secret: str, policy: Policy | None = None) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.policy = policy
        self.orders: dict[str, dict[str, Any]] = {}  # by client order id
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.headers_seen: list[dict[str, str]] = []
        self.fail_next = 0
        self.balances: dict[str, tuple[str, str]] = {"BTC": ("1", "0"), "USDT": ("10000", "0")}
        """asset -> (free, locked) as the account endpoints report them."""
        self._ids = itertools.count(1000)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ---- control -------------------------------------------------------------------

    def fill(self, client_id: str, qty: str | None = None) -> None:
        order = self.orders[client_id]
        total = Decimal(order["origQty"])
        done = Decimal(order["executedQty"]) + (Decimal(qty) if qty is not None else total)
        done = min(done, total)
        order["executedQty"] = _fmt(done)
        order["status"] = "FILLED" if done == total else "PARTIALLY_FILLED"

    def seed(self, client_id: str, symbol: str, side: str, price: str, qty: str) -> None:
        """An open limit order placed outside this run (an earlier run, or another client)."""
        self.orders[client_id] = {
            "symbol": symbol,
            "orderId": next(self._ids),
            "clientOrderId": client_id,
            "price": price,
            "origQty": qty,
            "executedQty": "0",
            "status": "NEW",
            "timeInForce": "GTC",
            "type": "LIMIT",
            "side": side,
            "reduceOnly": False,
        }

    def open_orders(self) -> list[dict[str, Any]]:
        return [o for o in self.orders.values() if o["status"] in ("NEW", "PARTIALLY_FILLED")]

    # ---- server --------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        raw = request.query_string if request.method in ("GET", "DELETE") else await request.text()
        params = dict(parse_qsl(raw, keep_blank_values=True))
        self.requests.append((request.method, request.path, params))
        self.headers_seen.append(dict(request.headers))
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503, text="Service Unavailable")
        path = request.path
        spot = path.startswith("/api/")
        if path.endswith("/exchangeInfo"):
            name = "binance_spot_exchangeinfo.json" if spot else "binance_usdm_exchangeinfo.json"
            return web.json_response(json.loads((DATA / name).read_text()))
        if path.endswith(("/ping", "/time")):
            return web.json_response({"serverTime": 0} if path.endswith("/time") else {})
        # signed endpoints
        if request.headers.get("X-MBX-APIKEY") != self.api_key:
            return _error(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        payload, _, signature = raw.rpartition("&signature=")
        expected = hmac.new(self.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not signature or not hmac.compare_digest(signature, expected):
            return _error(-1022, "Signature for this request is not valid.", 400)
        route = (request.method, path.rsplit("/", 1)[-1])
        if route == ("POST", "order"):
            return self._new(params, spot)
        if route == ("DELETE", "order"):
            order = self.orders.get(params.get("origClientOrderId", ""))
            if order is None or order["status"] not in ("NEW", "PARTIALLY_FILLED"):
                return _error(-2011, "Unknown order sent.", 400)
            order["status"] = "CANCELED"
            return web.json_response(self._view(order, spot))
        if route == ("GET", "order"):
            order = self.orders.get(params.get("origClientOrderId", ""))
            if order is None:
                return _error(-2013, "Order does not exist.", 400)
            return web.json_response(self._view(order, spot))
        if route == ("GET", "account"):
            return web.json_response(self._account(spot))
        if route == ("GET", "openOrders"):
            return web.json_response(
                [self._view(o, spot) for o in self.open_orders() if o["symbol"] == params.get("symbol")]
            )
        if route in (("DELETE", "openOrders"), ("DELETE", "allOpenOrders")):
            cancelled = []
            for order in self.open_orders():
                if order["symbol"] == params.get("symbol"):
                    order["status"] = "CANCELED"
                    cancelled.append(self._view(order, spot))
            if spot:
                return (
                    web.json_response(cancelled) if cancelled else _error(-2011, "Unknown order sent.", 400)
                )
            return web.json_response({"code": 200, "msg": "The operation of cancel all open order is done."})
        return _error(-1000, f"fake testnet: no route {request.method} {path}", 404)

    def _new(self, params: dict[str, str], spot: bool) -> web.Response:
        client_id = params.get("newClientOrderId") or f"x-{next(self._ids)}"
        if client_id in self.orders and self.orders[client_id]["status"] in ("NEW", "PARTIALLY_FILLED"):
            return _error(-2010, "Duplicate order sent.", 400)
        order = {
            "symbol": params["symbol"],
            "orderId": next(self._ids),
            "clientOrderId": client_id,
            "price": params.get("price", "0"),
            "origQty": params["quantity"],
            "executedQty": "0",
            "status": "NEW",
            "timeInForce": params.get("timeInForce", "GTC"),
            "type": params["type"],
            "side": params["side"],
            "reduceOnly": params.get("reduceOnly") == "true",
        }
        verdict = self.policy(order) if self.policy is not None else None
        if verdict is not None:
            return _error(verdict[0], verdict[1], 400)
        self.orders[client_id] = order
        return web.json_response(self._view(order, spot))

    def _account(self, spot: bool) -> dict[str, Any]:
        if spot:
            return {
                "makerCommission": 10,
                "takerCommission": 10,
                "canTrade": True,
                "canWithdraw": False,
                "canDeposit": False,
                "updateTime": 1_700_000_000_000,
                "accountType": "SPOT",
                "balances": [
                    {"asset": asset, "free": free, "locked": locked}
                    for asset, (free, locked) in self.balances.items()
                ],
                "permissions": ["SPOT"],
            }
        return {
            "totalWalletBalance": "0",
            "availableBalance": "0",
            "assets": [
                {
                    "asset": asset,
                    "walletBalance": _fmt(Decimal(free) + Decimal(locked)),
                    "unrealizedProfit": "0",
                    "marginBalance": _fmt(Decimal(free) + Decimal(locked)),
                    "maintMargin": "0",
                    "initialMargin": locked,
                    "positionInitialMargin": "0",
                    "openOrderInitialMargin": locked,
                    "crossWalletBalance": _fmt(Decimal(free) + Decimal(locked)),
                    "crossUnPnl": "0",
                    "availableBalance": free,
                    "maxWithdrawAmount": free,
                    "updateTime": 1_700_000_000_000,
                }
                for asset, (free, locked) in self.balances.items()
            ],
            "positions": [],
        }

    @staticmethod
    def _view(order: dict[str, Any], spot: bool) -> dict[str, Any]:
        base = {k: v for k, v in order.items() if k != "reduceOnly"}
        if spot:
            return {
                **base,
                "orderListId": -1,
                "transactTime": 1_700_000_000_000,
                "cummulativeQuoteQty": "0",
                "fills": [],
                "selfTradePreventionMode": "NONE",
            }
        return {
            **base,
            "avgPrice": "0",
            "cumQty": order["executedQty"],
            "cumQuote": "0",
            "reduceOnly": order["reduceOnly"],
            "closePosition": False,
            "positionSide": "BOTH",
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": order["type"],
            "updateTime": 1_700_000_000_000,
        }


def _error(code: int, msg: str, status: int) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


class FakeTestnetThread:
    """The fake on its own event loop in a thread (for tests that drive a bot subprocess)."""

    def __init__(self, api_key: str, api_secret: str, policy: Policy | None = None) -> None:
        self.fake = FakeTestnet(api_key, api_secret, policy)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> FakeTestnet:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.fake.start(), self._loop).result(10)
        return self.fake

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.fake.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the fake's loop (thread-safe access to its state)."""

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)
