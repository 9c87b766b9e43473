"""ccxt.pro adapter pieces without sockets: exact number conversion, image diffs, the image
sync rule, market matching, URL overrides, and the ``[venues.ccxt.*]`` config section."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import CcxtVenueSettings, ConfigError, load_settings
from bot.core.events import BookDelta, BookSnapshot
from bot.core.instrument import InstrumentSpec
from bot.errors import InputError
from bot.market.book import OrderBook
from bot.market.sync import BinanceSpotSync, make_sync
from bot.market.sync.image import CcxtImageSync
from bot.venues.ccxtpro.convert import BadValue, Converter, decimal_text, side_changes, side_image
from bot.venues.ccxtpro.exchange import apply_url_overrides, build_exchange, find_market, normalized
from bot.venues.ccxtpro.loopback import emulator_venue_settings, offline_venue_settings
from bot.venues.ccxtpro.markets import DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE, spec_from_ccxt_market
from tests.ccxt_harness import ccxt_spec
from tests.market_harness import BUNDLED, SPOT_BTC, USDM_BTC

SPEC = ccxt_spec(SPOT_BTC)

# ---- exact conversion -------------------------------------------------------------------------


def test_every_recorded_price_and_size_survives_the_float_trip_exactly() -> None:
    """ccxt parses the exchange's strings into floats; the shortest repr gives them back.
    Checked on every level of the first 3000 recorded spot diffs (real data)."""
    converter = Converter(SPEC)
    checked = 0
    with gzip.open(BUNDLED / "binance_spot_btcusdt_20240808.gz", "rt") as handle:
        for line in handle:
            if "@depth" not in line:
                continue
            data = json.loads(line.partition(" ")[2])["data"]
            for price, qty in data["b"] + data["a"]:
                assert converter.price(float(price)) == SPEC.prices.to_int(price)
                assert converter.size(float(qty)) == SPEC.sizes.to_int(qty)
                checked += 1
            if checked > 3000 * 10:
                break
    assert checked > 10_000


@given(
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999999.99"), places=2),
    st.integers(min_value=0, max_value=10**14),
)
def test_decimals_up_to_15_digits_round_trip_through_float(price: Decimal, lots: int) -> None:
    size = Decimal(lots).scaleb(-8)  # up to 6 integer + 8 fraction digits
    converter = Converter(SPEC)
    assert converter.price(float(price)) == int(price * 100)
    assert converter.size(float(size)) == lots


def test_bad_values_are_reported_not_rounded() -> None:
    converter = Converter(SPEC)
    with pytest.raises(BadValue) as info:
        converter.price(61737.635)
    assert info.value.kind == "off_tick"
    with pytest.raises(BadValue) as info:
        converter.size(0.000000001)
    assert info.value.kind == "off_tick"
    for bad in (None, float("nan"), float("inf"), -1.0, "abc", True):
        with pytest.raises(BadValue) as info:
            converter.price(bad)
        assert info.value.kind == "invalid", bad
    assert converter.size(1e-05) == 1000  # repr "1e-05": exponent form handled
    assert decimal_text(1e-05, "x") == "0.00001" and decimal_text(1.5e16, "x") == "15000000000000000"
    assert converter.price("61737.63") == converter.price(61737.63) == converter.price(Decimal("61737.63"))
    # mark prices are computed, not quoted: rounded half-even to the tick (as the native decoder)
    assert Converter(USDM_BTC).rounded_price(100.05) == 1000
    assert Converter(USDM_BTC).rounded_price("100.15") == 1002


def test_image_diffs() -> None:
    old = side_image([[100.0, 1.0], [99.0, 2.0], [98.0, 3.0]])
    new = side_image([[100.5, 0.5, 7], [100.0, 1.0, 7], [99.0, 2.5, 7]])  # extra fields ignored
    assert sorted(side_changes(old, new)) == [(98.0, 0), (99.0, 2.5), (100.5, 0.5)]
    assert side_changes(new, new) == []


# ---- the image sync rule ------------------------------------------------------------------------


def snapshot(uid: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> BookSnapshot:
    return BookSnapshot(instrument=SPEC.key, local_ts=1, update_id=uid, bids=bids, asks=asks)


def delta(first: int, last: int, bids: list[tuple[int, int]]) -> BookDelta:
    return BookDelta(instrument=SPEC.key, local_ts=1, first_id=first, last_id=last, bids=bids, asks=[])


def test_an_image_is_valid_at_once_and_diffs_chain_by_id() -> None:
    sync = make_sync("ccxt_binance", OrderBook(SPEC.key))
    assert isinstance(sync, CcxtImageSync)
    assert isinstance(make_sync("binance_spot", OrderBook("binance_spot:BTCUSDT")), BinanceSpotSync)
    assert sync.on_snapshot(snapshot(100, [(10, 1)], [(12, 1)]))
    assert sync.valid and sync.book.best_bid == 10
    assert sync.on_delta(delta(101, 105, [(11, 2)]))  # last_id may jump (coalesced nonce)
    assert sync.book.best_bid == 11 and sync.last_id == 105
    assert not sync.on_delta(delta(107, 107, [(9, 1)]))  # a hole in the chain
    assert not sync.valid and sync.pending_request is not None and sync.counters.gaps == 1
    assert sync.on_snapshot(snapshot(110, [(10, 1)], [(12, 1)]))  # the next image repairs it


def test_a_crossed_image_is_refused_and_another_requested() -> None:
    sync = make_sync("ccxt_binance", OrderBook(SPEC.key))
    assert not sync.on_snapshot(snapshot(5, [(12, 1)], [(11, 1)]))
    assert not sync.valid and sync.counters.crossed == 1
    assert sync.pending_request is not None and "crossed image 5" in sync.pending_request


# ---- markets and URLs --------------------------------------------------------------------------

MARKETS = {
    "BTC/USDT": {"id": "BTC-USDT", "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT", "spot": True},
    "BTC/USDT:USDT": {
        "id": "BTC-USDT-SWAP",
        "symbol": "BTC/USDT:USDT",
        "base": "BTC",
        "quote": "USDT",
        "swap": True,
    },
    "BTC/USD:BTC": {
        "id": "BTC-USD-SWAP",
        "symbol": "BTC/USD:BTC",
        "base": "BTC",
        "quote": "USD",
        "swap": True,
    },
    "BTC/USD:USDC": {
        "id": "BTCUSD_UM",
        "symbol": "BTC/USD:USDC",
        "base": "BTC",
        "quote": "USD",
        "swap": True,
    },
}


def test_symbols_match_by_exchange_id_then_base_quote() -> None:
    def find(symbol: str, market_type: str, **kw: object) -> str:
        found = find_market(MARKETS, symbol, market_type=market_type, venue="ccxt_x", exchange_id="x", **kw)  # type: ignore[arg-type]
        return str(found["symbol"])

    assert normalized("BTC-USDT-SWAP") == "BTCUSDTSWAP"
    assert find("BTCUSDT", "spot") == "BTC/USDT"
    assert find("BTCUSDT", "swap") == "BTC/USDT:USDT"  # base+quote among swaps
    assert find("BTCUSDTSWAP", "swap") == "BTC/USDT:USDT"  # the id itself
    assert find("BTCUSDUM", "swap") == "BTC/USD:USDC"
    with pytest.raises(InputError, match=r"BTCUSD matches several x markets \(BTC/USD:BTC, BTC/USD:USDC\)"):
        find("BTCUSD", "swap")
    assert find("BTCUSD", "swap", overrides={"BTCUSD": "BTC/USD:BTC"}) == "BTC/USD:BTC"
    with pytest.raises(InputError, match="no spot market ETHUSDT on x"):
        find("ETHUSDT", "spot")
    with pytest.raises(InputError, match="is not a spot market"):
        find("BTCUSD", "spot", overrides={"BTCUSD": "BTC/USD:BTC"})


def test_specs_from_ccxt_markets_are_exact_in_every_precision_mode() -> None:
    market = {
        "symbol": "XBT/USD",
        "base": "BTC",
        "quote": "USD",
        "spot": True,
        "precision": {"price": 0.1, "amount": 1e-08},
        "limits": {"amount": {"min": 0.0001}, "cost": {"min": 0.5}},
        "maker": 0.0025,
        "taker": 0.004,
    }
    spec = spec_from_ccxt_market(
        "ccxt_kraken", "XBTUSD", market, exchange_id="kraken", precision_mode=TICK_SIZE
    )
    assert (spec.tick_size, spec.qty_step, spec.lot_size) == (
        Decimal("0.1"),
        Decimal("1E-8"),
        Decimal("1E-8"),
    )
    assert (spec.min_qty, spec.min_notional) == (Decimal("0.0001"), Decimal("0.5"))
    assert (spec.maker_fee, spec.taker_fee) == (Decimal("0.0025"), Decimal("0.004"))
    places = dict(market, precision={"price": 1, "amount": 8})
    spec = spec_from_ccxt_market("ccxt_k", "XBTUSD", places, exchange_id="k", precision_mode=DECIMAL_PLACES)
    assert (spec.tick_size, spec.qty_step) == (Decimal("0.1"), Decimal("1E-8"))
    with pytest.raises(ValueError, match="significant-digit"):
        spec_from_ccxt_market("ccxt_k", "XBTUSD", market, exchange_id="k", precision_mode=SIGNIFICANT_DIGITS)
    spec = spec_from_ccxt_market(
        "ccxt_k", "XBTUSD", market, exchange_id="k", precision_mode=TICK_SIZE, lot_size=Decimal("1E-10")
    )
    assert spec.lot_size == Decimal("1E-10") and spec.qty_step == Decimal("1E-8")


def test_url_overrides_change_single_keys_after_sandbox() -> None:
    settings = emulator_venue_settings("http://127.0.0.1:5", sandbox=True)
    exchange = build_exchange(settings)
    assert exchange.urls["api"]["public"] == "http://127.0.0.1:5/api/v3"
    assert exchange.urls["api"]["ws"]["spot"] == "ws://127.0.0.1:5/ws/stream"
    # everything not named keeps ccxt's sandbox value
    assert exchange.urls["api"]["private"] == "https://testnet.binance.vision/api/v3"
    assert exchange.urls["api"]["ws"]["linear"] == "wss://fstream.binancefuture.com/ws"
    with pytest.raises(
        ValueError,
        match=r"'api\.wss\.spot' is not a URL key of ccxt's binance; its URL keys: .*api\.ws\.spot",
    ):
        apply_url_overrides(exchange, {"api.wss.spot": "ws://x"})


# ---- config -----------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bot.toml"
    path.write_text(text)
    return path


def test_ccxt_venue_config(tmp_path: Path) -> None:
    text = """
[venues.ccxt.kraken]
exchange = "kraken"
market_type = "spot"
book_depth = 500
options = { fetchMarkets = ["spot"] }
urls = { "api.public" = "http://127.0.0.1:1" }
symbols = { XBTUSD = "BTC/USD" }

[engines.xbt]
venue = "ccxt_kraken"
symbol = "XBTUSD"
hedge = { venue = "binance_usdm", symbol = "BTCUSDT" }
"""
    settings = load_settings(write(tmp_path, text))
    kraken = settings.venues.ccxt_venue("ccxt_kraken")
    assert (
        kraken.exchange == "kraken"
        and kraken.book_depth == 500
        and kraken.urls == {"api.public": "http://127.0.0.1:1"}
    )
    assert settings.instruments() == ["ccxt_kraken:XBTUSD", "binance_usdm:BTCUSDT"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[venues.ccxt.k]\nexchange = "krakn"\n',
            "venues.ccxt.k: ccxt.pro has no exchange 'krakn'; did you mean kraken",
        ),
        (
            '[venues.ccxt.k]\nexchange = "kraken"\nurls = { "api.nope" = "http://x" }\n',
            "'api.nope' is not a URL key",
        ),
        (
            '[venues.ccxt.k]\nexchange = "kraken"\nurls = { "api.public" = "ftp://x" }\n',
            "must start with http(s)://",
        ),
        (
            '[venues.ccxt.k]\nexchange = "binance"\nsandbox = true\ndemo = true\n',
            "set sandbox or demo, not both",
        ),
        ('[venues.ccxt.k]\nexchange = "kraken"\nmarket_type = "future"\n', "venues.ccxt.k.market_type"),
        (
            '[venues.ccxt.k]\nexchange = "kraken"\nsymbols = { "xbt/usd" = "BTC/USD" }\n',
            "upper-case letters and digits",
        ),
        ('[venues.ccxt.K]\nexchange = "kraken"\n', "venue name 'K' may only use lower-case"),
        ('[venues.ccxt.k]\nexchange = "kraken"\nbok_depth = 5\n', "venues.ccxt.k.bok_depth: unknown key"),
        (
            '[engines.x]\nvenue = "ccxt_okx"\nsymbol = "BTCUSDT"\n',
            "venue 'ccxt_okx' needs a [venues.ccxt.okx] section",
        ),
        (
            '[engines.x]\nvenue = "okx"\nsymbol = "BTCUSDT"\n',
            "or 'ccxt_<name>' for a [venues.ccxt.<name>] section",
        ),
    ],
)
def test_bad_ccxt_config_gives_one_clear_message(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert expected in str(info.value)


def test_spec_venue_must_match_adapter() -> None:
    from bot.venues.ccxtpro.adapter import CcxtProMarketData

    settings = emulator_venue_settings("http://127.0.0.1:5")
    with pytest.raises(ValueError, match="belongs to another venue"):
        CcxtProMarketData("ccxt_binance", settings, [SPOT_BTC], lambda e: None)
    with pytest.raises(ValueError, match="not a ccxt venue"):
        CcxtProMarketData("binance_spot", settings, [SPOT_BTC], lambda e: None)
    spec: InstrumentSpec = ccxt_spec(SPOT_BTC)
    assert CcxtProMarketData("ccxt_binance", settings, [spec], lambda e: None).instruments == [spec.key]


def test_offline_mode_redirects_only_binance_protocol_venues() -> None:
    user = CcxtVenueSettings(
        exchange="binance", sandbox=True, book_depth=5000, options={"watchOrderBook": {"checksum": True}}
    )
    offline = offline_venue_settings(user, "http://127.0.0.1:4000")
    assert offline.urls == {
        "api.public": "http://127.0.0.1:4000/api/v3",
        "api.ws.spot": "ws://127.0.0.1:4000/ws/stream",
    }
    assert offline.book_depth == 5000 and not offline.sandbox
    assert (
        offline.options["watchOrderBook"] == {"checksum": True}
        and offline.options["fetchCurrencies"] is False
    )
    with pytest.raises(InputError, match="cannot serve ccxt exchange 'kraken'"):
        offline_venue_settings(CcxtVenueSettings(exchange="kraken"), "http://127.0.0.1:4000")
    with pytest.raises(InputError, match=r"cannot serve ccxt exchange 'binance' \(swap\)"):
        offline_venue_settings(
            CcxtVenueSettings(exchange="binance", market_type="swap"), "http://127.0.0.1:4000"
        )


def test_offline_wiring_redirects_the_ccxt_venues_engines_use(tmp_path: Path) -> None:
    from bot.ops.ccxt_venues import ccxt_venues, offline_settings

    text = """
[venues.ccxt.bin]
exchange = "binance"
[venues.ccxt.kraken]
exchange = "kraken"
[engines.btc]
venue = "ccxt_bin"
symbol = "BTCUSDT"
hedge = { venue = "binance_usdm", symbol = "BTCUSDT" }
"""
    settings = load_settings(write(tmp_path, text))
    assert ccxt_venues([*settings.instruments(), "ccxt_bin:BTCUSDT", "ccxt_bin:ETHUSDT"]) == {
        "ccxt_bin": ["BTCUSDT", "ETHUSDT"]
    }
    offline = offline_settings(settings, "http://127.0.0.1:4000")
    assert offline.venues.ccxt["bin"].urls["api.public"] == "http://127.0.0.1:4000/api/v3"
    assert offline.venues.ccxt["kraken"] == settings.venues.ccxt["kraken"]  # unused: untouched
    used = load_settings(write(tmp_path, text.replace('venue = "ccxt_bin"', 'venue = "ccxt_kraken"')))
    with pytest.raises(InputError, match="cannot serve ccxt exchange 'kraken'"):
        offline_settings(used, "http://127.0.0.1:4000")


def test_book_images_become_a_snapshot_then_contiguous_diffs() -> None:
    from bot.venues.ccxtpro.images import BookImages

    images = BookImages(SPEC.key, Converter(SPEC))
    first = images.next_event(
        {"bids": [[100.0, 1.0]], "asks": [[100.01, 2.0]], "nonce": 50, "timestamp": 7}, 1
    )
    assert isinstance(first, BookSnapshot) and first.update_id == 50 and first.exch_ts == 7_000_000
    assert first.bids == [(10000, 100_000_000)] and first.asks == [(10001, 200_000_000)]
    # nonce jumped (coalesced updates): the delta covers 51..58
    second = images.next_event({"bids": [[100.0, 1.5]], "asks": [], "nonce": 58}, 2)
    assert isinstance(second, BookDelta) and (second.first_id, second.last_id) == (51, 58)
    assert second.bids == [(10000, 150_000_000)] and second.asks == [(10001, 0)]
    # no usable nonce: ids still advance by one
    third = images.next_event({"bids": [[100.0, 1.5]], "asks": [], "nonce": None}, 3)
    assert isinstance(third, BookDelta) and (third.first_id, third.last_id, third.bids) == (59, 59, [])
    # an off-tick image changes nothing; the next good one carries its diff
    with pytest.raises(BadValue):
        images.next_event({"bids": [[100.005, 1.0]], "asks": [], "nonce": 60}, 4)
    with pytest.raises(BadValue, match="unusable book image"):
        images.next_event({"asks": []}, 4)
    fourth = images.next_event({"bids": [[99.0, 1.0]], "asks": [], "nonce": 61}, 5)
    assert isinstance(fourth, BookDelta) and (fourth.first_id, fourth.last_id) == (60, 61)
    assert sorted(fourth.bids) == [(9900, 100_000_000), (10000, 0)]
    images.need_snapshot = True
    fifth = images.next_event({"bids": [[99.0, 1.0]], "asks": [], "nonce": 3}, 6)  # venue restart
    assert isinstance(fifth, BookSnapshot) and fifth.update_id == 3
