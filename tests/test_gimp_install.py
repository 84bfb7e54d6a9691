"""`stylize gimp install|uninstall` through the real CLI."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest
from conftest import REPO
from stylize.client import cli, gimp_install


def stylize(*args: str) -> int:
    return cli.main(["gimp", *args])


def load_core(core_dir: Path):
    """Import an installed stylize_gimp.core from its own folder."""
    spec = importlib.util.spec_from_file_location(
        "installed_stylize_gimp",
        core_dir / "__init__.py",
        submodule_search_locations=[str(core_dir)],
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = package
    try:
        spec.loader.exec_module(package)
        return importlib.import_module(f"{spec.name}.core")
    finally:
        for name in [n for n in sys.modules if n.startswith(spec.name)]:
            del sys.modules[name]


def is_executable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXUSR)


def test_gimp3_layout_and_config(tmp_path: Path, monkeypatch) -> None:
    plugins = tmp_path / "plug-ins"
    assert (
        stylize(
            "install",
            "--gimp",
            "3",
            "--dir",
            str(plugins),
            "--address",
            "127.0.0.1:6000",
            "--python",
            sys.executable,
            "--timeout",
            "90",
        )
        == 0
    )
    folder = plugins / "stylize-neural-style"
    entry = folder / "stylize-neural-style.py"
    assert is_executable(entry) and entry.read_text().startswith("#!/usr/bin/env python3")
    assert sorted(p.name for p in folder.iterdir()) == ["stylize-neural-style.py", "stylize_gimp"]
    core_dir = folder / "stylize_gimp"
    assert not list(core_dir.rglob("__pycache__"))
    assert not any(is_executable(p) for p in core_dir.glob("*.py"))  # GIMP must not run these
    config = json.loads((core_dir / "stylize-gimp.json").read_text())
    assert config == {"python": sys.executable, "address": "127.0.0.1:6000", "timeout": 90.0}
    monkeypatch.delenv("STYLIZE_BRIDGE_PYTHON", raising=False)
    settings = load_core(core_dir).load_settings()  # the plug-in reads what we wrote
    assert (settings["python"], settings["address"], settings["timeout"]) == (
        sys.executable,
        "127.0.0.1:6000",
        90.0,
    )


def test_gimp2_layout(tmp_path: Path) -> None:
    plugins = tmp_path / "plug-ins"
    (plugins / "someone-elses.py").parent.mkdir(parents=True)
    (plugins / "someone-elses.py").write_text("# another plug-in")
    assert stylize("install", "--gimp", "2.10", "--dir", str(plugins), "--no-check") == 0
    entry = plugins / "stylize_neural_style.py"
    assert is_executable(entry) and entry.read_text().startswith("#!/usr/bin/env python2")
    assert (plugins / "stylize_gimp" / "core.py").is_file()
    assert (plugins / "stylize_gimp" / "stylize-gimp.json").is_file()

    assert stylize("uninstall", "--gimp", "2.10", "--dir", str(plugins)) == 0
    assert sorted(p.name for p in plugins.iterdir()) == ["someone-elses.py"]


def test_reinstall_replaces_old_files(tmp_path: Path) -> None:
    plugins = tmp_path / "plug-ins"
    args = ("install", "--gimp", "3", "--dir", str(plugins), "--no-check")
    assert stylize(*args) == 0
    stale = plugins / "stylize-neural-style" / "stylize_gimp" / "old_module.py"
    stale.write_text("")
    assert stylize(*args, "--address", "127.0.0.1:7") == 0
    assert not stale.exists()
    config = plugins / "stylize-neural-style" / "stylize_gimp" / "stylize-gimp.json"
    assert json.loads(config.read_text())["address"] == "127.0.0.1:7"


def test_default_folders_for_both_gimps(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert stylize("install", "--no-check") == 0
    root = tmp_path / ".config" / "GIMP"
    assert (root / "3.0/plug-ins/stylize-neural-style/stylize-neural-style.py").is_file()
    assert (root / "2.10/plug-ins/stylize_neural_style.py").is_file()
    assert "Filters > Artistic > Neural Style Transfer" in capsys.readouterr().out
    assert stylize("uninstall") == 0
    assert list((root / "3.0/plug-ins").iterdir()) == []
    assert list((root / "2.10/plug-ins").iterdir()) == []


def test_dir_needs_one_version(tmp_path: Path, capsys) -> None:
    assert stylize("install", "--dir", str(tmp_path), "--no-check") == 1
    assert "--gimp 3 or --gimp 2.10" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_bad_address_is_refused(tmp_path: Path, capsys) -> None:
    assert stylize("install", "--gimp", "3", "--dir", str(tmp_path), "--address", "nohost") == 1
    assert "HOST:PORT" in capsys.readouterr().err


def test_warns_when_the_python_cannot_run_the_bridge(tmp_path: Path, capsys) -> None:
    bare = shutil.which("python3", path="/usr/bin:/bin")
    if bare is None or bare == sys.executable:
        pytest.skip("no second Python 3 on this machine")
    assert stylize("install", "--gimp", "3", "--dir", str(tmp_path), "--python", bare) == 0
    assert f"warning: {bare} cannot run the bridge" in capsys.readouterr().err


def test_bridge_check_passes_for_this_python() -> None:
    assert gimp_install.check_bridge(sys.executable) is None
    assert "does not exist" in gimp_install.check_bridge("/no/such/python3")


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("linux", {"HOME": "/home/a"}, "/home/a/.config/GIMP"),
        ("linux", {"HOME": "/home/a", "XDG_CONFIG_HOME": "/cfg"}, "/cfg/GIMP"),
        ("darwin", {"HOME": "/Users/a"}, "/Users/a/Library/Application Support/GIMP"),
        (
            "win32",
            {"HOME": "C:/Users/a", "APPDATA": "C:/Users/a/AppData/Roaming"},
            "C:/Users/a/AppData/Roaming/GIMP",
        ),
    ],
)
def test_gimp_config_root_per_platform(platform: str, env: dict, expected: str) -> None:
    assert gimp_install.gimp_config_root(platform, env) == Path(expected)


def test_plugin_files_found_as_package_data(tmp_path: Path) -> None:
    """Installed from a wheel: stylize/gimp_plugin beside stylize/client/gimp_install.py."""
    package = tmp_path / "site" / "stylize"
    (package / "client").mkdir(parents=True)
    installer = package / "client" / "gimp_install.py"
    shutil.copy2(REPO / "daemon" / "stylize" / "client" / "gimp_install.py", installer)
    shutil.copytree(REPO / "gimp_plugin", package / "gimp_plugin")
    spec = importlib.util.spec_from_file_location("wheel_gimp_install", installer)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.plugin_source() == package / "gimp_plugin"
    shutil.rmtree(package / "gimp_plugin")
    with pytest.raises(module.InstallError, match="missing"):
        module.plugin_source()


def test_source_checkout_is_found() -> None:
    assert gimp_install.plugin_source() == REPO / "gimp_plugin"
    assert os.access(REPO / "gimp_plugin" / "gimp2" / "stylize_neural_style.py", os.R_OK)


def test_gimp3_goes_into_every_3x_config_folder(tmp_path: Path) -> None:
    """After a GIMP upgrade (3.0 -> 3.2) the plug-in must not vanish from the menu."""
    from stylize.client.gimp_install import default_plugin_dirs

    (tmp_path / "3.2").mkdir()
    (tmp_path / "2.10").mkdir()
    (tmp_path / "3.0-backup.txt").write_text("not a folder")
    assert default_plugin_dirs("3", tmp_path) == [
        tmp_path / "3.0" / "plug-ins",
        tmp_path / "3.2" / "plug-ins",
    ]
    assert default_plugin_dirs("2.10", tmp_path) == [tmp_path / "2.10" / "plug-ins"]
