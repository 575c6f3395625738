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

import io
import json
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from brats_desktop.core.atomic import write_atomically

from .catalog import BUNDLED_DIR, DEFAULT_MODEL_NAME
from .unet import build_network, fuse_batch_norm

FORMAT = "brats-desktop-model"
VERSION = 1

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


def save_torch_atomically(path: Path | str, obj: Any) -> Path:
    """``torch.save`` through :func:`write_atomically`: never half a checkpoint under ``path``.

    Serialised in memory first: torch's own writer reports a full disk as an opaque
    RuntimeError ("iostream error"), Python's file write as ``OSError(ENOSPC)``, which
    becomes a message naming the file.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return write_atomically(Path(path), lambda tmp: tmp.write_bytes(buffer.getbuffer()), OSError)


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
    save_torch_atomically(path, payload)
    write_atomically(path.with_suffix(".json"),
                     lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"), OSError)
    return path


def read_metadata(path: Path | str) -> dict[str, Any]:
    """Only the metadata of a model file (still through the safe loader)."""
    return _normalise_metadata(json.loads(_load_payload(Path(path))["metadata_json"]))


# Start of a file, and what such a file is, for files that are plainly not a model: the
# message then says what the user gave instead of quoting PyTorch's unpickler.
_NOT_A_MODEL = "BraTS Desktop models are .pt files written by brats-train (or the bundled one)"
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (e.g. a Keras .h5 model)"),
    (b"\x1f\x8b", "a gzip-compressed file (e.g. a NIfTI image .nii.gz)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
)
# Every pickle torch.save writes in its legacy format starts with this magic number.
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."


def _not_a_model(path: Path, what: str) -> ModelLoadError:
    return ModelLoadError(path, f"not a model file: {what}. {_NOT_A_MODEL}")


def _check_container(path: Path) -> None:
    """Refuse, in words, a file that is not a PyTorch checkpoint before torch.load reads it.

    ``torch.load`` reports such files with its internals ("pop from empty list",
    "Weights only load failed ... Re-running torch.load ..."), which tell a user nothing
    about the file they chose.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        raise ModelLoadError(path, f"cannot be read ({exc.strerror or exc})") from exc
    if size == 0:
        raise _not_a_model(path, "the file is empty (0 bytes)")
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ModelLoadError(
                path, "the model file is damaged or incomplete (its archive cannot be read); copy it again"
            ) from exc
        if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            raise _not_a_model(path, "a ZIP archive that is not a PyTorch checkpoint")
        return
    if head.startswith(b"\x80"):
        if head.startswith(_TORCH_LEGACY_MAGIC):
            return
        raise ModelLoadError(
            path,
            "not a model file: a Python pickle, not a PyTorch checkpoint; it is not loaded, "
            f"because unpickling can run code. {_NOT_A_MODEL}",
        )
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise _not_a_model(path, f"it is {what}")
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        raise _not_a_model(path, "it is a NIfTI image")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the 512-byte boundary
            raise _not_a_model(path, "its contents are not in any format BraTS Desktop reads") from exc
    if b"\x00" in head:
        raise _not_a_model(path, "its contents are not in any format BraTS Desktop reads")
    raise _not_a_model(path, "it is a text file")


def _load_payload(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ModelLoadError(path, "model file not found")
    if path.is_dir():
        raise ModelLoadError(path, "is a folder, not a model file")
    _check_container(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        blocked = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f" (it refers to {blocked.group(1)})" if blocked else ""
        raise ModelLoadError(
            path,
            "refused: the file holds Python objects other than weights, e.g. a whole pickled network "
            f"or training state{what}; loading it could run code, so it is not loaded. {_NOT_A_MODEL}",
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError, AttributeError, TypeError, IndexError, KeyError) as exc:
        raise ModelLoadError(
            path, "the model file is damaged or incomplete (PyTorch cannot read it); copy it again"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelLoadError(
            path, f"a PyTorch file, but not a BraTS Desktop model file (it lacks the '{FORMAT}' marker "
            "that brats-train writes with the weights and their description)",
        )
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
