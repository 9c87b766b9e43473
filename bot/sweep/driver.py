"""The sweep driver: plan points, run their trials on a backend, persist each finished trial,
rank, and write the results table and summary page.

Order of work: the spec's points are checked first (every grid or random point, the
ends of every TPE range) so a bad value stops the sweep before any trial runs (exit 2).
Then, batch by batch (:mod:`bot.sweep.space`), trials not yet finished are submitted,
at most ``slots`` at a time, and each one that finishes is made permanent at once
(:mod:`bot.sweep.store`). Ctrl-C or SIGTERM stops the workers and leaves every finished
trial in place; ``--resume`` continues.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from bot.errors import InputError, MmbotError
from bot.sweep.backends import Backend, LocalBackend, Outcome
from bot.sweep.build import TrialBuilder, describe
from bot.sweep.html import write_html
from bot.sweep.progress import Progress
from bot.sweep.ray_backend import mmbot_version
from bot.sweep.results import combine, write_results
from bot.sweep.space import ListPlanner, Planner, Point, TpePlanner, make_planner
from bot.sweep.spec import Choice, SweepSpec
from bot.sweep.store import SweepDir
from bot.sweep.trial import TrialTask

log = structlog.get_logger("bot.sweep")
WRITE_EVERY_S = 1.0


@dataclass
class SweepOptions:
    out: Path
    workers: int
    ray: str | None = None
    resume: bool = False
    bar: bool = False
    shared_fs: bool = False


@dataclass
class SweepOutcome:
    out: Path
    status: str
    """complete | interrupted"""
    document: dict[str, Any]
    html: Path | None
    ran: int
    kept: int
    failed: list[str] = field(default_factory=list)


def check_points(spec: SweepSpec, builder: TrialBuilder, planner: Planner) -> None:
    """Every point that is known now is valid (exit 2 before any trial runs)."""
    builder.check({})
    if isinstance(planner, ListPlanner):
        seen: set[str] = set()
        for point in planner.points:
            key = json.dumps(point.params, sort_keys=True, default=str)
            if key not in seen:
                seen.add(key)
                builder.check(point.params)
        return
    for name, domain in spec.params.items():
        values = domain.values if isinstance(domain, Choice) else (domain.low, domain.high)
        for value in values:
            builder.check({name: int(value) if not isinstance(domain, Choice) and domain.integer else value})


def fingerprint(spec: SweepSpec, builder: TrialBuilder) -> str:
    """What the trials depend on besides the spec text: effective base settings and profile,
    and the recordings' files (path and size)."""
    base_settings, base_profile = builder.build({})
    files = [
        [s, Path(s).stat().st_size if not s.startswith("synthetic:") else 0]
        for r in spec.recordings
        for s in r.sources
    ]
    text = json.dumps(
        [
            base_settings.model_dump(mode="json", exclude={"data_dir"}),
            base_profile.model_dump(mode="json"),
            files,
        ],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class SweepRun:
    def __init__(self, spec: SweepSpec, options: SweepOptions) -> None:
        self.spec = spec
        self.options = options
        self.builder = TrialBuilder(spec)
        self.planner = make_planner(spec)
        check_points(spec, self.builder, self.planner)
        self.version = mmbot_version()
        self.store = SweepDir(options.out)
        self.backend: Backend | None = None
        if options.ray is not None:  # connect first: a wrong address must not leave a sweep directory
            self._backend()
        try:
            self.records = self.store.prepare(
                spec, fingerprint(spec, self.builder), resume=options.resume, version=self.version
            )
        except BaseException:
            if self.backend is not None:
                self.backend.close(abort=True)
            raise
        self.kept = len(self.records)
        self.total = self.planner.total * len(spec.recordings)
        self.ran = 0
        self._last_write = 0.0
        self.progress = Progress(self.total, self.kept, bar=options.bar)
        self.best: tuple[str, float] | None = None
        for index in sorted({int(r["point"]) for r in self.records.values()}):
            self._note_best(index)

    # ---- tasks and records ----------------------------------------------------------

    def _backend(self) -> Backend:
        if self.backend is None:
            if self.options.ray is not None:
                from bot.sweep.ray_backend import RayBackend

                self.backend = RayBackend(
                    self.options.ray,
                    self.options.workers or None,
                    self.store.partial,
                    shared_fs=self.options.shared_fs,
                )
            else:
                self.backend = LocalBackend(self.options.workers, self.store.partial)
            log.info("sweep workers ready", backend=self.backend.name, slots=self.backend.slots)
        return self.backend

    def _record(
        self, task_id: str, point: Point, recording: str, row: dict[str, Any] | None, error: str | None
    ) -> None:
        objective = self.spec.objective(row) if row is not None and row.get("status") == "complete" else None
        record = {
            "trial": task_id,
            "point": point.index,
            "recording": recording,
            "params": point.params,
            "status": "complete" if row is not None and error is None else "failed",
            "error": error,
            "objective": objective,
            "row": row,
            "version": self.version,
        }
        self.store.commit(task_id, record)
        self.records[task_id] = record

    def _point_objective(self, point: int) -> float | None:
        """The objective of a point whose trials all finished (None: not all, or undefined)."""
        label = f"p{point:04d}"
        records = [self.records.get(f"{label}-{r.name}") for r in self.spec.recordings]
        if any(r is None or r["status"] != "complete" for r in records):
            return None
        return combine([r["objective"] for r in records if r is not None], self.spec.aggregate)

    def _note_best(self, point: int) -> None:
        value = self._point_objective(point)
        if value is None:
            return
        sign = 1.0 if self.spec.direction == "maximize" else -1.0
        if (
            self.best is None
            or sign * value > sign * self.best[1]
            or (value == self.best[1] and f"p{point:04d}" < self.best[0])
        ):
            self.best = (f"p{point:04d}", value)

    def _write(self, *, force: bool, complete: bool = False) -> dict[str, Any] | None:
        now = time.monotonic()
        if not force and now - self._last_write < WRITE_EVERY_S:
            return None
        self._last_write = now
        return write_results(self.options.out, self.spec, self.records, self.total, complete=complete)

    # ---- the loop ----------------------------------------------------------------------

    def _run_batch(self, batch: list[Point]) -> None:
        spec = self.spec
        queue: deque[tuple[TrialTask, Point]] = deque()
        for point in batch:
            try:
                settings, profile = self.builder.build(point.params)
            except InputError as exc:  # a TPE point outside what the config accepts
                for recording in spec.recordings:
                    task_id = f"{point.label}-{recording.name}"
                    if task_id not in self.records:
                        self._record(task_id, point, recording.name, None, str(exc))
                continue
            for recording in spec.recordings:
                task_id = f"{point.label}-{recording.name}"
                stored = self.records.get(task_id)
                if stored is not None:
                    if json.dumps(stored["params"], sort_keys=True) != json.dumps(
                        point.params, sort_keys=True
                    ):
                        raise MmbotError(
                            f"{self.options.out}: trial {task_id} was run with {describe(stored['params'])} but the "
                            f"planner now proposes {describe(point.params)}; the sweep cannot resume consistently"
                        )
                    continue
                task = TrialTask(
                    trial_id=task_id,
                    point=point.index,
                    params=point.params,
                    recording=recording.name,
                    sources=recording.sources,
                    settings=settings,
                    profile=profile,
                    instrument=spec.instrument,
                    timer_interval_s=spec.timer_interval_s,
                    final_dir=str((self.store.trials / task_id).resolve()),
                    sweep=spec.name,
                    version=self.version,
                )
                queue.append((task, point))
        points = {task.trial_id: point for task, point in queue}
        running = 0
        while queue or running:
            if queue:
                backend = self._backend()
                while queue and running < backend.slots:
                    backend.submit(queue.popleft()[0])
                    running += 1
            assert self.backend is not None
            outcomes: list[Outcome] = self.backend.wait(timeout=0.5)
            for outcome in outcomes:
                running -= 1
                self.ran += 1
                task = outcome.task
                self._record(task.trial_id, points[task.trial_id], task.recording, outcome.row, outcome.error)
                self._write(force=False)
                record = self.records[task.trial_id]
                self._note_best(task.point)
                self.progress.update(
                    len(self.records),
                    running=running,
                    best=self.best,
                    trial=task.trial_id,
                    objective=record["objective"],
                    status=record["status"],
                )
            if not outcomes and self.options.bar:
                self.progress.update(len(self.records), running=running, best=self.best)

    def run(self) -> SweepOutcome:
        status = "interrupted"
        aborted = True
        log.info(
            "sweep started",
            sweep=self.spec.name,
            method=self.spec.method,
            trials=self.total,
            finished=self.kept,
            out=str(self.options.out),
        )
        try:
            with _sigterm_interrupts():
                while batch := self.planner.next_batch():
                    self._run_batch(batch)
                    self.planner.tell([(p, self._point_objective(p.index)) for p in batch])
                status = "complete"
                aborted = False
        except KeyboardInterrupt:
            pass
        finally:
            self.progress.close()
            if self.backend is not None:
                self.backend.close(abort=aborted)
            shutil.rmtree(self.store.partial, ignore_errors=True)  # workers are stopped: nothing runs there
            document = self._write(force=True, complete=status == "complete")
        assert document is not None
        html = write_html(self.options.out, self.spec, document)
        return SweepOutcome(
            out=self.options.out,
            status=status,
            document=document,
            html=html,
            ran=self.ran,
            kept=self.kept,
            failed=list(document["failed"]),
        )


def run_sweep(spec: SweepSpec, options: SweepOptions) -> SweepOutcome:
    return SweepRun(spec, options).run()


def plan(spec: SweepSpec) -> list[dict[str, Any]] | None:
    """The points a grid or random sweep will run (None for TPE: chosen as results arrive)."""
    planner = make_planner(spec)
    if isinstance(planner, TpePlanner):
        return None
    assert isinstance(planner, ListPlanner)
    return [{"point": p.label, **p.params} for p in planner.points]
