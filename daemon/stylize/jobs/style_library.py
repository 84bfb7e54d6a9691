"""Named styles: the bundled sample paintings plus the user's own, stored as image files.

The user's styles live in ``$STYLIZE_DATA_DIR/styles`` (default
``$XDG_DATA_HOME/stylize/styles``, i.e. ``~/.local/share/stylize/styles``); a
user style shadows a bundled one of the same name.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from stylize.engine.errors import (
    InvalidInputError,
    LimitExceededError,
    StyleExistsError,
    UnknownStyleError,
)

log = logging.getLogger(__name__)

BUNDLED_STYLES = Path(__file__).parent.parent / "samples" / "styles"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # used with fullmatch: no "\n" sneaks in
# The file name of a style stored from each decodable format (engine/images.py ACCEPTED_FORMATS).
SUFFIXES = {
    "PNG": ".png",
    "JPEG": ".jpg",
    "WEBP": ".webp",
    "TIFF": ".tif",
    "BMP": ".bmp",
    "GIF": ".gif",
}
_EXTENSIONS = (*SUFFIXES.values(), ".jpeg", ".tiff")
MAX_USER_STYLES = 1000  # a bound on what clients may store through AddStyle


def user_data_dir() -> Path:
    explicit = os.environ.get("STYLIZE_DATA_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "stylize"


@dataclass(frozen=True)
class NamedStyleFile:
    name: str
    path: Path
    bundled: bool


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"style name {name!r} is not valid: use letters, digits, '_', '-' or '.', at most 64"
        )
    return name


class StyleLibrary:
    """Looks up, adds and removes named styles."""

    def __init__(self, user_dir: Path | None = None, bundled_dir: Path = BUNDLED_STYLES) -> None:
        self.user_dir = user_dir if user_dir is not None else user_data_dir() / "styles"
        self.bundled_dir = bundled_dir
        self._reported: set[Path] = set()
        self._adding = threading.Lock()

    def _scan(self, folder: Path, bundled: bool) -> dict[str, NamedStyleFile]:
        if not folder.is_dir():
            return {}
        root = folder.resolve()
        found = {}
        for p in sorted(folder.iterdir()):
            if p.suffix.lower() in _EXTENSIONS and _NAME.fullmatch(p.stem):
                target = self._inside(p, root)
                if target is not None:
                    found[p.stem] = NamedStyleFile(p.stem, target, bundled)
        return found

    def _inside(self, path: Path, root: Path) -> Path | None:
        """``path`` with its links resolved, or None when they lead out of ``root``.

        The daemon reads the resolved path, so a name cannot be used to read a
        file elsewhere (a link to ~/.ssh/id_rsa named ``key.png``, say).
        """
        target = path.resolve()
        if target.is_relative_to(root):
            return target
        if path not in self._reported:  # once: styles() runs on every request
            self._reported.add(path)
            log.warning("ignoring style %s: it links to %s, outside %s", path, target, root)
        return None

    def styles(self) -> dict[str, NamedStyleFile]:
        return self._scan(self.bundled_dir, True) | self._scan(self.user_dir, False)

    def get(self, name: str) -> NamedStyleFile:
        style = self.styles().get(name)
        if style is None:
            known = ", ".join(sorted(self.styles())) or "none"
            shown = name if len(name) <= 80 else f"{name[:60]}… ({len(name):,} chars)"
            raise UnknownStyleError(f"unknown style {shown!r}; known styles: {known}")
        return style

    def add(self, name: str, image: Path) -> NamedStyleFile:
        """Copy ``image`` into the user's library under ``name`` (replacing an older one)."""
        check_name(name)
        suffix = image.suffix.lower()
        if suffix not in _EXTENSIONS:
            raise InvalidInputError(f"{image}: style files must be one of {', '.join(_EXTENSIONS)}")
        self.user_dir.mkdir(parents=True, exist_ok=True)
        self._remove_user_files(name)
        target = self.user_dir / f"{name}{suffix}"
        shutil.copyfile(image, target)
        return NamedStyleFile(name, target, False)

    def check_new(self, name: str) -> None:
        """Refuse a name that is invalid or taken, or a full library, before any work."""
        check_name(name)
        if name in self.styles():
            raise StyleExistsError(
                f"the style library already has a style named {name!r}; choose another name",
                field="name",
            )
        if len(self._scan(self.user_dir, False)) >= MAX_USER_STYLES:
            raise LimitExceededError(
                f"the style library is full ({MAX_USER_STYLES} user styles); remove some "
                "with `stylize styles remove NAME` on the daemon's machine",
                field="name",
            )

    def create(self, name: str, data: bytes, suffix: str) -> NamedStyleFile:
        """Store ``data`` as a new user style; a name the library already has is refused.

        For clients of the daemon (AddStyle): never replaces, and the file appears
        whole or not at all (written aside, then hard-linked, which fails if it exists).
        """
        with self._adding:
            self.check_new(name)
            self.user_dir.mkdir(parents=True, exist_ok=True)
            target = self.user_dir / f"{name}{suffix}"
            handle, aside = tempfile.mkstemp(dir=self.user_dir, prefix=".adding-", suffix=suffix)
            try:
                with os.fdopen(handle, "wb") as stream:
                    stream.write(data)
                os.link(aside, target)
            except FileExistsError:
                raise StyleExistsError(
                    f"a style named {name!r} was just added", field="name"
                ) from None
            finally:
                os.unlink(aside)
        return NamedStyleFile(name, target, False)

    def remove(self, name: str) -> None:
        if not self._remove_user_files(check_name(name)):
            raise UnknownStyleError(f"no user style named {name!r} in {self.user_dir}")

    def _remove_user_files(self, name: str) -> bool:
        removed = False
        for suffix in _EXTENSIONS:
            path = self.user_dir / f"{name}{suffix}"
            if path.exists():
                path.unlink()
                removed = True
        return removed
