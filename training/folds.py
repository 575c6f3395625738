"""Patient-level k-fold cross-validation folds, stratified so rare kinds of tumour spread over folds.

With 35 real patients one train/val split measures mostly which patients landed in
validation; k folds give every patient one out-of-fold prediction. The two low-grade
cases of ``brats2018-train`` barely enhance: if both fell in one fold that fold's ET
Dice would swing and the others would never be tested on such a tumour. A stratum is
therefore derived from each patient's own labels (no list of names to keep in sync):
``low_enhancing`` when enhancing tumour is under :data:`LOW_ET_FRACTION` of the tumour
(the two low-grade cases hold 0.7 % and 1.3 %, every high-grade case 3.7 % or more). Patients are
dealt round-robin, stratum by stratum, continuing the deal so fold sizes stay equal.
Each fold is saved as an ordinary :class:`training.split.Split` (train = the other
folds, val = this fold) so ``brats-train --split`` trains it unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .split import Split

LOW_ET_FRACTION = 0.02


def stratum_of(labels: np.ndarray) -> str:
    """``low_enhancing`` or ``enhancing`` from internal labels (3 = enhancing); a relative share, not mL,
    because a large low-grade tumour can still hold a few mL of enhancing specks."""
    tumour = int((labels > 0).sum())
    share = float((labels == 3).sum()) / tumour if tumour else 0.0
    return "low_enhancing" if share < LOW_ET_FRACTION else "enhancing"


def make_folds(strata: Mapping[str, str], k: int, seed: int) -> list[Split]:
    """``k`` splits whose validation sets partition the patients; rarer strata are dealt first."""
    names = sorted(strata)
    if len(set(names)) != len(names):
        raise ValueError("patient names must be unique")
    if not 2 <= k <= len(names):
        raise ValueError(f"need 2 <= folds <= patients, got {k} folds for {len(names)} patients")
    rng = np.random.default_rng(seed)
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(strata[name], []).append(name)
    order = sorted(groups, key=lambda s: (len(groups[s]), s))  # rarest stratum first
    folds: list[list[str]] = [[] for _ in range(k)]
    start = 0
    for stratum in order:
        members = list(groups[stratum])
        rng.shuffle(members)
        for i, name in enumerate(members):
            folds[(start + i) % k].append(name)
        start = (start + len(members)) % k
    return splits_of(folds, seed)


def splits_of(folds: Sequence[Sequence[str]], seed: int) -> list[Split]:
    """One split per fold: that fold's patients held out, every other fold's trained on."""
    return [
        Split(sorted(n for j, f in enumerate(folds) if j != i for n in f), sorted(held), [], seed)
        for i, held in enumerate(folds)
    ]


def save_folds(folds: Sequence[Split], strata: Mapping[str, str], out: Path) -> Path:
    """``folds.json`` (one line per fold's validation patients, plus strata) and ``fold-i/split.json``."""
    out.mkdir(parents=True, exist_ok=True)
    for i, split in enumerate(folds):
        split.save(out / f"fold-{i}" / "split.json")
    path = out / "folds.json"
    payload = {"folds": [s.val for s in folds], "strata": dict(sorted(strata.items()))}
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return path
