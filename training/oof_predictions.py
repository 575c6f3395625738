"""Out-of-fold predictions kept on disk, so rules after the argmax are tuned without predicting again.

``python -m training.crossval --score-only --save-predictions`` writes one file per
held-out patient, ``fold-i/pred{scores_name}/<patient>.npz`` (compressed, beside the
``oof{scores_name}.json`` rows of the same scoring):

* ``raw``: the argmax before any post-processing, uint8 internal labels on the
  patient's canonical grid (the full grid, so any rule sees what the app would);
* ``probabilities``: every class's mean probability (over the TTA passes and the
  ensemble members that were averaged), quantised to uint8: p = value / 255, at most
  1/510 off, which no threshold on a mean over a lesion notices; rules that re-decide
  the argmax itself (whole tumour first) are tuned on it;
* ``et_probability``, only in files written before every class was kept: enhancing
  tumour's alone (:class:`SavedPrediction` gives it for both kinds of file);
* ``spacing`` (mm) and strings saying what produced them (``fold``, ``model``,
  ``model_ncr_definition``, ``tta``, ``ensemble_with``, ``subset``).

The references are not copied: the tuning reads them from the patient folders.
:mod:`training.tune_et_rule` is the reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from brats_desktop.core.atomic import write_atomically
from brats_desktop.core.discovery import discover_patient
from brats_desktop.core.labels import ENHANCING
from brats_desktop.core.nifti_io import read_volume
from brats_desktop.core.patient import decode_segmentation


@dataclass
class SavedPrediction:
    """One patient's saved out-of-fold prediction."""

    patient: str
    raw: np.ndarray  # uint8 internal labels 0-3
    et_probability: np.ndarray | None  # uint8 0-255 (p * 255), or None when none was saved
    spacing: tuple[float, float, float]
    meta: dict[str, str] = field(default_factory=dict)
    probabilities: np.ndarray | None = None  # uint8 (classes, X, Y, Z), or None when not saved

    def et_probability_float(self) -> np.ndarray | None:
        """The ET probability as float32 in 0-1."""
        return None if self.et_probability is None else self.et_probability.astype(np.float32) / 255.0


def quantise_probability(p: np.ndarray) -> np.ndarray:
    """Probability (0-1, any float type) -> uint8 0-255, rounded to the nearest step."""
    return np.round(np.clip(np.asarray(p, dtype=np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def predictions_dir(fold_dir: Path, name: str) -> Path:
    """``fold-i/pred{name}``: ``name`` is crossval's ``scores_name`` ("" or "-tta-flip", ...)."""
    return Path(fold_dir) / f"pred{name}"


def save_prediction(
    target: Path,
    raw: np.ndarray,
    probabilities: np.ndarray | None,
    spacing: tuple[float, float, float],
    meta: Mapping[str, str] | None = None,
) -> Path:
    """Write ``raw`` and ``probabilities`` ((classes, X, Y, Z), or None) atomically to ``target``."""
    arrays: dict[str, np.ndarray] = {
        "raw": np.asarray(raw, dtype=np.uint8),
        "spacing": np.asarray(spacing, dtype=float),
    }
    if probabilities is not None:
        if probabilities.shape[1:] != raw.shape or probabilities.shape[0] <= ENHANCING:
            raise ValueError(f"probabilities of shape {probabilities.shape} do not fit labels of shape {raw.shape}")
        arrays["probabilities"] = quantise_probability(probabilities)
    for key, value in (meta or {}).items():
        arrays[f"meta_{key}"] = np.asarray(str(value))

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: numpy would append ".npz" to a bare name
            np.savez_compressed(fh, **arrays)

    return write_atomically(Path(target), write, OSError, ".npz")


def load_prediction(path: Path) -> SavedPrediction:
    """Read a file of :func:`save_prediction`; a ValueError names the file when it is not one."""
    path = Path(path)
    try:
        with np.load(path) as z:
            raw = z["raw"]
            et = z["et_probability"] if "et_probability" in z.files else None
            probabilities = z["probabilities"] if "probabilities" in z.files else None
            if et is None and probabilities is not None:
                et = probabilities[ENHANCING]
            spacing = tuple(float(v) for v in z["spacing"])
            meta = {k[len("meta_"):]: str(z[k]) for k in z.files if k.startswith("meta_")}
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: not a saved out-of-fold prediction ({exc})") from exc
    if (raw.dtype != np.uint8 or len(spacing) != 3 or (et is not None and et.shape != raw.shape)
            or (probabilities is not None and probabilities.shape[1:] != raw.shape)):
        raise ValueError(f"{path}: not a saved out-of-fold prediction (raw {raw.dtype} {raw.shape}, spacing {spacing})")
    return SavedPrediction(path.stem, raw, et, spacing, meta, probabilities)  # type: ignore[arg-type]


def read_reference(folder: Path) -> np.ndarray:
    """A labelled patient folder's segmentation as internal labels on the canonical grid (only that file is read)."""
    files = discover_patient(Path(folder))
    if files.segmentation is None:
        raise ValueError(f"{folder}: no segmentation to compare with")
    values, _ = read_volume(files.segmentation, dtype=np.float32)
    labels, _ = decode_segmentation(values, files.segmentation, files)
    return labels
