"""Labels from probabilities: the plain argmax, or whole tumour first (the Accurate tier's decision)."""

from __future__ import annotations

import numpy as np
import pytest

from brats_desktop.core.decision import decide_labels


def _probs(*columns: tuple[float, float, float, float]) -> np.ndarray:
    return np.asarray(columns, dtype=np.float32).T.reshape(4, len(columns), 1, 1)


def test_none_is_the_plain_argmax() -> None:
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(4), size=(5, 6, 40)).transpose(3, 0, 1, 2).astype(np.float16)
    np.testing.assert_array_equal(decide_labels(p), p.argmax(axis=0))


def test_whole_tumour_first_wins_split_votes_but_never_creates_enhancing() -> None:
    p = _probs((0.40, 0.25, 0.35, 0.00),   # background the single likeliest, tumour 0.6 together
               (0.45, 0.05, 0.10, 0.40),   # enhancing the likeliest tumour class: won as edema
               (0.95, 0.01, 0.03, 0.01),   # confident background stays
               (0.65, 0.05, 0.30, 0.00),   # background 0.65: tumour only from a threshold above it
               (0.10, 0.20, 0.10, 0.60))   # enhancing of the plain argmax stays enhancing
    np.testing.assert_array_equal(decide_labels(p)[:, 0, 0], [0, 0, 0, 0, 3])
    np.testing.assert_array_equal(decide_labels(p, 0.5)[:, 0, 0], [2, 2, 0, 0, 3])
    np.testing.assert_array_equal(decide_labels(p, 0.7)[:, 0, 0], [2, 2, 0, 2, 3])
    np.testing.assert_array_equal(decide_labels(p, 1.0)[:, 0, 0], [2, 2, 2, 2, 3])


def test_saved_uint8_probabilities_decide_as_the_floats_do() -> None:
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(4) * 0.5, size=(7, 7, 37)).transpose(3, 0, 1, 2).astype(np.float32)
    q = np.round(p * 255).astype(np.uint8)
    assert (decide_labels(q, 0.6) == decide_labels(p, 0.6)).mean() > 0.97  # only near-ties may differ
    plain = decide_labels(p)
    previous = plain
    for t in (0.5, 0.7, 0.9):  # a higher threshold never shrinks the tumour; plain tumour keeps its class
        labels = decide_labels(p, t)
        assert np.all(labels[plain > 0] == plain[plain > 0])
        assert np.all(labels[previous > 0] > 0)
        previous = labels


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="at least two classes"):
        decide_labels(np.zeros((1, 3, 3, 3)), 0.5)
    with pytest.raises(ValueError, match=r"background_below must lie in \(0, 1\]"):
        decide_labels(np.zeros((4, 3, 3, 3)), 1.5)
