"""Tiny tier manifests for the tier tests: random tiny U-Nets written as the members of a ``tiers.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from inference_support import tiny_model
from models.checkpoint import load_model, read_metadata, save_model


def any_sequence_model(folder: Path, modalities=("flair", "t1ce", "t2"), subset_dice: dict | None = None):
    """A tiny model marked as trained with modality dropout (reads any non-empty subset of ``modalities``)."""
    base = tiny_model(folder, modalities=modalities, seed=7)
    meta = read_metadata(base.path)
    meta["optional_modalities"] = True
    meta["name"] = "tiny-any-sequence"
    if subset_dice is not None:
        meta["subset_dice"] = subset_dice
    return load_model(save_model(folder / "any.pt", base.network, meta))


def write_manifest(folder: Path, fast: list[str], accurate: list[str], any_sequence: list[str] | None = None,
                   accurate_tta: str = "none", min_enhancing_ml: float | None = None,
                   background_below: float | None = None) -> Path:
    """``folder/tiers.json`` naming member files relative to ``folder``."""
    data: dict[str, Any] = {
        "fast": {"members": fast, "tta": "none", "description": "test fast"},
        "accurate": {"members": accurate, "tta": accurate_tta, "min_enhancing_ml": min_enhancing_ml,
                     "background_below": background_below, "description": "test accurate"},
    }
    if any_sequence is not None:
        data["any_sequence"] = {"members": any_sequence, "tta": "none", "description": "test any"}
    path = folder / "tiers.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def three_plane_bundle(folder: Path) -> dict[str, Any]:
    """Members ``axial/tiny.pt``, ``coronal/tiny.pt``, ``sagittal/tiny.pt`` (different seeds) and a manifest:
    Fast = the axial one, Accurate = all three. Returns {plane: LoadedModel}."""
    models = {}
    for seed, plane in enumerate(("axial", "coronal", "sagittal"), start=1):
        (folder / plane).mkdir(parents=True, exist_ok=True)
        models[plane] = tiny_model(folder / plane, seed=seed, plane=plane)
    write_manifest(folder, ["axial/tiny.pt"], [f"{p}/tiny.pt" for p in models])
    return models


def install_three_plane_bundle(tmp_path: Path, monkeypatch) -> tuple[Path, dict[str, Any]]:
    """:func:`three_plane_bundle` under ``tmp_path/bundled``, made the app's bundled folder for this test."""
    import models.tiers as tiers

    folder = tmp_path / "bundled"
    models = three_plane_bundle(folder)
    monkeypatch.setattr(tiers, "BUNDLED_DIR", folder)
    return folder, models
