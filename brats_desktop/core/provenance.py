"""Who made a label map: the bundled model untouched, the model's output corrected by a person, or a person.

A DICOM SEG records it per segment (AUTOMATIC / SEMIAUTOMATIC / MANUAL, with the algorithm's
name and version), and the patient report prints it: a reader must know whether a human has
looked at the contours. The algorithm's version is the weights file's SHA-256 prefix: the
model files carry a name but no version number, and the digest names the exact weights.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


class Provenance(enum.Enum):
    AUTOMATIC = "automatic"  # the model's output, not edited
    CORRECTED = "corrected"  # the model's output, edited by a person (DICOM: SEMIAUTOMATIC)
    MANUAL = "manual"  # drawn by a person (an annotation, or a ground truth file)

    @property
    def words(self) -> str:
        return {"automatic": "Automatic (AI, not edited)", "corrected": "AI, corrected by a person",
                "manual": "Manual annotation"}[self.value]


@dataclass(frozen=True)
class Algorithm:
    """The segmentation algorithm as a report and a SEG name it."""

    name: str
    version: str

    @property
    def words(self) -> str:
        return f"{self.name} (version {self.version})"


@lru_cache(maxsize=8)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def algorithm_of(model: object | None) -> Algorithm:
    """The model's name and a version: ``sha256:`` + 12 hex digits of its weights file (``unknown`` without one).

    A tier of several member files gets the digest of their digests, so any changed member changes the version.
    """
    if model is None:
        return Algorithm("unknown model", "unknown")
    name = str(getattr(model, "name", None) or "model")
    # A tier of several models (models.tiers.Tier.paths): the digest of its members' digests, in order.
    paths = [Path(p) for p in (getattr(model, "paths", None) or [getattr(model, "path", None)]) if p is not None]
    version = "unknown"
    if paths and all(p.is_file() for p in paths):
        digests = [_digest(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths]
        combined = digests[0] if len(digests) == 1 else hashlib.sha256("".join(digests).encode()).hexdigest()
        version = "sha256:" + combined[:12]
    return Algorithm(name, version)
