"""``brats-predict --dicom-seg`` / ``--report``: the app's SEG/SR export and patient report from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("highdicom")
pytest.importorskip("SimpleITK")

from dicom_support import import_t1ce, write_t1ce_series  # noqa: E402
from inference_support import tiny_model, write_patient_folder  # noqa: E402

from brats_desktop.cli.predict import main  # noqa: E402


def _run(argv, capsys) -> tuple[int, dict | None, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def test_dicom_seg_and_report_for_a_patient_imported_from_dicom(tmp_path, capsys):
    import highdicom as hd
    from pypdf import PdfReader

    write_t1ce_series(tmp_path / "raw")
    folder = import_t1ce(tmp_path / "raw", tmp_path / "raw-brats")
    model = tiny_model(tmp_path, modalities=("t1ce",))
    code, record, err = _run([folder, "--model", model.path, "--dicom-seg", "--report", "--tta", "none"], capsys)
    assert code == 0, err
    seg = hd.seg.segread(record["dicom"]["seg"])
    assert Path(record["dicom"]["seg"]).name == "raw_prediction.seg.dcm"
    assert Path(record["dicom"]["sr"]).name == "raw_prediction.sr.dcm"
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "AUTOMATIC"
    assert seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0].AlgorithmName == "tiny-test-unet"
    assert "AX T1 POST" in record["dicom"]["source_series"]
    text = " ".join(PdfReader(record["report"]).pages[0].extract_text().split())
    assert "raw" in text and "Automatic" in text and "tiny-test-unet" in text


def test_dicom_seg_for_a_nifti_patient_is_refused_before_predicting(tmp_path, capsys):
    folder, _, _ = write_patient_folder(tmp_path, "case1")
    before = sorted(p.name for p in folder.iterdir())
    model = tiny_model(tmp_path)
    code, _, err = _run([folder, "--model", model.path, "--dicom-seg"], capsys)
    assert code == 1
    assert "no source DICOM series" in err and "NIfTI" in err
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written, not even the prediction


def test_a_cohort_gets_one_report_per_case_and_the_review_summary(tmp_path, capsys):
    from pypdf import PdfReader

    root = tmp_path / "cohort"
    for i in range(2):
        write_patient_folder(root, f"case{i}", seed=i)
    model = tiny_model(tmp_path)
    code, summary, err = _run([root, "--model", model.path, "--report", "--workers", "0"], capsys)
    assert code == 0, err
    reports = summary["reports"]["reports"]
    assert len(reports) == 2 and "failed" not in summary["reports"]
    for path in reports:
        assert len(PdfReader(path).pages) == 1
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(summary["reports"]["summary"]).pages)
    assert "case0" in text and "case1" in text and "Review summary" in text
