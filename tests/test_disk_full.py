"""A full or read-only output disk mid-run: a clear message naming the folder, what was complete kept, nothing half-written.

The disk is a real 2 MB tmpfs (``mount -t tmpfs``; the tests skip where mounting is not
permitted), filled up or remounted read-only at a crash point of the operation
(:mod:`brats_desktop.core.crashpoints` is also where a test can act mid-run). One test
fakes ENOSPC instead and runs anywhere. Root ignores file permissions, so chmod could
not make a folder read-only here; a read-only mount can.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from brats_desktop.core.cohort import CohortError, Cohort, atomic_write_text
from cohort_support import make_cohort
from faultinject import incomplete_outputs, leftovers
from inference_support import close_window, tiny_model

torch.set_num_threads(1)


@pytest.fixture
def small_disk(tmp_path):
    """A fresh 2 MB tmpfs at ``tmp_path/disk``, unmounted afterwards."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(folder)],
                                          capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs is not permitted here")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path) -> Path:
    """Write a filler until the disk is full; returns it (delete it to free the space)."""
    filler = folder / "filler.bin"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def read_only(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


def writable(folder: Path) -> None:
    subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True)


def act_at(monkeypatch, module, name: str, action) -> None:
    """Run ``action`` once when ``module`` reaches the crash point ``name``."""
    done = []

    def point(reached: str) -> None:
        if reached == name and not done:
            done.append(reached)
            action()

    monkeypatch.setattr(module, "crash_point", point)


def assert_whole(folder: Path) -> None:
    assert incomplete_outputs(folder) == []
    assert leftovers(folder) == []


@pytest.mark.parametrize("breaks", ["full", "read-only"])
def test_cohort_run_whose_output_disk_breaks_keeps_the_finished_cases(breaks, small_disk, tmp_path, monkeypatch,
                                                                      capsys):
    from brats_desktop import cohort_predict
    from brats_desktop.cli.predict import main

    model = tiny_model(tmp_path)
    root = make_cohort(tmp_path, broken=False)
    out = small_disk / "out"
    act_at(monkeypatch, cohort_predict, "cohort: case case2 done",
           lambda: fill(small_disk) if breaks == "full" else read_only(small_disk))
    args = [str(root), "--out", str(out), "--model", str(model.path), "--device", "cpu", "--workers", "0"]
    assert main(args) == 1
    err = capsys.readouterr().err
    reason = "No space left on device" if breaks == "full" else "Read-only file system"
    assert str(out) in err and reason in err, err
    assert sorted(p.name for p in out.glob("*.nii.gz")) == ["case1-prediction.nii.gz", "case2_prediction.nii.gz"]
    assert_whole(out)

    if breaks == "full":
        (small_disk / "filler.bin").unlink()
    else:
        writable(small_disk)
    monkeypatch.undo()
    assert main(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["succeeded"], result["existing"]) == (2, 2)  # case3, case4 now; 1-2 recorded, not redone
    review = Cohort(root, out)
    assert all(r.review.ai_volumes_ml is not None for r in review.cases)
    assert_whole(out)


def test_training_whose_disk_fills_stops_with_the_folder_and_resumes(small_disk, monkeypatch):
    from training import train

    out = small_disk / "run"
    args = ["--synthetic", "4", "--synthetic-shape", "48", "48", "24", "--synthetic-cache", "", "--base-width", "4",
            "--depth", "3", "--batch-size", "4", "--samples-per-epoch", "8", "--patch-size", "32", "32",
            "--threads", "1", "--no-progress", "--out", str(out)]
    act_at(monkeypatch, train, "train: epoch 1 history written", lambda: fill(small_disk))
    with pytest.raises(SystemExit) as stopped:
        train.main(args + ["--epochs", "2"])
    message = str(stopped.value)
    assert str(out) in message and "No space left on device" in message and "--resume" in message
    assert_whole(out)

    (small_disk / "filler.bin").unlink()
    monkeypatch.undo()
    assert train.main(["--resume", str(out / "last_state.pt"), "--split", str(out / "split.json"), *args[:-2],
                       "--epochs", "2"]) == 0
    assert (out / "history.csv").read_text().count("\n") == 3  # header + epochs 1 and 2, each once


def test_import_onto_a_disk_too_small_names_the_folder_and_keeps_nothing(small_disk, tmp_path):
    pytest.importorskip("SimpleITK")
    from brats_desktop.preprocess.pipeline import ImportFailed, preprocess
    from brats_desktop.preprocess.series import discover_series
    from import_support import brain_mask_extractor, write_raw_dicom

    write_raw_dicom(tmp_path / "raw")
    with pytest.raises(ImportFailed) as failed:  # five 240x240x155 volumes do not fit in 2 MB
        preprocess(discover_series(tmp_path / "raw"), output=small_disk / "imported", extractor=brain_mask_extractor)
    assert str(small_disk) in str(failed.value) and "No space left on device" in str(failed.value)
    assert list(small_disk.iterdir()) == []  # no half folder, no hidden one


def test_atomic_write_on_a_full_disk_keeps_the_old_file_and_names_it(tmp_path, monkeypatch):
    """Faked ENOSPC (runs anywhere): the old content stays, the temporary goes, the message names the file."""
    from brats_desktop.core import atomic

    target = tmp_path / "brats-review.json"
    atomic_write_text(target, "old\n")

    def full(path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "fsync_path", full)
    with pytest.raises(CohortError, match="brats-review.json: could not be written \\(No space left on device\\)"):
        atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["brats-review.json"]


def test_the_app_on_a_full_disk_says_where_and_keeps_every_file_whole(qtbot, small_disk, tmp_path):
    """Review sidecar, Save (Ctrl+S), Export Review Summary and the autosave, all on a disk that filled up."""
    from test_cohort_worklist import CohortDialogs, make_window

    root = make_cohort(small_disk)
    dialogs = CohortDialogs()
    win = make_window(qtbot, tmp_path, dialogs)
    try:
        win.annotation.recovery.folder = small_disk / "recovery"
        win.cohort.open_cohort(root)
        win.cohort.open_case_now("case1")
        # Opening marks the case "in progress" and saves the review a moment later: let it, before the disk fills.
        qtbot.waitUntil(lambda: (root / "brats-review.json").is_file(), timeout=10_000)
        editor = win.annotation.editor
        layer = editor.new_annotation_layer()
        saved = root / "case1" / "case1-annotation.nii.gz"
        win.annotation.saver.remember(layer, saved)
        editor.begin_stroke("axial", (10, 10, 12))
        editor.end_stroke()
        qtbot.keyClick(win.axial_view, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
        assert saved.is_file() and not layer.modified
        before = saved.read_bytes()
        editor.begin_stroke("axial", (12, 10, 12))
        editor.end_stroke()
        assert win.annotation.autosave.flush(wait=True) is not None  # the first autosave fits

        fill(small_disk)
        editor.begin_stroke("axial", (14, 10, 12))
        editor.end_stroke()
        with qtbot.waitSignal(win.annotation.autosave.failed, timeout=10_000) as failed:
            win.annotation.autosave.flush()
        assert str(small_disk / "recovery") in failed.args[0] and "No space left" in failed.args[0]
        assert "Autosave failed" in win.statusBar().currentMessage()

        qtbot.keyClick(win.axial_view, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
        title, text = dialogs.errors[-1]
        assert str(saved) in text and "No space left on device" in text
        assert saved.read_bytes() == before and layer.modified  # the old file whole, the edit still unsaved

        win.cohort.set_status("flagged")
        assert str(root / "brats-review.json") in win.statusBar().currentMessage()
        dialogs.csv_path = small_disk / "summary.csv"
        win.cohort.export_action.trigger()
        assert str(dialogs.csv_path) in dialogs.errors[-1][1] and not dialogs.csv_path.exists()

        (small_disk / "filler.bin").unlink()
        assert_whole(small_disk)
        restored = win.annotation.recovery.read(win.annotation.recovery.pending()[0])
        assert restored.layers[0].data[12, 10, 12] > 0  # the autosave before the disk filled is intact
    finally:
        close_window(win)
