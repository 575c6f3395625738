"""The metrics panel shows what an independent numpy computation says, and follows edits."""

from __future__ import annotations

import numpy as np
import pytest

from brats_desktop.app.inference.metrics_panel import MetricsPanel
from brats_desktop.app.state import PREDICTION, ViewerState
from brats_desktop.core.metrics import compare
from brats_desktop.core.patient import patient_from_arrays

SHAPE = (20, 18, 12)
SPACING = (1.0, 1.5, 2.0)  # 3 mm^3 voxels: volumes in mL = count * 0.003


def _labels(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros(SHAPE, np.uint8)
    out[4:16, 3:15, 2:10] = rng.choice([0, 1, 2, 3], size=(12, 12, 8), p=[0.3, 0.2, 0.3, 0.2])
    return out


def _by_hand(pred: np.ndarray, ref: np.ndarray, classes: tuple[int, ...]) -> dict[str, float]:
    """Dice/precision/sensitivity/specificity written out from the definitions."""
    p = np.zeros(pred.shape, bool)
    r = np.zeros(ref.shape, bool)
    for c in classes:
        p |= pred == c
        r |= ref == c
    tp = float((p & r).sum())
    fp = float((p & ~r).sum())
    fn = float((~p & r).sum())
    tn = float((~p & ~r).sum())
    return {
        "Dice": 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 1.0,
        "Prec.": tp / (tp + fp),
        "Sens.": tp / (tp + fn),
        "Spec.": tn / (tn + fp),
    }


@pytest.fixture
def state_with_gt(qtbot):
    ref = _labels(1)
    images = {"flair": np.random.default_rng(2).random(SHAPE, dtype=np.float32)}
    state = ViewerState()
    state.set_patient(patient_from_arrays("synthetic", images, ref, spacing=SPACING))
    return state, ref


def test_panel_matches_independent_computation(qtbot, state_with_gt):
    state, ref = state_with_gt
    panel = MetricsPanel(state)
    qtbot.addWidget(panel)
    pred = _labels(7)
    state.replace_layer("Prediction", pred, PREDICTION, modified=False)

    rows = {"NCR": (1,), "ED": (2,), "ET": (3,), "WT": (1, 2, 3), "TC": (1, 3)}
    for row, classes in rows.items():
        expected = _by_hand(pred, ref, classes)
        for column, value in expected.items():
            digits = 4 if column == "Spec." else 3
            assert panel.cell_text(panel.overlap_table, row, column) == f"{value:.{digits}f}", (row, column)
    ml = 1.0 * 1.5 * 2.0 / 1000.0
    for row, classes in {"NCR": (1,), "ED": (2,), "ET": (3,), "WT": (1, 2, 3), "TC": (1, 3)}.items():
        pred_ml = sum(int((pred == c).sum()) for c in classes) * ml
        ref_ml = sum(int((ref == c).sum()) for c in classes) * ml
        assert panel.cell_text(panel.volume_table, row, "Prediction (mL)") == f"{pred_ml:.2f}"
        assert panel.cell_text(panel.volume_table, row, "Ground truth (mL)") == f"{ref_ml:.2f}"


def test_panel_follows_edits_of_the_prediction(qtbot, state_with_gt):
    state, ref = state_with_gt
    panel = MetricsPanel(state)
    qtbot.addWidget(panel)
    layer = state.replace_layer("Prediction", np.zeros(SHAPE, np.uint8), PREDICTION, modified=False)
    assert panel.cell_text(panel.overlap_table, "WT", "Dice") == "0.000"
    # Paint the reference into the prediction as an editor would: in place, then notify.
    layer.data[...] = ref
    with qtbot.waitSignal(panel._timer.timeout, timeout=2000):
        layer.notify_changed((slice(0, 20), slice(0, 18), slice(0, 12)))
    assert panel.cell_text(panel.overlap_table, "WT", "Dice") == "1.000"
    assert panel.cell_text(panel.overlap_table, "NCR", "Sens.") == "1.000"


def test_empty_against_empty_is_one(qtbot):
    images = {"flair": np.zeros(SHAPE, np.float32)}
    state = ViewerState()
    state.set_patient(patient_from_arrays("blank", images, np.zeros(SHAPE, np.uint8)))
    panel = MetricsPanel(state)
    qtbot.addWidget(panel)
    state.replace_layer("Prediction", np.zeros(SHAPE, np.uint8), PREDICTION, modified=False)
    assert all(panel.cell_text(panel.overlap_table, r, "Dice") == "1.000" for r in ("NCR", "ED", "ET", "WT", "TC"))


def test_without_ground_truth_only_volumes(qtbot):
    images = {"flair": np.zeros(SHAPE, np.float32)}
    state = ViewerState()
    state.set_patient(patient_from_arrays("no-gt", images, None, spacing=SPACING))
    panel = MetricsPanel(state)
    qtbot.addWidget(panel)
    pred = _labels(3)
    state.replace_layer("Prediction", pred, PREDICTION, modified=False)
    assert panel.overlap_table.isHidden()
    assert not panel.volume_table.isHidden()
    assert panel.volume_table.isColumnHidden(1) and not panel.volume_table.isColumnHidden(0)
    assert panel.cell_text(panel.volume_table, "ED", "Prediction (mL)") == f"{(pred == 2).sum() * 0.003:.2f}"
    assert "no ground truth" in panel.summary.text()


def test_fast_compare_equals_masks_on_random_maps():
    """core.metrics.compare's joint-histogram path counts exactly what masks count."""
    a, b = _labels(11), _labels(12)
    got = compare(a, b)
    for key, classes in {"NCR": (1,), "ED": (2,), "ET": (3,), "WT": (1, 2, 3), "TC": (1, 3)}.items():
        p, r = np.isin(a, classes), np.isin(b, classes)
        assert (got[key].tp, got[key].fp, got[key].fn, got[key].tn) == (
            int((p & r).sum()), int((p & ~r).sum()), int((~p & r).sum()), int((~p & ~r).sum())
        )


def test_fast_compare_counts_exactly_when_the_labels_fill_only_a_corner_or_nothing():
    """Only the box around both maps' labels is histogrammed: the rest must still count as true negatives."""
    rng = np.random.default_rng(5)
    a = np.zeros((30, 26, 20), np.uint8)
    b = np.zeros_like(a)
    a[2:9, 20:26, 15:20] = rng.integers(0, 4, (7, 6, 5))
    b[25:30, 0:3, 0:4] = rng.integers(0, 4, (5, 3, 4))
    for pred, ref in ((a, b), (a, np.zeros_like(a)), (np.zeros_like(a), np.zeros_like(a))):
        got = compare(pred, ref)
        for key, classes in {"NCR": (1,), "ED": (2,), "ET": (3,), "WT": (1, 2, 3), "TC": (1, 3)}.items():
            p, r = np.isin(pred, classes), np.isin(ref, classes)
            assert (got[key].tp, got[key].fp, got[key].fn, got[key].tn) == (
                int((p & r).sum()), int((p & ~r).sum()), int((~p & r).sum()), int((~p & ~r).sum())
            )
