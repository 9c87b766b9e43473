"""Replay readers (bot.replay): every format on real data, checked against independent
parses of the same files (stdlib json/csv/numpy here) and through the real Engine and
book sync; bad input gives one InputError naming the file and line (or row)."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import zipfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from bot.core.events import BookDelta, BookSnapshot, MarkPrice, Side, TopOfBook, Trade
from bot.core.instrument import InstrumentKind, InstrumentSpec
from bot.emulator.synthetic import SyntheticMarket, synthetic_events
from bot.engine.loop import Engine
from bot.errors import InputError
from bot.market.book import OrderBook
from bot.market.sync.binance import BinanceSpotSync
from bot.replay import open_replay
from tests.specs import SPOT_BTC, USDM_BTC

DATA = Path(__file__).parent / "data"
USDM_2023 = [DATA / "binance_usdm_btcusdt_20230404.dat.gz", DATA / "binance_usdm_btcusdt_20230405.dat.gz"]
SPOT_HEAD = DATA / "binance_spot_btcusdt_20240808_head120.gz"
ETH_HEAD = DATA / "binance_spot_ethusdt_20240808_head120.gz"
USDM_HEAD = DATA / "binance_usdm_btcusdt_20240808_head120.gz"
TARDIS_TRADES = DATA / "tardis_trades_binance-futures_BTCUSDT_head300.csv"
DERIBIT_BOOK = DATA / "deribit_incremental_book_L2_BTC-PERPETUAL.csv"
NPZ = DATA / "l2_3000_s42.npz"

# Binance USD-M BTCUSDT in February 2020 quoted in cents (the 2024 tick is 0.1).
USDM_BTC_2020 = InstrumentSpec(
    venue="binance_usdm",
    symbol="BTCUSDT",
    kind=InstrumentKind.PERP,
    base="BTC",
    quote="USDT",
    tick_size=Decimal("0.01"),
    lot_size=Decimal("0.001"),
    qty_step=Decimal("0.001"),
)


def _lines(path: Path) -> list[tuple[int, dict]]:
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rb") as handle:
        return [
            (int(a), json.loads(b)) for a, _, b in (line.partition(b" ") for line in handle if line.strip())
        ]


def _spot_sync_factory(venue: str, book: OrderBook, max_buffer: int):
    return BinanceSpotSync(book, max_buffer)


# ---- raw Binance recordings ------------------------------------------------------------


def test_binance_day_files_chain_in_time_order_and_sync_exactly() -> None:
    """The 2023 USD-M pair (µs stamps), given in reverse order: every line becomes its
    event, the engine's sync takes the whole chain without a gap, and after every diff
    the book equals each recorded bookTicker carrying the same update id."""
    expected = Counter()
    first_stamp = None
    liquidations = []
    for path in USDM_2023:
        for stamp, message in _lines(path):
            first_stamp = first_stamp if first_stamp is not None else stamp
            if "stream" not in message:
                expected["BookSnapshot"] += 1
                continue
            kind = message["stream"].split("@")[1]
            expected[
                {"depth": "BookDelta", "bookTicker": "TopOfBook", "trade": "Trade", "markPrice": "MarkPrice"}[
                    kind
                ]
            ] += 1
            if kind == "trade" and message["data"].get("X", "MARKET") != "MARKET":
                liquidations.append(Decimal(message["data"]["p"]))
    replay = open_replay(list(reversed(USDM_2023)))
    assert replay.fmt == "binance"
    assert replay.instruments == ["binance_usdm:BTCUSDT"]
    engine = Engine("t", [USDM_BTC])
    key = USDM_BTC.key
    state = engine.instruments[key]
    got = Counter()
    tops: dict[int, tuple[int | None, int, int | None, int]] = {}
    tickers: dict[int, tuple[int | None, int, int | None, int]] = {}
    first = None
    previous_ts = 0
    flagged = []
    with replay:
        for event in replay:
            first = first or event
            assert event.local_ts >= previous_ts
            previous_ts = event.local_ts
            got[type(event).__name__] += 1
            engine.on_event(event)
            if isinstance(event, Trade) and event.liquidation:
                flagged.append(USDM_BTC.price(event.price))
            if isinstance(event, BookDelta) and state.sync.valid:
                book = state.book
                tops[event.last_id] = (book.best_bid, book.best_bid_size, book.best_ask, book.best_ask_size)
            if isinstance(event, TopOfBook):
                tickers[event.update_id] = (event.bid_price, event.bid_size, event.ask_price, event.ask_size)
    common = tops.keys() & tickers.keys()
    assert len(common) > 1000  # SOURCES.md: 1,565 exact-u bookTicker checks over the pair
    assert all(tops[u] == tickers[u] for u in common)
    assert got == expected
    assert first is not None and first.local_ts == first_stamp * 1000  # µs -> ns
    assert state.sync.valid and state.sync.counters.gaps == 0 and state.sync.counters.crossed == 0
    assert flagged == liquidations == [Decimal("28722.5")]
    assert replay.position == sum(len(_lines(p)) for p in USDM_2023)
    assert replay.location().endswith(f"{USDM_2023[1].name}:{replay.position - len(_lines(USDM_2023[0]))}")


def test_binance_several_markets_merge_by_receive_time() -> None:
    files = [USDM_HEAD, SPOT_HEAD, ETH_HEAD]
    with open_replay(files) as replay:
        events = list(replay)
    assert replay.instruments == ["binance_spot:BTCUSDT", "binance_spot:ETHUSDT", "binance_usdm:BTCUSDT"]
    stamps = [event.local_ts for event in events]
    assert stamps == sorted(stamps)
    assert len(events) == sum(len(_lines(path)) for path in files)  # no ack or unknown stream lines
    # ns stamps (2024 recorder): the first spot event is the first spot line, unchanged
    spot = [event for event in events if event.instrument == SPOT_BTC.key]
    assert spot[0].local_ts == _lines(SPOT_HEAD)[0][0]
    snapshots = [event for event in events if isinstance(event, BookSnapshot)]
    assert sorted(s.instrument for s in snapshots) == sorted(replay.instruments)
    # one engine over the three markets: every book syncs (ETH starts exactly at U = L+1)
    engine = Engine("t", replay.specs.values())
    for event in events:
        engine.on_event(event)
    for state in engine.instruments.values():
        assert state.sync.valid and state.sync.counters.gaps == 0 and state.sync.counters.applied > 0


def test_binance_venue_is_forced_or_detected_and_specs_are_checked() -> None:
    with open_replay(SPOT_HEAD, specs=[SPOT_BTC]) as replay:
        assert replay.instruments == [SPOT_BTC.key]
    with pytest.raises(
        InputError,
        match=r"head120.gz:1: depth: .* more precision than 0.1 \(the instrument spec does not fit",
    ):
        # a spot recording decoded with the perp's 0.1 tick: cent prices are off tick
        list(open_replay(SPOT_HEAD, venue="binance_usdm"))


# ---- Tardis CSV ----------------------------------------------------------------------


def test_tardis_trades_match_an_independent_parse() -> None:
    with open(TARDIS_TRADES, newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open_replay(TARDIS_TRADES, specs=USDM_BTC_2020) as replay:
        trades = list(replay)
    assert replay.fmt == "tardis" and replay.instruments == [USDM_BTC_2020.key]
    assert len(trades) == len(rows) == 300
    for trade, row in zip(trades, rows, strict=True):
        assert isinstance(trade, Trade)
        assert trade.exch_ts == int(row["timestamp"]) * 1000
        assert trade.local_ts == int(row["local_timestamp"]) * 1000
        assert USDM_BTC_2020.price(trade.price) == Decimal(row["price"])
        assert USDM_BTC_2020.size(trade.size) == Decimal(row["amount"])
        assert trade.side == (Side.BUY if row["side"] == "buy" else Side.SELL)
        assert trade.trade_id == int(row["id"])


def test_tardis_prices_off_the_shipped_tick_name_the_line() -> None:
    # without an explicit spec the shipped (2024) USD-M spec is used: tick 0.1
    with open(TARDIS_TRADES, newline="") as handle:
        first_off = next(
            number
            for number, row in enumerate(csv.DictReader(handle), start=2)
            if Decimal(row["price"]) % Decimal("0.1")
        )
    with pytest.raises(InputError, match=rf"{TARDIS_TRADES.name}:{first_off}: bad row"):
        list(open_replay(TARDIS_TRADES))


def test_tardis_unmapped_exchange_needs_an_explicit_spec() -> None:
    with pytest.raises(InputError, match=r"'deribit'.*no mmbot venue"):
        open_replay(DERIBIT_BOOK)
    spec = InstrumentSpec(
        venue="deribit",
        symbol="BTC-PERPETUAL",
        kind=InstrumentKind.PERP,
        base="BTC",
        quote="USD",
        tick_size=Decimal("0.5"),
        lot_size=Decimal("10"),
        qty_step=Decimal("10"),
    )
    with open_replay(DERIBIT_BOOK, specs=[spec]) as replay:
        events = list(replay)
    with open(DERIBIT_BOOK, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(events) == 1
    (snapshot,) = events
    assert isinstance(snapshot, BookSnapshot) and snapshot.instrument == "deribit:BTC-PERPETUAL"
    assert snapshot.local_ts == int(rows[0]["local_timestamp"]) * 1000
    assert snapshot.bids == []
    assert [(spec.price(p), spec.size(q)) for p, q in snapshot.asks] == sorted(
        (Decimal(r["price"]), Decimal(r["amount"])) for r in rows
    )


def _binance_to_tardis(paths: list[Path], book_out: Path, trades_out: Path) -> None:
    """Rewrite a raw USD-M recording as Tardis CSV (independently of bot.replay): the
    snapshot as is_snapshot rows, the diffs from the first one that straddles it as
    incremental rows (one message = rows sharing local_timestamp), trades as trades."""
    book_rows, trade_rows = [], []
    snapshot_id = None
    started = False
    for path in paths:
        for stamp, message in _lines(path):
            if "stream" not in message:
                snapshot_id = message["lastUpdateId"]
                for side, levels in (("bid", message["bids"]), ("ask", message["asks"])):
                    for price, size in levels:
                        book_rows.append(
                            [
                                "binance-futures",
                                "BTCUSDT",
                                message["E"] * 1000,
                                stamp,
                                "true",
                                side,
                                price,
                                size,
                            ]
                        )
                continue
            data = message["data"]
            if data["e"] == "depthUpdate" and snapshot_id is not None:
                if not started and not data["U"] <= snapshot_id <= data["u"]:
                    continue
                started = True
                for side, levels in (("bid", data["b"]), ("ask", data["a"])):
                    for price, size in levels:
                        book_rows.append(
                            [
                                "binance-futures",
                                "BTCUSDT",
                                data["E"] * 1000,
                                stamp,
                                "false",
                                side,
                                price,
                                size,
                            ]
                        )
            elif data["e"] == "trade" and snapshot_id is not None:
                side = "sell" if data["m"] else "buy"
                trade_rows.append(
                    [
                        "binance-futures",
                        "BTCUSDT",
                        data["T"] * 1000,
                        stamp,
                        data["t"],
                        side,
                        data["p"],
                        data["q"],
                    ]
                )
    for out, header, rows in (
        (book_out, "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount", book_rows),
        (trades_out, "exchange,symbol,timestamp,local_timestamp,id,side,price,amount", trade_rows),
    ):
        text = io.StringIO()
        text.write(header + "\n")
        csv.writer(text, lineterminator="\n").writerows(rows)
        data = text.getvalue().encode()
        out.write_bytes(gzip.compress(data) if out.name.endswith(".gz") else data)


def test_tardis_book_rebuilds_the_same_book_as_the_raw_recording(tmp_path: Path) -> None:
    book_csv = tmp_path / "binance-futures_incremental_book_L2_2023-04-04_BTCUSDT.csv.gz"
    trades_csv = tmp_path / "binance-futures_trades_2023-04-04_BTCUSDT.csv"
    _binance_to_tardis(USDM_2023, book_csv, trades_csv)

    raw_engine = Engine("raw", [USDM_BTC])
    with open_replay(USDM_2023) as raw:
        for event in raw:
            raw_engine.on_event(event)
    tardis_engine = Engine("tardis", [USDM_BTC])
    kinds = Counter()
    previous = 0
    with open_replay([trades_csv, book_csv]) as replay:  # order of the paths does not matter
        assert replay.instruments == [USDM_BTC.key]
        for event in replay:
            assert event.local_ts >= previous
            previous = event.local_ts
            kinds[type(event).__name__] += 1
            tardis_engine.on_event(event)
    state = tardis_engine.instruments[USDM_BTC.key]
    assert state.sync.valid and state.sync.counters.gaps == 0
    raw_book = raw_engine.book(USDM_BTC.key)
    book = tardis_engine.book(USDM_BTC.key)
    assert list(book.bid_levels()) == list(raw_book.bid_levels())
    assert list(book.ask_levels()) == list(raw_book.ask_levels())
    # one delta per receive timestamp (several recorded diffs can share one)
    stamps = {
        stamp
        for path in USDM_2023
        for stamp, m in _lines(path)
        if m.get("data", {}).get("e") == "depthUpdate"
    }
    assert kinds["BookSnapshot"] == 1
    assert 0 < kinds["BookDelta"] <= len(stamps)
    assert kinds["Trade"] == sum(1 for _ in csv.reader(trades_csv.open())) - 1


def test_tardis_later_snapshot_restarts_the_id_chain_cleanly(tmp_path: Path) -> None:
    """A snapshot after deltas (Tardis repeats one after a reconnect): the sync reloads
    and the following delta straddles the new snapshot id."""
    rows = [
        "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount",
        "binance,BTCUSDT,1000,1100,true,bid,100.00,1",
        "binance,BTCUSDT,1000,1100,true,ask,101.00,1",
        "binance,BTCUSDT,2000,2100,false,bid,100.50,2",
        "binance,BTCUSDT,3000,3100,false,ask,101.00,0",
        "binance,BTCUSDT,3000,3100,false,ask,102.00,5",
        "binance,BTCUSDT,4000,4100,true,bid,99.00,3",
        "binance,BTCUSDT,4000,4100,true,ask,103.00,4",
        "binance,BTCUSDT,5000,5100,false,bid,99.50,1",
    ]
    path = tmp_path / "book.csv"
    path.write_text("\n".join(rows) + "\n")
    engine = Engine("t", [SPOT_BTC])
    with open_replay(path, specs=SPOT_BTC) as replay:
        events = list(replay)
    for event in events:
        engine.on_event(event)
    assert [type(e).__name__ for e in events] == [
        "BookSnapshot",
        "BookDelta",
        "BookDelta",
        "BookSnapshot",
        "BookDelta",
    ]
    assert isinstance(events[2], BookDelta) and events[2].asks == [(10100, 0), (10200, 5 * 10**8)]
    book = engine.book(SPOT_BTC.key)
    assert engine.instruments[SPOT_BTC.key].sync.valid
    assert list(book.bid_levels()) == [(9950, 10**8), (9900, 3 * 10**8)]
    assert list(book.ask_levels()) == [(10300, 4 * 10**8)]


# ---- reference NPZ ---------------------------------------------------------------------


def _npz_rows() -> tuple[dict[str, np.ndarray], Decimal, Decimal]:
    with np.load(NPZ) as data:
        cols = {k: data[k] for k in ("ts", "kind", "side", "price", "qty")}
        return cols, Decimal(str(float(data["tick_size"]))), Decimal(str(float(data["lot_size"])))


@pytest.mark.parametrize("chunk", [None, 7])
def test_npz_events_follow_the_rows_and_sync(chunk: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if chunk is not None:  # tiny chunks: the 100-row snapshot spans many, boundaries everywhere
        monkeypatch.setattr("bot.replay.npz.DEFAULT_CHUNK", chunk)
    cols, tick, lot = _npz_rows()
    with open_replay(NPZ) as replay:
        events = list(replay)
    (key,) = replay.instruments
    spec = replay.specs[key]
    assert key == "bench:BTCUSDT" and spec.tick_size == tick and spec.lot_size == lot
    n_snap = int((cols["kind"] == 0).sum())
    assert len(events) == len(cols["ts"]) - n_snap + 1
    snapshot = events[0]
    assert isinstance(snapshot, BookSnapshot)
    rows = list(
        zip(
            cols["kind"].tolist(),
            cols["side"].tolist(),
            cols["price"].tolist(),
            cols["qty"].tolist(),
            strict=True,
        )
    )
    expected_bids = sorted(
        ((round(p / 0.1), round(q / 0.001)) for k, s, p, q in rows if k == 0 and s > 0), reverse=True
    )
    assert snapshot.bids == expected_bids
    engine = Engine("t", [spec], sync_factory=_spot_sync_factory)
    bids: dict[int, int] = {}
    asks: dict[int, int] = {}
    for row, event in zip(range(n_snap - 1, len(cols["ts"])), events, strict=True):
        engine.on_event(event)
        if row < n_snap:
            continue
        price = round(float(cols["price"][row]) / 0.1)
        qty = round(float(cols["qty"][row]) / 0.001)
        side = int(cols["side"][row])
        assert event.exch_ts == int(cols["ts"][row]) and event.local_ts == event.exch_ts + 200_000
        if cols["kind"][row] == 1:
            assert isinstance(event, BookDelta)
            assert (event.bids, event.asks) == (([(price, qty)], []) if side > 0 else ([], [(price, qty)]))
            (bids if side > 0 else asks)[price] = qty
        else:
            assert isinstance(event, Trade) and (event.price, event.size, int(event.side)) == (
                price,
                qty,
                side,
            )
    for _, s, p, q in rows[:n_snap]:
        (bids if s > 0 else asks).setdefault(round(p / 0.1), round(q / 0.001))
    state = engine.instruments[key]
    assert state.sync.valid and state.sync.counters.gaps == 0
    assert list(state.book.bid_levels()) == sorted(((p, q) for p, q in bids.items() if q), reverse=True)
    assert list(state.book.ask_levels()) == sorted((p, q) for p, q in asks.items() if q)


def test_npz_ids_satisfy_the_usdm_rule_too_and_specs_can_be_given() -> None:
    cols, tick, lot = _npz_rows()
    spec = InstrumentSpec(
        venue="binance_usdm",
        symbol="BTCUSDT",
        kind=InstrumentKind.PERP,
        base="BTC",
        quote="USDT",
        tick_size=tick,
        lot_size=lot,
        qty_step=lot,
    )
    engine = Engine("t", [spec])  # the real USD-M rule (pu chaining)
    with open_replay(NPZ, specs=[spec]) as replay:
        assert replay.instruments == [spec.key]
        for event in replay:
            engine.on_event(event)
    state = engine.instruments[spec.key]
    assert (
        state.sync.valid
        and state.sync.counters.gaps == 0
        and state.sync.counters.applied == int((cols["kind"] == 1).sum())
    )
    wrong = InstrumentSpec(
        venue="binance_usdm",
        symbol="BTCUSDT",
        kind=InstrumentKind.PERP,
        base="BTC",
        quote="USDT",
        tick_size=Decimal("0.01"),
        lot_size=lot,
        qty_step=lot,
    )
    with pytest.raises(InputError, match=r"tick/lot"):
        open_replay(NPZ, specs=[wrong])


def _write_npz(path: Path, **overrides: object) -> None:
    cols, tick, lot = _npz_rows()
    arrays = {k: v.copy() for k, v in cols.items()}
    for name, change in overrides.items():
        change(arrays[name])  # type: ignore[operator]
    np.savez_compressed(
        path, **arrays, tick_size=np.float64(tick), lot_size=np.float64(lot), symbol=np.str_("BTCUSDT")
    )


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("price", lambda a: a.__setitem__(500, a[500] + 0.05), r"row 500: price .* not a multiple of 0.1"),
        ("kind", lambda a: a.__setitem__(700, 5), r"row 700: kind must be 0, 1 or 2"),
        (
            "kind",
            lambda a: a.__setitem__(900, 0),
            r"row 900: snapshot row \(kind 0\) after the stream started",
        ),
        (
            "kind",
            lambda a: a.__setitem__(slice(0, 100), 1),
            r"row 0: the stream does not start with snapshot rows",
        ),
        ("ts", lambda a: a.__setitem__(1200, a[1199] - 5), r"row 1200: time goes backwards"),
        ("side", lambda a: a.__setitem__(1500, 0), r"row 1500: side must be \+1 or -1"),
    ],
)
def test_npz_bad_rows_name_the_row(tmp_path: Path, name: str, change: object, message: str) -> None:
    path = tmp_path / "bad.npz"
    _write_npz(path, **{name: change})
    with pytest.raises(InputError, match=rf"bad.npz: {message}"):
        list(open_replay(path))


def test_npz_truncated_member_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.npz"
    data = NPZ.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut.npz"):
        list(open_replay(path))


# ---- synthetic -------------------------------------------------------------------------


def test_synthetic_scenario_is_the_generator_stream_cut_at_the_duration() -> None:
    with open_replay("synthetic:crash?seed=3&duration=12.5") as replay:
        events = list(replay)
    assert replay.fmt == "synthetic" and replay.instruments == [SPOT_BTC.key]
    reference = list(
        itertools.islice(synthetic_events("crash", seed=3, spec=replay.specs[SPOT_BTC.key]), len(events) + 1)
    )
    assert events == reference[: len(events)]
    start = events[0].exch_ts
    assert events[-1].exch_ts <= start + 12_500_000_000 < reference[len(events)].exch_ts
    again = list(open_replay("synthetic:crash?seed=3&duration=12.5"))
    assert again == events
    other = list(open_replay("synthetic:crash?seed=4&duration=12.5"))
    assert other != events


def test_synthetic_longer_than_the_scenario_repeats_and_takes_a_given_spec() -> None:
    with open_replay("synthetic:calm?duration=1", specs=[USDM_BTC]) as short:
        (key,) = short.instruments
        assert key == USDM_BTC.key
    calm_s = SyntheticMarket("calm", seed=1, spec=SPOT_BTC).duration_s
    longer = list(open_replay(f"synthetic:calm?seed=1&duration={calm_s + 30}"))
    assert (longer[-1].exch_ts - longer[0].exch_ts) / 1e9 > calm_s + 29
    assert any(
        isinstance(event, MarkPrice) for event in open_replay("synthetic:calm?duration=3", specs=[USDM_BTC])
    )


def test_synthetic_start_moves_the_clock_and_the_funding_boundaries() -> None:
    """``start=T``: the same stream shifted to begin at Unix time T (the 8-hour funding boundary
    the marks announce moves with it: 1,700,006,400 s is 2023-11-15 00:00 UTC)."""
    default = list(open_replay("synthetic:calm?seed=2&duration=3", specs=[USDM_BTC]))
    shifted = list(open_replay("synthetic:calm?seed=2&duration=3&start=1700006370", specs=[USDM_BTC]))
    assert default[0].exch_ts == 1_700_000_000 * 10**9
    assert shifted[0].exch_ts == 1_700_006_370 * 10**9
    assert [e.exch_ts - default[0].exch_ts for e in default] == [
        e.exch_ts - shifted[0].exch_ts for e in shifted
    ]
    marks = [e for e in shifted if isinstance(e, MarkPrice)]
    assert marks and {m.next_funding_ts for m in marks} == {1_700_006_400 * 10**9}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("synthetic:nope", "unknown synthetic scenario 'nope'; known: .*crash"),
        ("synthetic:crash?start=-5", "start must be a Unix time in whole seconds"),
        ("synthetic:crash?seed=-1", "seed must be a non-negative integer"),
        ("synthetic:crash?duration=0", "duration must be a positive number"),
        ("synthetic:crash?speed=2", "unknown parameter"),
    ],
)
def test_synthetic_bad_requests(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        open_replay(text)


# ---- bad input -------------------------------------------------------------------------


def test_truncated_gzip_names_the_file_and_line(tmp_path: Path) -> None:
    data = USDM_2023[0].read_bytes()
    cut = tmp_path / "btcusdt_20230404.dat.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError, match=r"btcusdt_20230404.dat.gz:\d+: truncated gzip file"):
        open_replay(cut)  # found by the pre-scan, before anything is replayed


def test_malformed_line_names_the_file_and_line(tmp_path: Path) -> None:
    lines = gzip.decompress(SPOT_HEAD.read_bytes()).splitlines()
    lines[49] = lines[49][: len(lines[49]) // 2]  # a line cut in the middle of its JSON
    bad = tmp_path / "btcusdt_20240808.gz"
    bad.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    with open_replay(bad) as replay, pytest.raises(InputError, match=r"btcusdt_20240808.gz:50: malformed"):
        list(replay)
    lines[49] = b"17231612539 not json at all"
    bad.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    with pytest.raises(InputError, match=r"btcusdt_20240808.gz:50: "):
        list(open_replay(bad))
    lines[49] = b"abc " + lines[48].partition(b" ")[2]
    bad.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    with pytest.raises(
        InputError, match=r"btcusdt_20240808.gz:50: not a '<timestamp> <json>' recording line"
    ):
        list(open_replay(bad))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("prices.csv", b"time,price\n1,2\n"),
        ("recording.gz", gzip.compress(b"hello world\nthis is not market data\n")),
        ("image.npz", b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
        ("archive.npz", None),
    ],
)
def test_unknown_format_is_detected_by_content(tmp_path: Path, name: str, content: bytes | None) -> None:
    path = tmp_path / name
    if content is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "not arrays")
    else:
        path.write_bytes(content)
    with pytest.raises(InputError, match=rf"{name}.*unknown replay format"):
        open_replay(path)


def test_content_wins_over_the_name(tmp_path: Path) -> None:
    plain = tmp_path / "trades.csv.gz"  # not actually compressed
    plain.write_bytes(TARDIS_TRADES.read_bytes())
    assert len(list(open_replay(plain, specs=USDM_BTC_2020))) == 300
    packed = tmp_path / "recording.txt"  # gzip without the .gz name
    packed.write_bytes(SPOT_HEAD.read_bytes())
    assert open_replay(packed).fmt == "binance"
    with pytest.raises(InputError, match=r"content is a binance file, not tardis"):
        open_replay(packed, fmt="tardis")


def test_empty_missing_and_mixed_inputs(tmp_path: Path) -> None:
    empty = tmp_path / "empty.gz"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty.gz: empty file"):
        open_replay(empty)
    blank = tmp_path / "blank.gz"
    blank.write_bytes(gzip.compress(b"\n\n"))
    with pytest.raises(InputError, match=r"blank.gz: empty file"):
        open_replay(blank)
    with pytest.raises(InputError, match=r"nothere.gz: replay file not found"):
        open_replay(tmp_path / "nothere.gz")
    with pytest.raises(InputError, match=r"is a directory"):
        open_replay(tmp_path)
    with pytest.raises(InputError, match=r"different formats cannot be mixed"):
        open_replay([SPOT_HEAD, TARDIS_TRADES])
    with pytest.raises(InputError, match=r"unknown replay format 'parquet'"):
        open_replay(SPOT_HEAD, fmt="parquet")


def test_reader_input_is_single_pass_and_closes() -> None:
    replay = open_replay(SPOT_HEAD)
    iterator = iter(replay)
    next(iterator)
    with pytest.raises(RuntimeError, match=r"iterated once"):
        iter(replay)
    replay.close()
    assert next(iterator, None) is None


def test_tardis_header_only_and_short_rows_are_input_errors(tmp_path: Path) -> None:
    header = TARDIS_TRADES.read_text().splitlines()[0]
    only_header = tmp_path / "trades.csv"
    only_header.write_text(header + "\n")
    with pytest.raises(InputError, match=r"trades.csv: no data rows after the header"):
        open_replay(only_header)
    rows = TARDIS_TRADES.read_text().splitlines()[:20]
    rows[12] = ",".join(rows[12].split(",")[:6])  # a row cut short
    short = tmp_path / "short.csv"
    short.write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError, match=r"short.csv:13: expected 8 fields, got 6"):
        list(open_replay(short, specs=USDM_BTC_2020))
