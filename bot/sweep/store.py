"""The sweep directory: what is on disk, how a trial becomes permanent, how a sweep resumes.

::

    OUT/sweep.json          the spec as read, its fingerprint, method, objective, version
    OUT/spec.toml           a copy of the spec file
    OUT/trials/<trial>/     one `mmbot replay` run directory per trial, with trial.json
    OUT/trials/.partial/    trials being run (deleted when a sweep starts or resumes)
    OUT/results.json|.csv   every finished trial; points.csv: one row per point
    OUT/summary.html        best points, parameter-vs-objective plots, Pareto front

A trial is finished exactly when ``trials/<trial>/trial.json`` exists: the worker writes
the run into ``.partial/<trial>``, the driver adds ``trial.json`` and renames the
directory into place (one atomic rename), so a crash at any instant leaves either a
finished trial or nothing. ``--resume`` keeps every finished trial and re-runs the rest;
it refuses a spec or base configuration that changed since the sweep started.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from bot.errors import InputError
from bot.sweep.spec import SweepSpec
from bot.sweep.trial import write_json

SWEEP = "sweep.json"
TRIALS = "trials"
PARTIAL = ".partial"
TRIAL = "trial.json"


class SweepDir:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.trials = out / TRIALS
        self.partial = self.trials / PARTIAL

    def prepare(
        self, spec: SweepSpec, fingerprint: str, *, resume: bool, version: str
    ) -> dict[str, dict[str, Any]]:
        """Create (or check, with ``resume``) the directory; return the finished trials by id."""
        out = self.out
        meta = {"name": spec.name, "spec": spec.raw, "fingerprint": fingerprint, "version": version}
        if out.exists() and not out.is_dir():
            raise InputError(f"--out {out}: exists and is not a directory")
        started = (out / SWEEP).is_file()
        if not resume:
            if out.exists() and any(out.iterdir()):
                hint = "--resume to continue it" if started else "choose another --out"
                raise InputError(f"--out {out}: already exists and is not empty; {hint}")
        elif not started:
            raise InputError(f"--out {out}: no sweep to resume here (no {SWEEP}); run without --resume")
        if started:
            self._check_same(meta)
        try:
            self.trials.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--out {out}: cannot create: {exc.strerror or exc}") from None
        if not started:
            write_json(out / SWEEP, {**meta, "spec_file": str(spec.path.resolve())})
            shutil.copyfile(spec.path, out / "spec.toml")
        shutil.rmtree(self.partial, ignore_errors=True)
        self.partial.mkdir()
        return self.finished()

    def _check_same(self, meta: dict[str, Any]) -> None:
        try:
            stored = json.loads((self.out / SWEEP).read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{self.out / SWEEP}: unreadable: {exc}") from None
        if stored.get("spec") != meta["spec"]:
            old, new = stored.get("spec") or {}, meta["spec"]
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise InputError(
                f"--out {self.out}: the spec changed since this sweep started (in {', '.join(changed)}); "
                "its trials would not be comparable: use another --out"
            )
        if stored.get("fingerprint") != meta["fingerprint"]:
            raise InputError(
                f"--out {self.out}: the base config, strategy profile or recordings changed since this sweep "
                "started; its trials would not be comparable: use another --out"
            )

    def finished(self) -> dict[str, dict[str, Any]]:
        records: dict[str, dict[str, Any]] = {}
        for path in sorted(self.trials.glob(f"*/{TRIAL}")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # not finished after all: it will run again
            records[path.parent.name] = record
        return records

    def commit(self, trial_id: str, record: dict[str, Any]) -> Path:
        """Make a trial permanent: trial.json into its run directory, then one rename."""
        staging = self.partial / trial_id
        staging.mkdir(parents=True, exist_ok=True)
        write_json(staging / TRIAL, record)
        final = self.trials / trial_id
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
        return final
