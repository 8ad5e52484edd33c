"""One notification of what changed (ui/changes.py), and views that refresh only what they show."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

pytestmark = pytest.mark.gui


def test_announcements_in_one_turn_of_the_event_loop_make_one_notification(qtbot):
    from labdeck.ui.changes import MODELS, RUNS, Changes

    changes = Changes()
    got: list[frozenset[str]] = []
    changes.changed.connect(got.append)
    changes.announce(RUNS)
    changes.announce(MODELS, RUNS)  # an index pass that found runs and registered models
    qtbot.waitUntil(lambda: bool(got))
    qtbot.wait(20)
    assert got == [frozenset({RUNS, MODELS})]
    with pytest.raises(ValueError, match="unknown kinds"):
        changes.announce("run")  # a typo is a bug, not a silent no-op


def test_views_refresh_for_what_they_show_and_a_hidden_one_when_next_shown(open_window, gui):
    from labdeck.ui.changes import DATASETS, JOBS, MODELS

    w = open_window()
    models, datasets = w.views["Models"], w.views["Datasets"]
    calls: dict[str, int] = {"Models": 0, "Datasets": 0}
    for title, view in (("Models", models), ("Datasets", datasets)):
        original = view.refresh

        def counted(title=title, original=original) -> None:
            calls[title] += 1
            original()

        view.refresh = counted  # the instance's refresh: what on_changes calls
    assert not models.isVisible()  # the Runs tab is on screen

    w.changes.announce(MODELS)
    gui.until(lambda: models._stale)
    assert calls == {"Models": 0, "Datasets": 0}  # hidden: nothing read yet
    w.tabs.setCurrentWidget(models)
    gui.until(lambda: calls["Models"] == 1)  # shown: it reads what changed, once
    assert not models._stale

    w.changes.announce(DATASETS, JOBS)  # not what the Models tab shows
    gui.until(lambda: datasets._stale)
    assert calls == {"Models": 1, "Datasets": 0}
    w.changes.announce(MODELS)  # on screen: at once
    gui.until(lambda: calls["Models"] == 2)
    gui.idle(w)
