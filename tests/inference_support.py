"""Helpers for the inference tests: a tiny random checkpoint and tiny patient folders on disk.

The checkpoint is real (models.checkpoint.save_model, loaded back through the safe
loader) but small (base width 4, depth 2), so the whole pipeline runs in milliseconds
on CPU. Folders are written as NIfTI in RAS or LPS voxel order to exercise the
reorientation on load and on export.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from brats_desktop.app.dialogs import Dialogs
from brats_desktop.core.synthetic import make_synthetic_case
from models.checkpoint import LoadedModel, load_model, save_model
from models.inference import predict_volume
from models.unet import build_network

SHAPE = (40, 36, 24)


def tiny_model(folder: Path, modalities=("flair", "t1ce"), base_width: int = 4, seed: int = 0,
               context: int = 1, plane: str = "axial") -> LoadedModel:
    """Write and load a random U-Net checkpoint that needs ``modalities`` (2.5-D with ``context`` neighbours each side)."""
    torch.manual_seed(seed)
    architecture = {
        "type": "unet2d",
        "in_channels": len(modalities) * (2 * context + 1),
        "num_classes": 4,
        "base_width": base_width,
        "depth": 2,
        "dropout": 0.0,
        "batch_norm": False,
        "up_mode": "transpose",
    }
    network = build_network(architecture)
    # Bias the output towards tumour classes so the random model predicts every class somewhere.
    with torch.no_grad():
        last = [m for m in network.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        last.bias.copy_(torch.tensor([0.0, 0.1, 0.2, 0.1]))
    metadata = {
        "name": "tiny-test-unet",
        "modalities": list(modalities),
        "classes": {0: "background", 1: "NCR", 2: "ED", 3: "ET"},
        "label_convention": "internal",
        "preprocessing": {"normalisation": "zscore_brain", "crop": "brain_box", "margin": 2,
                          "resize": None, "context": context, "size_multiple": 2, "clip": None,
                          **({} if plane == "axial" else {"plane": plane})},
        "architecture": architecture,
        "training": {"command": "tests/inference_support.py (random weights)"},
        "metrics": {},
        "licence": "test only",
    }
    path = save_model(folder / "tiny.pt", network, metadata)
    return load_model(path)


def synthetic_arrays(seed: int = 3, shape=SHAPE) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Canonical RAS+ images and labels of a small synthetic case."""
    case = make_synthetic_case(seed, shape=shape)
    return case.images, case.labels


def write_patient_folder(
    root: Path,
    name: str,
    orientation: str = "RAS",
    naming: str = "2023",
    modalities=("t1", "t1ce", "t2", "flair"),
    with_seg: bool = True,
    seed: int = 3,
    shape=SHAPE,
) -> tuple[Path, dict[str, np.ndarray], np.ndarray]:
    """A patient folder in RAS or LPS voxel order; returns (folder, canonical images, labels)."""
    images, labels = synthetic_arrays(seed, shape)
    folder = root / name
    folder.mkdir(parents=True)
    spacing = (1.0, 1.2, 1.5)
    if orientation == "RAS":
        affine = np.diag([*spacing, 1.0])
        affine[:3, 3] = (-20.0, -22.0, -18.0)
        to_disk = lambda a: a  # noqa: E731
    elif orientation == "LPS":  # x and y flipped on disk, as the BraTS files are
        affine = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
        affine[:3, 3] = (20.0, 22.0, -18.0)
        to_disk = lambda a: a[::-1, ::-1, :]  # noqa: E731
    else:
        raise ValueError(orientation)
    tokens = {
        "2023": {"t1": "t1n", "t1ce": "t1c", "t2": "t2w", "flair": "t2f", "seg": "seg"},
        "2020": {"t1": "t1", "t1ce": "t1ce", "t2": "t2", "flair": "flair", "seg": "seg"},
    }[naming]
    sep = "-" if naming == "2023" else "_"

    def save(data: np.ndarray, key: str, dtype) -> None:
        img = nib.Nifti1Image(np.ascontiguousarray(to_disk(data)).astype(dtype), affine)
        img.set_qform(affine, code=1)
        img.set_sform(affine, code=1)
        nib.save(img, str(folder / f"{name}{sep}{tokens[key]}.nii.gz"))

    for m in modalities:
        save(images[m], m, np.float32)
    if with_seg:
        file_labels = labels.copy()
        if naming == "2020":
            file_labels[file_labels == 3] = 4
        save(file_labels, "seg", np.uint8)
    return folder, {m: images[m] for m in modalities}, labels


# --------------------------------------------------------------------------- GUI helpers


class RecordingDialogs(Dialogs):
    """Answers from a script, records every question; never blocks a test."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []
        self.confirms: list[str] = []
        self.confirm_answers: list[bool] = []
        self.save_paths: list[Path | None] = []
        self.open_files: list[Path | None] = []

    def error(self, parent, title, text):
        self.errors.append((title, text))

    def confirm(self, parent, title, text, **options):
        self.confirms.append(text)
        return self.confirm_answers.pop(0) if self.confirm_answers else False

    def save_path(self, parent, title, suggested):
        return self.save_paths.pop(0) if self.save_paths else None

    def unsaved_changes(self, parent, text: str) -> str:
        """Save / Discard / Cancel, answered like the yes/no question before it: yes = Discard."""
        return "discard" if self.confirm(parent, "Unsaved changes", text) else "cancel"

    def open_file(self, parent, title, start, name_filter):
        return self.open_files.pop(0) if self.open_files else None

    def choose(self, parent, title, label, items):
        return items[0] if items else None


class GatedPredict:
    """predict_volume that pauses after its first batch until ``release()`` or a cancel.

    It makes "cancel mid-run" deterministic: the test acts while the worker is provably
    between batches, and the real should_stop poll inside predict_volume ends the run.
    ``honour_cancel=False`` simulates a result that arrives although a cancel was asked.
    """

    def __init__(self, honour_cancel: bool = True) -> None:
        self.gate = threading.Event()
        self.paused = threading.Event()
        self.honour_cancel = honour_cancel
        self.returned = threading.Event()

    def release(self) -> None:
        self.gate.set()

    def __call__(self, model, images, *, progress=None, should_stop=None, **kwargs):
        first = [True]

        def hold(done: int, total: int) -> None:
            if progress is not None:
                progress(done, total)
            if first[0]:
                first[0] = False
                self.paused.set()
                deadline = time.monotonic() + 20
                while not self.gate.is_set() and time.monotonic() < deadline:
                    if self.honour_cancel and should_stop is not None and should_stop():
                        break
                    time.sleep(0.005)

        stop = should_stop if self.honour_cancel else None
        out = predict_volume(model, images, progress=hold, should_stop=stop, **kwargs)
        self.returned.set()
        return out


def open_window(qtbot, tmp_path: Path, dialogs: Dialogs | None = None):
    """A MainWindow with scripted dialogs and its own settings file (never the user's); returns (window, settings)."""
    from PySide6.QtCore import QSettings

    from brats_desktop.app.main_window import MainWindow

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings, dialogs=dialogs or RecordingDialogs())
    qtbot.addWidget(win)
    return win, settings


def close_window(win) -> None:
    """Tear a test window down: stop its worker, drop the patient, delete it (no thread outlives it)."""
    from PySide6.QtWidgets import QApplication

    win.segment.shutdown()
    win.state.set_patient(None)
    win.close()
    win.deleteLater()
    QApplication.processEvents()


def click_menu_action(qtbot, menu, action) -> None:
    """Open ``menu`` and click ``action`` in it, as a user does."""
    from PySide6.QtCore import Qt

    menu.popup(menu.parentWidget().mapToGlobal(menu.parentWidget().rect().center()))
    qtbot.waitUntil(menu.isVisible, timeout=5_000)
    qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())
