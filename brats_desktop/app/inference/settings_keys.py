"""What Segment remembers (QSettings keys) and how long its notices last; shared by its parts."""

from __future__ import annotations

from typing import Any

PREDICTION_LAYER = "Prediction"
FORCE_CPU_KEY = "inference/force_cpu"
ACCURATE_KEY = "inference/accurate"  # Segment → Accurate: the model tier (models.tiers)
NCR_DEFINITION_KEY = "inference/ncr_definition"
LABEL1_MEANING = {
    "brats2021": "necrosis inside the enhancing rim (BraTS 2021+)",
    "brats2013": "necrotic + non-enhancing core (BraTS 2013–2020)",
}
NCR_MENU_TEXT = {
    "brats2021": "BraTS 2021+: Necrosis Inside the Enhancing Rim",
    "brats2013": "BraTS 2013–2020: Necrotic + Non-enhancing Core",
}
MODEL_DIR_KEY = "inference/model_dir"  # where File → Load Model… starts
RECENT_MODELS_KEY = "inference/recent_models"  # File → Recent Models (checkpoints loaded before)
MAX_RECENT_MODELS = 6
DROPPED_NOTICE_MS = 30_000  # how long "segmentation of A stopped: B was opened" stays in the status bar
SHUTDOWN_WAIT_MS = 30_000
DEVICE_PROBE_DELAY_MS = 1500


def as_bool(value: Any) -> bool:
    """QSettings returns "true"/"false" strings from INI files."""
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)
