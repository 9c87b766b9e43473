"""Trials on a Ray cluster (``mmbot sweep --ray ADDRESS``); Ray is the scheduler.

Each trial is one Ray task (``num_cpus=1``) running :func:`bot.sweep.trial.run_trial`
in a scratch directory of whichever node Ray picks. The run directory comes back to
the driver as a tar archive and is unpacked under the sweep directory, so results are
the same files as with local workers. Recording files are shipped through Ray's object
store (put once per file by the driver, cached per node by content hash under
``$TMPDIR/mmbot-sweep-cache``) unless ``shared_fs`` says every node reads the driver's
paths. Every node needs the same mmbot version installed (``pip install 'mmbot[ray]'``);
a worker with another version stops the sweep with a message.

``ADDRESS``: ``host:port`` of a running cluster (``ray start --head``), ``auto`` (the
cluster this machine belongs to), ``ray://host:10001`` (Ray Client) or ``local`` (start
a private Ray instance on this machine for the duration of the sweep).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import socket
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from bot.errors import InputError, MmbotError
from bot.replay.synthetic import PREFIX as SYNTHETIC_PREFIX
from bot.sweep.backends import Outcome
from bot.sweep.trial import TrialTask, run_trial

CACHE_DIR = "mmbot-sweep-cache"
_configured = False


def mmbot_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mmbot")
    except PackageNotFoundError:
        return "unknown"


def ray_trial(task: TrialTask, shipped: list[tuple[str, str, Any]] | None) -> tuple[str, Any, bytes]:
    """The Ray task: ("ok", row, tar of the run dir) | ("error", message, tar) | ("fatal", message, b"")."""
    global _configured
    if not _configured:
        from bot.config import LoggingSettings
        from bot.ops.logging import configure_logging

        configure_logging(LoggingSettings(level="warning"))
        _configured = True
    mine = mmbot_version()
    if mine != task.version:
        return "fatal", f"a Ray worker has mmbot {mine}, the driver {task.version}: install one version", b""
    scratch = Path(tempfile.mkdtemp(prefix="mmbot-trial-"))
    run_dir = scratch / task.trial_id
    try:
        sources = _local_copies(shipped) if shipped else None
        payload: Any
        try:
            row = run_trial(task, run_dir, sources)
            status, payload = "ok", row
        except MmbotError as exc:
            status, payload = "error", str(exc)
        except Exception as exc:
            status, payload = "error", f"{type(exc).__name__}: {exc}"
        return status, payload, _tar(run_dir) if run_dir.is_dir() else b""
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _local_copies(shipped: list[tuple[str, str, Any]]) -> list[str]:
    import ray

    paths = []
    for name, digest, ref in shipped:
        path = Path(tempfile.gettempdir()) / CACHE_DIR / digest / name
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            data: bytes = ray.get(ref)
            if hashlib.sha256(data).hexdigest() != digest:
                raise MmbotError(f"{name}: shipped recording arrived corrupt (sha256 mismatch)")
            tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        paths.append(str(path))
    return paths


def _tar(run_dir: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(run_dir, arcname=".")
    return buffer.getvalue()


def untar(data: bytes, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as archive:
        archive.extractall(dest, filter="data")


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast on a ``host:port`` nobody listens on (Ray itself retries for minutes)."""
    if address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--ray {address}: expected host:port, ray://host:port, auto or local")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise InputError(f"--ray {address}: cannot reach {host}:{port}: {exc.strerror or exc}") from None


class RayBackend:
    """Trials as Ray tasks (see module doc)."""

    name = "ray"

    def __init__(self, address: str, workers: int | None, partial: Path, *, shared_fs: bool = False) -> None:
        try:
            import ray
        except ImportError:
            raise InputError(f"--ray {address}: Ray is not installed; pip install 'mmbot[ray]'") from None
        self.ray: Any = ray
        self.partial = partial
        self.shared_fs = shared_fs
        check_reachable(address)
        options: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        try:
            if address == "local":
                ray.init(num_cpus=workers, include_dashboard=False, **options)
            else:
                ray.init(address=address, **options)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise InputError(f"--ray {address}: cannot connect to the Ray cluster: {exc}") from None
        cpus = int(self.ray.cluster_resources().get("CPU", 1))
        self.slots = max(1, min(workers, cpus) if workers else cpus)
        self.remote = ray.remote(num_cpus=1)(ray_trial)
        self.shipped: dict[str, tuple[str, str, Any]] = {}
        self.pending: dict[Any, TrialTask] = {}

    def _ship(self, source: str) -> tuple[str, str, Any]:
        entry = self.shipped.get(source)
        if entry is None:
            data = Path(source).read_bytes()
            entry = (Path(source).name, hashlib.sha256(data).hexdigest(), self.ray.put(data))
            self.shipped[source] = entry
        return entry

    def submit(self, task: TrialTask) -> None:
        files = [s for s in task.sources if not s.startswith(SYNTHETIC_PREFIX)]
        shipped = None if self.shared_fs or not files else [self._ship(s) for s in files]
        self.pending[self.remote.remote(task, shipped)] = task

    def wait(self, timeout: float) -> list[Outcome]:
        if not self.pending:
            return []
        refs = list(self.pending)
        ready, _ = self.ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
        outcomes = []
        for ref in ready:
            task = self.pending.pop(ref)
            try:
                status, payload, archive = self.ray.get(ref)
            except self.ray.exceptions.RayError as exc:
                raise MmbotError(
                    f"trial {task.trial_id} was lost by Ray ({type(exc).__name__}: {exc}); "
                    "finished trials are kept: run again with --resume"
                ) from None
            if status == "fatal":
                raise MmbotError(str(payload))
            if archive:
                untar(archive, self.partial / task.trial_id)
            outcomes.append(
                Outcome(task, payload if status == "ok" else None, None if status == "ok" else payload)
            )
        return sorted(outcomes, key=lambda o: o.task.trial_id)

    def close(self, *, abort: bool) -> None:
        if abort:
            for ref in self.pending:
                self.ray.cancel(ref, force=True)
        self.pending.clear()
        self.ray.shutdown()
