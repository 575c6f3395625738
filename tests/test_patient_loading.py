"""load_patient: conventions, geometry checks, bad input, progressive loading, real cases."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from brats_desktop.core.errors import (
    GeometryMismatchError,
    LabelValueError,
    PatientFolderError,
    VolumeReadError,
    VolumeShapeError,
)
from brats_desktop.core.labels import LabelConvention
from brats_desktop.core.patient import load_patient
from tiny_cases import MARK, RAS_AFFINE, make_folder, ras_image, ras_labels, save

BRATS2020 = {"flair": "P_flair.nii.gz", "t1": "P_t1.nii.gz", "t1ce": "P_t1ce.nii.gz",
             "t2": "P_t2.nii.gz", "seg": "P_seg.nii.gz"}
BRATS2023 = {"flair": "BraTS-GLI-00009-000-t2f.nii.gz", "t1": "BraTS-GLI-00009-000-t1n.nii.gz",
             "seg": "BraTS-GLI-00009-000-seg.nii.gz"}


def test_brats2020_labels_become_internal_and_convention_is_remembered(tmp_path: Path) -> None:
    patient = load_patient(make_folder(tmp_path / "P", BRATS2020, seg_values="2020"))
    assert patient.convention is LabelConvention.BRATS2020
    np.testing.assert_array_equal(patient.ground_truth, ras_labels())
    assert patient.modalities == ["t1", "t1ce", "t2", "flair"]
    assert patient.images["flair"].dtype == np.float32


def test_brats2023_partial_folder(tmp_path: Path) -> None:
    patient = load_patient(make_folder(tmp_path / "Q", BRATS2023, seg_values="2023"))
    assert patient.convention is LabelConvention.BRATS2023
    np.testing.assert_array_equal(patient.ground_truth, ras_labels())
    assert patient.missing(["t1", "t1ce", "t2", "flair"]) == ["t1ce", "t2"]


def test_bare_seg_convention_is_decided_by_its_values(tmp_path: Path) -> None:
    names = {"flair": "t2f.nii.gz", "seg": "seg.nii.gz"}
    assert load_patient(make_folder(tmp_path / "a", names, "2020")).convention is LabelConvention.BRATS2020
    assert load_patient(make_folder(tmp_path / "b", names, "2023")).convention is LabelConvention.BRATS2023


def test_lps_and_ras_folders_give_identical_patients(tmp_path: Path) -> None:
    ras = load_patient(make_folder(tmp_path / "ras", BRATS2020, "2020"))
    lps = load_patient(make_folder(tmp_path / "lps", BRATS2020, "2020", orientation="LPS"))
    for key in ras.images:
        np.testing.assert_array_equal(ras.images[key], lps.images[key])
    np.testing.assert_array_equal(ras.ground_truth, lps.ground_truth)
    assert lps.images["flair"][MARK] == 500.0


def test_progressive_loading_reports_the_first_modality_early(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "P", BRATS2020, "2020")
    partial = []
    full = load_patient(folder, first=("t1ce", "flair"), on_first=partial.append)
    assert len(partial) == 1
    assert partial[0].modalities == ["t1ce"]
    np.testing.assert_array_equal(partial[0].ground_truth, full.ground_truth)
    assert full.modalities == ["t1", "t1ce", "t2", "flair"]


def test_shape_mismatch_names_the_file(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "P", {"flair": "flair.nii.gz"})
    save(folder / "t1.nii.gz", np.zeros((12, 10, 9), np.float32))
    with pytest.raises(GeometryMismatchError) as info:
        load_patient(folder)
    # Both files are named: the one refused and the reference it was compared with.
    assert {info.value.path.name} <= {"t1.nii.gz", "flair.nii.gz"}
    assert "t1.nii.gz" in str(info.value) and "flair.nii.gz" in str(info.value)
    assert "shape" in info.value.problem


def test_affine_mismatch_is_refused_but_round_off_is_not(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "P", {"flair": "flair.nii.gz"})
    shifted = RAS_AFFINE.copy()
    shifted[0, 3] += 1e-5  # header round-off: fine
    save(folder / "t1.nii.gz", ras_image(), shifted)
    assert load_patient(folder).modalities == ["t1", "flair"]
    shifted[0, 3] += 2.0  # two millimetres: not co-registered
    save(folder / "t1.nii.gz", ras_image(), shifted)
    with pytest.raises(GeometryMismatchError, match="affine"):
        load_patient(folder)


def test_unexpected_label_values_are_refused(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "P", {"flair": "P_flair.nii.gz"})
    bad = ras_labels()
    bad[0, 0, 0] = 7
    save(folder / "P_seg.nii.gz", bad, dtype=np.uint8)
    with pytest.raises(LabelValueError) as info:
        load_patient(folder)
    assert info.value.path.name == "P_seg.nii.gz" and "7" in info.value.problem


def test_named_2020_seg_with_label_3_is_refused(tmp_path: Path) -> None:
    folder = make_folder(
        tmp_path / "P",
        {"flair": "BraTS20_Training_001_flair.nii.gz", "seg": "BraTS20_Training_001_seg.nii.gz"},
        "2023",
    )
    with pytest.raises(LabelValueError, match="3"):
        load_patient(folder)


def test_four_d_and_corrupt_files_in_a_folder(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "P", {"flair": "flair.nii.gz"})
    save(folder / "t2.nii.gz", np.zeros((12, 10, 8, 2), np.float32))
    with pytest.raises(VolumeShapeError, match="t2.nii.gz"):
        load_patient(folder)
    (folder / "t2.nii.gz").unlink()
    raw = save(folder / "t1.nii.gz", ras_image()).read_bytes()
    (folder / "t1.nii.gz").write_bytes(raw[: len(raw) - 200])
    with pytest.raises(VolumeReadError, match="t1.nii.gz"):
        load_patient(folder)


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(PatientFolderError, match="no MRI volumes"):
        load_patient(tmp_path / "empty")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_unreadable_file_is_a_read_error(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "P", {"flair": "flair.nii.gz", "t1": "t1.nii.gz"})
    path = folder / "t1.nii.gz"
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as root: chmod 000 does not stop reads here")
        with pytest.raises(VolumeReadError, match="permission denied") as info:
            load_patient(folder)
        assert info.value.path == path
    finally:
        path.chmod(0o644)


def test_dangling_symlink_is_an_unreadable_file(tmp_path: Path) -> None:
    """Works as root too: a file name that cannot be opened."""
    folder = make_folder(tmp_path / "P", {"flair": "flair.nii.gz"})
    (folder / "t1.nii.gz").symlink_to(folder / "missing-target.nii.gz")
    # A dangling link is not a file, so discovery skips it; a link to a folder is refused.
    assert load_patient(folder).modalities == ["flair"]
    (folder / "t1.nii.gz").unlink()
    (folder / "sub").mkdir()
    (folder / "t1.nii.gz").symlink_to(folder / "sub")
    assert load_patient(folder).modalities == ["flair"]


@pytest.mark.realdata
def test_real_brainles_case(shared_data: Path) -> None:
    patient = load_patient(shared_data / "brainles-sample-case")
    assert patient.shape == (240, 240, 155)
    assert patient.modalities == ["t1", "t1ce", "t2", "flair"]
    assert patient.convention is LabelConvention.BRATS2023
    counts = np.bincount(patient.ground_truth.ravel(), minlength=4)
    assert counts[1] > 0 and counts[2] > 0 and counts[3] > 0 and counts.size == 4
    # LPS on disk: canonical affine points right/anterior/superior.
    assert np.all(np.diag(patient.grid.canonical_affine)[:3] > 0)


@pytest.mark.realdata
def test_real_brats2023_case_without_labels(shared_data: Path) -> None:
    patient = load_patient(shared_data / "BraTS-GLI-00001-000")
    assert patient.ground_truth is None
    assert patient.convention is LabelConvention.BRATS2023
    assert all(v.shape == (240, 240, 155) for v in patient.images.values())


def test_non_integer_segmentation_is_refused(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "P", {"flair": "flair.nii.gz"})
    bad = ras_labels().astype(np.float32)
    bad[4, 4, 4] = 1.5
    save(folder / "seg.nii.gz", bad)
    with pytest.raises(LabelValueError, match="non-integer"):
        load_patient(folder)
