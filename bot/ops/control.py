"""Runtime control of a running bot: kill/resume and strategy switching.

A running ``mmbot run`` holds the instance lock of its data directory and writes its
pid under it (``<data_dir>/mmbot.pid``, see :mod:`bot.store.locks`). ``mmbot kill`` and
``mmbot resume`` (another process) deliver SIGUSR1 / SIGUSR2 to that pid -- only if the
pid is the process that holds the lock (a stale pidfile, e.g. after ``kill -9``, and a
reused pid are never signalled); the reason travels in
``<data_dir>/control/<command>.json`` (at most :data:`MAX_REASON_CHARS` characters). If
no bot is running, the command is left pending in that file and applied (and journaled)
when the bot starts, so a kill issued while the bot is down still brings it up HALTED.

:class:`Controller` is the in-process side: it applies kill/resume/switch to every
quoting engine, from signals, HTTP control endpoints or the pending files.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from bot.engine.assemble import StrategySearch, TradingEngine, find_strategy
from bot.errors import InputError, MmbotError
from bot.store.locks import pid_path, running_instance
from bot.strategy.profile import build_quoter, load_profile

__all__ = ["MAX_REASON_CHARS", "Controller", "pid_path", "send_request", "take_request"]

log = structlog.get_logger("bot.control")

CONTROL_DIR = "control"
SIGNALS = {"kill": signal.SIGUSR1, "resume": signal.SIGUSR2}
MAX_REASON_CHARS = 200
"""Longest kill/resume reason (it is journaled and logged)."""


def request_path(data_dir: Path, command: str) -> Path:
    return data_dir / CONTROL_DIR / f"{command}.json"


def send_request(data_dir: Path, command: str, reason: str, source: str = "cli") -> str:
    """Deliver ``kill``/``resume`` to the bot on ``data_dir``; returns what happened.

    The request file (reason and ``source``) is written before the signal, so the bot
    journals the command with the source that sent it (a bare SIGUSR1 is ``signal``). The
    signal goes only to a process that holds the instance lock and wrote the pidfile
    (:func:`bot.store.locks.running_instance`): a stale pidfile never gets an unrelated
    process signalled."""
    if command not in SIGNALS:
        raise InputError(f"unknown control command {command!r}")
    if len(reason) > MAX_REASON_CHARS:
        raise InputError(f"--reason is {len(reason)} characters; at most {MAX_REASON_CHARS}")
    if not data_dir.is_dir():
        raise InputError(f"{data_dir}: no such data directory")
    path = request_path(data_dir, command)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        other = request_path(data_dir, "resume" if command == "kill" else "kill")
        other.unlink(missing_ok=True)  # the latest request wins
        tmp = path.with_suffix(".tmp")
        request = {"command": command, "reason": reason, "source": source, "requested_at": time.time()}
        tmp.write_text(json.dumps(request))
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"{path}: cannot write the control request: {exc.strerror or exc}") from None
    record = running_instance(data_dir)
    if record is None:
        return f"no bot running on {data_dir}: {command} is pending and applies at the next start"
    try:
        os.kill(record.pid, SIGNALS[command])
    except OSError as exc:
        raise MmbotError(f"cannot signal pid {record.pid}: {exc.strerror}") from None
    return f"{command} sent to pid {record.pid}"


def take_request(data_dir: Path, command: str) -> dict[str, Any] | None:
    """The pending request, consumed; its reason cut to :data:`MAX_REASON_CHARS`."""
    path = request_path(data_dir, command)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    path.unlink(missing_ok=True)
    if not isinstance(data, dict):
        return None
    reason = data.get("reason")
    data["reason"] = str(reason)[:MAX_REASON_CHARS] if reason is not None else None
    return data


class Controller:
    """Applies control commands to the quoting engines of one process."""

    def __init__(
        self,
        engines: list[TradingEngine],
        *,
        strategies_dir: Path | StrategySearch,
        data_dir: Path,
        clock: Callable[[], int] = time.time_ns,
        configured: Callable[[], dict[str, str]] | None = None,
    ) -> None:
        self.engines = [e for e in engines if e.pipeline is not None]
        self.configured = configured
        """Re-reads the config's profile name per engine (SIGHUP); raises InputError if invalid."""
        self.strategies_dir = strategies_dir
        """A profile folder, or the search path of :func:`bot.engine.assemble.strategy_search`."""
        self.data_dir = data_dir
        self.clock = clock
        self._mtimes: dict[Path, float] = {}
        for trading in self.engines:
            path = self._profile_path(trading)
            if path is not None:
                with contextlib.suppress(OSError):
                    self._mtimes[path] = path.stat().st_mtime

    def _now(self, trading: TradingEngine) -> int:
        return max(self.clock(), trading.engine.clock.now)

    def _profile_path(self, trading: TradingEngine) -> Path | None:
        assert trading.pipeline is not None
        try:
            return find_strategy(self.strategies_dir, trading.pipeline.quoter.name)
        except InputError:
            return None

    # ---- kill / resume ------------------------------------------------------------------

    def kill(self, reason: str, source: str) -> dict[str, Any]:
        for trading in self.engines:
            assert trading.pipeline is not None
            trading.pipeline.kill(reason, source, self._now(trading))
        log.warning("kill switch engaged", reason=reason, source=source)
        return {"killed": [t.engine.name for t in self.engines], "reason": reason}

    def resume(self, reason: str, source: str) -> dict[str, Any]:
        for trading in self.engines:
            assert trading.pipeline is not None
            trading.pipeline.resume(reason, source, self._now(trading))
        log.warning("kill switch released", reason=reason, source=source)
        return {"resumed": [t.engine.name for t in self.engines], "reason": reason}

    def apply_pending(self, source: str = "cli") -> None:
        """Apply a kill/resume requested while no bot was running (or by signal)."""
        for command in ("kill", "resume"):
            request = take_request(self.data_dir, command)
            if request is not None:
                reason = str(request.get("reason") or f"mmbot {command}")
                origin = str(request.get("source") or source)
                (self.kill if command == "kill" else self.resume)(reason, origin)

    # ---- strategies ------------------------------------------------------------------

    def switch(self, name: str | None, source: str) -> dict[str, Any]:
        """Switch every engine to profile ``name`` (None: the profile the config names now,
        else each engine's current one, re-read from disk). Every profile is validated
        before any engine switches; on error nothing changes."""
        configured = self.configured() if name is None and self.configured is not None else {}
        plan = []
        for trading in self.engines:
            pipeline = trading.pipeline
            assert pipeline is not None
            target = name or configured.get(trading.engine.name) or pipeline.quoter.name
            path = find_strategy(self.strategies_dir, target)  # raises ConfigError: nothing changes
            profile = load_profile(path)
            plan.append((trading, target, path, build_quoter(profile, pipeline.spec, pipeline.quoter.fees)))
        results = {}
        for trading, target, path, quoter in plan:
            pipeline = trading.pipeline
            assert pipeline is not None
            pipeline.switch_quoter(quoter, self._now(trading), source=source)
            with contextlib.suppress(OSError):
                self._mtimes[path] = path.stat().st_mtime
            results[trading.engine.name] = target
        return {"switched": results}

    def reload_safely(self, name: str | None, source: str) -> None:
        try:
            self.switch(name, source)
        except InputError as exc:
            log.error(
                "strategy switch rejected; the current profile keeps running", source=source, error=str(exc)
            )

    def changed_profiles(self) -> bool:
        """True if a running profile's file changed on disk since it was loaded."""
        changed = False
        for trading in self.engines:
            path = self._profile_path(trading)
            if path is None:
                continue
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            if self._mtimes.get(path) != mtime:
                self._mtimes[path] = mtime
                changed = True
        return changed
