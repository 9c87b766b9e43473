"""Testnet execution through the real ccxt client against a loopback Binance testnet double
(tests/helpers/fake_testnet.py: checks the API key header and the HMAC signature, answers in
Binance's JSON shapes and error codes). Only the internet is replaced.

Scenario per order (paper reports are the paper exchange's report types):
  A  accepted on both, cancelled on both             -> matched
  B  cancelled on paper before the executor sent it   -> never sent (not_sent), matched
  C  rejected by the testnet (-2010 balance)           -> difference rejected_on_testnet
  D  filled on the testnet, cancelled on paper         -> difference fill_mismatch
  E  filled on paper, left open on the testnet         -> testnet cancel after the grace, fill_mismatch
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from bot.core.events import Side
from bot.core.orders import (
    CancelOrder,
    CancelReason,
    Liquidity,
    NewOrder,
    OrderAccepted,
    OrderCancelled,
    OrderCommand,
    OrderFilled,
    TimeInForce,
)
from bot.engine.mirror import MirrorVenue
from bot.ops.testnet import Binding, TestnetExecutor
from bot.venues.testnet import TestnetClient, make_testnet_exchange
from bot.venues.testnet_settings import TestnetSettings, TestnetVenueSettings
from tests.helpers.fake_testnet import FakeTestnet
from tests.specs import SPOT_BTC

KEY = "tnkey-5d41402abc4b2a76b9719d911017c592"
SECRET = "tnsecret-7d793037a0760186574b0282f2f435e7"
INSTRUMENT = SPOT_BTC.key


class PaperStub:
    """Stands in for the paper exchange's submit side; the test plays its reports."""

    def __init__(self) -> None:
        self.received: list[OrderCommand] = []

    def submit(self, command: OrderCommand) -> None:
        self.received.append(command)

    @property
    def catching_up(self) -> bool:
        return False


class EngineStub:
    name = "btc"

    class clock:  # mimics engine.clock.now
        now = 1_723_075_200_000_000_000


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def new(cid: str, side: Side, price: str, size: str) -> NewOrder:
    return NewOrder(
        client_id=cid,
        instrument=INSTRUMENT,
        side=side,
        size=SPOT_BTC.sizes.to_int(size),
        price=SPOT_BTC.prices.to_int(price),
        tif=TimeInForce.GTX,
        ts=1,
    )


def accepted(order: NewOrder) -> OrderAccepted:
    return OrderAccepted(
        client_id=order.client_id,
        instrument=INSTRUMENT,
        ts=2,
        side=order.side,
        price=order.price,
        size=order.size,
    )


def cancelled(order: NewOrder, remaining: int) -> OrderCancelled:
    return OrderCancelled(
        client_id=order.client_id,
        instrument=INSTRUMENT,
        ts=3,
        reason=CancelReason.REQUESTED,
        remaining=remaining,
    )


def filled(order: NewOrder) -> OrderFilled:
    assert order.price is not None
    return OrderFilled(
        client_id=order.client_id,
        instrument=INSTRUMENT,
        ts=3,
        fill_id=1,
        side=order.side,
        price=order.price,
        size=order.size,
        liquidity=Liquidity.MAKER,
        fee=Decimal("0"),
        fee_asset="USDT",
        remaining=0,
    )


async def drain(executor: TestnetExecutor) -> None:
    executor.collect()
    while executor.queue:
        await executor.send_next()
        executor.collect()


@pytest.fixture
async def fake() -> Any:
    rejected_prices = {"60010"}

    def policy(order: dict[str, Any]) -> tuple[int, str] | None:
        if order["price"] in rejected_prices:
            return -2010, "Account has insufficient balance for requested action."
        return None

    server = FakeTestnet(KEY, SECRET, policy)
    await server.start()
    yield server
    await server.stop()


async def test_orders_are_mirrored_mapped_reconciled_and_differences_recorded(fake: FakeTestnet) -> None:
    settings = TestnetSettings(orders_per_second=50, settle_grace_s=5.0, reconcile_interval_s=1.0)
    venue_settings = TestnetVenueSettings(rest_url=fake.url)
    exchange = make_testnet_exchange(
        "binance_spot", venue_settings, SecretStr(KEY), SecretStr(SECRET), timeout_s=5
    )
    client = TestnetClient("binance_spot", exchange, {INSTRUMENT: SPOT_BTC}, (KEY, SECRET))
    paper = PaperStub()
    mirror = MirrorVenue(paper)
    records: list[tuple[str, dict[str, Any], int]] = []
    binding = Binding(
        EngineStub(),  # type: ignore[arg-type]
        INSTRUMENT,
        SPOT_BTC,
        mirror,
        lambda type_, payload, ts: records.append((type_, payload, ts)),
    )
    clock = FakeClock()
    executor = TestnetExecutor({"binance_spot": client}, [binding], settings, tag="t3st", clock=clock)
    try:
        fake.orders["mmold1_btc-1"] = {  # left over from an earlier run: cancelled at start
            "symbol": "BTCUSDT", "orderId": 1, "clientOrderId": "mmold1_btc-1", "price": "50000",
            "origQty": "0.001", "executedQty": "0", "status": "NEW", "timeInForce": "GTC",
            "type": "LIMIT_MAKER", "side": "BUY", "reduceOnly": False,
        }  # fmt: skip
        await executor._start()
        assert fake.orders["mmold1_btc-1"]["status"] == "CANCELED"  # an orphan: no paper order
        startup = records.pop(0)
        assert startup[0] == "testnet_startup" and startup[1]["cancelled"] == ["mmold1_btc-1"]

        a = new("btc-1", Side.BUY, "60000", "0.001")
        b = new("btc-2", Side.SELL, "60100.5", "0.00123")
        c = new("btc-3", Side.SELL, "60010", "0.002")
        d = new("btc-4", Side.BUY, "59990.01", "0.001")
        e = new("btc-5", Side.SELL, "60200", "0.0015")
        for order in (a, b, c, d, e):
            mirror.submit(order)
            mirror.on_report(accepted(order))
        mirror.submit(CancelOrder(client_id="btc-2", instrument=INSTRUMENT, ts=2))  # before it was sent
        mirror.on_report(cancelled(b, b.size))
        assert paper.received[:5] == [a, b, c, d, e]  # the paper exchange got everything first
        await drain(executor)

        # ids mapped, exact decimal strings, post-only as LIMIT_MAKER; B never sent; C rejected
        sent = {cid: o for cid, o in fake.orders.items() if cid.startswith("mmt3st_")}
        assert sorted(sent) == ["mmt3st_btc-1", "mmt3st_btc-4", "mmt3st_btc-5"]
        assert (sent["mmt3st_btc-1"]["price"], sent["mmt3st_btc-1"]["origQty"]) == ("60000", "0.001")
        assert sent["mmt3st_btc-4"]["price"] == "59990.01"
        assert {o["type"] for o in sent.values()} == {"LIMIT_MAKER"}
        assert {o["side"] for o in sent.values()} == {"BUY", "SELL"}
        posted = [p for m, path, p in fake.requests if m == "POST"]
        assert [p["newClientOrderId"] for p in posted] == [
            "mmt3st_btc-1",
            "mmt3st_btc-3",
            "mmt3st_btc-4",
            "mmt3st_btc-5",
        ]
        assert executor.counters.not_sent == 1 and executor.counters.rejected == 1
        assert all(h.get("X-MBX-APIKEY") == KEY for h in fake.headers_seen[1:])

        # A: cancelled on both. D: the testnet fills it, paper cancels it. E: paper fills it.
        mirror.submit(CancelOrder(client_id="btc-1", instrument=INSTRUMENT, ts=3))
        mirror.on_report(cancelled(a, a.size))
        mirror.on_report(cancelled(c, c.size))  # paper pulled C too
        fake.fill("mmt3st_btc-4")
        mirror.submit(CancelOrder(client_id="btc-4", instrument=INSTRUMENT, ts=3))
        mirror.on_report(cancelled(d, d.size))
        mirror.on_report(filled(e))
        await drain(executor)
        await executor.reconcile()
        totals = binding.reconciler.totals
        kinds = {diff["client_id"]: diff["kind"] for _, p, _ in records for diff in p["differences"]}
        assert kinds == {"btc-3": "rejected_on_testnet", "btc-4": "fill_mismatch"}
        assert totals.matched == 2 and totals.not_sent == 1  # A and B
        # E is still open on the testnet: not compared yet; cancelled once the grace has passed
        assert "btc-5" in binding.testnet and fake.orders["mmt3st_btc-5"]["status"] == "NEW"
        clock.t += settings.settle_grace_s + 1
        await executor.reconcile()  # queues the follow-up cancel
        await drain(executor)
        await executor.reconcile()
        assert fake.orders["mmt3st_btc-5"]["status"] == "CANCELED"
        assert executor.counters.cleanup_cancels == 1
        kinds = {diff["client_id"]: diff for _, p, _ in records for diff in p["differences"]}
        assert kinds["btc-5"]["kind"] == "fill_mismatch"
        assert kinds["btc-5"]["paper"] == {"state": "filled", "filled": "0.0015"}
        assert kinds["btc-5"]["testnet"] == {"state": "cancelled", "filled": "0"}
        assert kinds["btc-4"]["testnet"]["filled"] == "0.001" and kinds["btc-4"]["paper"]["filled"] == "0"
        assert "insufficient balance" in kinds["btc-3"]["detail"]
        assert totals.compared == 5 and totals.differences == 3
        # positions the two ledgers would show: testnet bought 0.001 (D), paper sold 0.0015 (E)
        assert SPOT_BTC.size(totals.position_diff) == Decimal("0.001") + Decimal("0.0015")
        assert not binding.testnet and not mirror.orders  # everything settled is forgotten
        # every record is a typed reconciliation event without any credential in it
        assert {t for t, _, _ in records} == {"reconciliation"}
        assert KEY not in repr(records) and SECRET not in repr(records)
        status = executor.status()
        assert status["instruments"][INSTRUMENT]["totals"]["differences"] == 3
        assert KEY not in repr(status) and SECRET not in repr(status)

        # shutdown: cancels what is open on the testnet and journals the final totals
        x = new("btc-6", Side.BUY, "59000", "0.001")
        mirror.submit(x)
        await drain(executor)
        assert fake.open_orders()
        await executor.stop()
        assert not fake.open_orders()
        assert records[-1][1]["final"] is True
    finally:
        await client.close()


async def test_network_failure_is_looked_up_and_bad_keys_pause_mirroring(fake: FakeTestnet) -> None:
    settings = TestnetSettings(orders_per_second=50)
    exchange = make_testnet_exchange(
        "binance_spot",
        TestnetVenueSettings(rest_url=fake.url),
        SecretStr(KEY),
        SecretStr(SECRET),
        timeout_s=5,
    )
    client = TestnetClient("binance_spot", exchange, {INSTRUMENT: SPOT_BTC}, (KEY, SECRET))
    mirror = MirrorVenue(PaperStub())
    binding = Binding(EngineStub(), INSTRUMENT, SPOT_BTC, mirror, None)  # type: ignore[arg-type]
    clock = FakeClock()
    executor = TestnetExecutor({"binance_spot": client}, [binding], settings, tag="n3t0", clock=clock)

    def posts() -> int:
        return sum(1 for method, _, _ in fake.requests if method == "POST")

    try:
        await executor._start()
        order = new("btc-1", Side.BUY, "60000", "0.001")
        mirror.submit(order)
        mirror.on_report(accepted(order))
        fake.fail_next = 1  # the order request fails at the HTTP level: outcome unknown
        await drain(executor)
        assert binding.testnet["btc-1"].state == "sent" and executor.counters.errors == 1
        assert "503" in (executor.last_error or "") or "ExchangeNotAvailable" in (executor.last_error or "")
        assert "signature=" not in (executor.last_error or "")
        await executor.reconcile()  # looked up by client id: the testnet never got it
        assert binding.testnet["btc-1"].state == "rejected"
        # wrong secret: the testnet refuses the signature; paper trading carries on
        exchange.secret = "not-the-secret"
        mirror.submit(new("btc-2", Side.BUY, "60000", "0.001"))
        await drain(executor)
        assert binding.testnet["btc-2"].state == "rejected"
        assert executor.auth_failed is not None and "-1022" in executor.auth_failed
        assert "not-the-secret" not in repr(executor.status())
        # while authentication fails, orders are not sent at all (no request storm)
        before = posts()
        mirror.submit(new("btc-3", Side.BUY, "60000", "0.001"))
        await drain(executor)
        assert posts() == before and binding.testnet["btc-3"].state == "rejected"
        assert "authentication failing" in binding.testnet["btc-3"].reason
        # keys fixed (e.g. the secret file replaced and the testnet back): mirroring resumes
        exchange.secret = SECRET
        clock.t += 61
        await executor.reconcile()
        assert executor.auth_failed is None
        mirror.submit(new("btc-4", Side.BUY, "60000", "0.001"))
        await drain(executor)
        assert posts() == before + 1 and binding.testnet["btc-4"].state == "open"
    finally:
        await client.close()


async def test_usdm_demo_trading_orders_go_to_fapi_post_only_and_reduce_only(fake: FakeTestnet) -> None:
    from tests.specs import USDM_BTC

    exchange = make_testnet_exchange(
        "binance_usdm",
        TestnetVenueSettings(rest_url=fake.url),
        SecretStr(KEY),
        SecretStr(SECRET),
        timeout_s=5,
    )
    assert exchange.options["enableDemoTrading"]
    client = TestnetClient("binance_usdm", exchange, {USDM_BTC.key: USDM_BTC}, (KEY, SECRET))
    try:
        await client.start()
        assert client.symbols == {USDM_BTC.key: "BTC/USDT:USDT"}
        order = NewOrder(
            client_id="p-1",
            instrument=USDM_BTC.key,
            side=Side.SELL,
            size=USDM_BTC.sizes.to_int("0.002"),
            price=USDM_BTC.prices.to_int("61000.5"),
            tif=TimeInForce.GTX,
            reduce_only=True,
            ts=1,
        )
        remote = await client.place(order, "mmusdm_p-1")
        assert remote.state == "open" and remote.exchange_id
        (_method, path, params) = next(r for r in fake.requests if r[0] == "POST")
        assert path == "/fapi/v1/order"
        assert (params["timeInForce"], params["reduceOnly"], params["side"]) == ("GTX", "true", "SELL")
        assert (params["price"], params["quantity"]) == ("61000.5", "0.002")
        fake.fill("mmusdm_p-1", "0.001")
        opened = await client.open_orders(USDM_BTC.key)
        assert opened["mmusdm_p-1"].filled == USDM_BTC.sizes.to_int("0.001")
        cancelled = await client.cancel(USDM_BTC.key, "mmusdm_p-1")
        assert cancelled.state == "cancelled" and cancelled.filled == USDM_BTC.sizes.to_int("0.001")
        assert await client.fetch(USDM_BTC.key, "unknown-id") is None
    finally:
        await client.close()


async def test_backlog_overflow_cancels_everything_on_the_testnet(fake: FakeTestnet) -> None:
    settings = TestnetSettings(orders_per_second=50, max_queue=10)
    exchange = make_testnet_exchange(
        "binance_spot",
        TestnetVenueSettings(rest_url=fake.url),
        SecretStr(KEY),
        SecretStr(SECRET),
        timeout_s=5,
    )
    client = TestnetClient("binance_spot", exchange, {INSTRUMENT: SPOT_BTC}, (KEY, SECRET))
    mirror = MirrorVenue(PaperStub(), max_queue=settings.max_queue)
    binding = Binding(EngineStub(), INSTRUMENT, SPOT_BTC, mirror, None)  # type: ignore[arg-type]
    executor = TestnetExecutor({"binance_spot": client}, [binding], settings, tag="0v3r")
    try:
        await executor._start()
        first = new("btc-1", Side.BUY, "60000", "0.001")
        mirror.submit(first)
        await drain(executor)
        assert fake.orders["mm0v3r_btc-1"]["status"] == "NEW"
        for i in range(2, 14):  # the executor is away: more than max_queue commands pile up
            mirror.submit(new(f"btc-{i}", Side.BUY, "60000", "0.001"))
        assert mirror.overflowed and mirror.dropped == 11
        await drain(executor)
        assert executor.counters.overflows == 1
        assert fake.orders["mm0v3r_btc-1"]["status"] == "CANCELED"  # resync: cancel all
        assert sorted(fake.orders) == ["mm0v3r_btc-1", "mm0v3r_btc-13"]  # btc-13 came after the overflow
    finally:
        await client.close()


def test_run_tag_and_client_ids_fit_binance_rules() -> None:
    from bot.ops.testnet import run_tag, testnet_client_id
    from bot.venues.testnet import CLIENT_ID

    tag = run_tag(1_723_075_200.0)
    assert len(tag) == 4 and tag != run_tag(1_723_075_201.0)
    assert testnet_client_id(tag, "btc-17") == f"mm{tag}_btc-17"
    long_id = testnet_client_id(tag, "x" * 40)
    assert CLIENT_ID.match(long_id) and len(long_id) <= 36
