"""Self-describing model files that load without executing anything from the file.

A model file (``.pt``) is a plain dict saved with ``torch.save``::

    {"format": "brats-desktop-model", "version": 1,
     "metadata_json": "<JSON text>", "state_dict": {name: tensor, ...}}

and is read back with ``torch.load(weights_only=True)``, whose restricted unpickler
accepts only tensors and plain containers: a crafted pickle that would run code is
refused (:class:`ModelLoadError`). The metadata (modalities in channel order, class
table, label convention, preprocessing, architecture, how it was trained, metrics,
licence) travels inside the same file, so weights and their description cannot drift
apart; :func:`save_model` also writes it beside as ``<name>.json`` for people and tools
that want to read it without torch.
"""

from __future__ import annotations

import json
import os
import pickle
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .unet import build_network, fuse_batch_norm

FORMAT = "brats-desktop-model"
VERSION = 1
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
DEFAULT_MODEL_NAME = "unet2d-flair-t1ce.pt"

REQUIRED_METADATA = ("name", "modalities", "classes", "label_convention", "preprocessing", "architecture")


class ModelLoadError(Exception):
    """A model file cannot be used; ``path`` and ``problem`` say which and why."""

    def __init__(self, path: Path | str | None, problem: str) -> None:
        self.path = Path(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path is not None else problem)


@dataclass
class LoadedModel:
    """A network ready for inference (eval mode, CPU) and the metadata describing it."""

    network: nn.Module
    metadata: dict[str, Any]
    path: Path | None = None

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", "model"))

    @property
    def modalities(self) -> list[str]:
        return list(self.metadata["modalities"])


def _jsonable(metadata: dict[str, Any]) -> str:
    """Metadata as JSON text; class keys become strings (JSON objects have string keys)."""
    try:
        return json.dumps(metadata, indent=2, sort_keys=False, default=str)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model metadata is not JSON-serialisable: {exc}") from exc


def _normalise_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Turn the class table's string keys back into ints after a JSON round trip."""
    meta = dict(metadata)
    if isinstance(meta.get("classes"), dict):
        meta["classes"] = {int(k): v for k, v in meta["classes"].items()}
    return meta


def save_model(path: Path | str, network: nn.Module, metadata: dict[str, Any]) -> Path:
    """Write weights + metadata atomically to ``path`` and the metadata to ``path.with_suffix('.json')``."""
    path = Path(path)
    missing = [k for k in REQUIRED_METADATA if k not in metadata]
    if missing:
        raise ValueError(f"model metadata lacks required key(s): {', '.join(missing)}")
    text = _jsonable(metadata)
    module = network.module if hasattr(network, "module") else network  # unwrap DDP
    state = {k: v.detach().to("cpu").clone() for k, v in module.state_dict().items()}
    payload = {"format": FORMAT, "version": VERSION, "metadata_json": text, "state_dict": state}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    path.with_suffix(".json").write_text(text + "\n", encoding="utf-8")
    return path


def read_metadata(path: Path | str) -> dict[str, Any]:
    """Only the metadata of a model file (still through the safe loader)."""
    return _normalise_metadata(json.loads(_load_payload(Path(path))["metadata_json"]))


def _load_payload(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ModelLoadError(path, "model file not found")
    if path.is_dir():
        raise ModelLoadError(path, "is a folder, not a model file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(
            path,
            "refused: the file contains Python objects other than weights "
            f"(it could execute code when loaded, so it is not loaded) [{str(exc).splitlines()[0][:160]}]",
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError, TypeError, IndexError, KeyError) as exc:
        raise ModelLoadError(path, f"not a readable model file ({str(exc).splitlines()[0][:200]})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelLoadError(path, f"not a BraTS Desktop model file (no '{FORMAT}' format marker)")
    if int(payload.get("version", 0)) > VERSION:
        raise ModelLoadError(
            path, f"model format version {payload.get('version')} is newer than this app understands ({VERSION})"
        )
    if not isinstance(payload.get("metadata_json"), str) or not isinstance(payload.get("state_dict"), dict):
        raise ModelLoadError(path, "model file lacks its metadata or its weights")
    return payload


def load_model(path: Path | str, fuse: bool = True) -> LoadedModel:
    """Load a model file safely: rebuild the network from its metadata, load weights, eval mode on CPU.

    ``fuse`` folds batch norm into the convolutions (faster inference, outputs equal to
    float rounding); pass ``False`` to get the exact trained module structure back.
    """
    path = Path(path)
    payload = _load_payload(path)
    try:
        metadata = _normalise_metadata(json.loads(payload["metadata_json"]))
    except (json.JSONDecodeError, ValueError, TypeError) as exc:
        raise ModelLoadError(path, f"metadata is not valid JSON ({exc})") from exc
    missing = [k for k in REQUIRED_METADATA if k not in metadata]
    if missing:
        raise ModelLoadError(path, f"metadata lacks required key(s): {', '.join(missing)}")
    try:
        network = build_network(metadata["architecture"])
        network.load_state_dict(payload["state_dict"], strict=True)
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ModelLoadError(path, f"weights do not match the described architecture ({str(exc)[:300]})") from exc
    network.eval()
    if fuse:
        fuse_batch_norm(network)
    return LoadedModel(network, metadata, path)


def bundled_models() -> list[Path]:
    """Model files shipped in ``models/bundled/``, default first."""
    if not BUNDLED_DIR.is_dir():
        return []
    found = sorted(BUNDLED_DIR.glob("*.pt"))
    return sorted(found, key=lambda p: p.name != DEFAULT_MODEL_NAME)


def default_model_path() -> Path:
    """The bundled FLAIR + T1CE model the app loads by default (may not exist in a fresh checkout)."""
    return BUNDLED_DIR / DEFAULT_MODEL_NAME
