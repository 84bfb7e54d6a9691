"""The GIMP 3 dialog's layout (stylize_gimp/dialog_layout.py): every argument shown once,
pages small enough for a 1080p screen, and only controls that act are sensitive."""

from __future__ import annotations

import re
import sys

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "gimp_plugin"))
from stylize_gimp import dialog_layout

ENTRY = REPO / "gimp_plugin" / "gimp3" / "stylize-neural-style" / "stylize-neural-style.py"
ARGUMENT = re.compile(r'(?:add_\w+_argument|_add_style|_add_choice)\((?:\w+, )?"([\w%-]+)"')


def arguments(source: str) -> list[str]:
    """Argument names, "region-%d" % n (the three styles' regions) expanded."""
    names = []
    for name in ARGUMENT.findall(source):
        names += [name % n for n in (1, 2, 3)] if "%d" in name else [name]
    return names


def registered() -> tuple[list[str], list[str]]:
    """The arguments of python-fu-stylize and python-fu-stylize-animation, in order."""
    source = ENTRY.read_text()
    animation = source[source.index("def _create_animation") : source.index("class StylizePlugIn")]
    still = source[source.index("class StylizePlugIn") : source.index("def _add_choice(")]
    method = source[source.index("def _add_method_arguments") : source.index("def _add_style(")]
    return arguments(still) + arguments(method), arguments(animation)


@pytest.mark.parametrize(
    ("which", "pages"), [(0, dialog_layout.PAGES), (1, dialog_layout.ANIMATION_PAGES)]
)
def test_every_argument_is_on_exactly_one_page(which: int, pages) -> None:
    arguments = registered()[which]
    assert len(arguments) > 8
    shown = dialog_layout.shown_arguments(pages)
    assert sorted(shown) == sorted(a for a in arguments if a != "style-name")  # gallery's
    assert len(set(shown)) == len(shown)


def test_pages_are_short_and_tabs_have_mnemonics() -> None:
    for pages in (dialog_layout.PAGES, dialog_layout.ANIMATION_PAGES):
        for page_id, tab, names in pages:
            assert len(names) <= dialog_layout.MAX_PAGE_ROWS, page_id
            assert tab.count("_") == 1
        keys = {tab[tab.index("_") + 1].lower() for _, tab, _ in pages}
        assert len(keys) == len(pages)  # one mnemonic each


def test_a_fixed_top_row_and_pages_fit_a_1080p_screen() -> None:
    """A budget, measured in real GIMP 3 where it can be (test_gimp3_real): the top row
    (preview or two gallery rows) plus the tallest page of rows of at most ~44 px, the
    tabs, the title bar and the buttons stay well under 1080 - panels."""
    top = max(dialog_layout.PREVIEW_SIDE, dialog_layout.GALLERY_ROWS * dialog_layout.GALLERY_ROW)
    rows = max(len(names) for _, _, names in dialog_layout.PAGES)
    assert top + 60 + rows * 44 + 40 + 120 < 900


def values(**changes):
    base = {"method": "fast", "output": "new-layer", "style-2": None, "style-3": None}
    base.update({k.replace("_", "-"): v for k, v in changes.items()})
    return dialog_layout.sensitivity(base)


def test_only_controls_that_act_are_sensitive() -> None:
    fast = values()
    assert fast["strength"] and fast["opacity"] and fast["blend-mode"]
    assert not (fast["preset"] or fast["balance"] or fast["keep-steps"])
    assert not (fast["weight-2"] or fast["style-3"] or fast["weight-3"])  # no second style
    second = values(style_2="/p/wave.jpg")
    assert second["weight-2"] and second["style-3"] and not second["weight-3"]
    assert values(style_2="/a.jpg", style_3="/b.jpg")["weight-3"]
    in_place = values(output="in-place", method="optimize")
    assert not (in_place["opacity"] or in_place["blend-mode"] or in_place["keep-steps"])
    assert in_place["preset"] and in_place["balance"] and not in_place["strength"]
    assert values(method="optimize")["keep-steps"]
