"""Shared fixtures of the annotation GUI tests: a window on a small patient, real mouse strokes."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PySide6.QtCore import QPoint, QSettings, QStandardPaths, Qt
from PySide6.QtWidgets import QApplication

from brats_desktop.app.annotation.actions import AnnotationController
from brats_desktop.app.dialogs import Dialogs
from brats_desktop.app.main_window import MainWindow
from brats_desktop.app.annotation.recovery import RecoveryStore
from brats_desktop.app.views.slice_view import SliceView
from brats_desktop.core.patient import load_patient

# Deliberately different extents on every axis, so a transposed or flipped axis shows.
SHAPE = (34, 30, 26)


class ScriptedDialogs(Dialogs):
    """Answers every question from a script and records what was asked; never blocks."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.save_paths: list[Path | None] = []
        self.confirm_answers: list[bool] = []
        self.unsaved_answers: list[str] = []

    def error(self, parent, title, text):
        self.errors.append(f"{title}: {text}")

    def confirm(self, parent, title, text, **options):
        self.asked.append(("confirm", text))
        return self.confirm_answers.pop(0) if self.confirm_answers else False

    def confirm_or_stop_asking(self, parent, title, text):
        """Like confirm; ``stop_asking`` is what the "Don't ask again" box would say."""
        self.asked.append(("confirm_or_stop_asking", text))
        answer = self.confirm_answers.pop(0) if self.confirm_answers else False
        return answer, getattr(self, "stop_asking", False)

    def save_path(self, parent, title, suggested):
        self.asked.append(("save_path", str(suggested)))
        return self.save_paths.pop(0) if self.save_paths else None

    def unsaved_changes(self, parent, text):
        self.asked.append(("unsaved", text))
        return self.unsaved_answers.pop(0) if self.unsaved_answers else "cancel"


def make_patient_folder(folder: Path, with_seg: bool = True) -> tuple[Path, np.ndarray, np.ndarray]:
    """A BraTS-2020-named patient on disk in LPS orientation (as BraTS ships), 0/1/2/4 labels.

    Returns the folder, the ground truth in internal canonical (RAS+) order and the affine.
    """
    folder.mkdir(parents=True, exist_ok=True)
    affine = np.array([[-1.0, 0, 0, 33.0], [0, -1.0, 0, 29.0], [0, 0, 1.0, -5.0], [0, 0, 0, 1]])
    rng = np.random.default_rng(3)
    flair = rng.random(SHAPE, dtype=np.float32) + 0.5
    nib.save(nib.Nifti1Image(flair, affine), str(folder / "BraTS20_Training_999_flair.nii.gz"))
    seg_file = np.zeros(SHAPE, np.uint8)
    seg_file[10:20, 8:18, 6:14] = 2
    seg_file[13:17, 11:15, 8:12] = 4
    seg_file[14:16, 12:14, 9:11] = 1
    if with_seg:
        nib.save(nib.Nifti1Image(seg_file, affine), str(folder / "BraTS20_Training_999_seg.nii.gz"))
    patient = load_patient(folder)
    gt = patient.ground_truth if patient.ground_truth is not None else np.zeros(patient.shape, np.uint8)
    return folder, gt, affine


@pytest.fixture
def annot_window(qtbot, tmp_path):
    """(window, controller, dialogs) on a loaded patient; settings and app data isolated.

    QStandardPaths test mode sends AppDataLocation to a test folder, and the window's
    recovery store is pointed at tmp_path, so no test touches the user's real folders.
    """
    QStandardPaths.setTestModeEnabled(True)
    folder, gt, _ = make_patient_folder(tmp_path / "patient")
    dialogs = ScriptedDialogs()
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, dialogs=dialogs)
    qtbot.addWidget(window)
    controller = getattr(window, "annotation", None)
    if controller is None:
        controller = AnnotationController(window, RecoveryStore(tmp_path / "recovery"))
    else:
        controller.recovery = RecoveryStore(tmp_path / "recovery")
    window.resize(1200, 900)
    window.show()
    qtbot.waitExposed(window)
    window.show_patient(load_patient(folder))
    QApplication.processEvents()
    for view in window.views:
        view.reset_zoom()
    QApplication.processEvents()
    yield window, controller, dialogs
    window.state.set_patient(None)  # nothing unsaved: close without questions
    window.close()
    window.deleteLater()
    QApplication.processEvents()


def pos(view: SliceView, voxel) -> QPoint:
    return view.widget_pos_of(tuple(int(v) for v in voxel)).toPoint()


def stroke(qtbot, view: SliceView, voxels, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A real left-button drag through the centres of ``voxels`` on ``view``'s viewport."""
    vp = view.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, modifier, pos(view, voxels[0]))
    for v in voxels[1:]:
        qtbot.mouseMove(vp, pos(view, v))
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, modifier, pos(view, voxels[-1]))


def click(qtbot, view: SliceView, voxel, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    stroke(qtbot, view, [voxel], modifier)
