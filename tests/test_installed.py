"""The installed package, used as a new user would: built and installed (not editable) into a
fresh virtualenv, run from a directory outside the repository.

`pip install --no-deps` of a copy of the repository builds the wheel the README's
`pip install .` builds; the new virtualenv sees this environment's site-packages only
through a .pth line appended after its own, so its dependencies come from here while
``bot`` is imported from the installed copy (asserted). Then `mmbot config check`,
`mmbot run --offline --duration 20` and `mmbot replay synthetic:calm` run in a temporary
directory: they must find the packaged config/default.toml and strategy profiles and
start with its documented balances (100,000 USDT and 0.02 BTC), and quote both sides. And
a running installed bot serves the dashboard with every file it loads (package data).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUILD_INPUTS = ("pyproject.toml", "README.md", "bot")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin/ directory of a fresh virtualenv with mmbot installed from a wheel."""
    base = tmp_path_factory.mktemp("installed")
    source = base / "src"
    source.mkdir()
    for name in BUILD_INPUTS:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "_mmbot_test_deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=base,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    yield venv / "bin"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMBOT_") and k != "PYTHONPATH"}
    env["MMBOT_LOGGING__FORMAT"] = "json"
    return env


def _mmbot(bin_dir: Path, cwd: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "mmbot"), *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout
    )


def test_installed_mmbot_uses_its_packaged_defaults_from_any_directory(
    installed: Path, tmp_path: Path
) -> None:
    work = tmp_path / "elsewhere"
    work.mkdir()
    imported = subprocess.run(
        [str(installed / "python"), "-c", "import bot, bot.defaults; print(bot.__file__)"],
        cwd=work,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    site = installed.parent
    assert Path(imported).is_relative_to(site), imported  # the installed copy, not the repository
    assert not Path(imported).is_relative_to(REPO)

    # config check: the packaged files, valid
    check = _mmbot(installed, work, "config", "check", "--json")
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout)
    assert report["config"]["origin"] == "packaged"
    assert Path(report["config"]["path"]).is_relative_to(site)
    assert Path(report["profiles"]["btcusdt"]["file"]).is_relative_to(site)
    assert report["settings"]["paper"]["starting_balances"] == {"USDT": "100000", "BTC": "0.02"}

    # a 20 s offline run: the documented balances and warm-up (~30 s of data: not over yet)
    run = _mmbot(installed, work, "run", "--offline", "--duration", "20", "--http", "127.0.0.1:0", "--json")
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assert summary["config"]["origin"] == "packaged"
    (engine,) = summary["engines"]
    assert engine["strategy"] == "as_default"
    assert engine["starting_balances"] == {"BTC": "0.02000000", "USDT": "100000.0000"}
    assert "insufficient_balance" not in engine["rejects"]
    left = engine["warmup_left_s"]
    first = engine["time_to_first_quote_s"]
    assert (left is not None and 0 < left <= 33) or (first is not None and first <= 22), engine
    assert (work / "data" / "journal" / "btcusdt.sqlite").is_file()  # data_dir "data" of default.toml
    progress = [json.loads(line) for line in run.stderr.splitlines() if '"event":"progress"' in line]
    assert progress and progress[0]["regime"] == "halted" and progress[0]["warmup_left_s"] is not None
    ledger = _mmbot(installed, work, "ledger", "show", "--json")
    assert ledger.returncode == 0, ledger.stderr
    (journal,) = json.loads(ledger.stdout)["journals"]
    assert journal["ledger"]["starting_balances"] == {"BTC": "0.02", "USDT": "100000"}

    # a replay of the synthetic calm market: both sides quoted from the documented balances
    replay = _mmbot(installed, work, "replay", "synthetic:calm", "--out", "calm", "--json")
    assert replay.returncode == 0, replay.stderr[-3000:]
    result = json.loads(replay.stdout)
    assert result["status"] == "complete" and result["strategy"] == "as_default"
    assert result["starting_balances"] == {"BTC": "0.02", "USDT": "100000"}
    assert result["orders_sent"]["buy"] > 100 and result["orders_sent"]["sell"] > 100
    assert result["fills"] > 0 and "insufficient_balance" not in result["rejects"]
    assert result["time_to_first_quote_s"] is not None and result["time_to_first_quote_s"] < 40
    config = json.loads((work / "calm" / "config.json").read_text())
    assert config["config_origin"] == "packaged"
    # and its report's totals are the ledger's
    shown = _mmbot(installed, work, "report", "calm", "--json")
    assert shown.returncode == 0, shown.stderr[-3000:]
    (run_report,) = json.loads(shown.stdout)["runs"]
    ledger = _mmbot(installed, work, "ledger", "show", "--data-dir", "calm", "--json")
    (journal,) = json.loads(ledger.stdout)["journals"]
    assert run_report["pnl_exact"] == journal["ledger"]["attribution"]
    assert run_report["pnl_exact"]["total"] == result["pnl"]["total"]


def test_installed_mmbot_serves_the_dashboard_and_its_bundled_assets(installed: Path, tmp_path: Path) -> None:
    """The page, every script, style and module it loads, lightweight-charts' licence and the
    event stream, from the installed package (package data), run from outside the repository."""
    from tests.dashboard_kit import EventStream, crawl_page

    work = tmp_path / "elsewhere"
    work.mkdir()
    log_path = tmp_path / "bot.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(installed / "mmbot"), "run", "--offline", "--http", "127.0.0.1:0", "--json"],
            cwd=work,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 60
            listening: dict[str, str] = {}
            while not listening:
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
                for line in log_path.read_text().splitlines():
                    if '"ops http listening"' in line:
                        listening = json.loads(line)
                time.sleep(0.2)
            url = listening["url"]
            assert listening["dashboard"] == url + "/dashboard/"

            def fetch(path: str) -> tuple[int, dict[str, str], bytes]:
                try:
                    with urllib.request.urlopen(url + path, timeout=10) as reply:
                        return reply.status, dict(reply.headers), reply.read()
                except urllib.error.HTTPError as exc:
                    return exc.code, dict(exc.headers), exc.read()

            files = crawl_page(fetch)
            library = "static/vendor/lightweight-charts/lightweight-charts.standalone.production.js"
            assert {"static/js/main.js", "static/dashboard.css", library} <= set(files)
            assert b"TradingView Lightweight Charts" in files[library][:400]
            assert b"Apache License" in files["static/vendor/lightweight-charts/LICENSE"]
            code, _, body = fetch("/dashboard/session")  # what the page asks first
            assert code == 200, body[:500]
            session = json.loads(body)
            assert {"as_default", "glft", "fixed"} <= set(session["profiles"]), session  # packaged
            parts = urllib.parse.urlsplit(url)
            stream = EventStream(parts.hostname or "127.0.0.1", parts.port or 80)
            try:
                name, snapshot, _ = next(stream.events())
                assert name == "snapshot" and "btcusdt" in snapshot["engines"], snapshot.keys()
            finally:
                stream.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, log_path.read_text()[-3000:]
