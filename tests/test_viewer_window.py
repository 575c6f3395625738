"""Main window: background loading, bad input dialogs, export, recent folders, drop, screenshot."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication

from brats_desktop.app.main_window import MainWindow, tumour_focus
from brats_desktop.core.labels import LabelConvention
from tiny_cases import RAS_AFFINE, SHAPE, make_folder, ras_image, ras_labels, save
from viewer_support import ScriptedDialogs, isolated_settings

NAMES = {"flair": "P_flair.nii.gz", "t1": "P_t1.nii.gz", "t1ce": "P_t1ce.nii.gz", "seg": "P_seg.nii.gz"}


@pytest.fixture
def dialogs() -> ScriptedDialogs:
    return ScriptedDialogs()


@pytest.fixture
def window(qtbot, tmp_path: Path, dialogs: ScriptedDialogs) -> MainWindow:
    win = MainWindow(settings=isolated_settings(tmp_path), dialogs=dialogs)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.loader.wait()


def open_and_wait(qtbot, window: MainWindow, folder: Path) -> None:
    with qtbot.waitSignal(window.patient_loaded, timeout=20000):
        window.open_patient(folder)


def test_open_folder_in_background_shows_first_image_then_all(qtbot, window: MainWindow, tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "P", NAMES, "2020")
    first = []
    window.first_image_shown.connect(lambda: first.append(list(window.state.patient.images)))
    open_and_wait(qtbot, window, folder)
    assert first == [["flair"]]  # FLAIR (the displayed modality) came first, alone
    patient = window.state.patient
    assert patient.modalities == ["t1", "t1ce", "flair"] and not window.state.loading
    assert window.windowTitle() == "BraTS Desktop — P"
    assert window.state.modality == "flair"
    assert [layer.name for layer in window.state.layers] == ["Ground truth"]
    assert window.state.cursor == tumour_focus(ras_labels())
    buttons = window.display_panel.modality_buttons
    assert buttons["t1"].isEnabled() and not buttons["t2"].isEnabled()


def test_modality_and_window_controls(qtbot, window: MainWindow, tmp_path: Path) -> None:
    open_and_wait(qtbot, window, make_folder(tmp_path / "P", NAMES, "2020"))
    view = window.axial_view
    before = view._base.image.copy()
    button = window.display_panel.modality_buttons["t1"]
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton, pos=QPoint(5, button.height() // 2))
    assert window.state.modality == "t1"
    assert not np.array_equal(view._base.image, before)
    auto = window.state.window("t1")
    window.display_panel.width.setValue((auto[1] - auto[0]) * 2)
    low, high = window.state.window("t1")
    assert high - low == pytest.approx((auto[1] - auto[0]) * 2, rel=1e-3)
    assert view._base.levels is not None and view._base.levels[1] == pytest.approx(high)
    qtbot.mouseClick(window.display_panel.reset_button, Qt.MouseButton.LeftButton)
    assert window.state.window("t1") == auto


def make_bad(kind: str, tmp_path: Path) -> tuple[Path, str]:
    """A bad patient folder and the file name the message must contain."""
    folder = tmp_path / kind
    if kind == "empty":
        folder.mkdir()
        return folder, kind
    make_folder(folder, {"flair": "flair.nii.gz", "t1": "t1.nii.gz"})
    if kind == "two_flair":
        save(folder / "x-t2f.nii.gz", ras_image())
        return folder, "x-t2f.nii.gz"
    if kind == "corrupt":
        (folder / "t1.nii.gz").write_bytes(b"\x1f\x8b" + os.urandom(300))
        return folder, "t1.nii.gz"
    if kind == "truncated":
        raw = (folder / "t1.nii.gz").read_bytes()
        (folder / "t1.nii.gz").write_bytes(raw[: len(raw) - 150])
        return folder, "t1.nii.gz"
    if kind == "not_nifti":
        (folder / "t2.nii").write_text("not an image\n" * 40)
        return folder, "t2.nii"
    if kind == "four_d":
        save(folder / "t2.nii.gz", np.zeros((*SHAPE, 3), np.float32))
        return folder, "t2.nii.gz"
    if kind == "shape":
        save(folder / "t2.nii.gz", np.zeros((SHAPE[0], SHAPE[1], SHAPE[2] + 1), np.float32))
        return folder, "t2.nii.gz"
    if kind == "affine":
        moved = RAS_AFFINE.copy()
        moved[2, 3] += 5.0
        save(folder / "t2.nii.gz", ras_image(), moved)
        return folder, "t2.nii.gz"
    if kind == "labels":
        bad = ras_labels()
        bad[0, 0, 0] = 9
        save(folder / "seg.nii.gz", bad, dtype=np.uint8)
        return folder, "seg.nii.gz"
    raise AssertionError(kind)


# The folder itself is unusable: nothing opens.
FOLDER_BAD = ["empty", "two_flair"]
# One file is damaged: it is left out and named, the rest opens.
FILE_BAD = ["corrupt", "truncated", "not_nifti", "four_d", "shape", "affine", "labels"]


@pytest.mark.parametrize("kind", FOLDER_BAD)
def test_bad_input_shows_a_dialog_and_keeps_the_current_patient(
    qtbot, window: MainWindow, dialogs: ScriptedDialogs, tmp_path: Path, kind: str
) -> None:
    open_and_wait(qtbot, window, make_folder(tmp_path / "good", NAMES, "2020"))
    patient, layers = window.state.patient, window.state.layers
    window.state.set_cursor((3, 3, 3))
    folder, culprit = make_bad(kind, tmp_path)
    with qtbot.waitSignal(window.load_failed, timeout=20000) as blocker:
        window.open_patient(folder)
    message = blocker.args[0]
    assert culprit in message
    assert dialogs.errors and culprit in dialogs.errors[-1][1]
    assert window.state.patient is patient
    assert window.state.layers == layers
    assert window.state.cursor == (3, 3, 3)
    assert window.windowTitle() == "BraTS Desktop — good"
    assert window.axial_view._base.image is not None


@pytest.mark.parametrize("kind", FILE_BAD)
def test_a_damaged_file_is_left_out_named_and_the_rest_opens(
    qtbot, window: MainWindow, dialogs: ScriptedDialogs, tmp_path: Path, kind: str
) -> None:
    open_and_wait(qtbot, window, make_folder(tmp_path / "good", NAMES, "2020"))
    folder, culprit = make_bad(kind, tmp_path)
    open_and_wait(qtbot, window, folder)
    patient = window.state.patient
    assert patient.name == kind and patient.images
    assert [p.path.name for p in patient.problems] == [culprit]
    assert culprit not in {s.path.name for s in patient.sources.values()}
    title, text = dialogs.errors[-1]
    assert title == "Some files were not opened" and culprit in text
    assert window.windowTitle() == f"BraTS Desktop — {kind}"
    assert window.axial_view._base.image is not None


def test_failure_after_the_first_image_restores_the_previous_patient(
    qtbot, tmp_path: Path
) -> None:
    """The truncated T1 is only found after FLAIR is already on screen (strict loading fails then)."""
    from brats_desktop.app.loader import PatientLoader
    from brats_desktop.core.patient import load_patient

    window = MainWindow(settings=isolated_settings(tmp_path), dialogs=ScriptedDialogs(),
                        loader=PatientLoader(load=load_patient))
    qtbot.addWidget(window)
    window.show()
    open_and_wait(qtbot, window, make_folder(tmp_path / "good", NAMES, "2020"))
    previous = window.state.patient
    folder, _ = make_bad("truncated", tmp_path)
    shown = []
    window.first_image_shown.connect(lambda: shown.append(window.state.patient.name))
    with qtbot.waitSignal(window.load_failed, timeout=20000):
        window.open_patient(folder)
    assert shown == ["truncated"]
    assert window.state.patient is previous
    assert window.info_panel.text.text().startswith("<b>good</b>")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_unreadable_file_dialog(qtbot, window: MainWindow, dialogs: ScriptedDialogs, tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "P", {"flair": "flair.nii.gz", "t1": "t1.nii.gz"})
    (folder / "t1.nii.gz").chmod(0)
    try:
        if os.access(folder / "t1.nii.gz", os.R_OK):
            pytest.skip("running as root: chmod 000 does not stop reads here")
        with qtbot.waitSignal(window.load_failed, timeout=20000) as blocker:
            window.open_patient(folder)
        assert "t1.nii.gz" in blocker.args[0] and "permission" in blocker.args[0]
    finally:
        (folder / "t1.nii.gz").chmod(0o644)


@pytest.mark.parametrize("orientation", ["RAS", "LPS"])
def test_export_round_trip_through_the_menu(
    qtbot, window: MainWindow, dialogs: ScriptedDialogs, tmp_path: Path, orientation: str
) -> None:
    folder = make_folder(tmp_path / "P", NAMES, "2020", orientation)
    open_and_wait(qtbot, window, folder)
    layer = window.state.layers[0]
    layer.data[0, 0, 0] = 1  # an edit, exported too
    layer.notify_changed((slice(0, 1), slice(0, 1), slice(0, 1)))
    assert window.windowTitle().endswith("*")
    dialogs.save_to = tmp_path / "out" / "labels"
    with qtbot.waitSignal(window.exported):
        window.export_action.trigger()
    written = tmp_path / "out" / "labels.nii.gz"
    assert dialogs.suggested.parent == folder
    out, src = nib.load(str(written)), nib.load(str(folder / "P_seg.nii.gz"))
    np.testing.assert_array_equal(out.affine, src.affine)
    np.testing.assert_array_equal(out.get_sform(), src.get_sform())
    np.testing.assert_allclose(out.get_qform(), src.get_qform(), atol=1e-6)
    assert out.get_data_dtype() == np.uint8
    expected = np.asarray(src.dataobj).copy()
    expected[(0, 0, 0) if orientation == "RAS" else (SHAPE[0] - 1, SHAPE[1] - 1, 0)] = 1
    np.testing.assert_array_equal(np.asarray(out.dataobj), expected)  # 0/1/2/4 kept
    assert 4 in np.unique(np.asarray(out.dataobj))
    assert not window.windowTitle().endswith("*")


def test_export_asks_before_replacing_and_never_writes_inputs(
    qtbot, window: MainWindow, dialogs: ScriptedDialogs, tmp_path: Path
) -> None:
    folder = make_folder(tmp_path / "P", NAMES, "2020")
    open_and_wait(qtbot, window, folder)
    existing = tmp_path / "old.nii.gz"
    existing.write_bytes(b"old")
    dialogs.save_to = existing
    dialogs.confirm_answer = False
    assert window.export_layer("Ground truth") is None
    assert "old.nii.gz already exists" in dialogs.questions[-1]
    assert existing.read_bytes() == b"old"
    dialogs.confirm_answer = True
    assert window.export_layer("Ground truth") == existing
    assert nib.load(str(existing)).shape == SHAPE

    seg = folder / "P_seg.nii.gz"
    before = seg.read_bytes()
    dialogs.save_to = seg
    assert window.export_layer("Ground truth") is None
    assert "input file" in dialogs.errors[-1][1]
    assert seg.read_bytes() == before


def test_export_chooses_among_several_layers(qtbot, window: MainWindow, dialogs, tmp_path: Path) -> None:
    open_and_wait(qtbot, window, make_folder(tmp_path / "P", NAMES, "2020"))
    prediction = np.zeros(SHAPE, np.uint8)
    prediction[1:3, 1:3, 1:3] = 3
    window.state.replace_layer("Prediction", prediction)
    assert [c.layer.name for c in window.layers_panel.controls] == ["Prediction", "Ground truth"]
    dialogs.choice, dialogs.save_to = "Prediction", tmp_path / "pred.nii.gz"
    assert window.export_layer() == tmp_path / "pred.nii.gz"
    # The layer on top (nothing produced or edited yet: the last added) is offered first.
    assert dialogs.items == ["Prediction", "Ground truth"]
    data = np.asarray(nib.load(str(tmp_path / "pred.nii.gz")).dataobj)
    assert set(np.unique(data)) == {0, 4}  # the patient's 2020 convention


def test_recent_folders_survive_a_restart(qtbot, tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "P", NAMES, "2020")
    first = MainWindow(settings=isolated_settings(tmp_path), dialogs=ScriptedDialogs())
    qtbot.addWidget(first)
    open_and_wait(qtbot, first, folder)
    first.close()
    second = MainWindow(settings=isolated_settings(tmp_path), dialogs=ScriptedDialogs())
    qtbot.addWidget(second)
    assert second.recent_folders() == [folder.resolve()]
    second._fill_recent_menu()
    actions = second.recent_menu.actions()
    assert [a.text() for a in actions] == [str(folder.resolve())]
    with qtbot.waitSignal(second.patient_loaded, timeout=20000):
        actions[0].trigger()
    assert second.state.patient.name == "P"


def test_open_dialog_and_drag_and_drop(qtbot, window: MainWindow, dialogs, tmp_path: Path) -> None:
    a = make_folder(tmp_path / "A", NAMES, "2020")
    b = make_folder(tmp_path / "B", {"flair": "flair.nii.gz"})
    dialogs.folder = a
    with qtbot.waitSignal(window.patient_loaded, timeout=20000):
        window.menus["File"].actions()[0].trigger()
    assert window.state.patient.name == "A"

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(b))])
    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.patient_loaded, timeout=20000):
        QApplication.sendEvent(window, drop)
    assert window.state.patient.name == "B" and window.state.layers == []

    text = QMimeData()
    text.setText("hello")
    refused = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, text,
                              Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, refused)
    assert not refused.isAccepted()


def test_unsaved_changes_are_confirmed_before_opening_another(qtbot, window, dialogs, tmp_path) -> None:
    open_and_wait(qtbot, window, make_folder(tmp_path / "P", NAMES, "2020"))
    window.state.layers[0].notify_changed(None)
    dialogs.confirm_answer = False
    window.open_patient(make_folder(tmp_path / "Q", {"flair": "flair.nii.gz"}))
    window.loader.wait()
    QApplication.processEvents()
    assert window.state.patient.name == "P"
    assert "unsaved changes" in dialogs.questions[-1]


def test_menus_can_be_added_in_order(window: MainWindow) -> None:
    segment = window.menu("Segment")
    edit = window.add_menu("Edit")
    assert window.menu("Segment") is segment
    titles = [a.text() for a in window.menuBar().actions()]
    assert titles.index("File") < titles.index("Edit") < titles.index("View") < titles.index("Segment")
    assert window.menus["Edit"] is edit


def test_screenshot_command_renders_overlays(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "P", NAMES, "2020")
    out = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-m", "brats_desktop.app.main", str(folder), "--screenshot", str(out),
         "--size", "1000x700"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1000, 700)
    img = image.convertToFormat(QImage.Format.Format_RGBA8888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(700, img.bytesPerLine())[:, : 1000 * 4]
    arr = arr.reshape(700, 1000, 4).astype(int)
    greenish = (arr[..., 1] > arr[..., 0] + 40) & (arr[..., 1] > arr[..., 2] + 40)
    assert greenish.sum() > 100, "no edema overlay in the screenshot"


def test_screenshot_of_a_bad_folder_fails_with_the_file_name(tmp_path: Path) -> None:
    folder, culprit = make_bad("four_d", tmp_path)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-m", "brats_desktop.app.main", str(folder), "--screenshot", str(tmp_path / "x.png")],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 2 and culprit in result.stderr
    assert not (tmp_path / "x.png").exists()


@pytest.mark.realdata
def test_real_case_opens_with_overlays(qtbot, window: MainWindow, shared_data: Path) -> None:
    open_and_wait(qtbot, window, shared_data / "brainles-sample-case")
    state = window.state
    assert state.patient.shape == (240, 240, 155)
    assert state.patient.convention is LabelConvention.BRATS2023
    focus = state.cursor
    assert state.layers[0].data[focus] > 0  # the crosshair sits on tumour
    lo, hi = state.window("flair")
    assert 0 <= lo < hi


def test_no_folder_opens_the_demo_patient(tmp_path: Path) -> None:
    out = tmp_path / "demo.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-m", "brats_desktop.app.main", "--screenshot", str(out), "--size", "1000x700"],
        capture_output=True, text=True, env=env, timeout=180,
    )
    assert result.returncode == 0, result.stderr
    img = QImage(str(out)).convertToFormat(QImage.Format.Format_RGBA8888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(700, img.bytesPerLine())[:, : 1000 * 4]
    arr = arr.reshape(700, 1000, 4).astype(int)
    yellowish = (arr[..., 0] > 150) & (arr[..., 1] > 130) & (arr[..., 2] < 90)
    assert yellowish.sum() > 50, "no enhancing-tumour overlay on the demo patient"


def test_superseded_half_load_then_failure_restores_what_the_user_had(qtbot, tmp_path: Path) -> None:
    """A shows its first image, B is opened before A finishes and fails: back to the start."""
    import threading

    from brats_desktop.app.loader import PatientLoader
    from brats_desktop.core.patient import load_patient

    release = threading.Event()

    def slow_load(folder, first, on_first):
        def hold(partial):
            on_first(partial)
            if Path(folder).name == "A":
                release.wait(10)  # A stays half-loaded until B has been asked for

        return load_patient(folder, first=first, on_first=hold)

    dialogs = ScriptedDialogs()
    win = MainWindow(settings=isolated_settings(tmp_path), dialogs=dialogs, loader=PatientLoader(load=slow_load))
    qtbot.addWidget(win)
    open_and_wait(qtbot, win, make_folder(tmp_path / "start", NAMES, "2020"))
    start = win.state.patient
    with qtbot.waitSignal(win.first_image_shown, timeout=20000):
        win.open_patient(make_folder(tmp_path / "A", NAMES, "2020"))
    assert win.state.patient.name == "A" and win.state.loading
    (tmp_path / "B").mkdir()
    with qtbot.waitSignal(win.load_failed, timeout=20000):
        win.open_patient(tmp_path / "B")
        release.set()
    assert win.state.patient is start
    win.loader.wait()


def test_layers_panel_says_when_there_is_no_layer(qtbot, window: MainWindow, tmp_path: Path) -> None:
    assert window.layers_panel._empty.isVisibleTo(window.layers_panel)
    open_and_wait(qtbot, window, make_folder(tmp_path / "P", NAMES, "2020"))
    assert not window.layers_panel._empty.isVisibleTo(window.layers_panel)
    assert window.layers_panel.controls_for("Ground truth") is not None
    open_and_wait(qtbot, window, make_folder(tmp_path / "Q", {"flair": "flair.nii.gz"}))
    assert window.layers_panel.controls == []
    assert window.layers_panel._empty.isVisibleTo(window.layers_panel)
