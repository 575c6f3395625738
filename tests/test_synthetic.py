"""The synthetic patient generator: determinism, anatomy, contrasts, tumour structure, cohort files.

Small volumes (64x64x48) keep these fast; the generator scales its anatomy with the
shape, so the same properties hold at 240x240x155 (checked once, on the demo patient).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from brats_desktop.core.discovery import discover_patient
from brats_desktop.core.labels import EDEMA, ENHANCING, NCR, LabelConvention
from brats_desktop.core.nifti_io import read_header
from brats_desktop.core.patient import load_patient
from brats_desktop.core.synthetic import (
    ALL_MODALITIES,
    DEMO_NAME,
    TISSUES,
    make_demo_patient,
    make_synthetic_case,
)
from brats_desktop.core.synthetic_cohort import cohort_case_seed, write_synthetic_cohort

SMALL = (64, 64, 48)  # file and determinism tests
MID = (96, 96, 62)  # 0.4 of the BraTS box: a cortex and tumour rim still a voxel or more thick
SEEDS = range(8)


@pytest.fixture(scope="module")
def cases():
    """Eight mid-size cases with their tissue maps, generated once for the module."""
    return {s: make_synthetic_case(s, shape=MID, with_tissues=True) for s in SEEDS}


def tissue(case, name: str) -> np.ndarray:
    return case.tissues == TISSUES.index(name)


def test_same_seed_gives_identical_case():
    a = make_synthetic_case(11, shape=SMALL)
    b = make_synthetic_case(11, shape=SMALL)
    assert np.array_equal(a.labels, b.labels)
    for mod in ALL_MODALITIES:
        assert np.array_equal(a.images[mod], b.images[mod])


def test_different_seeds_give_different_cases(cases):
    assert not np.array_equal(cases[0].labels, cases[1].labels)
    assert not np.allclose(cases[0].images["flair"], cases[1].images["flair"])
    centres = {tuple(round(c.info[f"tumour_centre_{a}"]) for a in "xyz") for c in cases.values()}
    assert len(centres) == len(cases)


def test_arrays_are_canonical_float32_and_uint8(cases):
    case = cases[0]
    assert set(case.images) == set(ALL_MODALITIES)
    for volume in case.images.values():
        assert volume.shape == MID and volume.dtype == np.float32 and volume.flags["C_CONTIGUOUS"]
    assert case.labels.shape == MID and case.labels.dtype == np.uint8
    assert set(np.unique(case.labels)) <= {0, 1, 2, 3}


def test_background_is_exactly_zero_and_brain_positive(cases):
    for case in cases.values():
        brain = case.tissues != 255
        for volume in case.images.values():
            assert np.all(volume[~brain] == 0.0)
            assert np.all(volume[brain] > 0.0)
        assert np.all(case.labels[~brain] == 0)
        # Skull-stripped brain roughly centred: nothing touches the volume's faces.
        assert not brain[[0, -1]].any() and not brain[:, [0, -1]].any() and not brain[:, :, 0].any()


def test_every_case_has_edema_and_a_core_and_flags_say_which_parts_exist(cases):
    for case in cases.values():
        present = set(np.unique(case.labels)) - {0}
        assert EDEMA in present
        assert NCR in present or ENHANCING in present
        if case.info["enhancing"]:
            assert ENHANCING in present
        else:
            assert ENHANCING not in present
    # The default settings give all three classes in most cases (some lack necrosis or rim).
    full = sum({NCR, EDEMA, ENHANCING} <= set(np.unique(c.labels)) for c in cases.values())
    assert full >= len(cases) // 2


def test_brain_tissue_contrasts_follow_mri_physics(cases):
    for case in cases.values():
        normal = case.labels == 0  # normal-appearing tissue: edema changes every contrast
        mean = {
            m: {t: float(case.images[m][tissue(case, t) & normal].mean()) for t in ("wm", "gm", "csf")}
            for m in ALL_MODALITIES
        }
        assert mean["t1"]["wm"] > mean["t1"]["gm"] > mean["t1"]["csf"]
        assert mean["t2"]["csf"] > mean["t2"]["gm"] > mean["t2"]["wm"]
        assert mean["flair"]["gm"] > mean["flair"]["wm"] > mean["flair"]["csf"]  # CSF suppressed


def test_tumour_contrasts(cases):
    for case in cases.values():
        wm = tissue(case, "wm")
        edema = case.labels == EDEMA
        flair, t2, t1, t1ce = (case.images[m] for m in ("flair", "t2", "t1", "t1ce"))
        assert flair[edema].mean() > 1.3 * flair[wm].mean()
        assert t2[edema].mean() > 1.3 * t2[wm].mean()
        core = np.isin(case.labels, (NCR, ENHANCING))
        assert t1[core].mean() < t1[wm].mean()  # tumour core is T1-hypointense
        if case.info["enhancing"] and case.info["necrosis"]:
            assert t1ce[case.labels == ENHANCING].mean() > 1.5 * t1ce[case.labels == NCR].mean()
            assert t1ce[case.labels == ENHANCING].mean() > t1ce[wm].mean()


def test_edema_surrounds_the_core_and_the_rim_surrounds_necrosis(cases):
    for case in cases.values():
        core = np.isin(case.labels, (NCR, ENHANCING))
        brain = case.tissues != 255
        # The core lies inside the whole tumour with a margin: eroding the whole tumour
        # by one voxel still covers nearly all of the core (where the brain ends, the
        # tumour may reach the surface: outside counts as tumour for the erosion).
        whole = (case.labels > 0) | ~brain
        assert (core & ndimage.binary_erosion(whole)).sum() >= 0.8 * core.sum(), case.seed
        # Most brain voxels touching the core from outside are edema.
        shell = ndimage.binary_dilation(core) & ~core & brain
        assert (case.labels[shell] == EDEMA).mean() > 0.6, case.seed
        if case.info["enhancing"] and case.info["necrosis"]:
            centre = np.array([case.info[f"tumour_centre_{a}"] for a in "xyz"])
            dist = {
                cls: np.linalg.norm(np.argwhere(case.labels == cls) - centre, axis=1).mean()
                for cls in (NCR, ENHANCING)
            }
            assert dist[ENHANCING] > dist[NCR]


def test_tumour_size_spans_small_to_large(cases):
    scale = min(s / r for s, r in zip(MID, (240, 240, 155))) ** 3  # voxel counts scale with the box
    volumes_ml = [(c.labels > 0).sum() / scale / 1000.0 for c in cases.values()]
    assert min(volumes_ml) > 3.0 and max(volumes_ml) < 250.0
    assert max(volumes_ml) > 3 * min(volumes_ml)


def test_subset_of_modalities_and_bad_arguments():
    case = make_synthetic_case(2, shape=SMALL, modalities=("flair", "t1ce"))
    assert set(case.images) == {"flair", "t1ce"}
    full = make_synthetic_case(2, shape=SMALL)
    assert np.array_equal(case.labels, full.labels)
    for mod in ("flair", "t1ce"):  # an image does not depend on which others were asked for
        assert np.array_equal(case.images[mod], full.images[mod])
    with pytest.raises(ValueError, match="dwi"):
        make_synthetic_case(0, shape=SMALL, modalities=("t1", "dwi"))
    with pytest.raises(ValueError, match="shape"):
        make_synthetic_case(0, shape=(8, 64, 64))
    with pytest.raises(ValueError, match="size_ml"):
        make_synthetic_case(0, shape=SMALL, tumour={"size_ml": 3})


def test_tumour_overrides_change_only_the_tumour():
    drawn = make_synthetic_case(4, shape=MID)
    solid = make_synthetic_case(4, shape=MID, tumour={"necrosis": False, "enhancing": True})
    assert solid.info["necrosis"] is False
    brain = drawn.images["t1"] > 0
    assert np.array_equal(brain, solid.images["t1"] > 0)  # same anatomy
    big = make_synthetic_case(4, shape=MID, tumour={"wt_ml": 140.0})
    small = make_synthetic_case(4, shape=MID, tumour={"wt_ml": 12.0})
    assert (big.labels > 0).sum() > 4 * (small.labels > 0).sum()


def test_demo_patient_is_a_full_size_patient_with_a_three_class_tumour():
    patient = make_demo_patient()
    assert patient.name == DEMO_NAME
    assert patient.shape == (240, 240, 155)
    assert patient.modalities == list(ALL_MODALITIES)
    assert set(np.unique(patient.ground_truth)) == {0, NCR, EDEMA, ENHANCING}
    brain = patient.images["t1"] > 0
    extent = [int(np.ptp(np.flatnonzero(brain.any(axis=tuple(a for a in range(3) if a != ax))))) + 1 for ax in range(3)]
    # Real BraTS brains span roughly 130-150 x 160-180 x 120-140 voxels.
    assert 110 <= extent[0] <= 160 and 140 <= extent[1] <= 190 and 100 <= extent[2] <= 150
    assert np.array_equal(make_demo_patient().ground_truth, patient.ground_truth)


@pytest.mark.parametrize(
    ("naming", "tokens", "convention", "enhancing_on_disk"),
    [
        ("brats2020", ("_t1", "_t1ce", "_t2", "_flair", "_seg"), LabelConvention.BRATS2020, 4),
        ("brats2023", ("-t1n", "-t1c", "-t2w", "-t2f", "-seg"), LabelConvention.BRATS2023, 3),
    ],
)
def test_cohort_round_trip_is_exact(tmp_path: Path, naming, tokens, convention, enhancing_on_disk):
    folders = write_synthetic_cohort(tmp_path, 2, seed=5, shape=SMALL, naming=naming)
    assert [f.parent for f in folders] == [tmp_path, tmp_path]
    assert (tmp_path / "synthetic_cohort.json").is_file()
    for index, folder in enumerate(folders):
        names = sorted(p.name for p in folder.iterdir())
        assert names == sorted(f"{folder.name}{t}.nii.gz" for t in tokens)
        files = discover_patient(folder)
        assert set(files.images) == set(ALL_MODALITIES) and files.segmentation is not None
        # On disk like real BraTS: LPS voxel order, sform and qform set.
        header = read_header(files.images["flair"])
        assert np.allclose(np.diag(header.affine)[:3], [-1, -1, 1])
        import nibabel as nib

        seg_on_disk = np.asarray(nib.load(str(files.segmentation)).dataobj)
        expected = make_synthetic_case(cohort_case_seed(5, index), shape=SMALL)
        patient = load_patient(folder)
        assert patient.convention is convention
        assert np.array_equal(patient.ground_truth, expected.labels)
        for mod in ALL_MODALITIES:
            assert np.array_equal(patient.images[mod], expected.images[mod])
        if (expected.labels == ENHANCING).any():
            assert enhancing_on_disk in np.unique(seg_on_disk)
        assert seg_on_disk.dtype == np.uint8


def test_cohort_refuses_to_write_over_a_patient(tmp_path: Path):
    write_synthetic_cohort(tmp_path, 1, shape=SMALL)
    with pytest.raises(FileExistsError, match="Synth_0001"):
        write_synthetic_cohort(tmp_path, 1, shape=SMALL)
    with pytest.raises(ValueError, match="naming"):
        write_synthetic_cohort(tmp_path / "x", 1, shape=SMALL, naming="brats2099")
