"""``stylize gimp install|uninstall``: put the plug-in where GIMP 3 and GIMP 2.10 look.

Layouts (GIMP 3 runs only ``plug-ins/NAME/NAME.py``; GIMP 2.10 runs top-level files):

    GIMP 3:    plug-ins/stylize-neural-style/stylize-neural-style.py
               plug-ins/stylize-neural-style/stylize_gimp/{core,protocol}.py + config
    GIMP 2.10: plug-ins/stylize_neural_style.py
               plug-ins/stylize_gimp/{core,protocol}.py + config

The config (``stylize_gimp/stylize-gimp.json``) tells the plug-in which Python runs the
bridge (``python -m stylize.client.bridge``) and where the daemon listens.

The plug-in sources are found next to this module (``stylize/gimp_plugin``, when
installed as package data) or in the source checkout (``<repo>/gimp_plugin``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from stylize.client.library import DEFAULT_ADDRESS, DEFAULT_TIMEOUT

GIMP3_NAME = "stylize-neural-style"
GIMP2_ENTRY = "stylize_neural_style.py"
CORE_PACKAGE = "stylize_gimp"
CONFIG_FILE = "stylize-gimp.json"  # read by gimp_plugin/stylize_gimp/settings.py
VERSIONS = ("3", "2.10")


class InstallError(Exception):
    """A failure to report to the user (exit status 1)."""


def plugin_source() -> Path:
    """The ``gimp_plugin`` folder: package data first, then the source checkout."""
    package = Path(__file__).resolve().parent.parent  # stylize/
    candidates = (package / "gimp_plugin", package.parent.parent / "gimp_plugin")
    for candidate in candidates:
        if (candidate / CORE_PACKAGE / "core.py").is_file():
            return candidate
    raise InstallError(
        "the GIMP plug-in files are missing from this installation "
        f"(looked in {candidates[0]} and {candidates[1]})"
    )


def gimp_config_root(platform: str = sys.platform, env: dict[str, str] | None = None) -> Path:
    """The user's GIMP config folder (holding ``3.0/``, ``2.10/``) on this platform."""
    env = dict(os.environ) if env is None else env
    home = Path(env.get("HOME") or Path.home())
    if platform == "win32":
        return Path(env.get("APPDATA") or home / "AppData" / "Roaming") / "GIMP"
    if platform == "darwin":
        return home / "Library" / "Application Support" / "GIMP"
    return Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "GIMP"


def default_plugin_dirs(version: str, root: Path | None = None) -> list[Path]:
    """The user's plug-in folders for ``version``.

    GIMP keeps one config folder per minor release (``3.0``, ``3.2``, ...) and a
    plug-in installed for one does not appear in the next; so GIMP 3 gets ``3.0``
    plus every other ``3.x`` folder already there.
    """
    root = gimp_config_root() if root is None else root
    if version != "3":
        return [root / "2.10" / "plug-ins"]
    found = {p / "plug-ins" for p in root.glob("3.*") if p.is_dir()}
    return sorted(found | {root / "3.0" / "plug-ins"})


def _copy_core(dest: Path, source: Path, config: dict[str, object]) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(
        source / CORE_PACKAGE,
        dest,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", CONFIG_FILE),
    )
    (dest / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _make_executable(path: Path) -> None:
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def install_into(plugin_dir: Path, version: str, config: dict[str, object]) -> Path:
    """Install one GIMP version's layout into ``plugin_dir``; return the entry file."""
    source = plugin_source()
    plugin_dir.mkdir(parents=True, exist_ok=True)
    if version == "3":
        target = plugin_dir / GIMP3_NAME
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        entry = target / f"{GIMP3_NAME}.py"
        shutil.copy2(source / "gimp3" / GIMP3_NAME / f"{GIMP3_NAME}.py", entry)
        _copy_core(target / CORE_PACKAGE, source, config)
    else:
        entry = plugin_dir / GIMP2_ENTRY
        shutil.copy2(source / "gimp2" / GIMP2_ENTRY, entry)
        _copy_core(plugin_dir / CORE_PACKAGE, source, config)
    _make_executable(entry)
    return entry


def uninstall_from(plugin_dir: Path, version: str) -> list[Path]:
    """Remove what install_into put there; return the removed paths."""
    if version == "3":
        paths = [plugin_dir / GIMP3_NAME]
    else:
        paths = [plugin_dir / GIMP2_ENTRY, plugin_dir / CORE_PACKAGE]
    removed = []
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(path)
    return removed


def check_bridge(python: str) -> str | None:
    """Run ``python -m stylize.client.bridge --check``; return a warning or None when it works."""
    if not Path(python).exists() and shutil.which(python) is None:
        return f"{python} does not exist here, so the bridge could not be checked"
    try:
        done = subprocess.run(
            [python, "-m", "stylize.client.bridge", "--check"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"could not run {python}: {e}"
    if done.returncode != 0:
        return f"{python} cannot run the bridge: {(done.stderr or done.stdout).strip()}"
    return None


def _targets(args: argparse.Namespace) -> list[tuple[str, Path]]:
    versions = list(VERSIONS) if args.gimp == "all" else [args.gimp]
    if args.dir is not None:
        if len(versions) != 1:
            raise InstallError("--dir needs one GIMP version: add --gimp 3 or --gimp 2.10")
        return [(versions[0], Path(args.dir).expanduser())]
    return [(v, folder) for v in versions for folder in default_plugin_dirs(v)]


# For a daemon beyond loopback: files the bridge reads at each job (paths, not contents,
# go into the plug-in's config). Keys of the config and of the bridge's request header.
CREDENTIAL_FILES = {
    "tls_ca": "PEM CA that signed a TLS daemon's certificate",
    "tls_cert": "this machine's PEM client certificate, for a daemon that requires mTLS",
    "tls_key": "the private key of --tls-cert",
    "token_file": "file holding the daemon's bearer token",
}


def _credential_paths(args: argparse.Namespace) -> dict[str, str]:
    paths = {}
    for key in CREDENTIAL_FILES:
        value = getattr(args, key, None)
        if value:
            path = Path(value).expanduser().resolve()
            if not path.is_file():
                raise InstallError(f"--{key.replace('_', '-')}: no such file: {path}")
            paths[key] = str(path)
    if ("tls_cert" in paths) != ("tls_key" in paths):
        raise InstallError("--tls-cert and --tls-key must be given together")
    return paths


def _validate_address(address: str) -> str:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise InstallError(f"--address must be HOST:PORT, got {address!r}")
    return address


def cmd_install(args: argparse.Namespace) -> int:
    try:
        config = {
            "python": args.python,
            "address": _validate_address(args.address),
            "timeout": args.timeout,
            **_credential_paths(args),
        }
        for version, plugin_dir in _targets(args):
            entry = install_into(plugin_dir, version, config)
            print(f"GIMP {version}: installed {entry}")
    except (InstallError, OSError) as e:
        print(f"stylize gimp install: {e}", file=sys.stderr)
        return 1
    print(f"bridge: {args.python} -m stylize.client.bridge; daemon: {args.address}")
    warning = None if args.no_check else check_bridge(args.python)
    if warning:
        print(
            f"warning: {warning}. Pass --python with a Python 3 that has Stylize installed.",
            file=sys.stderr,
        )
    print(
        "Restart GIMP, start the daemon with `stylize serve`, then use "
        "Filters > Artistic > Neural Style Transfer..."
    )
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    try:
        targets = _targets(args)
    except InstallError as e:
        print(f"stylize gimp uninstall: {e}", file=sys.stderr)
        return 1
    for version, plugin_dir in targets:
        removed = uninstall_from(plugin_dir, version)
        what = ", ".join(str(p) for p in removed) or f"nothing installed in {plugin_dir}"
        print(f"GIMP {version}: removed {what}")
    return 0


def _add_target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gimp", choices=[*VERSIONS, "all"], default="all", help="which GIMP (default: all)"
    )
    parser.add_argument(
        "--dir",
        help="plug-ins folder to use instead of the user's default (needs --gimp 3 or --gimp 2.10)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gimp install`` and ``gimp uninstall`` to the ``stylize`` command."""
    gimp = subparsers.add_parser("gimp", help="install or remove the GIMP plug-in")
    actions = gimp.add_subparsers(dest="gimp_action", required=True, metavar="ACTION")
    install = actions.add_parser("install", help="install the plug-in for GIMP 3 and/or 2.10")
    _add_target_arguments(install)
    install.add_argument(
        "--address",
        default=DEFAULT_ADDRESS,
        help="daemon address the plug-in uses (default %(default)s)",
    )
    install.add_argument(
        "--python",
        default=sys.executable,
        help="Python 3 with Stylize installed, runs the bridge (default: this one, %(default)s)",
    )
    install.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds a job may take (default %(default)s)",
    )
    for flag, meaning in CREDENTIAL_FILES.items():
        install.add_argument(f"--{flag.replace('_', '-')}", metavar="FILE", help=meaning)
    install.add_argument(
        "--no-check", action="store_true", help="do not check that --python can run the bridge"
    )
    install.set_defaults(func=cmd_install)
    uninstall = actions.add_parser("uninstall", help="remove the plug-in")
    _add_target_arguments(uninstall)
    uninstall.set_defaults(func=cmd_uninstall)
