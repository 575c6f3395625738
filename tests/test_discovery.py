"""Patient folder discovery by file name: every naming convention the app promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from brats_desktop.core.discovery import default_convention, discover_patient, find_patient_folders
from brats_desktop.core.errors import PatientFolderError
from brats_desktop.core.labels import LabelConvention


def touch(folder: Path, *names: str) -> Path:
    """Discovery looks at names only, so empty files are enough here."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")
    return folder


@pytest.mark.parametrize(
    ("names", "seg", "convention"),
    [
        (  # BraTS 2019/2020, uncompressed
            ["BraTS20_Training_001_flair.nii", "BraTS20_Training_001_t1.nii",
             "BraTS20_Training_001_t1ce.nii", "BraTS20_Training_001_t2.nii"],
            "BraTS20_Training_001_seg.nii", LabelConvention.BRATS2020,
        ),
        (  # BraTS 2021
            ["BraTS2021_00000_flair.nii.gz", "BraTS2021_00000_t1.nii.gz",
             "BraTS2021_00000_t1ce.nii.gz", "BraTS2021_00000_t2.nii.gz"],
            "BraTS2021_00000_seg.nii.gz", LabelConvention.BRATS2020,
        ),
        (  # BraTS 2023+
            ["BraTS-GLI-00000-000-t2f.nii.gz", "BraTS-GLI-00000-000-t1n.nii.gz",
             "BraTS-GLI-00000-000-t1c.nii.gz", "BraTS-GLI-00000-000-t2w.nii.gz"],
            "BraTS-GLI-00000-000-seg.nii.gz", LabelConvention.BRATS2023,
        ),
        (  # bare 2023-style names: convention decided later from values, 2023 by default
            ["t2f.nii.gz", "t1n.nii.gz", "t1c.nii.gz", "t2w.nii.gz"], "seg.nii.gz",
            LabelConvention.BRATS2023,
        ),
        (  # bare classic names
            ["flair.nii", "t1.nii", "t1ce.nii", "t2.nii"], "segmentation.nii",
            LabelConvention.BRATS2020,
        ),
        (  # bare: fla, and case does not matter
            ["FLA.NII.GZ", "T1.nii.gz", "T1CE.nii.gz", "T2.Nii.Gz"], "Seg.nii.gz",
            LabelConvention.BRATS2020,
        ),
    ],
)
def test_naming_conventions(tmp_path: Path, names: list[str], seg: str, convention) -> None:
    folder = touch(tmp_path / "case", *names, seg, "notes.txt", "brainmask.nii.gz")
    files = discover_patient(folder)
    expected = dict(zip(("flair", "t1", "t1ce", "t2"), names))
    assert {k: p.name for k, p in files.images.items()} == expected
    assert files.segmentation is not None and files.segmentation.name == seg
    assert default_convention(files) is convention
    assert [p.name for p in files.extras] == ["brainmask.nii.gz"]


def test_brats2020_patient_355_misnamed_segmentation(tmp_path: Path) -> None:
    folder = touch(
        tmp_path / "BraTS20_Training_355",
        "BraTS20_Training_355_flair.nii", "BraTS20_Training_355_t1.nii",
        "BraTS20_Training_355_t1ce.nii", "BraTS20_Training_355_t2.nii", "W39_1998.09.19_Segm.nii",
    )
    files = discover_patient(folder)
    assert files.segmentation is not None and files.segmentation.name == "W39_1998.09.19_Segm.nii"
    assert files.named_convention is LabelConvention.BRATS2020


def test_partial_folder_opens_with_what_exists(tmp_path: Path) -> None:
    files = discover_patient(touch(tmp_path / "p", "x_flair.nii.gz", "x_t1ce.nii.gz"))
    assert sorted(files.images) == ["flair", "t1ce"]
    assert files.segmentation is None
    assert files.missing(("t1", "t1ce", "t2", "flair")) == ["t1", "t2"]


def test_empty_folder_is_refused_naming_the_folder(tmp_path: Path) -> None:
    folder = touch(tmp_path / "empty", "readme.txt")
    with pytest.raises(PatientFolderError) as info:
        discover_patient(folder)
    assert info.value.path == folder
    assert "no MRI volumes" in info.value.problem


def test_two_flair_candidates_are_refused_naming_both(tmp_path: Path) -> None:
    folder = touch(tmp_path / "p", "a_flair.nii.gz", "b-t2f.nii.gz", "a_t1.nii.gz")
    with pytest.raises(PatientFolderError) as info:
        discover_patient(folder)
    assert "more than one FLAIR" in info.value.problem
    assert "a_flair.nii.gz" in str(info.value) and "b-t2f.nii.gz" in str(info.value)


def test_missing_path_and_file_instead_of_folder(tmp_path: Path) -> None:
    with pytest.raises(PatientFolderError, match="does not exist"):
        discover_patient(tmp_path / "nope")
    (tmp_path / "f.nii").write_bytes(b"")
    with pytest.raises(PatientFolderError, match="not a folder"):
        discover_patient(tmp_path / "f.nii")


def test_find_patient_folders_in_a_cohort(tmp_path: Path) -> None:
    touch(tmp_path / "cohort" / "a", "a_flair.nii.gz")
    touch(tmp_path / "cohort" / "b", "t2f.nii.gz")
    touch(tmp_path / "cohort" / "empty", "x.txt")
    found = find_patient_folders(tmp_path / "cohort")
    assert [p.name for p in found] == ["a", "b"]


def test_real_cases_are_discovered(shared_data: Path) -> None:
    files = discover_patient(shared_data / "BraTS-GLI-00001-000")
    assert sorted(files.images) == ["flair", "t1", "t1ce", "t2"] and files.segmentation is None
    files = discover_patient(shared_data / "brainles-sample-case")
    assert files.segmentation is not None and files.segmentation.name == "seg.nii.gz"
    assert default_convention(files) is LabelConvention.BRATS2023
