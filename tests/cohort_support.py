"""A tiny synthetic cohort on disk for the worklist tests: four small patients and one broken folder.

Patients come from the synthetic generator (``core.synthetic`` via
``inference_support.write_patient_folder``, 40x36x24 voxels), in both namings and
orientations, one without ground truth; ``broken`` holds no MRI file, so it must be
listed with its reason rather than skipped.
"""

from __future__ import annotations

from pathlib import Path

from inference_support import write_patient_folder

CASES = ("case1", "case2", "case3", "case4")


def make_cohort(root: Path, broken: bool = True) -> Path:
    """``root/cohort`` with case1..case4 (case3 without ground truth) and ``broken``."""
    cohort = root / "cohort"
    write_patient_folder(cohort, "case1", "RAS", "2023", seed=1)
    write_patient_folder(cohort, "case2", "LPS", "2020", seed=2)
    write_patient_folder(cohort, "case3", "RAS", "2023", seed=3, with_seg=False)
    write_patient_folder(cohort, "case4", "LPS", "2020", seed=4)
    if broken:
        (cohort / "broken").mkdir()
        (cohort / "broken" / "notes.txt").write_text("no images here")
    return cohort
