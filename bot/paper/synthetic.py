"""A small deterministic synthetic L2 stream (book events, trades, mark prices).

For the crash-recovery soak test and the paper benchmark's fallback input: a
random-walk fair price; the book top follows it, levels crossed by a move are taken by
trades (trade events, then the level deletes, as Binance's streams show them);
background noise of small trades at the top and size changes deeper in the book.
Update ids are contiguous, so both Binance spot and USD-M sync rules accept the
stream. Same ``seed`` -> same events; pure Python, no I/O.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from decimal import Decimal

from bot.core.events import BookDelta, BookSnapshot, Event, Level, MarkPrice, Side, Trade

START_TS = 1_700_000_000_000_000_000


def synthetic_stream(
    instrument: str,
    n_events: int,
    seed: int = 1,
    *,
    start_ts: int = START_TS,
    mid_ticks: int = 600_000,
    depth: int = 20,
    step_ms: float = 3.0,
    vol_ticks: float = 15.0,
    mark_every_s: float | None = None,
    funding_every_s: float = 8 * 3600,
) -> Iterator[Event]:
    """Yield ``n_events`` events for ``instrument`` (prices in ticks, sizes in lots)."""
    rng = random.Random(seed)
    ts = start_ts
    update_id = 1000
    trade_id = 0
    bids = {mid_ticks - 1 - i: rng.randint(50, 800) for i in range(depth)}
    asks = {mid_ticks + i: rng.randint(50, 800) for i in range(depth)}
    yield BookSnapshot(
        instrument=instrument,
        local_ts=ts,
        update_id=update_id,
        bids=sorted(bids.items(), reverse=True),
        asks=sorted(asks.items()),
    )
    emitted = 1
    fair = mid_ticks - 0.5
    mark_every = int(mark_every_s * 1e9) if mark_every_s else 0
    funding_every = int(funding_every_s * 1e9)
    next_mark = ts + mark_every if mark_every else 0
    pending_bids: list[Level] = []
    pending_asks: list[Level] = []

    first_delta = True

    def flush() -> BookDelta:
        # ids: contiguous; the first diff spans the snapshot id (U <= L <= u and U <= L+1 <= u)
        nonlocal update_id, pending_bids, pending_asks, first_delta
        first = update_id if first_delta else update_id + 1
        first_delta = False
        prev = update_id
        update_id += 1
        delta = BookDelta(
            instrument=instrument,
            local_ts=ts,
            first_id=first,
            last_id=update_id,
            prev_id=prev,
            bids=pending_bids,
            asks=pending_asks,
        )
        pending_bids, pending_asks = [], []
        return delta

    while emitted < n_events:
        out: list[Event] = []
        ts += max(1, int(rng.expovariate(1.0 / step_ms) * 1e6))
        fair += vol_ticks * math.sqrt(step_ms / 1000.0) * rng.gauss(0.0, 1.0)
        top_bid = math.floor(fair - 0.5)
        top_ask = top_bid + 1
        for price in sorted(p for p in asks if p <= top_bid):  # buyers lift crossed asks
            trade_id += 1
            out.append(
                Trade(
                    instrument=instrument,
                    local_ts=ts,
                    price=price,
                    size=asks.pop(price),
                    side=Side.BUY,
                    trade_id=trade_id,
                )
            )
            pending_asks.append((price, 0))
        for price in sorted((p for p in bids if p >= top_ask), reverse=True):
            trade_id += 1
            out.append(
                Trade(
                    instrument=instrument,
                    local_ts=ts,
                    price=price,
                    size=bids.pop(price),
                    side=Side.SELL,
                    trade_id=trade_id,
                )
            )
            pending_bids.append((price, 0))
        if top_bid not in bids and (not bids or top_bid > max(bids)):
            bids[top_bid] = rng.randint(50, 800)
            pending_bids.append((top_bid, bids[top_bid]))
        if top_ask not in asks and (not asks or top_ask < min(asks)):
            asks[top_ask] = rng.randint(50, 800)
            pending_asks.append((top_ask, asks[top_ask]))
        best_bid, best_ask = max(bids), min(asks)
        for price in [p for p in bids if p < best_bid - depth]:
            del bids[price]
            pending_bids.append((price, 0))
        for price in [p for p in asks if p > best_ask + depth]:
            del asks[price]
            pending_asks.append((price, 0))
        if pending_bids or pending_asks:
            out.append(flush())
        roll = rng.random()
        if roll < 0.25:  # a small trade at the top, then its level update
            trade_id += 1
            if rng.random() < 0.5:
                price, book, side = best_ask, asks, Side.BUY
            else:
                price, book, side = best_bid, bids, Side.SELL
            size = min(book[price], max(1, int(rng.expovariate(1 / 60))))
            out.append(
                Trade(
                    instrument=instrument, local_ts=ts, price=price, size=size, side=side, trade_id=trade_id
                )
            )
            left = book[price] - size
            if left:
                book[price] = left
            elif len(book) > 1:
                del book[price]
            else:
                left = book[price] = size
            (pending_asks if side is Side.BUY else pending_bids).append((price, left))
            out.append(flush())
        else:  # a size change somewhere in the top of the book
            is_bid = rng.random() < 0.5
            offset = min(int(rng.expovariate(0.3)), depth - 1)
            price = best_bid - offset if is_bid else best_ask + offset
            book = bids if is_bid else asks
            size = book.get(price, 0)
            if size and offset and rng.random() < 0.1:
                new = 0
                del book[price]
            else:
                new = max(1, int((size or rng.randint(50, 800)) * math.exp(rng.gauss(0.0, 0.3))))
                book[price] = new
            (pending_bids if is_bid else pending_asks).append((price, new))
            out.append(flush())
        if mark_every and ts >= next_mark:
            next_mark += mark_every
            funding_ts = (ts // funding_every + 1) * funding_every
            rate = Decimal(rng.randint(-20, 60)) / Decimal(1_000_000)
            out.append(
                MarkPrice(
                    instrument=instrument,
                    local_ts=ts,
                    mark_price=round(fair),
                    index_price=round(fair),
                    funding_rate=rate,
                    next_funding_ts=funding_ts,
                )
            )
        for event in out:
            if emitted >= n_events:
                return
            yield event
            emitted += 1
