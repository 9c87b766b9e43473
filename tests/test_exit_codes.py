"""Exit codes a user meets: an ops HTTP address that cannot be used is exit 2 naming --http or
http.listen, before anything slow loads; a stdout closed early (`| head`) ends quietly."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from bot.errors import EXIT_BROKEN_PIPE

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMBOT_")}
    return {**env, "PYTHONPATH": str(REPO), "MMBOT_LOGGING__FORMAT": "json"}


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--offline", "--duration", "30", *args],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, time.monotonic() - start


def test_port_in_use_is_bad_input_named_by_its_origin(tmp_path: Path, busy_port: int) -> None:
    result, _ = _run(tmp_path, "--http", f"127.0.0.1:{busy_port}")
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"mmbot: error: --http 127.0.0.1:{busy_port}: cannot listen on 127.0.0.1:{busy_port}:"
    )
    assert "address already in use" in last
    assert "Traceback" not in result.stderr
    # checked before the emulator loads its recordings or anything else starts
    assert "replay loaded" not in result.stderr and "emulator" not in result.stderr
    assert not (tmp_path / "data" / "journal").exists()
    # from the config file: named as http.listen in that file
    cfg = tmp_path / "bot.toml"
    cfg.write_text(f'[http]\nlisten = "127.0.0.1:{busy_port}"\n')
    result, _ = _run(tmp_path, "--config", str(cfg))
    assert result.returncode == 2
    assert f"http.listen in {cfg} (or use --http): cannot listen" in result.stderr
    assert "replay loaded" not in result.stderr


@pytest.mark.parametrize(
    ("address", "needle"),
    [
        ("no-such-host.invalid:8080", "cannot resolve host 'no-such-host.invalid'"),
        ("192.0.2.1:8080", "address not available on this machine"),  # TEST-NET-1: never local
        ("127.0.0.1:99999", "port 99999 is out of range"),
        ("8080", "expected HOST:PORT"),
    ],
)
def test_bad_listen_address_is_bad_input(tmp_path: Path, address: str, needle: str) -> None:
    result, _ = _run(tmp_path, "--http", address)
    assert result.returncode == 2, result.stderr
    assert "--http" in result.stderr and needle in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "replay loaded" not in result.stderr


def test_http_off_skips_the_check(tmp_path: Path, busy_port: int) -> None:
    cfg = tmp_path / "bot.toml"
    cfg.write_text(f'[http]\nlisten = "127.0.0.1:{busy_port}"\n')
    result = subprocess.run(
        [sys.executable, "-m", "bot", "config", "check", str(cfg)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0  # config check validates the file; the port is run's business


@pytest.mark.parametrize(
    "argv",
    [
        ["config", "check"],
        ["config", "check", "--json"],
        ["research", "as-table", "--paths", "20", "--json"],
        ["markets", "show", "--offline"],
        ["--help"],
    ],
)
def test_closed_stdout_ends_quietly(tmp_path: Path, argv: list[str]) -> None:
    """`mmbot ... | head -1`: no BrokenPipeError, no message, the shell's SIGPIPE status."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", *argv],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader went away after one line
    err = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert "BrokenPipe" not in err and "Traceback" not in err and "Exception ignored" not in err, err
    assert code in (0, EXIT_BROKEN_PIPE)


def test_broken_pipe_through_the_cli_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    class Closed:
        def write(self, _text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self) -> int:
            raise ValueError("no file")

    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["config", "check"]) == EXIT_BROKEN_PIPE
