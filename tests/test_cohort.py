"""core.cohort: discovery with failures listed, output layout, the review sidecar round trip, summary CSV."""

from __future__ import annotations

import csv
import json
import stat

import numpy as np
import pytest

from brats_desktop.core.cohort import (
    DONE, FLAGGED, TODO, Cohort, CohortError, load_case, read_label_file, region_volumes,
)
from brats_desktop.core.nifti_io import write_label_map
from brats_desktop.core.patient import load_patient
from cohort_support import make_cohort


def test_discovery_lists_every_folder_and_why_one_fails(tmp_path):
    cohort = Cohort(make_cohort(tmp_path))
    keys = [c.key for c in cohort.cases]
    assert keys == ["broken", "case1", "case2", "case3", "case4"]
    broken = cohort.case("broken")
    assert not broken.ok and "no MRI volumes" in broken.error
    assert cohort.case("case3").has_ground_truth is False
    assert cohort.case("case1").has_ground_truth is True
    assert cohort.case("case2").modalities == ("t1", "t1ce", "t2", "flair")
    assert [c.key for c in cohort.pending()] == ["case1", "case2", "case3", "case4"]


def test_nested_container_and_single_patient_refused(tmp_path):
    root = tmp_path / "MICCAI_Data"
    make_cohort(root / "inner", broken=False)  # root/inner/cohort/case*: two levels down
    cohort = Cohort(root / "inner")
    assert [c.key for c in cohort.cases] == ["cohort/case1", "cohort/case2", "cohort/case3", "cohort/case4"]
    with pytest.raises(CohortError, match="one patient folder"):
        Cohort(root / "inner" / "cohort" / "case1")


def test_output_names_follow_the_naming_scheme(tmp_path):
    root = make_cohort(tmp_path)
    beside = Cohort(root)
    assert beside.prediction_path(beside.case("case1")) == root / "case1" / "case1-prediction.nii.gz"
    assert beside.corrected_path(beside.case("case2")) == root / "case2" / "case2_corrected.nii.gz"
    out = tmp_path / "out"
    chosen = Cohort(root, out)
    assert chosen.prediction_path(chosen.case("case2")) == out / "case2_prediction.nii.gz"
    assert chosen.sidecar_path == out / "brats-review.json"


def test_review_sidecar_round_trip_keeps_unknown_cases(tmp_path):
    root = make_cohort(tmp_path)
    cohort = Cohort(root)
    patient = load_patient(root / "case1")
    ai = patient.ground_truth.copy()
    ai[ai == 1] = 0  # the AI misses the necrosis
    cohort.record_prediction(cohort.case("case1"), ai, patient)
    cohort.record_correction(cohort.case("case1"), patient.ground_truth, patient, ai)
    cohort.set_status(cohort.case("case1"), DONE, "checked the rim", user="alice")
    cohort.set_status(cohort.case("case4"), FLAGGED, "motion artefact")
    cohort.save_review()
    text = (root / "brats-review.json").read_text()
    data = json.loads(text)
    data["cases"]["gone_patient"] = {"status": "done", "comment": "folder moved away"}
    (root / "brats-review.json").write_text(json.dumps(data, indent=2))
    assert "\n  " in text  # indented: a person can read it

    again = Cohort(root)
    r1 = again.case("case1").review
    assert (r1.status, r1.comment, r1.user) == (DONE, "checked the rim", "alice")
    assert r1.updated.startswith("20")
    assert r1.dice_corrected_vs_gt == {"WT": 1.0, "TC": 1.0, "ET": 1.0}
    assert r1.dice_ai_vs_gt["TC"] < 1.0 and r1.dice_ai_vs_gt["WT"] < 1.0
    expected = region_volumes(patient.ground_truth, patient.voxel_volume_ml)
    assert r1.corrected_volumes_ml == expected and r1.ai_volumes_ml["TC"] < expected["TC"]
    assert again.case("case4").review.status == FLAGGED
    assert again.case("case2").review.status == TODO
    again.save_review()
    assert "gone_patient" in json.loads((root / "brats-review.json").read_text())["cases"]


def test_damaged_sidecar_is_reported_and_never_overwritten(tmp_path):
    root = make_cohort(tmp_path)
    (root / "brats-review.json").write_text("{ half a file")
    cohort = Cohort(root)
    assert "cannot read the review file" in cohort.sidecar_problem
    with pytest.raises(CohortError):
        cohort.save_review()
    assert (root / "brats-review.json").read_text() == "{ half a file"


def test_summary_csv_has_one_row_per_case(tmp_path):
    root = make_cohort(tmp_path)
    cohort = Cohort(root)
    cohort.set_status(cohort.case("case2"), DONE, "ok, with a comma, and \"quotes\"")
    path = cohort.export_summary(tmp_path / "summary.csv")
    with open(path, newline="") as fh:
        rows = {row["folder"]: row for row in csv.DictReader(fh)}
    assert set(rows) == {"broken", "case1", "case2", "case3", "case4"}
    assert rows["case2"]["comment"] == 'ok, with a comma, and "quotes"' and rows["case2"]["status"] == "done"
    assert "no MRI volumes" in rows["broken"]["problem"]
    for column in ("ai_ml_WT", "corrected_ml_ET", "dice_ai_vs_corrected_TC", "dice_ai_vs_gt_WT",
                   "dice_corrected_vs_gt_ET"):
        assert column in rows["case1"]


def test_load_case_reads_prediction_and_correction_in_the_patient_convention(tmp_path):
    root = make_cohort(tmp_path)
    cohort = Cohort(root)
    record = cohort.case("case2")  # BraTS 2020 names, LPS on disk: enhancing written as 4
    patient = load_patient(record.folder)
    pred = patient.ground_truth.copy()
    pred[:5] = 0
    write_label_map(pred, patient.grid, cohort.prediction_path(record), patient.convention)
    data = load_case(cohort, record)
    assert np.array_equal(data.prediction, pred) and data.corrected is None
    assert 3 in np.unique(data.prediction)  # 4 on disk -> 3 inside
    assert cohort.has_prediction(record) and [c.key for c in cohort.pending()] == ["case1", "case3", "case4"]
    bad = patient.ground_truth.copy()
    bad[0, 0, 0] = 3  # a 3 is not a BraTS 2020 label value
    target = cohort.corrected_path(record)
    write_label_map(bad, patient.grid, target, patient.convention)
    import nibabel as nib

    img = nib.load(str(target))
    arr = np.asarray(img.dataobj).copy()
    arr[arr == 4] = 3
    nib.save(nib.Nifti1Image(arr, img.affine, img.header), str(target))
    with pytest.raises(Exception, match="unexpected label value"):
        read_label_file(target, patient)
    # A float file with fractions (an image saved under a label name) is refused, not truncated to labels.
    frac = np.asarray(nib.load(str(cohort.prediction_path(record))).dataobj).astype(np.float32)
    frac[frac == 2] = 1.5
    nib.save(nib.Nifti1Image(frac, img.affine), str(target))
    with pytest.raises(Exception, match="non-integer") as err:
        read_label_file(target, patient)
    assert target.name in str(err.value)


def test_read_only_cohort_reports_output_not_writable(tmp_path):
    root = make_cohort(tmp_path)
    mode = root.stat().st_mode
    root.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        assert Cohort(root).output_writable is False
        assert Cohort(root, tmp_path / "elsewhere").output_writable is True
    finally:
        root.chmod(mode)


@pytest.mark.realdata
def test_real_brats2018_folder_opens_as_a_cohort(shared_data):
    cohort = Cohort(shared_data / "brats2018-train")
    assert len(cohort.cases) == 31 and all(c.ok for c in cohort.cases)
    assert all(c.has_ground_truth and c.modalities == ("t1ce", "t2", "flair") for c in cohort.cases)
    assert cohort.case("Brats18_CBICA_ABM_1").stem_name == "Brats18_CBICA_ABM_1"
