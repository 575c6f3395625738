"""The import dialog says, before Import, what segmentation will need and what is damaged; a folder of
non-MR DICOM is named as such (real key presses on the role boxes)."""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from PySide6.QtCore import Qt

from import_support import grid_image, phantom, raw_images, write_dicom_series, write_raw_nifti
from test_import_gui import ImportDialogs, _close, _file_action, _press, _window


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _rt_structure_set(path: Path) -> Path:
    """A DICOM object with no image (an RT structure set), as radiotherapy exports hold."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.Modality = "RTSTRUCT"
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), enforce_file_format=True)
    return path


def test_the_dialog_says_what_segmentation_needs_and_names_every_damaged_file(qtbot, tmp_path):
    root = tmp_path / "export"
    inputs = write_raw_nifti(root)
    inputs["flair"].unlink()  # the FLAIR comes as DICOM, and one of its slices is damaged
    slices = write_dicom_series(raw_images()["flair"], root / "dicom" / "SE05", "AX FLAIR", 5,
                                {"0018|0080": "9000", "0018|0081": "120", "0018|0082": "2500"})
    _truncate(slices[10])
    (root / "dicom" / "SE05" / "garbage.dcm").write_bytes(b"not DICOM at all " * 20)
    dialogs = ImportDialogs(root)
    win = _window(qtbot, tmp_path, dialogs)
    try:
        _file_action(win, "Import Scans").trigger()
        dialog = win.importer.role_dialog
        qtbot.waitUntil(dialog.isVisible)
        summary, note = dialog.summary.text(), dialog.segment_note.text()
        assert slices[10].name in summary and "truncated" in summary  # the damaged slice, by name
        assert "garbage.dcm: not a DICOM file" in summary
        assert "Segmentation needs T1CE + FLAIR" in note
        assert "will import but cannot be segmented" in note and "no FLAIR" in note
        assert dialog.import_button.isEnabled() and dialog.can_segment() is False

        rows = {s.paths[0].name: i for i, s in enumerate(dialog.series)}
        _press(qtbot, dialog.combos[rows["t2.nii.gz"]], Qt.Key.Key_Down)  # T2 -> FLAIR: now it could segment
        assert dialog.can_segment() is True
        assert "cannot be segmented" not in dialog.segment_note.text()
        _press(qtbot, dialog.combos[rows["t2.nii.gz"]], Qt.Key.Key_Up)
        assert "cannot be segmented" in dialog.segment_note.text()
        qtbot.mouseClick(dialog.buttons.button(dialog.buttons.StandardButton.Cancel), Qt.MouseButton.LeftButton)
    finally:
        _close(win)


def test_a_folder_of_ct_and_rt_files_says_dicom_found_but_no_mr_series(qtbot, tmp_path):
    root = tmp_path / "planning-ct"
    write_dicom_series(phantom(grid_image((48, 48, 12), (1.0, 1.0, 3.0)), "t1"), root / "CT", "CT HEAD", 2,
                       {"0008|0060": "CT"})
    _rt_structure_set(root / "RT" / "RS.dcm")
    dialogs = ImportDialogs(root)
    win = _window(qtbot, tmp_path, dialogs)
    try:
        _file_action(win, "Import Scans").trigger()
        assert win.importer.role_dialog is None
        title, text = dialogs.errors[-1]
        assert title == "Import Scans" and "DICOM found, but no MR series" in text
        assert "12 CT" in text and "1 RT structure set" in text
        assert "no DICOM series" not in text
    finally:
        _close(win)
