"""The one-page patient report: content read back from the PDF, images not blank, RANO lines on the lesion."""

from __future__ import annotations

import io
import unicodedata

import numpy as np
import pytest

from brats_desktop.core.labels import ENHANCING
from brats_desktop.core.measurements import measure
from brats_desktop.core.patient import load_patient
from brats_desktop.core.provenance import Algorithm, Provenance
from brats_desktop.report.data import DISCLAIMER, _crop_box, _display, key_images, report_data
from inference_support import write_patient_folder

pypdf = pytest.importorskip("pypdf")


@pytest.fixture
def patient(tmp_path):
    folder, _, _ = write_patient_folder(tmp_path, "BraTS-GLI-01234-000", shape=(96, 96, 60))
    return load_patient(folder)


def _text(path) -> str:
    reader = pypdf.PdfReader(path)
    assert len(reader.pages) == 1
    return " ".join(unicodedata.normalize("NFKC", reader.pages[0].extract_text()).split())  # "ﬁ" ligatures


def test_the_pdf_is_one_page_with_the_case_volumes_status_and_dice(patient, tmp_path, qapp):
    from brats_desktop.report.pdf import write_report

    prediction = np.roll(patient.ground_truth, 2, axis=0)
    data = report_data(patient, prediction, "Prediction", Provenance.CORRECTED, Algorithm("unet2d-x", "sha256:abc"),
                       ground_truth=patient.ground_truth, model_inputs=["flair", "t1ce"])
    path = write_report(data, tmp_path / "out" / "report.pdf")
    text = _text(path)
    assert "Case BraTS-GLI-01234-000" in text
    assert "AI, corrected by a person" in text and "unet2d-x (version sha256:abc)" in text
    for key in ("NCR", "ED", "ET", "WT", "TC"):
        assert f"{data.measurement.volumes_ml[key]:.2f}" in text
    assert "Dice against the loaded ground truth" in text and f"{data.dice['WT']:.3f}" in text
    assert " ".join(DISCLAIMER.split()) in text
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["report.pdf"]  # no temporary file left
    images = pypdf.PdfReader(path).pages[0].images
    assert len(images) == 3  # axial, coronal, sagittal (no OpenGL offscreen: no 3-D view)
    from PIL import Image

    for image in images:
        pixels = np.asarray(Image.open(io.BytesIO(image.data)).convert("RGB"), dtype=float)
        assert pixels.std() > 10  # not blank
        assert (np.abs(pixels[..., 0] - pixels[..., 2]) > 60).any()  # a colour overlay is in it


def test_a_nifti_patient_without_ground_truth_or_tumour_gets_a_report(patient, tmp_path, qapp):
    from brats_desktop.report.pdf import write_report

    empty = np.zeros_like(patient.ground_truth)
    data = report_data(patient, empty, "Annotation", Provenance.MANUAL, None)
    text = _text(write_report(data, tmp_path / "r"))  # ".pdf" is added
    assert "No enhancing lesion" in text and "Dice" not in text and "Manual annotation" in text
    assert "volume centre" in text


def test_key_images_go_through_the_largest_enhancing_cross_section_with_the_rano_lines_on_it():
    labels = np.zeros((80, 70, 40), np.uint8)
    labels[10:20, 10:18, 5:9] = ENHANCING  # small lesion
    labels[40:66, 30:45, 20:30] = ENHANCING  # largest cross-section
    volume = np.ones(labels.shape, np.float32)
    report = measure(labels, (1.0, 1.0, 1.0))
    images, reason = key_images(volume, labels, (1.0, 1.0, 1.0), report)
    axial = images[0]
    lesion = report.lesions[0]
    assert "ET lesion 1" in reason and axial.caption.startswith(f"Axial slice {lesion.z}")
    assert len(axial.long_lines) == 1 and len(axial.short_lines) == 1
    shown = _display(labels[:, :, lesion.z])
    rows, cols = _crop_box(_display(volume[:, :, lesion.z]), shown)
    shown = shown[rows, cols]
    for point in (*axial.long_lines[0], *axial.short_lines[0]):
        assert shown[int(point[1]), int(point[0])] == ENHANCING  # every end of a diameter is on the lesion
    (a, b) = axial.long_lines[0]
    assert np.hypot(b[0] - a[0], b[1] - a[1]) == pytest.approx(lesion.long_mm, abs=1e-6)
    assert [i.plane for i in images] == ["Axial", "Coronal", "Sagittal"]
