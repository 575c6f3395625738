"""Patient-level train / validation / test split, seeded and saved to a file.

Slices of one patient are strongly correlated, so splitting at slice level leaks the
validation patients into training. The split is by patient name, made once from a
seed and written to JSON so that later runs (and evaluation) reuse exactly it.
Default proportions follow the reference tutorial: 68 % / 20 % / 12 %.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from brats_desktop.core.atomic import write_atomically

DEFAULT_FRACTIONS: tuple[float, float, float] = (0.68, 0.20, 0.12)


@dataclass(frozen=True)
class Split:
    """Disjoint lists of patient names."""

    train: list[str]
    val: list[str]
    test: list[str]
    seed: int

    def __post_init__(self) -> None:
        sets = [set(self.train), set(self.val), set(self.test)]
        overlap = (sets[0] & sets[1]) | (sets[0] & sets[2]) | (sets[1] & sets[2])
        if overlap:
            raise ValueError(f"split puts patient(s) in two sets: {', '.join(sorted(overlap))}")

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        text = json.dumps(asdict(self), indent=2) + "\n"
        return write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), OSError)

    @classmethod
    def load(cls, path: Path | str) -> "Split":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(list(data["train"]), list(data["val"]), list(data["test"]), int(data["seed"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a readable split file ({exc})") from exc


def split_patients(
    names: Sequence[str], seed: int, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
) -> Split:
    """Shuffle patient names with ``seed`` and cut them into train / val / test.

    Counts are rounded, but with two or more patients validation gets at least one
    (a run without validation cannot choose its best checkpoint); test may be empty
    for tiny cohorts such as the four real training cases.
    """
    if len(set(names)) != len(names):
        raise ValueError("patient names must be unique")
    if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {fractions}")
    order = sorted(names)
    np.random.default_rng(seed).shuffle(order)
    n = len(order)
    n_val = int(round(n * fractions[1]))
    n_test = int(round(n * fractions[2]))
    if n >= 2 and fractions[1] > 0:
        n_val = max(n_val, 1)
    n_test = min(n_test, max(n - n_val - 1, 0))
    val = order[:n_val]
    test = order[n_val : n_val + n_test]
    train = order[n_val + n_test :]
    return Split(sorted(train), sorted(val), sorted(test), seed)
