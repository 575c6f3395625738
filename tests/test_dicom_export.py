"""DICOM SEG + TID 1500 SR export of a patient imported from a DICOM series.

Round trip: the SEG read back (highdicom, and dcmqi's segimage2itkimage where installed)
gives every voxel of the source grid the exported label, with the source series' geometry;
dciodvfy (dicom3tools) finds no error in either object; the SR's numbers are the
Measurements table's. A moved or changed source series is refused with its name and leaves
nothing behind. Tools that are absent skip their test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

hd = pytest.importorskip("highdicom")
pytest.importorskip("SimpleITK")

from dicom_support import import_t1ce, tumour_labels, write_t1ce_series  # noqa: E402

from brats_desktop.core.measurements import measure  # noqa: E402
from brats_desktop.core.patient import load_patient  # noqa: E402
from brats_desktop.core.provenance import Algorithm, Provenance  # noqa: E402
from brats_desktop.dicom_export import source_status  # noqa: E402
from brats_desktop.dicom_export.export import dicom_targets, export_dicom  # noqa: E402
from brats_desktop.dicom_export.source import SourceSeriesError, load_source_series  # noqa: E402
from brats_desktop.preprocess.native import labels_on_native_grid  # noqa: E402
from brats_desktop.preprocess.record import read_record  # noqa: E402

ALGORITHM = Algorithm("unet2d-test", "sha256:0123456789ab")


def _tool(name: str) -> str | None:
    """A command-line tool from PATH or beside this Python (pip puts dcmqi's there)."""
    found = shutil.which(name)
    if found:
        return found
    local = Path(sys.executable).with_name(name)
    return str(local) if local.exists() else None


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dicom")
    write_t1ce_series(tmp / "raw")
    folder = import_t1ce(tmp / "raw", tmp / "raw-brats")
    patient = load_patient(folder)
    record = read_record(folder)
    labels = tumour_labels(patient.images["t1ce"].shape)
    seg, sr = dicom_targets(tmp / "out", "case_prediction")
    (tmp / "out").mkdir()
    result = export_dicom(labels, patient.grid, record, seg, sr, Provenance.AUTOMATIC, ALGORITHM)
    return dict(tmp=tmp, folder=folder, patient=patient, record=record, labels=labels, result=result)


def _native(case) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(labels_on_native_grid(case["labels"], case["patient"].grid, case["record"]))


def test_the_import_record_lists_every_source_instance(case):
    entry = case["record"]["series"]["t1ce"]
    assert len(entry["instances"]) == case["record"]["native_grid"]["size"][2] == 24
    assert entry["instances"][0]["sop_instance_uid"].endswith(".2.1")
    assert all(i["bytes"] > 0 for i in entry["instances"])


def test_seg_read_back_with_highdicom_has_every_label_on_the_source_grid(case):
    seg = hd.seg.segread(case["result"].seg_path)
    source = load_source_series(case["record"])
    uids = [str(ds.SOPInstanceUID) for ds in source.datasets]
    pixels = seg.get_pixels_by_source_instance(uids, combine_segments=True, relabel=False,
                                               ignore_spatial_locations=False)
    numbers = {int(d.SegmentNumber): d.SegmentedPropertyTypeCodeSequence[0].CodeValue for d in seg.SegmentSequence}
    assert numbers == {1: "6574001", 2: "79654002", 3: "C113842"}  # necrosis, edema, enhancing lesion
    native = _native(case)
    assert native.shape == pixels.shape and np.count_nonzero(native) > 200
    np.testing.assert_array_equal(pixels, native)  # segment n is internal class n here (all three present)
    # Geometry: each frame where its source slice is, the same pixel spacing and orientation.
    for frame in seg.PerFrameFunctionalGroupsSequence:
        ref = frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        ds = source.datasets[uids.index(ref)]
        pos = frame.PlanePositionSequence[0].ImagePositionPatient
        np.testing.assert_allclose([float(v) for v in pos], [float(v) for v in ds.ImagePositionPatient], atol=1e-4)
    shared = seg.SharedFunctionalGroupsSequence[0]
    np.testing.assert_allclose([float(v) for v in shared.PlaneOrientationSequence[0].ImageOrientationPatient],
                               [float(v) for v in source.datasets[0].ImageOrientationPatient], atol=1e-6)
    measures = shared.PixelMeasuresSequence[0]
    np.testing.assert_allclose([float(v) for v in measures.PixelSpacing],
                               [float(v) for v in source.datasets[0].PixelSpacing])
    assert float(measures.SpacingBetweenSlices) == pytest.approx(case["record"]["native_grid"]["spacing"][2])
    assert seg.FrameOfReferenceUID == source.datasets[0].FrameOfReferenceUID
    assert seg.StudyInstanceUID == source.study_instance_uid
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.series_instance_uid
    algorithm = seg.SegmentSequence[0]
    assert algorithm.SegmentAlgorithmType == "AUTOMATIC"
    assert algorithm.SegmentationAlgorithmIdentificationSequence[0].AlgorithmName == ALGORITHM.name
    assert algorithm.SegmentationAlgorithmIdentificationSequence[0].AlgorithmVersion == ALGORITHM.version


def test_seg_read_back_with_dcmqi_matches_voxels_and_geometry(case, tmp_path):
    import SimpleITK as sitk

    tool = _tool("segimage2itkimage")
    if tool is None:
        pytest.skip("dcmqi (segimage2itkimage) not installed: pip install dcmqi")
    subprocess.run([tool, "--inputDICOM", str(case["result"].seg_path), "--outputDirectory", str(tmp_path),
                    "--outputType", "nifti"], check=True, capture_output=True)
    meta = json.loads((tmp_path / "meta.json").read_text())
    native = _native(case)
    grid = case["record"]["native_grid"]
    for entry in meta["segmentAttributes"]:
        label = entry[0]["labelID"]
        image = sitk.ReadImage(str(tmp_path / f"{label}.nii.gz"))
        # dcmqi writes each segment on the frames' bounding grid: resample it onto the source grid exactly.
        ref = sitk.Image(grid["size"], sitk.sitkUInt8)
        ref.SetSpacing(grid["spacing"]), ref.SetOrigin(grid["origin"]), ref.SetDirection(grid["direction"])
        np.testing.assert_allclose(image.GetDirection(), grid["direction"], atol=1e-5)
        np.testing.assert_allclose(image.GetSpacing(), grid["spacing"], atol=1e-4)
        on_grid = sitk.GetArrayFromImage(sitk.Resample(image, ref, sitk.Transform(), sitk.sitkNearestNeighbor))
        np.testing.assert_array_equal(on_grid > 0, native == label)


@pytest.mark.parametrize("kind", ["seg", "sr"])
def test_dciodvfy_finds_no_error(case, kind):
    tool = _tool("dciodvfy")
    if tool is None:
        pytest.skip("dciodvfy not installed (Debian package dicom3tools)")
    path = case["result"].seg_path if kind == "seg" else case["result"].sr_path
    out = subprocess.run([tool, str(path)], capture_output=True, text=True)
    errors = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]
    assert errors == []


def _sr_groups(path: Path) -> dict[str, dict[str, float]]:
    sr = hd.sr.srread(path)
    groups = {}
    for group in sr.content.get_volumetric_roi_measurement_groups():
        groups[group.tracking_identifier] = {m.name.meaning: float(m.value) for m in group.get_measurements()}
    return groups


def test_sr_numbers_equal_the_measurements_table(case):
    report = measure(case["labels"], case["patient"].grid.spacing)
    groups = _sr_groups(case["result"].sr_path)
    volumes = {key.split(":")[0].split(" (")[0]: g["Volume"] for key, g in groups.items() if "lesion" not in key}
    expected = {"NCR": report.volumes_ml["NCR"], "ED": report.volumes_ml["ED"], "ET": report.volumes_ml["ET"],
                "Whole tumour": report.volumes_ml["WT"], "Tumour core": report.volumes_ml["TC"]}
    assert volumes.keys() == expected.keys()
    for key, value in expected.items():
        assert abs(volumes[key] - value) <= 0.01, key
    measurable = [lesion for lesion in report.lesions if lesion.measurable]
    lesions = {k: g for k, g in groups.items() if "lesion" in k}
    assert len(lesions) == len(measurable) == 2
    for lesion in measurable:
        g = next(g for k, g in lesions.items() if k.startswith(f"ET lesion {lesion.number} "))
        assert abs(g["Long axis"] - lesion.long_mm) <= 0.1
        assert abs(g["Perpendicular Axis"] - lesion.short_mm) <= 0.1
        assert abs(g["Volume"] - lesion.volume_ml) <= 0.01
    sr = hd.sr.srread(case["result"].sr_path)
    wt = next(g for g in sr.content.get_volumetric_roi_measurement_groups() if g.tracking_identifier.startswith("Whole"))
    assert list(wt.referenced_segment[0].ReferencedSOPSequence[0].ReferencedSegmentNumber) == [1, 2, 3]


def test_corrected_and_manual_layers_and_empty_classes(case, tmp_path):
    labels = case["labels"].copy()
    labels[labels == 1] = 3  # no necrosis left: that segment is left out
    seg_path, sr_path = dicom_targets(tmp_path, "x")
    export_dicom(labels, case["patient"].grid, case["record"], seg_path, sr_path, Provenance.CORRECTED, ALGORITHM)
    seg = hd.seg.segread(seg_path)
    assert [d.SegmentLabel for d in seg.SegmentSequence] == ["Peritumoral edema", "Enhancing tumour"]
    assert [d.SegmentNumber for d in seg.SegmentSequence] == [1, 2]
    assert {d.SegmentAlgorithmType for d in seg.SegmentSequence} == {"SEMIAUTOMATIC"}
    seg_path, sr_path = dicom_targets(tmp_path, "x")
    assert seg_path.name == "x-1.seg.dcm"  # never over the first pair
    export_dicom(labels, case["patient"].grid, case["record"], seg_path, sr_path, Provenance.MANUAL, None)
    seg = hd.seg.segread(seg_path)
    assert {d.SegmentAlgorithmType for d in seg.SegmentSequence} == {"MANUAL"}
    assert "SegmentationAlgorithmIdentificationSequence" not in seg.SegmentSequence[0]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_moved_source_series_is_named_and_nothing_is_written(case, tmp_path):
    record = json.loads(json.dumps(case["record"]))
    record["source"] = str(tmp_path / "elsewhere")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SourceSeriesError, match=r"T1CE series '2: AX T1 POST.*no longer there.*moved"):
        export_dicom(case["labels"], case["patient"].grid, record, out / "a.seg.dcm", out / "a.sr.dcm",
                     Provenance.AUTOMATIC, ALGORITHM)
    assert _leftovers(out) == []


def test_a_changed_source_file_is_named_and_nothing_is_written(case, tmp_path):
    import pydicom

    raw = tmp_path / "raw"
    shutil.copytree(case["tmp"] / "raw", raw)
    record = json.loads(json.dumps(case["record"]))
    record["source"] = str(raw)
    victim = raw / record["series"]["t1ce"]["instances"][5]["file"]
    ds = pydicom.dcmread(victim)
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.save_as(victim)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(SourceSeriesError, match=rf"AX T1 POST.*{victim.name}.*(changed|another image)"):
        export_dicom(case["labels"], case["patient"].grid, record, out / "a.seg.dcm", out / "a.sr.dcm",
                     Provenance.AUTOMATIC, ALGORITHM)
    assert _leftovers(out) == []


def test_nifti_patients_have_no_source_series_and_say_why(tmp_path):
    assert source_status(None) == (False, "no source DICOM series: this patient was not imported from DICOM "
                                          "(NIfTI files only)")
    ok, why = source_status({"reference": "t1ce", "series": {"t1ce": {"kind": "nifti", "files": ["t1c.nii.gz"]}}})
    assert not ok and "t1c.nii.gz" in why and "not from DICOM" in why
