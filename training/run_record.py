"""What a training run writes about itself: history.csv columns and rows, the model's metadata
(with the licence its data imposes) and the code's git revision.
"""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path
from typing import Any

from brats_desktop.core.atomic import write_atomically

from .configs import TrainConfig
from .history_columns import describe
from .plots import plot_history

REPO_ROOT = Path(__file__).resolve().parents[1]


CLASSES = {0: "background", 1: "NCR/NET", 2: "edema", 3: "enhancing"}

HISTORY_COLUMNS = (
    "epoch", "lr", "seconds", "train_slices_per_s",
    "train_loss", "train_accuracy", "train_dice_coef", "train_dice_tumour",
    "val_loss", "val_accuracy", "val_mean_iou", "val_dice_coef", "val_precision", "val_sensitivity",
    "val_specificity", "val_dice_coef_necrotic", "val_dice_coef_edema", "val_dice_coef_enhancing",
    "val_dice_tumour", "val_dice_WT", "val_dice_TC", "val_dice_ET", "val_dice_mean", "val_dice_real_mean",
    "val_select", "best",
)

BRATS2013_TERMS = (
    "BraTS 2013 patients (BRATS 2015 benchmark, Menze et al., IEEE TMI 2015; as modified for the DeepMedic "
    "examples) are licensed CC BY-NC-SA 3.0 CH: the weights inherit these terms (non-commercial use only, "
    "share-alike, attribution)."
)

BRATS2018_TERMS = (
    "BraTS 2018 training patients may be used for research with citation of Menze et al., IEEE TMI 2015; "
    "Bakas et al., Scientific Data 2017; Bakas et al., arXiv:1811.02629, 2018; the TCGA-derived labels are "
    "published by TCIA under CC BY 3.0."
)



def real_data_licence(real_names: list[str]) -> str:
    """The terms the weights inherit from the real patients they were trained on (data README's wording).

    BraTS 2013 patients appear as ``BraTS13_*`` and inside BraTS 2018 as ``Brats18_2013_*``;
    any of them brings the non-commercial share-alike terms.
    """
    parts = ["Research model, not a medical device."]
    if any(n.startswith("Brats18_") for n in real_names):
        parts.append(BRATS2018_TERMS)
    if any(n.startswith("BraTS13_") or n.startswith("Brats18_2013_") for n in real_names) or not parts[1:]:
        parts.append(BRATS2013_TERMS)
    return " ".join(parts + ["Code: MIT."])



def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "models", "training", "brats_desktop/core"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=10,
        )
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"



def model_metadata(
    config: TrainConfig,
    name: str,
    training: dict[str, Any],
    metrics: dict[str, Any],
    has_real: bool,
    ncr_definition: str | None = None,
) -> dict[str, Any]:
    """The self-description stored in every checkpoint (see models.checkpoint).

    ``ncr_definition`` is what label 1 means in the training labels; by default the
    BraTS 2013-2020 NCR/NET for real data and the 2021 meaning for the synthetic
    cohort alone (its necrosis always lies inside the enhancing rim).
    """
    data = training.get("data", {})
    return {
        "ncr_definition": ncr_definition or ("brats2013" if has_real else "brats2021"),
        "name": name,
        "modalities": list(config.modalities),
        "classes": dict(CLASSES),
        "label_convention": "internal 0-3 (0 background, 1 NCR/NET, 2 edema, 3 enhancing); "
        "file conventions (BraTS 2020 4 / BraTS 2023 3) are converted by the app",
        # Trained with sequences dropped: any non-empty subset of the modalities may be given.
        **({"optional_modalities": True} if config.modality_dropout > 0 else {}),
        "preprocessing": config.preprocessing.to_dict(),
        "architecture": config.architecture,
        "training": training,
        "metrics": metrics,
        "licence": real_data_licence(data.get("real_train", []) + data.get("real_val", []))
        if has_real else "Trained on synthetic data only; MIT like the code.",
    }



def write_text_atomically(path: Path, text: str) -> Path:
    """Every file of a run is replaced whole: a kill mid-epoch leaves the previous one, never half."""
    return write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), OSError)


def write_history(rows: list[dict[str, Any]], out: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=HISTORY_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text_atomically(out / "history.csv", buffer.getvalue())
    # Beside the numbers, what each column means (the tutorial's soft Dice vs the BraTS region Dice).
    write_text_atomically(out / "history-columns.txt", describe(list(HISTORY_COLUMNS)) + "\n")
    plot_history(rows, out / "curves.png")
