"""Real recorded Binance streams, served by the emulator over real websockets on
127.0.0.1, rebuilt by the real adapter + engine, checked against an independent
reconstruction of the same files (tests/market_harness.NaiveReplay) and against every
recorded bookTicker that carries the same update id as a diff (the venue's own
statement of the best bid/ask at that id)."""

from __future__ import annotations

import asyncio
import functools
import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.events import NS_PER_MS, MarkPrice, Side, Trade
from bot.emulator.replay import ReplaySource
from bot.emulator.server import EmulatorServer
from bot.errors import InputError
from tests.market_harness import BUNDLED, TEST_DATA, Harness, NaiveReplay, settings_for, wait_until

SPOT_FILES = [BUNDLED / "binance_spot_btcusdt_20240808.gz", BUNDLED / "binance_spot_btcusdt_20240809.gz"]
USDM_FILES = [BUNDLED / "binance_usdm_btcusdt_20240808.gz"]
USDM_2023 = [
    TEST_DATA / "binance_usdm_btcusdt_20230404.dat.gz",
    TEST_DATA / "binance_usdm_btcusdt_20230405.dat.gz",
]
DATASETS = {
    "spot-2024-08-08+09": ("binance_spot", SPOT_FILES),
    "usdm-2024-08-08": ("binance_usdm", USDM_FILES),
    "usdm-2023-04-04+05": ("binance_usdm", USDM_2023),
}


async def _replay_through_adapter(venue: str, files: list[Path], naive: NaiveReplay) -> Harness:
    """Emulator at max speed, paused until the adapter holds its first snapshot, so that
    every diff of the recording passes through the adapter's book."""
    source = ReplaySource.from_files(list(reversed(files)))  # day-file order must not matter
    async with EmulatorServer(source, speed=0, loop=False, autostart=False) as emu:
        settings = settings_for(venue, emu.overrides(venue), stale_after_s=30.0)
        harness = Harness(venue, settings, probes=naive.probes)
        async with harness:
            await wait_until(lambda: harness.sync.counters.snapshots == 1, what="first snapshot")
            emu.play()
            await emu.wait_finished()
            await wait_until(
                lambda: harness.book.update_id == naive.last_id and emu.status()["queued"] == 0,
                timeout=30,
                what="the last diff",
            )
            assert emu.status()["messages_sent"] == len(source)
            # the book equals the independent reconstruction level by level
            bids, asks = harness.decimal_book()
            assert bids == naive.bids
            assert asks == naive.asks
    return harness


@functools.cache
def replayed(dataset: str) -> tuple[Harness, NaiveReplay]:
    """Each recording goes through the emulator and adapter once per test session."""
    venue, files = DATASETS[dataset]
    naive = NaiveReplay(files, probe_every=500)
    return asyncio.run(_replay_through_adapter(venue, files, naive)), naive


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_replayed_book_matches_reconstruction_and_every_book_ticker(dataset: str) -> None:
    harness, naive = replayed(dataset)
    assert harness.adapter.stats.decode_errors == 0
    assert harness.sync.counters.applied == naive.diffs
    assert harness.sync.counters.gaps == 0 and harness.sync.counters.crossed == 0
    # valid from the first diff to the end (the close at exit is the only other transition)
    assert harness.transitions[0] == (True, "")
    assert all(valid for valid, _ in harness.transitions[:-1])
    # the level-by-level probes at every 500th diff all matched
    assert harness.probe_hits == len(naive.probes) > 0
    assert harness.probe_mismatches == []
    # every recorded bookTicker carrying a diff's update id equals our best bid/ask
    assert harness.mismatches == []
    assert harness.checks == naive.checkpoints
    assert naive.checkpoints > 600


def test_usdm_2023_mark_price_funding_switch_and_liquidation_flag() -> None:
    harness, naive = replayed("usdm-2023-04-04+05")
    marks: list[MarkPrice] = harness.of_type(MarkPrice)
    assert len(marks) == len(naive.marks) > 500
    for event, raw in zip(marks, naive.marks, strict=True):
        assert event.funding_rate == Decimal(raw["r"])
        assert event.next_funding_ts == raw["T"] * NS_PER_MS
        assert event.exch_ts == raw["E"] * NS_PER_MS
        # mark price is computed, not on the tick grid: nearest tick
        assert abs(Decimal(raw["p"]) - event.mark_price * Decimal("0.1")) <= Decimal("0.05")
    # the next funding time switches exactly once, right at the 00:00 UTC funding boundary
    midnight = 1680652800000 * NS_PER_MS  # 2023-04-05 00:00:00 UTC
    switches = [(a, b) for a, b in itertools.pairwise(marks) if a.next_funding_ts != b.next_funding_ts]
    assert len(switches) == 1
    last_old, first_new = switches[0]
    assert last_old.next_funding_ts == midnight
    assert first_new.next_funding_ts == midnight + 8 * 3600 * 1000 * NS_PER_MS
    assert midnight <= first_new.exch_ts <= midnight + 2000 * NS_PER_MS
    assert all(m.next_funding_ts == midnight for m in marks if m.exch_ts < midnight)
    assert marks[0].funding_rate != marks[-1].funding_rate
    # the one insurance-fund print is flagged; market trades are not
    trades: list[Trade] = harness.of_type(Trade)
    assert len(trades) == len(naive.trades)
    flagged = [t for t in trades if t.liquidation]
    expected = [t for t in naive.trades if t["X"] != "MARKET"]
    assert len(flagged) == len(expected) == 1
    assert flagged[0].trade_id == expected[0]["t"]
    assert flagged[0].price * Decimal("0.1") == Decimal(expected[0]["p"])
    # "m": true = buyer was maker = the aggressor sold
    for event, raw in zip(trades, naive.trades, strict=True):
        assert event.side == (Side.SELL if raw["m"] else Side.BUY)


# ---- loading recordings -----------------------------------------------------------------


def test_replay_loader_detects_venues_and_merges_by_time() -> None:
    source = ReplaySource.from_files([*USDM_FILES, *SPOT_FILES])
    assert sorted(source.markets()) == [("binance_spot", "BTCUSDT"), ("binance_usdm", "BTCUSDT")]
    stamps = [item.ts_ns for item in source._timeline]
    assert stamps == sorted(stamps)
    books = source.open_pass().books
    assert books[("binance_spot", "BTCUSDT")].snapshot_id() == 50093239218  # recorded lastUpdateId
    # USD-M: before any diff, the recorded lastUpdateId, inside the first kept diff (U <= L <= u)
    usdm = books[("binance_usdm", "BTCUSDT")]
    first = next(i for i in source._timeline if i.venue == "binance_usdm" and i.kind == "depth")
    assert first.first_id <= usdm.snapshot_id() == 5123107852948 <= first.last_id
    # common window: both venues play until the earlier recording (USD-M) ends
    clipped = source.common_window()
    ends = {m.venue: m.items[-1].ts_ns for m in clipped.replay_markets}
    usdm_end = max(i.ts_ns for i in source._timeline if i.venue == "binance_usdm")
    assert ends["binance_usdm"] == usdm_end
    assert usdm_end - 1_000_000_000 < ends["binance_spot"] <= usdm_end
    assert len(clipped) < len(source)
    spot_only = source.truncated(5.0)
    assert spot_only.common_window().replay_markets[0].items == spot_only.replay_markets[0].items


def test_replay_loader_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        ReplaySource.from_files([tmp_path / "missing.gz"])
    # the continuation day file alone has no snapshot
    with pytest.raises(InputError, match="no REST depth snapshot"):
        ReplaySource.from_files([SPOT_FILES[1]])
    bad = tmp_path / "bad_spot.txt"
    bad.write_text('1723161253937085768 {"stream":"btcusdt@trade","data":{}}\nnot a line\n')
    with pytest.raises(InputError, match=r"bad_spot.txt:2"):
        ReplaySource.from_files([bad])
    vague = tmp_path / "recording.txt"
    vague.write_text(
        '1723161254087896568 {"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT",'
        '"t":1,"p":"1.00","q":"1.0","T":1,"m":true}}\n'
    )
    with pytest.raises(InputError, match="cannot tell whether"):
        ReplaySource.from_files([vague])
