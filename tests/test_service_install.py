"""`stylize service install`: the systemd user unit, written to a temporary HOME.

systemctl cannot run here, so installs use --no-start; the unit's ExecStart line is
then run exactly as systemd would run it (its argv, a bare environment) and must
bring up a daemon that reports SERVING on the unit's port.
"""

from __future__ import annotations

import configparser
import os
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import wait_serving


def stylize(home: Path, *args: str, path: str = "/usr/bin:/bin") -> subprocess.CompletedProcess:
    env = {"HOME": str(home), "PATH": path, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", "stylize", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def read_unit(text: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    unit.read_string(text)
    return unit


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_install_writes_a_unit_whose_exec_start_serves(tmp_path: Path) -> None:
    port = free_port()
    result = stylize(tmp_path, "service", "install", "--port", str(port), "--no-start")
    assert result.returncode == 0, result.stderr
    path = tmp_path / ".config" / "systemd" / "user" / "stylize.service"
    unit = read_unit(path.read_text())
    service = unit["Service"]
    assert (service["Restart"], service["StandardOutput"], service["StandardError"]) == (
        "on-failure",
        "journal",
        "journal",
    )
    assert unit["Install"]["WantedBy"] == "default.target"
    argv = shlex.split(service["ExecStart"])
    assert argv[0] == str(Path(sys.executable).parent / "stylize")  # this venv, absolute
    assert argv[1:] == ["serve", "--host", "127.0.0.1", "--port", str(port)]
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}  # what a user unit gets, roughly
    env.update(line.split("=", 1) for line in service["Environment"].split())
    with (tmp_path / "daemon.log").open("w") as log:
        daemon = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_serving(f"127.0.0.1:{port}")
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    assert "received signal=SIGTERM" in (tmp_path / "daemon.log").read_text()


def test_dry_run_prints_the_unit_and_writes_nothing(tmp_path: Path) -> None:
    result = stylize(tmp_path, "service", "install", "--dry-run", "--host", "127.0.0.2")
    assert result.returncode == 0, result.stderr
    assert "--host 127.0.0.2 --port 50051" in result.stdout
    assert result.stdout.startswith("[Unit]")
    assert not (tmp_path / ".config").exists()


def test_paths_with_spaces_and_percent_survive_systemd_quoting(tmp_path: Path) -> None:
    from stylize.client import service_install

    command = ["/opt/my venv/bin/stylize", "serve", "--token-file", "/etc/100%/token"]
    line = read_unit(service_install.unit_text(command))["Service"]["ExecStart"]
    # systemd turns %% into %, then splits like a shell
    assert shlex.split(line.replace("%%", "%")) == command


def test_xdg_config_home_is_honoured(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PATH": "/usr/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "stylize", "service", "install", "--no-start"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "xdg" / "systemd" / "user" / "stylize.service").is_file()


def test_without_systemctl_install_fails_clearly_and_keeps_the_unit(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = stylize(tmp_path, "service", "install", path=str(empty))
    assert result.returncode == 1
    assert "systemctl is not available" in result.stderr and "--no-start" in result.stderr
    assert (tmp_path / ".config" / "systemd" / "user" / "stylize.service").is_file()


def test_uninstall_removes_the_unit_and_status_says_so(tmp_path: Path) -> None:
    assert stylize(tmp_path, "service", "install", "--no-start").returncode == 0
    path = tmp_path / ".config" / "systemd" / "user" / "stylize.service"
    assert path.is_file()
    result = stylize(tmp_path, "service", "uninstall", "--no-stop")
    assert result.returncode == 0 and f"removed {path}" in result.stdout
    assert not path.exists()
    status = stylize(tmp_path, "service", "status")
    assert status.returncode == 1 and "not installed" in status.stdout


def test_more_serve_options_pass_through_and_are_checked_first(tmp_path: Path) -> None:
    result = stylize(tmp_path, "service", "install", "--no-start", "--", "--max-queue", "16")
    assert result.returncode == 0, result.stderr
    path = tmp_path / ".config" / "systemd" / "user" / "stylize.service"
    argv = shlex.split(read_unit(path.read_text())["Service"]["ExecStart"])
    assert argv[-2:] == ["--max-queue", "16"]
    path.unlink()
    bad = stylize(tmp_path, "service", "install", "--no-start", "--", "--max-queue", "many")
    assert bad.returncode == 2 and "--max-queue" in bad.stderr
    assert not path.exists()
