"""Progress of a running bot for the person watching it.

On a terminal (``--progress auto`` with stderr a TTY, or ``--progress on``) one compact
status line stays at the bottom of stderr and is redrawn every second -- regime,
volatility warm-up left, quotes live per side, fills, position, PnL -- while log lines
scroll above it (:class:`StatusLineStream` clears the line before each log line and
redraws it after). Otherwise (pipes, files, Docker) a ``progress`` JSON log record per
engine is written every ``market.status_interval_s`` with the same numbers.

The numbers come from :func:`bot.engine.views.progress_view`; the line's text from
:func:`bot.engine.views.progress_line`.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from typing import Any, Literal, TextIO

import structlog

from bot.core.events import NS_PER_S
from bot.engine.assemble import TradingEngine
from bot.engine.views import progress_line, progress_view

log = structlog.get_logger("bot.progress")

CLEAR_LINE = "\r\x1b[2K"
LINE_INTERVAL_S = 1.0

ProgressMode = Literal["line", "log", "off"]


def choose_mode(option: str, stream: TextIO) -> ProgressMode:
    """``--progress auto|on|off`` -> line (terminal), log (JSON records) or off."""
    if option == "off":
        return "off"
    if option == "on":
        return "line"
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return "line" if tty else "log"


class StatusLineStream:
    """A terminal stream that keeps one status line below everything written to it."""

    def __init__(self, stream: TextIO, width: Callable[[], int] | None = None) -> None:
        self._stream = stream
        self._line = ""
        self._shown = False
        self._width = width or (lambda: shutil.get_terminal_size((120, 24)).columns)

    # the parts of TextIO that logging and structlog use
    def write(self, text: str) -> int:
        if self._shown:
            self._stream.write(CLEAR_LINE)
            self._shown = False
        self._stream.write(text)
        if self._line and text.endswith("\n"):
            self._stream.write(self._line)
            self._shown = True
        self._stream.flush()
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        try:
            return self._stream.isatty()
        except (AttributeError, ValueError):
            return False

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", "utf-8")

    # the status line
    def set(self, line: str) -> None:
        width = max(20, self._width() - 1)
        self._line = line if len(line) <= width else line[: width - 1] + "…"
        self._stream.write(CLEAR_LINE + self._line)
        self._stream.flush()
        self._shown = True

    def clear(self) -> None:
        """Remove the line (end of run): the summary prints on a clean terminal."""
        if self._shown:
            self._stream.write(CLEAR_LINE)
            self._stream.flush()
        self._shown = False
        self._line = ""


class Progress:
    """Reports progress of the quoting engines every ``interval_s`` (see the module doc)."""

    def __init__(
        self,
        trading: list[TradingEngine],
        *,
        mode: ProgressMode,
        start_ns: int,
        interval_s: float,
        line: StatusLineStream | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.trading = [t for t in trading if t.pipeline is not None and t.exchange is not None]
        self.mode = mode
        self.start_ns = start_ns
        self.interval_s = LINE_INTERVAL_S if mode == "line" else interval_s
        self.line = line
        self.clock = clock

    def views(self) -> list[dict[str, Any]]:
        views = []
        for t in self.trading:
            assert t.pipeline is not None and t.exchange is not None
            views.append(progress_view(t.pipeline, t.exchange.ledger, self.start_ns))
        return views

    def emit(self) -> None:
        views = self.views()
        if not views or self.mode == "off":
            return
        if self.mode == "line" and self.line is not None:
            elapsed = (self.clock() - self.start_ns) / NS_PER_S
            self.line.set(progress_line(views, elapsed))
            return
        for view in views:
            log.info("progress", **view)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            self.emit()

    def close(self) -> None:
        if self.line is not None:
            self.line.clear()
