"""``stylize service install|uninstall|status``: the daemon as a systemd *user* service.

One command gives a workstation a daemon that starts at login, restarts on failure and
logs to the journal (``journalctl --user -u stylize``): it writes
``~/.config/systemd/user/stylize.service`` (``$XDG_CONFIG_HOME`` honoured, as systemd
does) running this installation's own ``stylize serve`` by absolute path, then runs
``systemctl --user daemon-reload`` and ``enable --now`` unless ``--no-start``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from stylize.server.config import DEFAULT_HOST, DEFAULT_PORT

UNIT_NAME = "stylize.service"


class ServiceError(Exception):
    """A failure to report to the user (exit status 1)."""


def unit_dir(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    config = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(config) / "systemd" / "user"


def serve_command(
    host: str, port: int, token_file: str | None, extra: list[str] | None = None
) -> list[str]:
    """This installation's ``stylize serve``, by absolute path (systemd has no venv PATH).

    ``extra`` are more ``serve`` options (TLS files, limits) passed through as given.
    """
    script = Path(sys.executable).parent / "stylize"
    program = [str(script)] if script.is_file() else [sys.executable, "-m", "stylize"]
    command = [*program, "serve", "--host", host, "--port", str(port)]
    if token_file:
        command += ["--token-file", str(Path(token_file).expanduser().resolve())]
    return command + list(extra or ())


def _systemd_quote(argv: list[str]) -> str:
    """One ExecStart line: shell-style quoting, with systemd's % and $ specifiers escaped."""
    return shlex.join(argv).replace("%", "%%").replace("$", "$$")


def unit_text(command: list[str]) -> str:
    return f"""\
[Unit]
Description=Stylize neural style transfer daemon (gRPC)
After=network.target

[Service]
Type=exec
ExecStart={_systemd_quote(command)}
Environment=TF_CPP_MIN_LOG_LEVEL=2
Restart=on-failure
RestartSec=3
# SIGTERM drains running jobs; give them time before SIGKILL.
TimeoutStopSec=40
StandardOutput=journal
StandardError=journal
SyslogIdentifier=stylize

[Install]
WantedBy=default.target
"""


def _systemctl(*args: str) -> None:
    if shutil.which("systemctl") is None:
        raise ServiceError("systemctl is not available here; pass --no-start and start it later")
    result = subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise ServiceError(f"systemctl --user {' '.join(args)} failed: {detail}")


def cmd_install(args: argparse.Namespace) -> int:
    command = serve_command(args.host, args.port, args.token_file, args.serve_args)
    args.check_serve(command[command.index("serve") :])  # the CLI's parser, not at boot
    text = unit_text(command)
    if args.dry_run:
        print(text, end="")
        return 0
    path = unit_dir() / UNIT_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
        if not args.no_start:
            _systemctl("daemon-reload")
            _systemctl("enable", "--now", UNIT_NAME)
            print(f"started {UNIT_NAME}; logs: journalctl --user -u stylize -f")
        else:
            print(
                "start it with: systemctl --user daemon-reload && "
                f"systemctl --user enable --now {UNIT_NAME}"
            )
    except (ServiceError, OSError) as error:
        print(f"stylize service install: {error}", file=sys.stderr)
        return 1
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    path = unit_dir() / UNIT_NAME
    try:
        if not args.no_stop and path.exists():
            _systemctl("disable", "--now", UNIT_NAME)
        if path.exists():
            path.unlink()
            print(f"removed {path}")
        else:
            print(f"nothing installed at {path}")
        if not args.no_stop:
            _systemctl("daemon-reload")
    except (ServiceError, OSError) as error:
        print(f"stylize service uninstall: {error}", file=sys.stderr)
        return 1
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    path = unit_dir() / UNIT_NAME
    if not path.exists():
        print(f"not installed ({path} does not exist)")
        return 1
    if shutil.which("systemctl") is None:
        print(f"installed at {path}; systemctl is not available to say whether it runs")
        return 0
    return subprocess.run(["systemctl", "--user", "status", "--no-pager", UNIT_NAME]).returncode


def register(
    subparsers: argparse._SubParsersAction, check_serve: Callable[[list[str]], object]
) -> None:
    """Add ``service install``, ``uninstall`` and ``status`` to the ``stylize`` command.

    ``check_serve`` parses ``serve ...`` options with the CLI's own parser (it exits on
    an error), so a unit is never written with options the daemon would refuse at boot.
    """
    service = subparsers.add_parser(
        "service", help="run the daemon as a systemd user service (Linux workstations)"
    )
    actions = service.add_subparsers(dest="service_action", required=True, metavar="ACTION")
    install = actions.add_parser("install", help="write the user unit, then enable and start it")
    install.add_argument(
        "--host", default=DEFAULT_HOST, help="address to listen on (default %(default)s)"
    )
    install.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port (default %(default)s)"
    )
    install.add_argument("--token-file", help="token file for listening beyond loopback")
    install.add_argument(
        "--no-start", action="store_true", help="only write the unit; do not call systemctl"
    )
    install.add_argument(
        "serve_args",
        nargs="*",
        metavar="-- SERVE_OPTION",
        help="more `stylize serve` options after `--`, e.g. -- --tls-cert /abs/cert.pem "
        "--tls-key /abs/key.pem",
    )
    install.add_argument(
        "--dry-run", action="store_true", help="print the unit instead of writing it"
    )
    install.set_defaults(func=cmd_install, check_serve=check_serve)
    uninstall = actions.add_parser("uninstall", help="stop, disable and remove the user unit")
    uninstall.add_argument(
        "--no-stop", action="store_true", help="only remove the file; do not call systemctl"
    )
    uninstall.set_defaults(func=cmd_uninstall)
    actions.add_parser("status", help="systemctl --user status stylize").set_defaults(
        func=cmd_status
    )
