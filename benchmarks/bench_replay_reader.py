#!/usr/bin/env python3
"""Replay reader alone: reference NPZ -> core events (``bot.replay.open_replay``), no consumer.

Times ``open_replay(FILE)`` + one full iteration (the loop only counts events), median of
``--runs`` in one process, and reports ns/event, events/s and this process's peak RSS
(run it under ``/usr/bin/time -v`` for the whole-process figure; ``run_all.py`` does).
This is the floor under any ``mmbot replay`` of the same file: the pipeline adds the
engine, the paper exchange and the strategy on top.

Usage: python benchmarks/bench_replay_reader.py --data l2_1000000_s42.npz [--runs 3]
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.replay import open_replay


def one_run(path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    count = 0
    with open_replay(path) as replay:
        for _event in replay:
            count += 1
    return count, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="reference NPZ (gen_l2.py)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results = [one_run(args.data) for _ in range(args.runs)]
    events = results[0][0]
    seconds = statistics.median(r[1] for r in results)
    print(
        json.dumps(
            {
                "engine": "mmbot replay reader (NPZ -> events)",
                "n_events": events,
                "runs": args.runs,
                "run_s": seconds,
                "events_per_s": events / seconds,
                "ns_per_event": seconds / events * 1e9,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
