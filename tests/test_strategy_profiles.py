"""Strategy profiles: the shipped examples load, bad files fail with one clear message,
and a bound profile quotes from live estimator state."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DEFAULT_CONFIG, ConfigError, load_settings
from bot.core.events import NS_PER_S, BookSnapshot, Side, Trade
from bot.errors import InputError
from bot.market.book import OrderBook
from bot.market.estimators import EstimatorParams, Estimators
from bot.strategy.costs import FeeRates
from bot.strategy.profile import StrategyProfile, build_quoter, check_horizons, load_profile
from bot.strategy.types import QuoteAdjustments
from tests.quant_helpers import btcusdt_spec, market_state

PROFILES = Path(__file__).resolve().parent.parent / "config" / "strategies"


def write(tmp_path: Path, text: str, name: str = "p.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["as_default", "glft", "fixed", "spread_optimizer"])
def test_shipped_profiles_load_and_bind(name: str) -> None:
    profile = load_profile(PROFILES / f"{name}.toml")
    assert profile.name == name
    check_horizons(profile, EstimatorParams().vol_horizons_s)
    # the fees the default config charges on Binance spot (its fee tier)
    rates = load_settings(DEFAULT_CONFIG).venues.fee_rates("binance_spot")
    assert rates is not None
    quoter = build_quoter(profile, btcusdt_spec(maker_fee=rates[0], taker_fee=rates[1]))
    state = market_state(
        best_bid=6_000_000,
        best_ask=6_000_001,
        mid=6_000_000.5,
        micro=6_000_000.5,
        sigma=500.0,
        ma=6_000_000.0,
        ma_std=1500.0,
    )
    quotes = quoter.quote(state, 0)
    assert quotes.bids and quotes.asks, quotes.note
    assert quotes.bids[0].price < 6_000_001 and quotes.asks[0].price > 6_000_000
    # never inside the fee break-even
    assert quotes.bids[0].price <= 6_000_000.5 / (1 + float(rates[0]))
    assert quotes.asks[0].price >= 6_000_000.5 / (1 - float(rates[0]))


GOOD = """
quoter = "avellaneda_stoikov"
[avellaneda_stoikov]
gamma = 0.01
k = 0.5
[ladder]
size = "0.001"
max_position = "0.01"
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            GOOD.replace("gamma = 0.01", "gamma = -1"),
            "avellaneda_stoikov.gamma: Input should be greater than 0",
        ),
        (GOOD.replace("k = 0.5", "k = 0.5\nkappa = 2"), "avellaneda_stoikov.kappa: unknown key"),
        (GOOD.replace('quoter = "avellaneda_stoikov"', 'quoter = "glft"'), "needs a [glft] table"),
        (GOOD.replace('quoter = "avellaneda_stoikov"', 'quoter = "magic"'), "quoter: Input should be"),
        (GOOD.replace('size = "0.001"', 'size = "lots"'), "ladder.size:"),
        (GOOD.replace('max_position = "0.01"', ""), "ladder.max_position: required key is missing"),
        (GOOD + 'inventory_target = "0.02"\n', "|inventory_target| must be below max_position"),
        (GOOD.replace("k = 0.5", 'k = 0.5\nhorizon = "finite"'), "needs end_time"),
        ("quoter = [", "invalid TOML"),
    ],
)
def test_bad_profiles_name_file_field_and_problem(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_profile(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_missing_file_and_binding_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_profile(tmp_path / "nope.toml")
    tiny = load_profile(write(tmp_path, GOOD.replace('size = "0.001"', 'size = "0.000001"')))
    with pytest.raises(ConfigError, match=r"ladder.size: 0.000001 is below the order step 0.00001"):
        build_quoter(tiny, btcusdt_spec())
    profile = load_profile(write(tmp_path, GOOD.replace("k = 0.5", "k = 0.5\nsigma_horizon_s = 42")))
    with pytest.raises(ConfigError, match=r"sigma_horizon_s: 42 is not one of the estimator horizons"):
        check_horizons(profile, (10.0, 300.0))


def test_inventory_target_and_adjustments() -> None:
    profile = StrategyProfile.model_validate(
        {
            "quoter": "avellaneda_stoikov",
            "avellaneda_stoikov": {"gamma": 0.01, "k": 0.5, "sigma": 5.0, "horizon_s": 10.0},
            "ladder": {"size": "0.001", "max_position": "0.01", "inventory_target": "0.003"},
        }
    )
    quoter = build_quoter(profile, btcusdt_spec())
    state = market_state()
    at_target = quoter.quote(state, 300_000)  # 0.003 BTC in lots
    assert at_target.q == 0.0 and at_target.reservation == 1000.0
    flat = quoter.quote(state, 0)
    assert flat.q == pytest.approx(-3.0)
    assert flat.reservation > 1000.0  # below target: leans to buy
    reduce = quoter.quote(state, 200_000, QuoteAdjustments(reduce_only=True))
    assert not reduce.bids and sum(q.size for q in reduce.asks) <= 200_000
    assert "reduce-only" in reduce.note
    invalid = quoter.quote(market_state(book_ok=False), 0)
    assert invalid.empty and invalid.note == "book not valid"


def test_estimators_to_quotes_end_to_end() -> None:
    """Book and trades -> Estimators -> MarketState -> GLFT quotes on a real-looking book."""
    key = "binance_spot:BTCUSDT"
    params = EstimatorParams(vol_horizons_s=(10.0, 60.0), vol_sample_interval_s=0.0)
    est = Estimators(key, params)
    book = OrderBook(key)
    book.valid = True
    profile = StrategyProfile.model_validate(
        {
            "quoter": "glft",
            "fair_value": "micro",
            "glft": {
                "gamma": 0.05,
                "a": 3.0,
                "k": 0.04,
                "sigma_horizon_s": 60.0,
                "inventory_limit": 5,
                "intensity_source": "estimated",
            },
            "ladder": {"size": "0.001", "max_position": "0.005", "levels": 2, "spacing_ticks": 3},
        }
    )
    check_horizons(profile, params.vol_horizons_s)
    quoter = build_quoter(profile, btcusdt_spec(), FeeRates())  # fee-free: fees in test_fee_quoters
    bid = 6_000_000
    for i in range(300):
        bid += (-1) ** i * (i % 7)
        levels = (
            [(bid - j, 1000 * (j + 1)) for j in range(20)],
            [(bid + 1 + j, 800 * (j + 1)) for j in range(20)],
        )
        snapshot = BookSnapshot(instrument=key, local_ts=i * NS_PER_S // 2, update_id=i, bids=[], asks=[])
        book.load(*levels, update_id=i)
        est.on_event(snapshot, book)
        trade = Trade(instrument=key, local_ts=i * NS_PER_S // 2, price=bid + 1, size=5, side=Side.BUY)
        est.on_event(trade, book)
    state = est.snapshot()
    assert state.sigma_warm == (True, True) and state.book_ok
    quotes = quoter.quote(state, 0)
    assert len(quotes.bids) == 2 and len(quotes.asks) == 2
    assert quotes.bids[0].price < state.best_ask and quotes.asks[0].price > state.best_bid
    assert quotes.bids[0].price - quotes.bids[1].price == 3
    long = quoter.quote(state, 400_000)  # q = 4: one more bid fill reaches both limits (5)
    assert len(long.bids) == 1 and long.bids[0].size == 100_000  # max_position leaves one level
    assert long.bids[0].price < quotes.bids[0].price and long.asks[0].price < quotes.asks[0].price
    at_limit = quoter.quote(state, 450_000)  # q = 4.5: a bid fill would pass 5
    assert at_limit.bids == () and at_limit.asks
    assert "inventory limit" in at_limit.note
