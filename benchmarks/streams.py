"""Reference event streams for the benchmarks, as plain integer columns.

``load_stream(n)`` returns ``(ts_ns, kind, side, price_ticks, qty_lots, origin)`` lists with the
column meaning of ``benchmarks/reference/gen_l2.py`` (kind 0 snapshot level, 1 level update, 2 trade;
side +1 bid / buy aggressor, -1 ask / sell aggressor; qty 0 deletes a level). The stream is the
shared reference one (seed 42) when ``benchmarks/reference/gen_l2.py`` exists — the common ground for
comparisons with hftbacktest and nautilus_trader — and otherwise mmbot's own synthetic generator
(``bot.emulator.synthetic``, "regimes" scenario), labelled as such in ``origin``.
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SHARED_GEN = REPO / "benchmarks" / "reference" / "gen_l2.py"
"""The reference generator, vendored in the repository (benchmarks/reference/README.md)."""
CACHE = REPO / "benchmarks" / ".cache"

Columns = tuple[list[int], list[int], list[int], list[int], list[int]]


def reference_npz(n: int) -> Path | None:
    """Path of the shared reference stream with ``n`` events (generated once), or None."""
    if not SHARED_GEN.exists():
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"l2_{n}_s42.npz"
    if not path.exists():
        subprocess.run(
            [sys.executable, str(SHARED_GEN), "--n", str(n), "--seed", "42", "--out", str(path)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return path


def npz_columns(path: Path) -> tuple[Columns, float, float]:
    data = np.load(path)
    tick, lot = float(data["tick_size"]), float(data["lot_size"])
    price = np.rint(data["price"] / tick).astype(np.int64)
    qty = np.rint(data["qty"] / lot).astype(np.int64)
    cols = (data["ts"].tolist(), data["kind"].tolist(), data["side"].tolist(), price.tolist(), qty.tolist())
    return cols, tick, lot


def synthetic_columns(n: int, seed: int = 42) -> Columns:
    """``n`` events in gen_l2 column form from mmbot's synthetic generator."""
    from bot.core.instrument import InstrumentKind, InstrumentSpec
    from bot.emulator.synthetic import SyntheticMarket

    spec = InstrumentSpec(
        venue="bench",
        symbol="BTCUSDT",
        kind=InstrumentKind.SPOT,
        base="BTC",
        quote="USDT",
        tick_size=Decimal("0.1"),
        lot_size=Decimal("0.001"),
        qty_step=Decimal("0.001"),
    )
    market = SyntheticMarket("regimes", seed=seed, spec=spec, repeat=True)
    ts: list[int] = []
    kind: list[int] = []
    side: list[int] = []
    price: list[int] = []
    qty: list[int] = []
    bids, asks = market.initial_book()
    t0 = 1_700_000_000_000_000_000
    for p, q in bids:
        ts.append(t0), kind.append(0), side.append(1), price.append(p), qty.append(q)
    for p, q in asks:
        ts.append(t0), kind.append(0), side.append(-1), price.append(p), qty.append(q)
    for step in market:
        for p, q, s in step.trades:
            ts.append(step.ts_ns), kind.append(2), side.append(s), price.append(p), qty.append(q)
        for p, q in step.bids:
            ts.append(step.ts_ns), kind.append(1), side.append(1), price.append(p), qty.append(q)
        for p, q in step.asks:
            ts.append(step.ts_ns), kind.append(1), side.append(-1), price.append(p), qty.append(q)
        if len(ts) >= n:
            break
    return ts[:n], kind[:n], side[:n], price[:n], qty[:n]


def load_stream(n: int, data: Path | None = None) -> tuple[Columns, str]:
    if data is not None:
        return npz_columns(data)[0], f"{data}"
    path = reference_npz(n)
    if path is not None:
        return npz_columns(path)[0], f"benchmarks/reference/gen_l2.py --n {n} --seed 42"
    return synthetic_columns(
        n
    ), f"mmbot synthetic 'regimes' seed 42 ({n} events; benchmarks/reference absent)"
