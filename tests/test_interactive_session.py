"""InteractiveSession: the folder's voxel order and label values in and out, undo, on tiny LPS/RAS folders."""

from __future__ import annotations

import numpy as np
import pytest

from brats_desktop.core.coordinates import canonical_from_file, file_voxel
from brats_desktop.core.labels import to_file
from brats_desktop.interactive import InteractiveSession
from brats_desktop.interactive.engine import ClickEngine
from tests.interactive_support import tiny_auto, tiny_click_model
from tests.tiny_cases import make_folder

NAMES_2020 = {"flair": "p_flair.nii.gz", "t1ce": "p_t1ce.nii.gz", "seg": "p_seg.nii.gz"}
NAMES_2023 = {"flair": "P-t2f.nii.gz", "t1ce": "P-t1c.nii.gz"}


def session(folder) -> InteractiveSession:
    return InteractiveSession.from_folder(folder, device="cpu", ncr_definition="brats2013",
                                          engine=ClickEngine(tiny_click_model(1)), model=tiny_auto(1))


def test_click_in_file_terms_on_an_lps_folder_sets_that_voxel(tmp_path) -> None:
    folder = make_folder(tmp_path / "p", NAMES_2020, seg_values="2020", orientation="LPS")
    s = session(folder)
    grid = s.patient.grid
    assert s.labels.shape == grid.shape
    np.testing.assert_array_equal(s.labels, to_file(grid.on_disk(np.asarray(s.internal_labels)), s.convention))
    ijk = (2, 3, 4)
    canonical = canonical_from_file(grid, ijk)
    assert canonical != ijk  # LPS on disk: the first two axes are flipped
    out = s.click(ijk, 4)  # enhancing is 4 in BraTS 2017-2021 files
    assert out[ijk] == 4
    assert s.internal_labels[canonical] == 3
    assert file_voxel(grid, canonical) == ijk
    np.testing.assert_array_equal(out, s.labels)


def test_undo_restores_labels_and_guidance_exactly(tmp_path) -> None:
    s = session(make_folder(tmp_path / "p", NAMES_2023, orientation="LPS"))
    start = s.labels.copy()
    s.click((1, 1, 1), 3)  # enhancing is 3 in BraTS 2023 files
    after_one = s.labels.copy()
    s.click((8, 6, 5), 2)
    s.click((8, 6, 5), 0)
    assert len(s.guidance) == 3
    s.undo()
    s.undo()
    np.testing.assert_array_equal(s.labels, after_one)
    assert len(s.guidance) == 1
    s.undo()
    np.testing.assert_array_equal(s.labels, start)
    assert s.guidance == () and not s.can_undo
    np.testing.assert_array_equal(s.undo(), start)  # nothing left to undo: unchanged


def test_wrong_label_values_and_voxels_are_refused_in_words(tmp_path) -> None:
    s = session(make_folder(tmp_path / "p", NAMES_2020, seg_values="2020"))
    with pytest.raises(ValueError, match="not a label value of this folder"):
        s.click((1, 1, 1), 3)  # 3 does not exist in a 0/1/2/4 folder
    with pytest.raises(ValueError, match="outside the image grid"):
        s.click((99, 1, 1), 2)
    assert s.guidance == ()


def test_session_hands_the_automatic_models_probabilities_to_the_engine(tmp_path) -> None:
    """Clicks grow where the model that made the starting map found their class plausible (that map's own model)."""
    s = session(make_folder(tmp_path / "p", NAMES_2020, seg_values="2020"))
    prior = s.engine._prior_for(s.patient.images, s.internal_labels.shape)
    assert prior is not None and prior.shape == (4, *s.internal_labels.shape)
    np.testing.assert_allclose(prior.astype(np.float32).sum(axis=0), 1.0, atol=1e-2)
    assert s.engine._prior_for({m: a.copy() for m, a in s.patient.images.items()}, s.internal_labels.shape) is None
