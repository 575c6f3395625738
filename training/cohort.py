"""Training cohorts: real patient folders and the synthetic BraTS-like generator, as one list of cases.

Real folders are found and read with the app's own discovery and loader
(:func:`brats_desktop.core.discovery.find_patient_folders`,
:func:`brats_desktop.core.patient.load_patient`), so BraTS 2020/2021/2023 layouts and
the misnamed segmentation of BraTS 2020 patient 355 are handled in one place.
Synthetic cases come from :func:`brats_desktop.core.synthetic.make_synthetic_case`.

The cases kept for measuring the bundled model are refused here, whatever path
leads to them, so they cannot leak into training by accident.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brats_desktop.core.discovery import discover_patient, find_patient_folders
from brats_desktop.core.patient import load_patient

# Measurement-only cases (see ../shared/data/README.md): never train or tune on them.
HELD_OUT_NAMES: frozenset[str] = frozenset({"BraTS-GLI-00001-000", "brainles-sample-case"})


class CohortError(ValueError):
    """A cohort cannot be assembled; the message names the folder and the problem."""


@dataclass
class Case:
    """One patient for training or evaluation: canonical RAS+ float32 images and internal labels."""

    name: str
    images: dict[str, np.ndarray]
    labels: np.ndarray
    source: str  # "real" or "synthetic"
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @property
    def modalities(self) -> list[str]:
        return sorted(self.images)


def real_patient_folders(roots: Iterable[Path | str], allow_held_out: bool = False) -> list[Path]:
    """Labelled patient folders under ``roots``; refuses the measurement-only cases unless allowed."""
    out: list[Path] = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            raise CohortError(f"{root}: data folder does not exist")
        for folder in find_patient_folders(root):
            if folder.name in HELD_OUT_NAMES and not allow_held_out:
                raise CohortError(
                    f"{folder}: this case is reserved for measuring the bundled model and must not be trained on"
                )
            if discover_patient(folder).segmentation is None:
                continue  # unlabelled folders cannot train
            out.append(folder)
    if not out:
        raise CohortError(f"no labelled patient folders under {', '.join(str(r) for r in roots)}")
    return out


def load_real_case(folder: Path, modalities: Sequence[str], allow_missing: bool = False) -> Case:
    """Read one labelled folder; a patient lacking a needed modality is an error naming it.

    ``allow_missing`` (models trained with modality dropout) keeps a patient that has at
    least one of ``modalities``; its case holds only those it has.
    """
    patient = load_patient(folder)
    missing = patient.missing(list(modalities))
    if missing and (not allow_missing or len(missing) == len(modalities)):
        raise CohortError(f"{folder}: lacks {', '.join(missing)} needed by this training config")
    assert patient.ground_truth is not None
    return Case(
        patient.name,
        {m: patient.images[m] for m in modalities if m in patient.images},
        patient.ground_truth,
        "real",
        patient.spacing,
    )


def generator_fingerprint() -> str:
    """Short hash of the synthetic generator's source (every ``core/synthetic*.py``): a changed
    generator never reuses stale cached cases."""
    import hashlib

    from brats_desktop.core import synthetic

    digest = hashlib.sha256()
    for path in sorted(Path(synthetic.__file__).parent.glob("synthetic*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def synthetic_case(
    seed: int,
    modalities: Sequence[str],
    shape: tuple[int, int, int] = (240, 240, 155),
    cache_dir: Path | None = None,
) -> Case:
    """One synthetic case, generated (or read back from ``cache_dir`` as a compressed .npz)."""
    name = f"synthetic-{seed:05d}"
    cache = None
    if cache_dir is not None:
        tag = "x".join(map(str, shape))
        cache = Path(cache_dir) / f"{name}-{tag}-{'-'.join(modalities)}-{generator_fingerprint()}.npz"
        if cache.exists():
            with np.load(cache) as z:
                return Case(name, {m: z[m] for m in modalities}, z["labels"], "synthetic")
    from brats_desktop.core.synthetic import make_synthetic_case

    made = make_synthetic_case(seed, shape=shape, modalities=tuple(modalities))
    case = Case(name, {m: made.images[m] for m in modalities}, made.labels, "synthetic", made.spacing)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.stem}.{os.getpid()}.partial.npz")  # concurrent runs (ablations) each write their own
        np.savez(tmp, labels=case.labels, **case.images)
        tmp.replace(cache)  # atomic: a reader sees the old state or a whole file
    return case
