"""The live preview renders the newest settings, one render at a time (issue 19.4)."""

from __future__ import annotations

from stylize_gimp.latest_render import LatestRender


def test_an_idle_preview_starts_at_once() -> None:
    renders = LatestRender()
    assert renders.begin()
    assert renders.running and renders.started == 1


def test_changes_during_a_render_coalesce_into_one_next_render() -> None:
    renders = LatestRender()
    assert renders.begin()
    assert not any(renders.begin() for _ in range(30))  # a slider dragged meanwhile
    assert renders.end()  # the newest settings render next
    assert renders.running and renders.started == 2
    assert not renders.end()  # nothing newer came: idle again
    assert not renders.running and renders.started == 2


def test_a_drag_starts_one_render_per_render_time() -> None:
    """Sixty changes over five render times: five or six renders, never a queue."""
    renders, in_flight = LatestRender(), 0
    for change in range(60):
        if renders.begin():
            in_flight += 1
        if change % 12 == 11:  # a render ends every 12 changes
            in_flight -= 1
            if renders.end():
                in_flight += 1
        assert in_flight <= 1
    assert 5 <= renders.started <= 6
