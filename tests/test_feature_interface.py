"""The window/feature interface: what a feature may use, and how the window composes features."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QMainWindow, QTabBar

from brats_desktop.app.feature import MENU_ORDER, AppContext, Feature
from brats_desktop.app.features import FEATURES, TASK_TAB_ORDER, feature_name
from brats_desktop.app.main_window import MainWindow
from brats_desktop.app.state import ViewerState
from viewer_support import ScriptedDialogs, isolated_settings

APP = Path(__file__).resolve().parents[1] / "brats_desktop" / "app"


@pytest.fixture
def bare(qtbot, tmp_path: Path):
    """A plain QMainWindow with a context: features need nothing of MainWindow itself."""
    window = QMainWindow()
    qtbot.addWidget(window)
    state = ViewerState(window)
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    app = AppContext(window, state, settings=settings, dialogs=ScriptedDialogs())
    return window, app


class CountingFeature(Feature):
    """A feature as another package would write it: a menu action, a task dock, a hook."""

    name = "counting"

    def __init__(self, app) -> None:
        super().__init__(app)
        self.count = 0
        self.action = QAction("&Count", self.app.window)
        self.action.triggered.connect(self._on_count)
        self.app.add_action("Tools/Counting", self.action)
        self.dock = self.app.add_dock(QLabel("counts"), "Counting", task_tab=True)
        self.keep = True

    def _on_count(self) -> None:
        self.count += 1
        self.app.show_message(f"counted {self.count}")

    def may_discard(self, action: str) -> bool:
        return self.keep

    def hover_text(self, voxel) -> str:
        return f"Count: {self.count}"


def test_menus_by_path_keep_the_order_and_create_submenus(bare) -> None:
    window, app = bare
    help_menu = app.menu("Help")
    file_menu = app.menu("File")
    recent = app.menu("File/Open &Recent")
    assert app.menu("File/Open Recent") is recent  # found by its text without "&"
    assert app.menu("File") is file_menu and app.menu("Help") is help_menu
    app.menu("Segment")
    app.menu("Plugins")  # unknown titles go last
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles == ["File", "Segment", "Help", "Plugins"]
    assert [t for t in MENU_ORDER if t in titles] == ["File", "Segment", "Help"]
    assert [a.menu() for a in file_menu.actions()] == [recent]


def test_feature_action_runs_and_reports_in_the_status_bar(bare, qtbot) -> None:
    window, app = bare
    feature = CountingFeature(app)
    app.register(feature.name, feature)
    tools = app.menu("Tools/Counting")
    assert feature.action in tools.actions()
    feature.action.trigger()
    assert feature.count == 1
    assert window.statusBar().currentMessage() == "counted 1"
    assert app.feature("counting") is feature and app.feature("missing") is None
    assert app.hover_texts((0, 0, 0)) == ["Count: 1"]
    assert app.may_discard("quit")
    feature.keep = False
    assert not app.may_discard("quit")


def test_task_docks_join_one_tab_group_at_once_in_the_given_order(bare) -> None:
    window, app = bare
    first = app.add_dock(QLabel("a"), "Metrics", task_tab=True)
    second = app.add_dock(QLabel("b"), "Annotate", task_tab=True)
    third = app.add_dock(QLabel("c"), "Compare", task_tab=True)
    other = app.add_dock(QLabel("d"), "Display")
    # Grouped synchronously, before any event-loop pass.
    assert set(window.tabifiedDockWidgets(first)) == {second, third}
    assert window.tabifiedDockWidgets(other) == []
    assert first.objectName() == "dock_Metrics"
    app.arrange_task_tabs(("Annotate", "Compare", "Metrics"))
    window.resize(900, 600)
    window.show()
    bars = [bar for bar in window.findChildren(QTabBar) if bar.count()]
    assert [bars[0].tabText(i) for i in range(bars[0].count())] == ["Annotate", "Compare", "Metrics"]


def test_toolbar_is_made_once_per_title(bare) -> None:
    window, app = bare
    bar = app.toolbar("Segment")
    assert app.toolbar("Segment") is bar
    assert bar.objectName() == "SegmentToolBar"
    assert window.toolBarArea(bar) == Qt.ToolBarArea.TopToolBarArea


def test_shortcut_without_menu_is_a_window_action(bare) -> None:
    window, app = bare
    action = app.add_shortcut(QAction("Next thing", window), section="Tools (keys)")
    assert action in window.actions()
    assert action.property("help_section") == "Tools (keys)"


def test_worker_pool_returns_results_and_errors_on_the_gui_thread(bare, qtbot) -> None:
    _, app = bare
    gui = threading.get_ident()
    seen: dict[str, object] = {}

    def work() -> int:
        seen["worker"] = threading.get_ident()
        return 42

    def done(value: int) -> None:
        seen["done"] = (value, threading.get_ident())

    def boom() -> None:
        raise ValueError("bad file")

    app.workers.submit(work, done)
    app.workers.submit(boom, on_error=lambda exc: seen.setdefault("error", (str(exc), threading.get_ident())))
    qtbot.waitUntil(lambda: "done" in seen and "error" in seen, timeout=5000)
    assert seen["worker"] != gui
    assert seen["done"] == (42, gui)
    assert seen["error"] == ("bad file", gui)
    assert app.workers.wait(1000)


def test_context_of_a_window_and_features_built_from_either(qtbot, tmp_path: Path) -> None:
    window = MainWindow(settings=isolated_settings(tmp_path), dialogs=ScriptedDialogs())
    qtbot.addWidget(window)
    assert AppContext.of(window) is window.app
    assert AppContext.of(window.app) is window.app
    with pytest.raises(TypeError):
        AppContext.of(QMainWindow())
    # Every listed feature is kept as window.<name> and found through the context.
    for entry in FEATURES:
        name = feature_name(entry)
        assert getattr(window, name) is window.app.feature(name)
    assert window.app.views is window.views and window.app.state is window.state
    assert set(TASK_TAB_ORDER) <= {d.windowTitle() for d in window.app.task_docks}
    window.state.set_patient(None)
    window.close()


def test_no_feature_imports_the_main_window() -> None:
    offenders = []
    for path in APP.rglob("*.py"):
        if path.name in ("main_window.py", "main.py"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            if any(n.endswith("main_window") for n in names):
                offenders.append(str(path.relative_to(APP)))
    assert offenders == []
