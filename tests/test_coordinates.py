"""The file's own voxel index and world mm of a canonical voxel agree with nibabel, RAS and LPS files."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from brats_desktop.core.coordinates import (
    canonical_from_file, canonical_from_world, describe, file_axis, file_voxel, parse_triple, world_mm,
)
from brats_desktop.core.patient import load_patient
from tests.tiny_cases import MARK, make_folder

NAMES = {"flair": "flair.nii.gz", "t1ce": "t1c.nii.gz", "seg": "seg.nii.gz"}


@pytest.mark.parametrize("orientation", ["RAS", "LPS"])
def test_file_voxel_and_world_match_nibabel(tmp_path, orientation):
    folder = make_folder(tmp_path / orientation, NAMES, orientation=orientation)
    patient = load_patient(folder)
    img = nib.load(str(folder / "flair.nii.gz"))
    on_disk = np.asarray(img.dataobj)
    # The bright MARK voxel: where nibabel finds it in the file is what we must report.
    (expected,) = [tuple(int(v) for v in idx) for idx in np.argwhere(on_disk == 500.0)]
    assert file_voxel(patient.grid, MARK) == expected
    if orientation == "LPS":
        assert expected != MARK  # x and y run the other way on disk
    world = nib.affines.apply_affine(img.affine, expected)
    assert world_mm(patient.grid, MARK) == pytest.approx(tuple(world))
    assert canonical_from_file(patient.grid, expected) == MARK
    assert canonical_from_world(patient.grid, world + 0.3) == MARK
    rng = np.random.default_rng(1)
    for _ in range(20):  # every voxel, not just the mark
        c = tuple(int(rng.integers(0, n)) for n in patient.shape)
        assert on_disk[file_voxel(patient.grid, c)] == pytest.approx(patient.images["flair"][c])
    assert describe(patient.grid, MARK).startswith(f"voxel [{expected[0]}, {expected[1]}, {expected[2]}]")
    assert [file_axis(patient.grid, a) for a in range(3)] == [0, 1, 2]


def test_parse_triple_accepts_common_forms_and_explains_bad_input():
    assert parse_triple("12 40 7") == (12, 40, 7)
    assert parse_triple("(12.5, -40; 7)") == (12.5, -40, 7)
    with pytest.raises(ValueError, match="three numbers"):
        parse_triple("12 40")
    with pytest.raises(ValueError, match="not three numbers"):
        parse_triple("a b c")


def test_real_lps_case_voxel_index_matches_nibabel(shared_data):
    from brats_desktop.core.nifti_io import read_volume

    path = shared_data / "brainles-sample-case" / "seg.nii.gz"
    canonical, source = read_volume(path, dtype=None)
    on_disk = np.asarray(nib.load(str(path)).dataobj)
    for c in [tuple(int(v) for v in idx) for idx in np.argwhere(canonical == 3)[::5000]] + [(0, 0, 0), (239, 1, 154)]:
        ijk = file_voxel(source, c)
        assert on_disk[ijk] == canonical[c]
        assert world_mm(source, c) == pytest.approx(tuple(nib.affines.apply_affine(source.affine, ijk)))
    assert file_voxel(source, (0, 0, 0)) != (0, 0, 0)  # LPS on disk: x and y run the other way
