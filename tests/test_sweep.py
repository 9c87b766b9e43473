"""`mmbot sweep` end to end on real recordings and real processes.

- A small grid on the bundled Binance recording with two local workers gives, trial for
  trial, byte-identical journals and identical numbers to `mmbot replay` run one by one
  with the same profile values; the objective equals the one recomputed here from the
  journal with plain Python; the table ranks points by it.
- A real sweep process killed with SIGKILL mid-way leaves its finished trials; its
  workers exit by themselves; `--resume` keeps those trials untouched, runs only the
  rest, and ends with the same results as an uninterrupted sweep with one worker.
- TPE (Optuna) proposes the same points whatever the number of workers, and resumes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.cli import main
from bot.config import DEFAULT_CONFIG, load_settings
from bot.engine.assemble import find_strategy, strategy_search
from bot.report.html import embedded_summary
from bot.sweep.measure import measure_run
from tests.sweep_helpers import (
    DAY,
    REPO,
    deterministic,
    journal,
    recomputed_objective,
    results,
    sweep,
    trial,
    write_spec,
)

GRID = f"""
[sweep]
objective = "pnl_per_inventory_risk"
[base]
strategy = "as_default"
[[recordings]]
name = "day"
files = ["{DAY}"]
[params]
"strategy.avellaneda_stoikov.gamma" = [1e-7, 1e-5]
"strategy.ladder.levels" = [1, 3]
"""

SYNTH = """
[sweep]
objective = "pnl"
[base]
strategy = "as_default"
[[recordings]]
synthetic = "calm?seed=3&duration=60"
[params]
"strategy.avellaneda_stoikov.gamma" = [1e-7, 1e-5, 1e-4]
"strategy.ladder.levels" = [1, 2]
"""


def _one_by_one(tmp: Path, gamma: float, levels: int) -> Path:
    """`mmbot replay` of the same trial: a config whose strategies folder holds the profile
    with these values (found by the ordinary loader, like any user's)."""
    base = tmp / f"g{gamma:g}-l{levels}"
    (base / "strategies").mkdir(parents=True)
    shutil.copyfile(DEFAULT_CONFIG, base / "config.toml")
    profile = find_strategy(strategy_search(load_settings(), None), "as_default").read_text()
    profile = re.sub(r"(?m)^gamma = \S+", f"gamma = {gamma!r}", profile)
    profile = re.sub(r"(?m)^levels = \d+", f"levels = {levels}", profile)
    (base / "strategies" / "as_default.toml").write_text(profile)
    out = base / "run"
    assert (
        main(
            [
                "replay",
                str(DAY),
                "--config",
                str(base / "config.toml"),
                "--out",
                str(out),
                "--progress",
                "off",
            ]
        )
        == 0
    )
    return out


def test_grid_on_real_recording_equals_replays_one_by_one(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "grid.toml", GRID)
    out = tmp_path / "sweep"
    done = sweep(spec, "--out", out, "--workers", "2")
    assert done.returncode == 0, done.stderr
    document = results(out)
    assert document["complete"] and document["runs_done"] == 4 and not document["failed"]
    points = {p["label"]: p for p in document["points"]}
    assert points["p0001"]["params"] == {
        "strategy.avellaneda_stoikov.gamma": 1e-7,
        "strategy.ladder.levels": 3,
    }
    for label, point in points.items():
        params = point["params"]
        alone = _one_by_one(
            tmp_path / "alone", params["strategy.avellaneda_stoikov.gamma"], params["strategy.ladder.levels"]
        )
        trial_id = f"{label}-day"
        assert journal(out, trial_id) == (alone / "journal" / "btcusdt.sqlite").read_bytes(), trial_id
        record = trial(out, trial_id)
        mine = measure_run(alone)
        mine["summary"]["input"] = [str(DAY)]
        assert deterministic({"row": mine})["row"] == deterministic(record)["row"]
        assert record["row"]["fills"] > 0
        expected = recomputed_objective(alone)
        assert expected is not None and abs(record["objective"] - expected) <= 1e-9 * abs(expected)
        assert point["objective"] == record["objective"]  # one recording: mean = the value
        config = json.loads((out / "trials" / trial_id / "config.json").read_text())
        assert (
            config["sweep"]["params"] == params
            and config["strategy"]["ladder"]["levels"] == params["strategy.ladder.levels"]
        )
    ranked = [p["objective"] for p in document["points"]]
    assert ranked == sorted(ranked, reverse=True)
    assert document["best"]["label"] == document["points"][0]["label"]
    # a different gamma changes the trading: the sweep is not four copies of one run
    assert len({p["pnl_total"] for p in document["points"]}) == 4
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 5 and csv_lines[0].startswith("trial,point,recording,status,objective,param:")
    page = (out / "summary.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "Pareto front" in page
    embedded = json.loads(
        re.search(r'id="mmbot-sweep">(.*?)</script>', page, re.S).group(1).replace("<\\/", "</")
    )
    assert embedded["points"] == document["points"]
    # any trial is an ordinary run directory: `mmbot report` opens it
    report = tmp_path / "report.html"
    assert main(["report", str(out / "trials" / "p0000-day"), "--out", str(report)]) == 0
    assert embedded_summary(report.read_text())[0]["fills"] == trial(out, "p0000-day")["row"]["fills"]


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    stack = [pid]
    while stack:
        parent = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{parent}/task/{task}/children").read_text().split()
            except FileNotFoundError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _gone(pids: set[int], within_s: float = 30) -> None:
    deadline = time.monotonic() + within_s
    while any(_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, (
            f"orphan processes still running: {[p for p in pids if _alive(p)]}"
        )
        time.sleep(0.1)


def test_killed_sweep_resumes_without_rerunning_finished_trials(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "synth.toml", SYNTH)
    out = tmp_path / "sweep"
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "sweep", str(spec), "--out", str(out), "--workers", "2"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while len(list(out.glob("trials/*/trial.json"))) < 2:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "no trial finished"
            workers |= _descendants(process.pid)
            time.sleep(0.02)
        workers |= _descendants(process.pid)
        process.kill()  # SIGKILL: no clean-up of any kind in the driver
        process.wait()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == -signal.SIGKILL
    assert workers, "the sweep started no worker process"
    _gone(workers)
    finished = {p.parent.name: p.stat() for p in out.glob("trials/*/trial.json")}
    assert 2 <= len(finished) < 6, "the kill did not land mid-way"
    assert not (out / "results.json").exists() or not results(out)["complete"]

    resumed = sweep(spec, "--out", out, "--resume", "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert f"({6 - len(finished)} run now, {len(finished)} kept from before)" in resumed.stdout
    for trial_id, before in finished.items():
        after = (out / "trials" / trial_id / "trial.json").stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), trial_id
    assert "sweep trial finished" in resumed.stderr  # not a terminal: one log line per trial
    assert not (out / "trials" / ".partial").exists()

    reference = tmp_path / "reference"
    assert sweep(spec, "--out", reference, "--workers", "1").returncode == 0
    got, want = results(out), results(reference)
    assert got["complete"] and got["runs_done"] == 6
    assert sum(run["fills"] for run in got["runs"]) > 0 and len({run["pnl_total"] for run in got["runs"]}) > 1
    assert got["points"] == want["points"] and got["runs"] == want["runs"]
    for run in want["runs"]:
        assert deterministic(trial(out, run["trial"])) == deterministic(trial(reference, run["trial"]))
    # a complete sweep resumes to a no-op (no worker needed: in-process)
    assert main(["sweep", str(spec), "--out", str(out), "--resume", "--progress", "off"]) == 0
    assert results(out)["points"] == want["points"]


def test_ctrl_c_stops_workers_and_keeps_finished_trials(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "synth.toml", SYNTH)
    out = tmp_path / "sweep"
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "sweep", str(spec), "--out", str(out), "--workers", "2"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    workers: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("trials/*/trial.json")):
            assert process.poll() is None and time.monotonic() < deadline
            workers |= _descendants(process.pid)
            time.sleep(0.02)
        workers |= _descendants(process.pid)
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, stderr
    assert "sweep interrupted; finished trials are kept" in stderr and "--resume" in stderr
    assert "interrupted" in stdout
    _gone(workers)  # the workers, and the forkserver and resource tracker, exit with the driver
    document = results(out)
    finished = sorted(p.parent.name for p in out.glob("trials/*/trial.json"))
    assert not document["complete"] and [r["trial"] for r in document["runs"]] == finished
    assert "Incomplete:" in (out / "summary.html").read_text()
    assert not (out / "trials" / ".partial").exists()


TPE = """
[sweep]
method = "tpe"
objective = "pnl"
trials = 4
batch = 2
startup_trials = 2
seed = 11
[base]
strategy = "as_default"
[[recordings]]
synthetic = "calm?seed=5&duration=60"
[params]
"strategy.avellaneda_stoikov.gamma" = { low = 1e-8, high = 1e-3, log = true }
"strategy.ladder.levels" = { low = 1, high = 3 }
"""


def test_tpe_points_do_not_depend_on_workers_and_resume(tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "tpe.toml", TPE)
    one, two = tmp_path / "one", tmp_path / "two"
    assert sweep(spec, "--out", two, "--workers", "2").returncode == 0
    assert sweep(spec, "--out", one, "--workers", "1").returncode == 0
    a, b = results(one), results(two)
    assert a["runs_done"] == 4 and a["points"] == b["points"]
    for point in a["points"]:
        assert 1e-8 <= point["params"]["strategy.avellaneda_stoikov.gamma"] <= 1e-3
        assert point["params"]["strategy.ladder.levels"] in (1, 2, 3)
    assert len({json.dumps(p["params"], sort_keys=True) for p in a["points"]}) == 4
    assert len({p["objective"] for p in a["points"]}) > 1  # the sampler saw different results
    # lose the second round (as if interrupted after the first): resume re-proposes the same points
    for trial_dir in (one / "trials").glob("p000[23]-*"):
        shutil.rmtree(trial_dir)
    resumed = sweep(spec, "--out", one, "--resume", "--workers", "2", "--progress", "on")
    assert resumed.returncode == 0 and "(2 run now, 2 kept from before)" in resumed.stdout
    bar = resumed.stderr.split("\r")[-1]  # the bar redraws one line
    assert "4/4 trials" in bar and "ETA" in bar and "best " in bar
    assert results(one)["points"] == b["points"]
