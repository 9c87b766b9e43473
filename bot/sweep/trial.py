"""One trial: one point of a sweep replayed over one recording into a run directory.

:func:`run_trial` is what a worker process (local or Ray) executes. It is an ordinary
``mmbot replay`` run (:class:`bot.replay.run.ReplayRun`: journal, ``config.json``,
``summary.json``), so ``mmbot report`` opens it; ``config.json`` also records the sweep,
point and parameters under ``sweep``. Everything a trial needs travels in the
:class:`TrialTask` (settings and profile resolved on the driver), so it depends on
nothing of the worker's environment but the recording files.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.replay import open_replay
from bot.replay.run import SUMMARY, ReplayRun
from bot.strategy.profile import StrategyProfile
from bot.sweep.measure import measure_run


class TrialInterrupted(Exception):
    """The replay stopped before the end of its input (Ctrl-C in the worker)."""


@dataclass(frozen=True)
class TrialTask:
    trial_id: str
    point: int
    params: dict[str, Any]
    recording: str
    sources: tuple[str, ...]
    settings: Settings
    profile: StrategyProfile
    instrument: str | None
    timer_interval_s: float
    final_dir: str
    """Where the driver keeps the run directory (recorded as ``data_dir`` in config.json)."""
    sweep: str
    version: str


def run_trial(task: TrialTask, run_dir: Path, sources: Sequence[str] | None = None) -> dict[str, Any]:
    """Replay ``task`` into ``run_dir`` (emptied first) and return its row.

    ``sources``: where this worker finds the recording (a local copy of shipped files);
    default the task's own paths. ``summary.json`` names the task's paths either way."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    inputs = list(sources) if sources else list(task.sources)
    replay = open_replay(inputs if len(inputs) > 1 else inputs[0])
    try:
        run = ReplayRun(
            task.settings.model_copy(update={"data_dir": Path(task.final_dir)}),
            replay,
            out=run_dir,
            profile=task.profile,
            instrument=task.instrument,
            timer_interval_s=task.timer_interval_s,
        )
        run.write_config(
            {
                "input": list(task.sources),
                "sweep": {
                    "name": task.sweep,
                    "trial": task.trial_id,
                    "point": task.point,
                    "recording": task.recording,
                    "params": task.params,
                },
            }
        )
        result = run.run()
    finally:
        replay.close()
    if result.status != "complete":
        raise TrialInterrupted(f"trial {task.trial_id}: replay {result.status}")
    summary_path = run_dir / SUMMARY
    summary = json.loads(summary_path.read_text())
    summary["input"] = list(task.sources)
    write_json(summary_path, summary)
    return measure_run(run_dir)


def write_json(path: Path, data: Any) -> None:
    """Write ``path`` atomically (temporary file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)
