"""The JSON beside an exported prediction: what made the mask (tier, member models, TTA, rule) and when.

A NIfTI header has 80 characters of description, too few to say which models voted on
a mask, so ``brats-predict`` and the app's Export write ``<mask name>.json`` beside it
(``case_prediction.nii.gz`` -> ``case_prediction.json``). A reader of the folder, or a
script, then knows whether the Fast or the Accurate tier made it, from which weights
(``members[].version`` is the weights file's SHA-256 prefix), and whether a person
edited it afterwards. Written atomically; never over a patient's input file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .atomic import write_atomically
from .errors import ExportError

FORMAT = "brats-desktop-prediction"
VERSION = 1


def sidecar_path(mask: Path | str) -> Path:
    """``x.nii.gz`` / ``x.nii`` -> ``x.json`` in the same folder."""
    mask = Path(mask)
    name = mask.name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return mask.with_name(name[: -len(suffix)] + ".json")
    return mask.with_name(name + ".json")


def sidecar_record(mask: Path | str, producer: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The sidecar's content: format marker, the mask's file name, UTC time, ``producer`` (the run's
    ``PredictionRun.producer``: tier, model_label, members, tta, min_enhancing_ml), then ``extra``."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "mask": Path(mask).name,
        "written_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **dict(producer),
        **extra,
    }


def write_sidecar(mask: Path | str, record: Mapping[str, Any],
                  protected: set[Path] | frozenset[Path] = frozenset()) -> Path:
    """Write ``record`` as ``sidecar_path(mask)`` atomically (replacing an older one of the same mask)."""
    target = sidecar_path(mask)
    if target.resolve() in {Path(p).resolve() for p in protected}:
        raise ExportError(f"{target}: this is an input file of the patient; it is never overwritten")
    text = json.dumps(dict(record), indent=2, default=str) + "\n"
    return write_atomically(target, lambda tmp: tmp.write_text(text, encoding="utf-8"), ExportError)


def read_sidecar(mask: Path | str) -> dict[str, Any] | None:
    """The sidecar of ``mask`` if there is a readable one of ours, else None."""
    try:
        data = json.loads(sidecar_path(mask).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None
