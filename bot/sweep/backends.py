"""Running trials: local worker processes (default) or a Ray cluster (:mod:`bot.sweep.ray_backend`).

A backend takes :class:`~bot.sweep.trial.TrialTask` s, runs each in its own worker
process (one trial per process at a time) and hands back :class:`Outcome` s as they
finish. The run directory of a finished trial is then at ``partial/<trial id>`` under
the sweep directory; the driver makes it permanent. A trial that fails on bad input
(a corrupt file half way, say) is an outcome with ``error``: deterministic, recorded,
never retried. A worker that dies is not an outcome: the sweep stops (and resumes).

Local workers come from a :class:`~concurrent.futures.ProcessPoolExecutor` started with
``forkserver`` (``spawn`` where that does not exist). They ignore Ctrl-C (the driver
stops them) and exit by themselves if the driver dies (``kill -9``), so no orphan keeps
running.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.errors import MmbotError
from bot.sweep.trial import TrialInterrupted, TrialTask, run_trial


@dataclass
class Outcome:
    task: TrialTask
    row: dict[str, Any] | None
    error: str | None = None


class Backend(Protocol):
    name: str
    slots: int
    """How many trials run at once."""

    def submit(self, task: TrialTask) -> None: ...

    def wait(self, timeout: float) -> list[Outcome]:
        """Outcomes finished since the last call (waits up to ``timeout`` for one)."""

    def close(self, *, abort: bool) -> None:
        """Release the workers; ``abort`` stops running trials."""


def init_worker(driver_pid: int, level: str) -> None:
    """Worker set-up: quiet logs, ignore Ctrl-C, die with the driver."""
    from bot.config import LoggingSettings
    from bot.ops.logging import configure_logging

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(LoggingSettings(level=level))
    parent = os.getppid()
    threading.Thread(target=_watch_driver, args=(driver_pid, parent), daemon=True).start()


def _watch_driver(driver_pid: int, parent: int) -> None:
    while True:
        time.sleep(0.5)
        alive = os.getppid() == parent
        if alive:
            try:
                os.kill(driver_pid, 0)
            except ProcessLookupError:
                alive = False
            except PermissionError:
                pass
        if not alive:
            os._exit(1)


def local_trial(task: TrialTask, run_dir: str) -> dict[str, Any]:
    return run_trial(task, Path(run_dir))


class LocalBackend:
    """Trials on this machine, one per worker process."""

    name = "local"

    def __init__(self, workers: int, partial: Path, log_level: str = "warning") -> None:
        self.slots = workers
        self.partial = partial
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if context.get_start_method() == "forkserver":
            context.set_forkserver_preload(["bot.sweep.trial"])
        self.pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=init_worker,
            initargs=(os.getpid(), log_level),
        )
        self.futures: dict[Future[dict[str, Any]], TrialTask] = {}

    def submit(self, task: TrialTask) -> None:
        future = self.pool.submit(local_trial, task, str(self.partial / task.trial_id))
        self.futures[future] = task

    def wait(self, timeout: float) -> list[Outcome]:
        if not self.futures:
            return []
        done, _ = wait(list(self.futures), timeout=timeout, return_when=FIRST_COMPLETED)
        outcomes = []
        for future in sorted(done, key=lambda f: self.futures[f].trial_id):
            task = self.futures.pop(future)
            try:
                outcomes.append(Outcome(task, future.result()))
            except BrokenProcessPool:
                raise MmbotError(
                    f"a worker process died while running trial {task.trial_id} (out of memory? killed?); "
                    "finished trials are kept: run again with --resume"
                ) from None
            except TrialInterrupted:
                raise KeyboardInterrupt from None
            except MmbotError as exc:
                outcomes.append(Outcome(task, None, str(exc)))
            except Exception as exc:  # a bug in one trial is that trial's failure, not the sweep's
                outcomes.append(Outcome(task, None, f"{type(exc).__name__}: {exc}"))
        return outcomes

    def close(self, *, abort: bool) -> None:
        if abort:
            # ProcessPoolExecutor cannot stop a running task (terminate_workers() is 3.14+).
            for process in list(getattr(self.pool, "_processes", {}).values()):
                process.terminate()
        self.pool.shutdown(wait=True, cancel_futures=abort)
        self.futures.clear()
