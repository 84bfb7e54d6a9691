"""The named styles as a picker shows them, and adding a file to the user's library.

Transport-neutral halves of the ListStyles and AddStyle RPCs: pages of styles sorted
by name, each with a small JPEG thumbnail (made once per file version and kept in a
bounded LRU cache), and a checked, atomic add. Decoding is bounded like any upload:
the image limits apply, and the memory a thumbnail needs is reserved first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from stylize.engine import images, thumbnails
from stylize.engine.errors import InvalidInputError, LimitExceededError, StylizeError
from stylize.engine.memory_budget import MemoryBudget
from stylize.jobs.style_library import SUFFIXES, NamedStyleFile, StyleLibrary, check_name

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
MAX_STYLE_FILE_BYTES = 32 << 20
CACHE_ENTRIES = 512  # about 4 MB of thumbnails at 128 px

_Key = tuple[str, int, int, int]  # path, mtime_ns, size, side


@dataclass(frozen=True)
class StyleEntry:
    name: str
    bundled: bool
    file_bytes: int
    thumbnail: thumbnails.Thumbnail | None
    error: str = ""  # why there is no thumbnail


@dataclass(frozen=True)
class StylePage:
    entries: list[StyleEntry]
    next_token: str  # "" on the last page
    total: int


def _with_field(error: StylizeError, field: str) -> StylizeError:
    error.field = error.field or field
    return error


class StyleGallery:
    def __init__(
        self,
        library: StyleLibrary,
        limits: images.ImageLimits,
        budget: MemoryBudget,
        cache_entries: int = CACHE_ENTRIES,
    ) -> None:
        self.library = library
        self._limits = limits
        self._budget = budget
        self._cache: OrderedDict[_Key, thumbnails.Thumbnail] = OrderedDict()
        self._cache_entries = cache_entries
        self._lock = threading.Lock()
        self.made = 0  # thumbnails made (not served from the cache), for tests and logs

    def page(self, size: int, token: str, side: int) -> StylePage:
        """The styles after ``token`` (a name; "" = from the start), ``size`` at most."""
        size = DEFAULT_PAGE_SIZE if size == 0 else min(size, MAX_PAGE_SIZE)
        side = _thumbnail_side(side)
        if token:
            try:
                check_name(token)
            except InvalidInputError as error:
                raise InvalidInputError(
                    f"page_token {token[:80]!r} is not one this daemon gave out: {error}",
                    field="page_token",
                ) from None
        styles = sorted(self.library.styles().items())
        rest = [style for name, style in styles if name > token]
        chosen = rest[:size]
        more = len(rest) > size
        entries = [self._entry(style, side) for style in chosen]
        return StylePage(entries, chosen[-1].name if more else "", len(styles))

    def add(self, name: str, data: bytes) -> StyleEntry:
        """Check ``data`` (size, format, decodes) and store it as the new style ``name``."""
        try:
            self.library.check_new(name)
        except StylizeError as error:
            raise _with_field(error, "name") from None
        if len(data) > MAX_STYLE_FILE_BYTES:
            raise LimitExceededError(
                f"the style file is {len(data):,} bytes; the daemon stores at most "
                f"{MAX_STYLE_FILE_BYTES:,}",
                field="image",
            )
        try:
            suffix = SUFFIXES[images.file_format(data, "the style image")]
            thumbnail = self._make(data, thumbnails.MAX_SIDE, "the style image")
        except StylizeError as error:
            raise _with_field(error, "image") from None
        stored = self.library.create(name, data, suffix)
        entry = StyleEntry(name, False, len(data), thumbnail)
        self._remember(self._key(stored, thumbnails.MAX_SIDE), thumbnail)
        return entry

    def _entry(self, style: NamedStyleFile, side: int) -> StyleEntry:
        try:
            key = self._key(style, side)
        except OSError as error:
            return StyleEntry(style.name, style.bundled, 0, None, f"cannot read: {error.strerror}")
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
        if cached is not None:
            return StyleEntry(style.name, style.bundled, key[2], cached)
        try:
            made = self._make(style.path.read_bytes(), side, f"style {style.name}")
        except (StylizeError, OSError) as error:
            return StyleEntry(style.name, style.bundled, key[2], None, str(error))
        self._remember(key, made)
        return StyleEntry(style.name, style.bundled, key[2], made)

    def _make(self, data: bytes, side: int, what: str) -> thumbnails.Thumbnail:
        width, height = images.declared_size(data, what)
        self._limits.check(width, height, what)
        channels = images.declared_channels(data, what)
        depth = images.declared_depth(data, what)
        needed = thumbnails.decoded_bytes(width, height, channels, depth)
        with self._budget.reserve(needed, f"{what}'s thumbnail"):
            made = thumbnails.make(data, side, self._limits, what)
        with self._lock:
            self.made += 1
        return made

    @staticmethod
    def _key(style: NamedStyleFile, side: int) -> _Key:
        stat = style.path.stat()
        return (str(style.path), stat.st_mtime_ns, stat.st_size, side)

    def _remember(self, key: _Key, thumbnail: thumbnails.Thumbnail) -> None:
        with self._lock:
            self._cache[key] = thumbnail
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_entries:
                self._cache.popitem(last=False)


def _thumbnail_side(side: int) -> int:
    if side == 0:
        return thumbnails.MAX_SIDE
    if not thumbnails.MIN_SIDE <= side <= thumbnails.MAX_SIDE:
        raise InvalidInputError(
            f"thumbnail_side must be 0 (default) or {thumbnails.MIN_SIDE}..{thumbnails.MAX_SIDE}, "
            f"got {side}",
            field="thumbnail_side",
        )
    return side
