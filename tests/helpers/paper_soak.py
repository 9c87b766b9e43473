"""Crash-recovery soak child: a replay-like run that a test kills with SIGKILL.

    python -m tests.helpers.paper_soak --data-dir DIR [--events N] [--seed S] [--trace FILE]

Feeds a deterministic synthetic stream (:mod:`bot.paper.synthetic`) through the real
core -- ``Engine`` books, ``PaperExchange``, the reference market maker -- with the
SQLite journal on. If ``DIR`` already holds a journal, the exchange is restored from it
and the stream is re-read from the start, skipping what the journal already has
(``open_paper(replay=True)``), so a killed run resumes exactly where it stopped.

Prints ``ready`` once set up, then one JSON line at the end: the ledger digest, fills,
records and the last input position. ``--trace FILE`` appends ``position digest`` after
every commit (the uninterrupted reference run uses it: the ledger state at every
committed boundary).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from decimal import Decimal
from pathlib import Path

import msgspec

from bot.engine.loop import Engine
from bot.paper.exchange import PaperExchange
from bot.paper.refmm import ReferenceMarketMaker
from bot.paper.settings import JournalSettings, LatencySettings, PaperLatencySettings, PaperSettings
from bot.paper.synthetic import synthetic_stream
from bot.store.recovery import open_paper
from tests.helpers.paperkit import spot_spec

ENGINE = "soak"


def soak_settings(seed: int) -> PaperSettings:
    return PaperSettings(
        seed=seed,
        queue_model="proportional",
        latency=PaperLatencySettings(
            order_entry=LatencySettings(kind="lognormal", ms=0.3, sigma=0.6, high_ms=5.0),
            cancel=LatencySettings(kind="uniform", low_ms=0.1, high_ms=0.6),
            market_data=LatencySettings(kind="uniform", low_ms=0.1, high_ms=0.3),
        ),
        starting_balances={"USDT": Decimal(1_000_000), "BTC": Decimal(10)},
        equity_interval_s=1.0,
        journal=JournalSettings(directory="journal"),
    )


def digest(exchange: PaperExchange) -> str:
    return hashlib.sha256(msgspec.json.encode(exchange.ledger.snapshot())).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trace", type=Path)
    args = parser.parse_args(argv)
    spec = spot_spec()
    exchange, journal = open_paper([spec], soak_settings(args.seed), args.data_dir, ENGINE, replay=True)
    assert journal is not None
    engine = Engine(ENGINE, [spec])
    maker = ReferenceMarketMaker(
        exchange, spec.key, book=engine.book(spec.key), size=10, half_spread=2, skew=1
    )
    engine.add_handler(exchange.on_event)
    engine.add_handler(maker.on_event)
    trace = args.trace.open("a") if args.trace else None
    if trace is not None and journal.unit == 0:
        trace.write(f"-1 {digest(exchange)}\n")
    print("ready", flush=True)
    pending: tuple[int, str] | None = None
    for position, event in enumerate(synthetic_stream(spec.key, args.events, args.seed)):
        unit = journal.unit
        engine.on_event(event)
        if trace is not None:
            if journal.unit != unit and pending is not None:
                trace.write(f"{pending[0]} {pending[1]}\n")
                pending = None
            if exchange._dirty:
                pending = (position, digest(exchange))
    unit = journal.unit
    exchange.flush()
    if trace is not None:
        if journal.unit != unit and pending is not None:
            trace.write(f"{pending[0]} {pending[1]}\n")
        trace.close()
    summary = {
        "digest": digest(exchange),
        "fills": exchange.ledger.fill_count,
        "records": journal.seq,
        "position": exchange.position,
    }
    journal.close()
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
