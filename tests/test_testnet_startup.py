"""Start-up reconciliation with the testnet (bot/ops/testnet_startup.py), through the real ccxt
client against the loopback Binance testnet double: before the first quote the testnet's open
orders and balances are fetched and reconciled with what the journal says -- an earlier run's
order whose paper order is still open is adopted (and followed: a paper cancel reaches it),
orphans are cancelled (or left and reported), foreign orders are never touched, paper orders the
testnet lacks are marked, the balances are compared with the last journaled ones -- and the
result is journaled; the quoting pipeline's hold is released only then."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from bot.core.events import Side
from bot.core.orders import CancelOrder, CancelReason, OrderCancelled
from bot.engine.mirror import MirrorVenue, PaperOrder, PaperState
from bot.ops.testnet import Binding, TestnetExecutor
from bot.ops.testnet_startup import balance_changes, paper_id_of
from bot.risk.triggers import Trigger
from bot.venues.testnet import TestnetClient, make_testnet_exchange
from bot.venues.testnet_settings import TestnetSettings, TestnetVenueSettings
from tests.helpers.fake_testnet import FakeTestnet
from tests.specs import SPOT_BTC, USDM_BTC
from tests.test_testnet_executor import EngineStub, PaperStub, drain

KEY = "tnkey-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
SECRET = "tnsecret-f9e8d7c6b5a493827160f5e4d3c2b1a0"
INSTRUMENT = SPOT_BTC.key


class PipelineStub:
    """Records the executor releasing the quoting hold."""

    engine = EngineStub()

    def __init__(self) -> None:
        self.released: list[Trigger] = []

    def release(self, trigger: Trigger, note: str, now: int) -> None:
        self.released.append(trigger)


def paper(cid: str, side: Side, price: str, size: str) -> PaperOrder:
    return PaperOrder(
        cid,
        INSTRUMENT,
        side,
        SPOT_BTC.sizes.to_int(size),
        SPOT_BTC.prices.to_int(price),
        1,
        state=PaperState.OPEN,
    )


@pytest.fixture
async def fake() -> Any:
    server = FakeTestnet(KEY, SECRET)
    await server.start()
    yield server
    await server.stop()


def client_for(fake: FakeTestnet, venue: str = "binance_spot", spec: Any = SPOT_BTC) -> TestnetClient:
    exchange = make_testnet_exchange(
        venue, TestnetVenueSettings(rest_url=fake.url), SecretStr(KEY), SecretStr(SECRET), timeout_s=5
    )
    return TestnetClient(venue, exchange, {spec.key: spec}, (KEY, SECRET))


@pytest.mark.parametrize("cancel_orphans", [True, False])
async def test_adopts_cancels_marks_compares_balances_and_journals_before_releasing(
    fake: FakeTestnet, cancel_orphans: bool
) -> None:
    fake.seed("mmold1_btc-7", "BTCUSDT", "BUY", "60000", "0.001")  # paper btc-7 is still open: adopt
    fake.seed("mmold1_btc-8", "BTCUSDT", "SELL", "60500", "0.001")  # paper btc-8 is at another price
    fake.seed("mmold1_btc-9", "BTCUSDT", "SELL", "60600", "0.002")  # paper btc-9 is closed: orphan
    fake.seed("manual-42", "BTCUSDT", "BUY", "50000", "0.01")  # not placed by mmbot: never touched
    fake.balances = {"BTC": ("0.9", "0.1"), "USDT": ("9000", "990")}
    journal_open = {
        "btc-7": paper("btc-7", Side.BUY, "60000", "0.001"),
        "btc-8": paper("btc-8", Side.SELL, "60400", "0.001"),
        "btc-10": paper("btc-10", Side.SELL, "60700", "0.001"),  # the testnet does not have it
    }
    client = client_for(fake)
    mirror = MirrorVenue(PaperStub())
    records: list[tuple[str, dict[str, Any], int]] = []
    binding = Binding(
        EngineStub(),  # type: ignore[arg-type]
        INSTRUMENT,
        SPOT_BTC,
        mirror,
        lambda type_, payload, ts: records.append((type_, payload, ts)),
    )
    pipeline = PipelineStub()
    binding.pipeline = pipeline  # type: ignore[assignment]
    binding.paper_open = lambda: dict(journal_open)
    binding.last_balances = {"BTC": {"free": "1", "locked": "0"}, "USDT": {"free": "10000", "locked": "0"}}
    settings = TestnetSettings(orders_per_second=50, cancel_on_start=cancel_orphans)
    executor = TestnetExecutor({"binance_spot": client}, [binding], settings, tag="n3w0")
    try:
        await executor._start()
        assert pipeline.released == [Trigger.TESTNET_RECONCILE]  # quoting may start now, not before
        (type_, result, _ts) = records[0]
        assert type_ == "testnet_startup" and result == binding.startup
        assert result["adopted"] == [{"client_id": "btc-7", "testnet_id": "mmold1_btc-7"}]
        assert result["foreign"] == ["manual-42"]
        assert result["missing_on_testnet"] == ["btc-10", "btc-8"]
        if cancel_orphans:
            assert result["cancelled"] == ["mmold1_btc-8", "mmold1_btc-9"] and result["left_open"] == []
            assert (
                fake.orders["mmold1_btc-8"]["status"] == fake.orders["mmold1_btc-9"]["status"] == "CANCELED"
            )
            assert executor.counters.orphans_cancelled == 2
        else:
            assert result["cancelled"] == [] and result["left_open"] == ["mmold1_btc-8", "mmold1_btc-9"]
            assert fake.orders["mmold1_btc-9"]["status"] == "NEW"
        assert fake.orders["manual-42"]["status"] == "NEW"
        assert fake.orders["mmold1_btc-7"]["status"] == "NEW"  # adopted, still open
        assert result["balances"] == {
            "BTC": {"free": "0.9", "locked": "0.1"},
            "USDT": {"free": "9000", "locked": "990"},
        }
        assert result["balance_changes"] == {"USDT": "-10"}  # BTC total unchanged (0.9 + 0.1)
        assert result["previous_balances"]["USDT"]["free"] == "10000"
        assert executor.status()["instruments"][INSTRUMENT]["startup"]["adopted"][0]["client_id"] == "btc-7"
        assert KEY not in repr(records) and SECRET not in repr(records)

        # the adopted order is followed: the paper cancel reaches the earlier run's testnet order
        mirror.submit(CancelOrder(client_id="btc-7", instrument=INSTRUMENT, ts=5))
        await drain(executor)
        assert fake.orders["mmold1_btc-7"]["status"] == "CANCELED"
        mirror.on_report(
            OrderCancelled(
                client_id="btc-7",
                instrument=INSTRUMENT,
                ts=6,
                reason=CancelReason.REQUESTED,
                remaining=SPOT_BTC.sizes.to_int("0.001"),
            )
        )
        await executor.reconcile()
        assert binding.reconciler.totals.matched == 1 and "btc-7" not in binding.testnet
        # btc-10 (missing on the testnet) is reported when its paper order closes
        mirror.on_report(
            OrderCancelled(
                client_id="btc-10",
                instrument=INSTRUMENT,
                ts=7,
                reason=CancelReason.REQUESTED,
                remaining=SPOT_BTC.sizes.to_int("0.001"),
            )
        )
        await executor.reconcile()
        assert binding.reconciler.totals.compared == 2
        # the final record carries the balances the next run compares with
        await executor.stop()
        final = records[-1][1]
        assert final["final"] is True and final["balances"]["USDT"]["free"] == "9000"
    finally:
        await client.close()


async def test_a_testnet_that_is_down_keeps_the_hold_and_the_start_is_retried(fake: FakeTestnet) -> None:
    client = client_for(fake)
    binding = Binding(EngineStub(), INSTRUMENT, SPOT_BTC, MirrorVenue(PaperStub()), None)  # type: ignore[arg-type]
    pipeline = PipelineStub()
    binding.pipeline = pipeline  # type: ignore[assignment]
    executor = TestnetExecutor({"binance_spot": client}, [binding], TestnetSettings(), tag="d0wn")
    try:
        await client.start()
        fake.fail_next = 1  # the open-orders request fails
        with pytest.raises(Exception, match=r"503|Unavailable|ExchangeNotAvailable"):
            await executor._start()
        assert pipeline.released == [] and not executor.started and binding.startup is None
        await executor._start()  # what the supervisor does next
        assert pipeline.released == [Trigger.TESTNET_RECONCILE] and binding.startup is not None
    finally:
        await client.close()


async def test_usdm_balances_come_from_the_futures_account(fake: FakeTestnet) -> None:
    fake.balances = {"USDT": ("4999.5", "0.5")}
    client = client_for(fake, "binance_usdm", USDM_BTC)
    try:
        await client.start()
        balances = await client.balances(["BTC", "USDT"])
        assert balances["USDT"] == {"free": "4999.5", "locked": "0.5"}
        assert balances["BTC"] == {"free": "0", "locked": "0"}
        assert any(path == "/fapi/v3/account" for _m, path, _p in fake.requests)
    finally:
        await client.close()


def test_ids_and_balance_changes() -> None:
    assert paper_id_of("mmab12_btc-17") == "btc-17"
    assert paper_id_of("mm_btc-17") is None and paper_id_of("manual-1") is None
    assert balance_changes(None, {"BTC": {"free": "1", "locked": "0"}}) == {}
    before = {"BTC": {"free": "1", "locked": "0"}}
    assert balance_changes(before, {"BTC": {"free": "0.5", "locked": "0.5"}}) == {}
    assert balance_changes(before, {"BTC": {"free": "1.25", "locked": "0"}}) == {"BTC": "0.25"}
    assert Decimal(balance_changes(before, {"BTC": {"free": "0", "locked": "0"}})["BTC"]) == -1
