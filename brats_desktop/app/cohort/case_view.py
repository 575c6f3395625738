"""What a case looks like when it opens, worked out off the GUI thread."""

from __future__ import annotations

from brats_desktop.core.cohort import CaseData
from brats_desktop.core.focus import tumour_focus


def initial_cursor(data: CaseData) -> tuple[int, int, int] | None:
    """Crosshair on the tumour: of the ground truth, else of the correction or the prediction.

    ~0.1-0.2 s on a BraTS volume, which is why the reader thread does it, not the GUI.
    """
    for labels in (data.patient.ground_truth, data.corrected, data.prediction):
        focus = tumour_focus(labels)
        if focus is not None:
            return focus
    return None
