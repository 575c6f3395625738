"""The right-hand dock column: the window keeps the size asked for, per-task panels are tabs,
and panels in tabs nobody looks at do not recompute on every patient change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDockWidget, QTabBar

import brats_desktop.app.inference.metrics_panel as metrics_panel_module
import brats_desktop.app.measure.panel as measure_panel_module
from brats_desktop.app.main_window import MainWindow
from brats_desktop.core.labels import ENHANCING
from brats_desktop.core.patient import patient_from_arrays
from tiny_cases import SHAPE, ras_image, ras_labels
from viewer_support import ScriptedDialogs, isolated_settings

TASK_TABS = ["Annotate", "Compare", "Measurements", "Uncertainty", "Metrics"]


def _patient(name: str, seed: int = 0):
    return patient_from_arrays(name, {"flair": ras_image(seed), "t1": ras_image(seed + 1)}, ras_labels())


def _prediction() -> np.ndarray:
    prediction = np.zeros(SHAPE, np.uint8)
    prediction[3:8, 2:7, 2:6] = ENHANCING
    return prediction


def _settle(qtbot) -> None:
    for _ in range(3):
        QApplication.processEvents()
    qtbot.wait(30)


@pytest.fixture
def make_window(qtbot, tmp_path: Path):
    made: list[MainWindow] = []

    def make(size: tuple[int, int] | None = None) -> MainWindow:
        win = MainWindow(settings=isolated_settings(tmp_path), dialogs=ScriptedDialogs())
        qtbot.addWidget(win)
        if size is not None:
            win.resize(*size)
        win.show()
        qtbot.waitExposed(win)
        _settle(qtbot)
        made.append(win)
        return win

    yield make
    for win in made:
        win.segment.shutdown()
        win.state.set_patient(None)


def _task_tab_bar(win: MainWindow) -> QTabBar:
    return next(
        bar for bar in win.findChildren(QTabBar)
        if bar.isVisible() and "Annotate" in [bar.tabText(i) for i in range(bar.count())]
    )


def _click_tab(qtbot, win: MainWindow, title: str) -> None:
    bar = _task_tab_bar(win)
    index = [bar.tabText(i) for i in range(bar.count())].index(title)
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    _settle(qtbot)


def _on_screen(dock: QDockWidget) -> bool:
    return dock.isVisible() and not dock.visibleRegion().isEmpty()


@pytest.mark.parametrize("size", [None, (1400, 900), (1280, 800), (1000, 700)])
def test_window_keeps_the_size_asked_for(qtbot, make_window, size) -> None:
    """The docks' minimum heights used to add up past 1280 px: the window opened taller than asked."""
    win = make_window(size)
    win.show_patient(_patient("P"))
    win.state.replace_layer("Prediction", _prediction())
    _settle(qtbot)
    assert (win.width(), win.height()) == (size or (1400, 900))
    assert win.minimumSizeHint().height() <= 700


def test_task_panels_are_one_tab_group_with_annotate_in_front(qtbot, make_window) -> None:
    win = make_window()
    bar = _task_tab_bar(win)
    assert [bar.tabText(i) for i in range(bar.count())] == TASK_TABS
    assert bar.tabText(bar.currentIndex()) == "Annotate"
    assert _on_screen(win.annotation.dock)
    assert not _on_screen(win.segment.metrics_dock) and not _on_screen(win.measure.dock)
    assert not win.cohort.dock.isVisible()  # the Worklist only shows with a cohort
    # Exactly one tab bar per group: a stale copy (Qt makes two for a second group created
    # before the window shows) used to linger on screen, once over the status bar.
    shown = sorted(
        [bar.tabText(i) for i in range(bar.count())] for bar in win.findChildren(QTabBar) if bar.isVisible()
    )
    assert shown == sorted([["Display", "Case"], TASK_TABS])
    _click_tab(qtbot, win, "Measurements")
    assert _on_screen(win.measure.dock) and not _on_screen(win.annotation.dock)


def test_hidden_metrics_and_measurements_tabs_compute_only_when_shown(qtbot, make_window, monkeypatch) -> None:
    calls = {"compare": 0, "measure": 0}
    real_compare, real_measure = metrics_panel_module.compare, measure_panel_module.measure

    def counting_compare(*args, **kwargs):
        calls["compare"] += 1
        return real_compare(*args, **kwargs)

    def counting_measure(*args, **kwargs):
        calls["measure"] += 1
        return real_measure(*args, **kwargs)

    monkeypatch.setattr(metrics_panel_module, "compare", counting_compare)
    monkeypatch.setattr(measure_panel_module, "measure", counting_measure)
    win = make_window()
    panel, measurements = win.segment.metrics_panel, win.measure.panel
    # Next patients, with a prediction each, while Annotate is in front (as in a cohort review).
    for n in range(3):
        win.show_patient(_patient(f"P{n}", seed=n))
        win.state.replace_layer("Prediction", _prediction(), modified=False)
        qtbot.wait(300)  # past both panels' debounce
    assert calls == {"compare": 0, "measure": 0}
    assert panel.snapshot.confusion is None  # nothing computed for a tab nobody looked at

    _click_tab(qtbot, win, "Metrics")
    assert calls["compare"] == 1
    assert "P2" in panel.summary.text() and not panel.overlap_table.isHidden()
    assert panel.cell_text(panel.overlap_table, "ET", "Dice") not in ("", "—")

    _click_tab(qtbot, win, "Measurements")
    assert calls["measure"] == 1
    assert measurements.report is not None and "Prediction" in measurements.summary.text()

    # On screen, an edit recomputes (debounced); the Metrics tab, now behind, waits again.
    layer = win.state.layer("Prediction")
    layer.data[...] = 0
    layer.notify_changed(None)
    qtbot.waitUntil(lambda: measurements.report is not None and measurements.report.lesions == [], timeout=3000)
    qtbot.wait(300)
    assert calls["compare"] == 1
    _click_tab(qtbot, win, "Metrics")
    assert calls["compare"] == 2
    assert panel.cell_text(panel.overlap_table, "ET", "Dice") == "0.000"


def test_worklist_sits_under_the_views_not_under_the_task_tabs(qtbot, make_window) -> None:
    """A cohort's Worklist (bottom dock) used to span the full width and squeeze the task tabs
    to two rows of the Annotate panel; the right-hand column keeps the window's height."""
    win = make_window((1280, 800))
    win.show_patient(_patient("P"))
    win.cohort.dock.show()
    _settle(qtbot)
    assert (win.width(), win.height()) == (1280, 800)
    worklist, annotate = win.cohort.dock.geometry(), win.annotation.dock.geometry()
    assert worklist.right() < annotate.left()
    assert annotate.height() >= 250
