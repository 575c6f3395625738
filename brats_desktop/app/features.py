"""The window's features, in the order they are built; the only feature list of the app.

To add a feature: write ``brats_desktop/app/<name>/`` with a :class:`~brats_desktop.app.feature.Feature`
subclass (``name = "<name>"``) and add that class here. The window constructs each entry with
its :class:`~brats_desktop.app.feature.AppContext` and keeps it as ``window.<name>``; a feature
built later finds an earlier one with ``app.feature(name)``.
"""

from __future__ import annotations

from brats_desktop.app.ai_correct.controller import AiCorrectController
from brats_desktop.app.annotation.actions import AnnotationController
from brats_desktop.app.annotation.correction import CorrectionActions
from brats_desktop.app.cohort.controller import CohortController
from brats_desktop.app.compare.actions import CompareController
from brats_desktop.app.feature import Feature
from brats_desktop.app.help.controller import HelpController
from brats_desktop.app.importer.controller import ImportController
from brats_desktop.app.label_files.controller import LabelFilesController
from brats_desktop.app.inference.controller import SegmentController
from brats_desktop.app.measure.controller import MeasureController
from brats_desktop.app.results.controller import ResultsController
from brats_desktop.app.uncertainty.controller import UncertaintyController


FEATURES: tuple[type[Feature], ...] = (
    SegmentController,  # Segment menu, toolbar, progress/device, Metrics dock
    # Open Segmentation…, label-file drops, a folder's outputs as layers. Before annotation (which it
    # looks up only when a file opens): the outputs are in before the recovery question.
    LabelFilesController,
    AnnotationController,  # Annotate dock, Undo/Redo, Save Annotation, autosave
    UncertaintyController,  # heat map, Next Uncertain Region
    MeasureController,  # rulers, RANO, Measurements dock, Go To
    CohortController,  # Worklist dock, Open Cohort Folder, N / P, Segment All
    CorrectionActions,  # 3-D region tool, Fill Between Slices
    AiCorrectController,  # AI Correct tool (A): click model corrections, one undo step each
    CompareController,  # error map, Next Error / Lesion
    ImportController,  # Import Scans, QC outline, native-grid export
    ResultsController,  # File → Export → DICOM Segmentation (SEG + SR), File → Export Report
    HelpController,  # Keyboard and Mouse Reference (generated from the actions), About
)

# The per-task tab group on the right, in reading order (dock titles); Annotate in front.
TASK_TAB_ORDER: tuple[str, ...] = ("Annotate", "Compare", "Measurements", "Uncertainty", "Metrics")


def feature_name(entry: type[Feature]) -> str:
    """The attribute a feature is kept under (``window.<name>``)."""
    return str(entry.name)
