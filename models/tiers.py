"""Model tiers: *Fast* (the bundled model alone, seconds on a CPU) and *Accurate* (a small ensemble).

A tier is a named set of bundled model files whose mean softmax makes the prediction,
with its test-time augmentation and an optional enhancing-tumour rule. Which files
belong to which tier is data, not code: ``models/bundled/tiers.json`` ::

    {"fast":     {"members": ["unet2d-flair-t1ce.pt"], "tta": "none", "description": "..."},
     "accurate": {"members": ["unet2d-flair-t1ce.pt", "unet2d-coronal-flair-t1ce.pt"],
                  "tta": "flip", "min_enhancing_ml": null, "enhancing_per_lesion": false,
                  "background_below": 0.5, "description": "..."},
     "any_sequence": {"members": ["unet2d-any-flair-t1ce-t2.pt"], "tta": "none", "description": "..."}}

so adding a model to *Accurate* is one line there (member paths are relative to
``models/bundled/``). ``min_enhancing_ml`` (null: off) is the tier's enhancing-tumour rule
(:func:`brats_desktop.core.postprocessing.enhancing_volume_rule`: enhancing tumour below that
volume, in all or per piece with ``enhancing_per_lesion``, becomes label 1, the winners'
low-grade rule), applied in the post-processing before label 1 changes meaning.
``background_below`` (absent or null: the plain argmax) decides whole tumour first: a
voxel whose mean background probability is below it is tumour
(:func:`brats_desktop.core.decision.decide_labels`).
``any_sequence`` is optional: a model trained with modality
dropout that reads any non-empty subset of its sequences. When a patient lacks a
sequence the chosen tier needs, that model is used instead (if its file is there and
it can read what the patient has), and the result says so.

The app and ``brats-predict`` choose a tier with :func:`resolve_tier` ("auto": Accurate
on a CUDA GPU, where a few passes cost well under a second, else Fast), load it with
:func:`load_tier` and hand the :class:`Tier` to :func:`models.runtime.predict_patient`.
This module imports no torch at import time (the window builds without it); loading a
tier does.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from brats_desktop.core.discovery import MODALITY_LABELS

from .catalog import BUNDLED_DIR

__all__ = [
    "ACCURATE", "ANY_SEQUENCE", "FAST", "MANIFEST_NAME", "TIERS", "TIER_CHOICES", "TIER_TITLES",
    "Tier", "TierError", "TierSpec", "load_tier", "manifest_path", "read_manifest", "resolve_tier",
    "subset_key", "tier_summaries",
]

MANIFEST_NAME = "tiers.json"
FAST, ACCURATE, ANY_SEQUENCE = "fast", "accurate", "any_sequence"
TIERS: tuple[str, ...] = (FAST, ACCURATE)
TIER_CHOICES: tuple[str, ...] = ("auto", *TIERS)
TIER_TITLES: dict[str, str] = {FAST: "Fast", ACCURATE: "Accurate", ANY_SEQUENCE: "Any-sequence"}
# "auto" by device type: a GPU runs several models with flip TTA in about a second; a CPU
# keeps the 3-second budget with the one Fast model.
AUTO_TIER: dict[str, str] = {"cuda": ACCURATE}
_TTA_WORDS = {"none": "no TTA", "flip": "flip TTA", "auto": "TTA by device"}


class TierError(ValueError):
    """The tier manifest is missing or malformed; ``path`` and ``problem`` say which and why."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class TierSpec:
    """One manifest entry, as written (file names, not loaded models)."""

    key: str
    members: tuple[str, ...]
    tta: str = "none"
    min_enhancing_ml: float | None = None
    description: str = ""
    enhancing_per_lesion: bool = False
    background_below: float | None = None

    def paths(self, folder: Path | None = None) -> list[Path]:
        base = BUNDLED_DIR if folder is None else Path(folder)
        return [base / m for m in self.members]


def manifest_path(folder: Path | None = None) -> Path:
    return (BUNDLED_DIR if folder is None else Path(folder)) / MANIFEST_NAME


def _spec(path: Path, key: str, entry: Any) -> TierSpec:
    if not isinstance(entry, Mapping):
        raise TierError(path, f"entry {key!r} must be an object with \"members\"")
    members = entry.get("members")
    if not isinstance(members, list) or not members or not all(isinstance(m, str) and m for m in members):
        raise TierError(path, f"{key}.members must be a non-empty list of model file names")
    if any(Path(m).is_absolute() or ".." in Path(m).parts for m in members):
        raise TierError(path, f"{key}.members must name files inside models/bundled/")
    tta = entry.get("tta", "none")
    if not isinstance(tta, str):
        raise TierError(path, f"{key}.tta must be a string (none, flip or auto)")
    threshold = entry.get("min_enhancing_ml")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or threshold < 0):
        raise TierError(path, f"{key}.min_enhancing_ml must be null or a number of mL >= 0")
    per_lesion = entry.get("enhancing_per_lesion", False)
    if not isinstance(per_lesion, bool):
        raise TierError(path, f"{key}.enhancing_per_lesion must be true or false")
    below = entry.get("background_below")
    if below is not None and (isinstance(below, bool) or not isinstance(below, (int, float)) or not 0 < below <= 1):
        raise TierError(path, f"{key}.background_below must be null or a probability in (0, 1]")
    return TierSpec(key, tuple(members), tta, None if threshold is None else float(threshold),
                    str(entry.get("description", "")), per_lesion, None if below is None else float(below))


def read_manifest(folder: Path | None = None) -> dict[str, TierSpec]:
    """The manifest's tiers by key (``fast``, ``accurate`` and optionally ``any_sequence``); no torch.

    Raises :class:`TierError` naming the file when it is absent, not JSON, or lacks a tier.
    Keys other than those three are ignored (room for later tiers).
    """
    path = manifest_path(folder)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TierError(path, "tier manifest not found (no bundled models installed?)") from exc
    except (OSError, ValueError) as exc:
        raise TierError(path, f"tier manifest cannot be read ({exc})") from exc
    if not isinstance(data, dict):
        raise TierError(path, "tier manifest must be a JSON object")
    specs = {}
    for key in (*TIERS, ANY_SEQUENCE):
        if key in data:
            specs[key] = _spec(path, key, data[key])
        elif key in TIERS:
            raise TierError(path, f"tier manifest lacks the {key!r} tier")
    return specs


def resolve_tier(requested: str | None, device: Any = "cpu") -> str:
    """The tier to run: ``requested`` ("fast"/"accurate") as is; "auto"/None by ``device``.

    ``device`` is a ``torch.device`` or its name ("cpu", "cuda", "cuda:1", "mps"); "auto"
    asks torch whether a CUDA GPU is there (imports torch).
    """
    choice = (requested or "auto").lower()
    if choice in TIERS:
        return choice
    if choice != "auto":
        raise ValueError(f"unknown model tier {requested!r}; choose one of {', '.join(TIER_CHOICES)}")
    kind = getattr(device, "type", None) or str(device or "cpu").split(":")[0].lower()
    if kind == "auto":
        import torch

        kind = "cuda" if torch.cuda.is_available() else "cpu"
    return AUTO_TIER.get(kind, FAST)


def subset_key(modalities: Any) -> str:
    """The key of a sequence subset in a model's ``subset_dice``: sorted names joined by "+" ("flair+t2")."""
    return "+".join(sorted(str(m) for m in modalities))


def _words(modalities: Any) -> str:
    return " + ".join(MODALITY_LABELS.get(m, str(m).upper()) for m in modalities)


def _plane(model: Any) -> str:
    return str((getattr(model, "metadata", None) or {}).get("preprocessing", {}).get("plane") or "axial")


@dataclass
class Tier:
    """Loaded members of one tier, ready for :func:`models.runtime.predict_patient`.

    ``key`` is the tier that runs ("fast", "accurate" or "any_sequence"); ``requested``
    the one asked for (differs only when the any-sequence model stood in, ``missing``
    then names the sequences the patient lacked and ``reads`` those the model used).
    """

    key: str
    members: list[Any]  # models.checkpoint.LoadedModel, the first is the primary
    tta: str = "none"
    min_enhancing_ml: float | None = None
    description: str = ""
    requested: str | None = None
    missing: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    files: list[str] = field(default_factory=list)  # manifest names of the members
    enhancing_per_lesion: bool = False  # the rule judges each enhancing piece alone
    background_below: float | None = None  # whole tumour first (core.decision.decide_labels); None: argmax

    @property
    def title(self) -> str:
        return TIER_TITLES.get(self.key, self.key)

    @property
    def primary(self) -> Any:
        return self.members[0]

    @property
    def name(self) -> str:
        """What reports and DICOM SEG name as the algorithm (same attribute as a LoadedModel's)."""
        return self.label

    @property
    def path(self) -> Path | None:
        return getattr(self.primary, "path", None)

    @property
    def paths(self) -> list[Path]:
        return [Path(p) for p in (getattr(m, "path", None) for m in self.members) if p is not None]

    @property
    def metadata(self) -> dict[str, Any]:
        return getattr(self.primary, "metadata", {}) or {}

    @property
    def modalities(self) -> list[str]:
        """The sequences the tier reads: its members' (in order, once); the any-sequence model's, those it reads."""
        if self.reads:
            return list(self.reads)
        out: list[str] = []
        for m in self.members:
            out += [x for x in m.modalities if x not in out]
        return out

    @property
    def label(self) -> str:
        """Human description, e.g. "Accurate (3 models: axial + coronal + sagittal, flip TTA)"."""
        tta = _TTA_WORDS.get(self.tta, f"{self.tta} TTA")
        if self.key == ANY_SEQUENCE:
            lacking = f"; {_words(self.missing)} missing" if self.missing else ""
            return f"{self.title} ({_words(self.modalities)}{lacking}, {tta})"
        planes = [_plane(m) for m in self.members]
        counted = [f"{planes.count(p)} × {p}" if planes.count(p) > 1 else p for p in dict.fromkeys(planes)]
        models = "1 model" if len(self.members) == 1 else f"{len(self.members)} models"
        return f"{self.title} ({models}: {' + '.join(counted)}, {tta})"

    @property
    def subset_dice(self) -> dict[str, Any] | None:
        """Out-of-fold Dice of the any-sequence model on exactly the sequences it read here, if recorded."""
        if self.key != ANY_SEQUENCE:
            return None
        table = self.metadata.get("subset_dice") or {}
        found = table.get(subset_key(self.modalities)) if isinstance(table, Mapping) else None
        return dict(found) if isinstance(found, Mapping) else None

    @property
    def subset_dice_brief(self) -> str:
        """"WT 0.80, TC 0.60, ET 0.50" of :attr:`subset_dice`, or "" when none is recorded (the layer's row)."""
        return dice_parts(self.subset_dice or {})

    def details(self) -> str:
        """Several lines for a tooltip or Model Information: members, TTA, rule, the subset's Dice."""
        lines = [self.label]
        if self.description:
            lines.append(self.description)
        lines += [f"• {f}" for f in (self.files or [m.name for m in self.members])]
        if self.min_enhancing_ml is not None:
            per = " (per piece)" if self.enhancing_per_lesion else ""
            lines.append(f"Enhancing tumour below {self.min_enhancing_ml:g} mL{per} becomes label 1 (necrosis)")
        if self.background_below is not None:
            lines.append(f"Whole tumour first: tumour wherever background's probability is below {self.background_below:g}")
        if self.key == ANY_SEQUENCE:
            asked = TIER_TITLES.get(self.requested or "", "the chosen tier")
            lines.append(f"Used instead of {asked}: this patient has no {_words(self.missing)}.")
            lines.append(subset_dice_text(self.subset_dice, self.modalities))
        return "\n".join(lines)

    def postprocess_params(self) -> Any:
        """The post-processing this tier's labels get: :data:`~brats_desktop.core.postprocessing.DEFAULT_POSTPROCESSING`
        with the tier's enhancing-tumour rule; None (the default) while ``min_enhancing_ml`` is null."""
        if not self.min_enhancing_ml:
            return None
        from brats_desktop.core.postprocessing import DEFAULT_POSTPROCESSING

        return dataclasses.replace(DEFAULT_POSTPROCESSING, min_enhancing_ml=float(self.min_enhancing_ml),
                                   enhancing_per_lesion=self.enhancing_per_lesion)

    def record(self) -> dict[str, Any]:
        """What sidecars and JSON output keep: the tier, its members (file, name, plane, inputs), TTA, rule."""
        from brats_desktop.core.provenance import algorithm_of

        out: dict[str, Any] = {
            "tier": self.key,
            "model_label": self.label,
            "members": [
                {"file": f, "name": m.name, "plane": _plane(m), "modalities": list(m.modalities),
                 "version": algorithm_of(m).version}
                for f, m in zip(self.files or [m.name for m in self.members], self.members)
            ],
            "tta": self.tta,
            "min_enhancing_ml": self.min_enhancing_ml,
            "enhancing_per_lesion": self.enhancing_per_lesion,
            "background_below": self.background_below,
        }
        if self.key == ANY_SEQUENCE:
            out.update(requested_tier=self.requested, missing=list(self.missing), reads=list(self.modalities),
                       subset_dice=self.subset_dice)
        return out


def dice_parts(scores: Mapping[str, Any]) -> str:
    """"WT 0.80, TC 0.60, ET 0.50" of the regions ``scores`` has ("" for none)."""
    return ", ".join(f"{k} {float(scores[k]):.2f}" for k in ("WT", "TC", "ET") if k in scores)


def subset_dice_text(scores: Mapping[str, Any] | None, modalities: Any) -> str:
    """"Out-of-fold Dice with FLAIR + T2: WT 0.80, TC 0.60, ET 0.50 (31 patients)", or why there is none."""
    if not scores:
        return f"No out-of-fold Dice recorded for {_words(modalities)} alone."
    n = f" ({int(scores['n'])} patients)" if "n" in scores else ""
    return f"Out-of-fold Dice with {_words(modalities)}: {dice_parts(scores)}{n}"


def _loader(cache: dict[Path, Any] | None):
    from .checkpoint import load_model

    cache = {} if cache is None else cache

    def loaded(path: Path) -> Any:
        if path not in cache:
            cache[path] = load_model(path)
        return cache[path]

    return loaded


def load_tier(tier: str, patient: Any = None, cache: dict[Path, Any] | None = None,
              folder: Path | None = None) -> Tier:
    """Load ``tier``'s members (safe loader, ``weights_only=True``); the any-sequence stand-in when needed.

    With ``patient``: if it lacks a sequence a member needs and the manifest's
    ``any_sequence`` model exists and reads a non-empty part of what the patient has,
    that model is returned instead (``Tier.key == "any_sequence"``). Otherwise the tier
    itself, and :func:`models.runtime.predict_patient` names what is missing.
    ``cache`` (path -> model) spares reloading. Raises ``ModelLoadError`` (a missing or
    damaged member, or a bad manifest, named by path).
    """
    from .checkpoint import ModelLoadError
    from .inference import accepts_missing_modalities
    from .tta import resolve_tta

    if tier not in TIERS:
        raise ValueError(f"unknown model tier {tier!r}; choose one of {', '.join(TIERS)}")
    try:
        specs = read_manifest(folder)
    except TierError as exc:
        raise ModelLoadError(exc.path, exc.problem) from exc
    loaded = _loader(cache)

    def build(spec: TierSpec, **extra: Any) -> Tier:
        try:
            resolve_tta(spec.tta, "cpu")
        except ValueError as exc:
            raise ModelLoadError(manifest_path(folder), f"{spec.key}.tta: {exc}") from exc
        members = [loaded(p) for p in spec.paths(folder)]
        meanings = {str(m.metadata.get("ncr_definition", "brats2013")) for m in members}
        classes = {int(m.metadata.get("architecture", {}).get("num_classes", 4)) for m in members}
        if len(meanings) > 1 or len(classes) > 1:
            raise ModelLoadError(manifest_path(folder), f"the members of {spec.key!r} were trained on different "
                                 "labels (meaning of label 1 or number of classes); they cannot be averaged")
        return Tier(spec.key, members, spec.tta, spec.min_enhancing_ml, spec.description,
                    files=list(spec.members), enhancing_per_lesion=spec.enhancing_per_lesion,
                    background_below=spec.background_below, **extra)

    chosen = build(specs[tier], requested=tier)
    if patient is None:
        return chosen
    have = set(getattr(patient, "images", {}) or {})
    lacking = [m for m in chosen.modalities if m not in have]
    fits = all(not [x for x in m.modalities if x not in have]
               or (accepts_missing_modalities(m) and set(m.modalities) & have) for m in chosen.members)
    spare = specs.get(ANY_SEQUENCE)
    if fits or spare is None or not all(p.is_file() for p in spare.paths(folder)):
        return chosen
    stand_in = build(spare, requested=tier, missing=tuple(lacking))
    model = stand_in.primary
    reads = tuple(m for m in model.modalities if m in have)
    if not accepts_missing_modalities(model) or not reads:
        return chosen  # it cannot read this patient either: the tier's own message is the clearer one
    stand_in.reads = reads
    stand_in.missing = tuple(m for m in dict.fromkeys([*lacking, *model.modalities]) if m not in have)
    return stand_in


def tier_summaries(folder: Path | None = None) -> list[tuple[str, str, list[str], str]]:
    """(title, TTA, member files, description) of each manifest tier, for Help; no torch. Empty without a manifest.

    A member whose file is absent (the optional any-sequence model before it is trained) is marked "(not installed)".
    """
    try:
        specs = read_manifest(folder)
    except TierError:
        return []
    return [(TIER_TITLES.get(k, k), s.tta,
             [m if p.is_file() else f"{m} (not installed)" for m, p in zip(s.members, s.paths(folder))],
             s.description) for k, s in specs.items()]
