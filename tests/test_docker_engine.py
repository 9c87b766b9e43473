"""The real thing: the image is built, and mmbot runs in containers and under docker-compose.

Marked ``docker``. Every test needs a Docker engine (``docker info`` answers) and skips with
the reason when there is none; the compose ``config`` checks need only the compose CLI.
CI (.ci/run) installs Debian's docker.io, docker-compose (1.29) and mmdebstrap and starts dockerd.

Images (session fixtures, built once per run):
- base: ``$MMBOT_BASE_IMAGE`` if set, else ``mmbot-python:3.11-bookworm``, made by
  ``docker/build-base.sh`` from Debian's own packages when missing (no registry needed);
- ``mmbot:latest``: ``docker build --build-arg BASE_IMAGE=<base> .`` (rebuilt every run, from the
  layer cache when nothing changed) -- the tag docker-compose.yml uses;
- Prometheus: ``$MMBOT_PROMETHEUS_IMAGE`` if set, else a local ``prom/prometheus:v2.53.0``, else
  ``mmbot-prometheus:bookworm`` built from docker/prometheus (Debian's ``prometheus`` package);
  the scrape test skips, saying why, only when none can be had.
Containers, volumes and compose projects are named ``mmbottest<pid>...`` and removed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import pytest
import yaml

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
SCHEMA = REPO / "tests" / "data" / "compose-spec.json"
BUILD_BASE = REPO / "docker" / "build-base.sh"
DEFAULT_BASE = "mmbot-python:3.11-bookworm"
IMAGE = "mmbot:latest"  # the tag docker-compose.yml runs
OFFICIAL_PROMETHEUS = "prom/prometheus:v2.53.0"
DEBIAN_PROMETHEUS = "mmbot-prometheus:bookworm"
PREFIX = f"mmbottest{os.getpid()}"
RUN = ["run", "--config", "config/default.toml", "--offline"]
GRACE_S = 15  # the compose file's stop_grace_period; `docker stop` is given the same

T = TypeVar("T")


def sh(
    *argv: str, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} -> {result.returncode}\n{tail(result.stdout)}\n{tail(result.stderr)}"
    )
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 1.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def http(url: str, *, method: str = "GET", token: str | None = None, timeout: float = 5) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, data=b"{}" if method == "POST" else None)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_or_none(url: str) -> tuple[int, bytes] | None:
    try:
        return http(url)
    except OSError:  # refused / reset while the service starts
        return None


def json_logs(stderr: str) -> list[dict[str, Any]]:
    out = []
    for line in stderr.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                out.append(record)
    return out


def events(stderr: str, name: str) -> list[dict[str, Any]]:
    return [r for r in json_logs(stderr) if r.get("event") == name]


def inspect(container: str) -> dict[str, Any]:
    data = json.loads(ok(sh("docker", "inspect", container)))
    assert isinstance(data, list) and len(data) == 1
    return dict(data[0])


def image_exists(name: str) -> bool:
    return sh("docker", "image", "inspect", name, timeout=60).returncode == 0


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without any MMBOT_* of the caller's (they would reach compose)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMBOT_")}
    env.update(extra)
    return env


# ---- engine and images --------------------------------------------------------------------


@pytest.fixture(scope="session")
def engine() -> str:
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI on PATH (apt-get install docker.io)")
    try:
        info = sh("docker", "info", "--format", "{{.ServerVersion}}", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.skip("no Docker engine reachable: `docker info` timed out")
    if info.returncode != 0 or not info.stdout.strip():
        pytest.skip(f"no Docker engine reachable (`docker info`: {tail(info.stderr, 2) or 'no server'})")
    return info.stdout.strip()


@pytest.fixture(scope="session")
def base_image(engine: str) -> str:
    name = os.environ.get("MMBOT_BASE_IMAGE") or DEFAULT_BASE
    if image_exists(name):
        return name
    if name != DEFAULT_BASE:
        pulled = sh("docker", "pull", name, timeout=600)
        if pulled.returncode != 0:
            pytest.skip(f"MMBOT_BASE_IMAGE={name} is not available: {tail(pulled.stderr, 2)}")
        return name
    if shutil.which("mmdebstrap") is None and shutil.which("debootstrap") is None:
        pytest.skip(
            f"no {DEFAULT_BASE} image and neither mmdebstrap nor debootstrap to build it "
            "(apt-get install mmdebstrap, or set MMBOT_BASE_IMAGE=python:3.11-slim with registry access)"
        )
    ok(sh(str(BUILD_BASE), name, timeout=1200))
    assert image_exists(name)
    return name


@pytest.fixture(scope="session")
def mmbot_image(base_image: str) -> str:
    ok(sh("docker", "build", "--build-arg", f"BASE_IMAGE={base_image}", "-t", IMAGE, ".", timeout=1800))
    return IMAGE


@pytest.fixture(scope="session")
def prometheus_image(base_image: str) -> str:
    wanted = os.environ.get("MMBOT_PROMETHEUS_IMAGE")
    if wanted:
        if not image_exists(wanted) and sh("docker", "pull", wanted, timeout=600).returncode != 0:
            pytest.skip(f"MMBOT_PROMETHEUS_IMAGE={wanted} is neither local nor pullable")
        return wanted
    if image_exists(OFFICIAL_PROMETHEUS):
        return OFFICIAL_PROMETHEUS
    built = sh(
        "docker",
        "build",
        "--build-arg",
        f"BASE_IMAGE={base_image}",
        "-t",
        DEBIAN_PROMETHEUS,
        str(REPO / "docker" / "prometheus"),
        timeout=1200,
    )
    if built.returncode != 0:
        pytest.skip(
            f"no Prometheus image: {OFFICIAL_PROMETHEUS} is not local and building one from Debian's "
            f"prometheus package failed: {tail(built.stderr, 3)}"
        )
    return DEBIAN_PROMETHEUS


# ---- the image ----------------------------------------------------------------------------


def test_build_context_holds_only_what_the_dockerfile_copies(base_image: str) -> None:
    """The engine's own view of the context (.dockerignore applied): no .venv, build/, data/,
    caches or secrets -- only the four things the Dockerfile copies."""
    probe = f"{PREFIX}-context"
    dockerfile = f"FROM {base_image}\nCOPY . /context\n"
    try:
        result = subprocess.run(
            ["docker", "build", "-q", "-t", probe, "-f", "-", "."],
            input=dockerfile,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=REPO,
        )
        ok(result)
        listing = ok(sh("docker", "run", "--rm", probe, "find", "/context", "-mindepth", "1")).split()
    finally:
        sh("docker", "rmi", "-f", probe)
    paths = [p.removeprefix("/context/") for p in listing]
    assert {p.split("/")[0] for p in paths} == {"pyproject.toml", "README.md", "bot", "config"}
    assert "bot/cli.py" in paths and "config/default.toml" in paths
    junk = [p for p in paths if "__pycache__" in p or p.endswith((".pyc", ".egg-info")) or "/.env" in p]
    assert junk == []


def test_image_runs_as_non_root_with_only_the_runtime(mmbot_image: str) -> None:
    config = inspect(mmbot_image)["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["mmbot"] and config["StopSignal"] == "SIGTERM"
    assert config["Healthcheck"]["Test"][:2] == ["CMD", "python"]
    assert "/data" in config["Volumes"]
    script = (
        "import os, sys, bot; print(os.getuid(), os.getgid(), bot.__file__, sys.version_info[:2],"
        " os.path.exists('/src'), os.access('/data', os.W_OK))"
    )
    out = ok(sh("docker", "run", "--rm", "--entrypoint", "python", mmbot_image, "-c", script)).strip()
    assert out == "10001 10001 /opt/venv/lib/python3.11/site-packages/bot/__init__.py (3, 11) False True"


@pytest.fixture(scope="module")
def duration_run(mmbot_image: str) -> Iterator[str]:
    """`mmbot run --offline --duration 60` in a detached container, started before the lifecycle
    containers below so the two minute-long runs overlap; its test collects the result."""
    name = f"{PREFIX}-duration"
    ok(sh("docker", "run", "-d", "--name", name, mmbot_image, *RUN, "--duration", "60"))
    try:
        yield name
    finally:
        sh("docker", "rm", "-f", "-v", name)


@dataclass
class FirstRun:
    volume: str
    health: list[str] = field(default_factory=list)
    open_before_stop: list[dict[str, Any]] = field(default_factory=list)
    stop_seconds: float = 0.0
    state: dict[str, Any] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""


@pytest.fixture(scope="module")
def first_run(mmbot_image: str, duration_run: str) -> Iterator[FirstRun]:
    """A detached bot on a fresh /data volume: healthy, quoting, then `docker stop`."""
    volume = f"{PREFIX}-data"
    name = f"{PREFIX}-first"
    port = free_port()
    ok(sh("docker", "volume", "create", volume))
    record = FirstRun(volume=volume)
    try:
        ok(
            sh(
                "docker",
                "run",
                "-d",
                "--name",
                name,
                "-v",
                f"{volume}:/data",
                "-p",
                f"127.0.0.1:{port}:8080",
                mmbot_image,
                *RUN,
            )
        )

        def health() -> str | None:
            state = inspect(name)["State"]
            assert state["Running"], f"the bot exited: {state}\n{tail(sh('docker', 'logs', name).stderr)}"
            status = state["Health"]["Status"]
            if not record.health or record.health[-1] != status:
                record.health.append(status)
            return status if status == "healthy" else None

        wait_for("the HEALTHCHECK to report healthy", health, timeout=120)

        def quoting() -> list[dict[str, Any]] | None:
            reply = http_or_none(f"http://127.0.0.1:{port}/status")
            if reply is None or reply[0] != 200:
                return None
            orders = json.loads(reply[1])["engines"][0]["open_orders"]
            return orders if isinstance(orders, list) and orders else None

        record.open_before_stop = wait_for("paper orders resting on the book", quoting, timeout=120)
        start = time.monotonic()
        ok(sh("docker", "stop", "--time", str(GRACE_S), name, timeout=GRACE_S + 30))
        record.stop_seconds = time.monotonic() - start
        record.state = inspect(name)["State"]
        logs = sh("docker", "logs", name)
        record.stdout, record.stderr = logs.stdout, logs.stderr
        yield record
    finally:
        sh("docker", "rm", "-f", "-v", name)
        sh("docker", "volume", "rm", "-f", volume)


def test_healthcheck_turns_healthy_and_sigterm_cancels_orders_and_exits_0(first_run: FirstRun) -> None:
    assert first_run.health[0] == "starting" and first_run.health[-1] == "healthy"
    assert first_run.stop_seconds < GRACE_S, "docker stop had to wait for the grace period (SIGKILL)"
    assert first_run.state["ExitCode"] == 0 and not first_run.state["OOMKilled"], first_run.state
    (stopping,) = events(first_run.stderr, "stopping: cancelling quotes, closing the journal")
    assert stopping["signal"] == "SIGTERM"
    (cancelled,) = events(first_run.stderr, "paper orders cancelled at shutdown")
    assert cancelled["count"] >= 1
    assert first_run.stdout.startswith("mmbot run summary")
    assert "open orders 0" in first_run.stdout


def test_journal_survives_on_the_volume_and_a_second_container_restores_the_ledger(
    first_run: FirstRun, mmbot_image: str
) -> None:
    volume = ["-v", f"{first_run.volume}:/data"]
    files = ok(sh("docker", "run", "--rm", *volume, "--entrypoint", "ls", mmbot_image, "-a", "/data/journal"))
    names = set(files.split()) - {".", ".."}
    assert "btcusdt.sqlite" in names, files
    # closed cleanly: SQLite removes the write-ahead log when the last connection closes
    assert not [n for n in names if n.endswith(("-wal", "-shm"))], files

    def ledger() -> dict[str, Any]:
        out = ok(
            sh(
                "docker",
                "run",
                "--rm",
                *volume,
                mmbot_image,
                "ledger",
                "show",
                "--data-dir",
                "/data",
                "--json",
            )
        )
        (journal,) = json.loads(out)["journals"]
        return dict(journal)

    before = ledger()
    assert before["records"] > 0 and before["open_orders"] == [] and before["in_flight"] == 0
    fills = before["ledger"]["fills"]

    second = sh(
        "docker",
        "run",
        "--rm",
        "--name",
        f"{PREFIX}-second",
        *volume,
        mmbot_image,
        *RUN,
        "--duration",
        "10",
        timeout=180,
    )
    ok(second)
    (restored,) = events(second.stderr, "paper exchange restored")
    assert restored["journal"] == "/data/journal/btcusdt.sqlite"
    assert restored["records"] == before["records"]
    assert restored["position"] == before["last_input_position"]
    assert restored["open_orders"] == 0
    after = ledger()
    assert after["records"] >= before["records"]
    # the second run (10 s, still in its volatility warm-up) traded nothing: the same ledger
    assert after["ledger"]["balances"] == before["ledger"]["balances"], (before, after)
    assert after["ledger"]["fills"] == fills
    if all(p["mark"] is not None for p in before["ledger"]["positions"].values()):
        # (a run stopped before its first mark sample leaves the starting inventory unvalued;
        # the next run's first mark then values it)
        assert after["ledger"]["equity_start"] == before["ledger"]["equity_start"]
    if fills:
        first_fill = before["recent_fills"][0]["fill_id"]
        assert first_fill in {f["fill_id"] for f in ledger_fills(volume, mmbot_image, fills + 50)}


def ledger_fills(volume: list[str], image: str, count: int) -> list[dict[str, Any]]:
    out = ok(
        sh(
            "docker",
            "run",
            "--rm",
            *volume,
            image,
            "ledger",
            "show",
            "--data-dir",
            "/data",
            "--json",
            "--fills",
            str(count),
        )
    )
    return list(json.loads(out)["journals"][0]["recent_fills"])


def test_offline_run_for_60_seconds_exits_0_and_prints_the_summary(duration_run: str) -> None:
    waited = sh("docker", "wait", duration_run, timeout=240)  # blocks until the container exits
    logs = sh("docker", "logs", duration_run)
    assert ok(waited).strip() == "0", tail(logs.stderr)
    state = inspect(duration_run)["State"]
    started, finished = (
        datetime.strptime(state[k][:19], "%Y-%m-%dT%H:%M:%S") for k in ("StartedAt", "FinishedAt")
    )
    ran = (finished - started).total_seconds()
    assert 59 <= ran <= 120, state  # it ran for the duration, then stopped by itself
    lines = logs.stdout.splitlines()
    assert lines[0].startswith("mmbot run summary (config config/default.toml"), logs.stdout
    book = next(line for line in lines if "binance_spot:BTCUSDT:" in line)
    assert ": VALID bid " in book and "gaps 0" in book
    assert any(": strategy as_default" in line for line in lines), logs.stdout
    orders = next(line.strip() for line in lines if line.strip().startswith("orders ") and " new (" in line)
    new_orders = int(orders.split()[1])
    assert new_orders > 0, orders  # it quoted after the ~30 s volatility warm-up
    assert orders.endswith("open orders 0"), orders  # cancelled at the end of the run
    assert events(logs.stderr, "mmbot running"), tail(logs.stderr)


# ---- compose ------------------------------------------------------------------------------


def compose_cli(kind: str) -> list[str]:
    if kind == "docker-compose":
        if shutil.which("docker-compose") is None:
            pytest.skip("docker-compose (v1, Debian's package) not installed: apt-get install docker-compose")
        return ["docker-compose"]
    if shutil.which("docker") is None or sh("docker", "compose", "version").returncode != 0:
        pytest.skip("Compose v2 (`docker compose` plugin) not installed; Debian 12 does not package it")
    return ["docker", "compose"]


@pytest.mark.parametrize("kind", ["docker-compose", "docker compose"])
def test_compose_file_is_valid_for_the_cli_and_the_compose_spec(kind: str) -> None:
    cli = compose_cli(kind)
    version = ok(sh(*cli, "version"))
    profiles = ["--profile", "offline", "--profile", "monitoring"]
    rendered = ok(sh(*cli, "-f", str(COMPOSE), *profiles, "config", env=clean_env()))
    data = yaml.safe_load(rendered)
    assert set(data["services"]) == {"bot", "emulator", "bot-offline", "prometheus", "grafana"}, version
    assert data["services"]["bot"]["build"]["args"]["BASE_IMAGE"] == "python:3.11-slim"
    ports = [str(p) for s in data["services"].values() for p in s.get("ports", [])]
    assert all("127.0.0.1" in p for p in ports), ports
    # the CLI's interpolated, normalised output is itself a valid Compose-spec document
    errors = [e.message for e in jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).iter_errors(data)]
    assert errors == []
    # variables select the images and host ports
    env = clean_env(
        MMBOT_BASE_IMAGE=DEFAULT_BASE, MMBOT_PROMETHEUS_IMAGE=DEBIAN_PROMETHEUS, MMBOT_HTTP_PORT="18080"
    )
    data = yaml.safe_load(ok(sh(*cli, "-f", str(COMPOSE), *profiles, "config", env=env)))
    assert data["services"]["bot-offline"]["build"]["args"]["BASE_IMAGE"] == DEFAULT_BASE
    assert data["services"]["prometheus"]["image"] == DEBIAN_PROMETHEUS
    assert "18080" in str(data["services"]["bot"]["ports"][0])


def test_docker_compose_1_29_rejects_the_v2_only_keys_this_file_avoids(tmp_path: Path) -> None:
    """The check above can fail: the same CLI refuses the keys the file used to have."""
    cli = compose_cli("docker-compose")
    if not ok(sh(*cli, "version", "--short")).startswith("1."):
        pytest.skip("docker-compose is not v1 (Debian 12's is 1.29)")
    data = yaml.safe_load(COMPOSE.read_text())
    for key in [k for k in data if k.startswith("x-")]:
        del data[key]  # PyYAML already merged the anchors into the services
    variants = {
        "name": {**data, "name": "mmbot"},
        "env_file": {
            **data,
            "services": {
                **data["services"],
                "bot": {**data["services"]["bot"], "env_file": [{"path": ".env", "required": False}]},
            },
        },
    }
    for what, variant in [*variants.items(), ("nothing", data)]:
        path = tmp_path / f"{what}.yml"
        path.write_text(yaml.safe_dump(variant))
        result = sh(*cli, "-f", str(path), "--project-directory", str(REPO), "config", "-q", env=clean_env())
        if what == "nothing":  # the same file, only re-dumped: accepted
            ok(result)
        else:
            assert result.returncode != 0, f"docker-compose 1.x accepted {what}"
            assert what in result.stderr and "invalid" in result.stderr, result.stderr


@dataclass
class Stack:
    cli: list[str]
    env: dict[str, str]
    ports: dict[str, int]
    token: str

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return sh(*self.cli, *args, timeout=timeout, env=self.env)

    def container(self, service: str) -> str:
        (cid,) = ok(self("ps", "-q", service)).split()
        return cid


@pytest.fixture(scope="module")
def offline_stack(
    mmbot_image: str, base_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """`docker-compose --profile offline up -d bot-offline` on free host ports; the control
    token comes from an env file, as a user's .env would give it."""
    cli = compose_cli("docker-compose")
    token = f"token-{os.getpid()}"
    env_file = tmp_path_factory.mktemp("compose") / "test.env"
    env_file.write_text(f"MMBOT_HTTP__TOKEN={token}\n")
    ports = {k: free_port() for k in ("HTTP", "OFFLINE_HTTP", "EMULATOR", "PROMETHEUS")}
    env = clean_env(
        MMBOT_BASE_IMAGE=base_image,
        MMBOT_PROMETHEUS_IMAGE=os.environ.get("MMBOT_PROMETHEUS_IMAGE") or DEBIAN_PROMETHEUS,
        **{f"MMBOT_{k}_PORT": str(v) for k, v in ports.items()},
    )
    stack = Stack(
        cli=[
            *cli,
            "-p",
            f"{PREFIX}c",
            "-f",
            str(COMPOSE),
            "--env-file",
            str(env_file),
            "--profile",
            "offline",
            "--profile",
            "monitoring",
        ],
        env=env,
        ports=ports,
        token=token,
    )
    try:
        ok(stack("up", "-d", "bot-offline"))
        yield stack
    finally:
        down = stack("down", "-v", "--remove-orphans", "-t", "5")
        if down.returncode != 0:
            print(down.stderr)


def test_compose_offline_profile_is_healthy_and_serves_healthz_on_localhost(offline_stack: Stack) -> None:
    emulator = inspect(offline_stack.container("emulator"))["State"]
    assert emulator["Health"]["Status"] == "healthy"  # `up` waited for it (depends_on: service_healthy)
    bot = offline_stack.container("bot-offline")
    port = offline_stack.ports["OFFLINE_HTTP"]
    reply = wait_for(
        "/healthz 200 on the published port",
        lambda: r if (r := http_or_none(f"http://127.0.0.1:{port}/healthz")) and r[0] == 200 else None,
        timeout=90,
    )
    assert json.loads(reply[1]) == {"status": "ok", "failures": {}}
    status = json.loads(http(f"http://127.0.0.1:{port}/status")[1])
    (instrument,) = status["instruments"]
    assert instrument["valid"] is True  # its book is synced from the emulator service
    wait_for(
        "the container's HEALTHCHECK",
        lambda: inspect(bot)["State"]["Health"]["Status"] == "healthy" or None,
        timeout=60,
    )
    # the token reached the container from the env file: control is on (401, not 403)
    assert http(f"http://127.0.0.1:{port}/control/resume", method="POST", token="wrong")[0] == 401
    code, body = http(f"http://127.0.0.1:{port}/control/resume", method="POST", token=offline_stack.token)
    assert code == 200, body
    assert offline_stack.token.encode() not in body
    # the published ports are on loopback only
    bindings = inspect(bot)["HostConfig"]["PortBindings"]["8080/tcp"]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]


def test_compose_monitoring_profile_prometheus_scrapes_the_bot(
    offline_stack: Stack, prometheus_image: str
) -> None:
    offline_stack.env["MMBOT_PROMETHEUS_IMAGE"] = prometheus_image
    ok(offline_stack("up", "-d", "prometheus"))
    api = f"http://127.0.0.1:{offline_stack.ports['PROMETHEUS']}/api/v1"

    def target_up() -> dict[str, Any] | None:
        reply = http_or_none(f"{api}/targets")
        if reply is None or reply[0] != 200:
            return None
        for target in json.loads(reply[1])["data"]["activeTargets"]:
            if target["labels"]["instance"] == "bot-offline:8080" and target["health"] == "up":
                return dict(target)
        return None

    target = wait_for("Prometheus to scrape bot-offline:8080", target_up, timeout=120, interval=2)
    assert target["scrapeUrl"] == "http://bot-offline:8080/metrics"
    assert target["labels"]["job"] == "mmbot" and target["labels"]["mode"] == "offline"
    # the bot's own samples are stored: its book was valid at a scrape
    query = urllib.parse.quote('max_over_time(mmbot_book_valid{instance="bot-offline:8080"}[10m])')
    result = json.loads(http(f"{api}/query?query={query}")[1])["data"]["result"]
    assert [r["value"][1] for r in result] == ["1"], result


def test_compose_stop_exits_the_bot_cleanly_within_its_grace_period(offline_stack: Stack) -> None:
    bot = offline_stack.container("bot-offline")
    start = time.monotonic()
    ok(offline_stack("stop", "bot-offline", timeout=GRACE_S + 60))
    elapsed = time.monotonic() - start
    state = inspect(bot)["State"]
    assert state["ExitCode"] == 0 and elapsed < GRACE_S, (elapsed, state)
    logs = sh("docker", "logs", bot)
    assert events(logs.stderr, "stopping: cancelling quotes, closing the journal")
    assert logs.stdout.startswith("mmbot run summary")
