"""Sweep progress: a one-line bar on a terminal (runs done, ETA, best so far, running),
one log line per finished trial otherwise.

The ETA is the wall time elapsed in this session per trial finished in it, times the
trials left; trials run several at a time, so that rate already includes the parallelism.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import structlog

log = structlog.get_logger("bot.sweep")


def duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds >= 3600:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    if seconds >= 60:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{seconds:.0f}s"


class Progress:
    def __init__(self, total: int, done: int, *, bar: bool, stream: TextIO | None = None) -> None:
        self.total = total
        self.resumed = done
        self.done = done
        self.bar = bar
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()

    def eta_s(self) -> float | None:
        finished = self.done - self.resumed
        if finished <= 0:
            return None
        return (time.monotonic() - self.start) / finished * max(0, self.total - self.done)

    def update(
        self,
        done: int,
        *,
        running: int,
        best: tuple[str, float] | None,
        trial: str | None = None,
        objective: float | None = None,
        status: str | None = None,
    ) -> None:
        self.done = done
        eta = self.eta_s()
        best_text = f"{best[1]:.6g} ({best[0]})" if best else "-"
        if self.bar:
            width = 24
            filled = int(width * done / self.total) if self.total else width
            line = (
                f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} trials  "
                f"ETA {duration(eta) if eta is not None else '?'}  best {best_text}  running {running}   "
            )
            self.stream.write(line)
            self.stream.flush()
        elif trial is not None:
            log.info(
                "sweep trial finished",
                trial=trial,
                status=status,
                objective=objective,
                done=done,
                total=self.total,
                eta_s=round(eta, 1) if eta is not None else None,
                best=best_text,
            )

    def close(self) -> None:
        if self.bar:
            self.stream.write("\n")
            self.stream.flush()
