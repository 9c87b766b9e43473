"""`mmbot sweep --ray ADDRESS` on a real local Ray cluster started here (`ray start --head`),
compared with the same sweep on local worker processes: identical trial records and
byte-identical journals. The recording (a real bundled Binance day file) reaches the Ray
workers through the object store, as it would on a remote cluster.

Marked ``ray``; skipped with a reason when Ray is not installed (``pip install '.[ray]'``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sweep_helpers import DAY, deterministic, journal, results, sweep, trial, write_spec

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install '.[ray]' (the [ray] extra)")
pytestmark = pytest.mark.ray

SPEC = f"""
[sweep]
objective = "pnl_per_inventory_risk"
[base]
strategy = "as_default"
[[recordings]]
name = "day"
files = ["{DAY}"]
[params]
"strategy.avellaneda_stoikov.gamma" = [1e-7, 1e-5]
"""

# A private cluster: token auth off (the cluster and this driver are both ours, on loopback),
# no usage reporting, a small object store.
RAY_ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def cluster() -> Iterator[str]:
    ray_cli = shutil.which("ray")
    if ray_cli is None:
        pytest.skip("the ray command is not on PATH")
    port = _free_port()
    head = subprocess.Popen(
        [
            ray_cli,
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            "--object-store-memory=100000000",
        ],
        env={**os.environ, **RAY_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert head.stdout is not None
        seen = []
        for line in head.stdout:
            seen.append(line)
            if "Ray runtime started" in line:
                break
        else:
            pytest.fail("ray start --head failed:\n" + "".join(seen[-30:]))
        yield f"127.0.0.1:{port}"
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(60)
        time.sleep(1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)  # anything of our cluster's session left behind
        head.wait()


def test_same_sweep_on_ray_and_local_workers(tmp_path: Path, cluster: str) -> None:
    spec = write_spec(tmp_path / "spec.toml", SPEC)
    on_ray, local = tmp_path / "ray", tmp_path / "local"
    done = sweep(spec, "--out", on_ray, "--ray", cluster, env=RAY_ENV)
    assert done.returncode == 0, done.stderr
    assert '"backend": "ray"' in done.stderr or '"backend":"ray"' in done.stderr
    assert sweep(spec, "--out", local, "--workers", "2").returncode == 0
    a, b = results(on_ray), results(local)
    assert a["complete"] and a["runs_done"] == 2 and not a["failed"]
    assert a["points"] == b["points"] and a["runs"] == b["runs"]
    for run in a["runs"]:
        trial_id = run["trial"]
        assert deterministic(trial(on_ray, trial_id)) == deterministic(trial(local, trial_id))
        assert journal(on_ray, trial_id) == journal(local, trial_id)
        assert trial(on_ray, trial_id)["row"]["fills"] > 0
        # the run directory came back whole: summary names the driver's file, not a worker copy
        summary = (on_ray / "trials" / trial_id / "summary.json").read_text()
        assert str(DAY) in summary and "mmbot-sweep-cache" not in summary
