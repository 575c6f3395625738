"""How the tissues of a synthetic case look: per-tissue intensities, bias, partial volume, noise.

Part of the synthetic generator (:mod:`brats_desktop.core.synthetic` assembles a case):
turns field values at brain voxels into tissue fractions, labels and the four MRI contrasts.
"""

from __future__ import annotations

import numpy as np

from .labels import EDEMA, ENHANCING, NCR
from .synthetic_fields import ramp


ALL_MODALITIES: tuple[str, ...] = ("t1", "t1ce", "t2", "flair")


# Tissues of the contrast table, in the order of the fraction stack.
TISSUES: tuple[str, ...] = ("wm", "gm", "deep", "csf", "vessel", "edema", "solid", "enh", "nec")


# Intensity of each tissue relative to white matter, per modality. Read off the real
# brainles-sample-case (normal-appearing WM/GM/CSF away from the tumour and the
# mean of each tumour class) and textbook contrasts: T1 WM > GM > CSF, core dark;
# T1CE like T1 plus a bright enhancing rim and vessels; T2 CSF brightest, WM darkest;
# FLAIR CSF suppressed, edema bright, GM > WM.
BASE_CONTRAST: dict[str, dict[str, float]] = {
    "t1": dict(wm=1.0, gm=0.84, deep=0.88, csf=0.36, vessel=0.45, edema=0.72, solid=0.60, enh=0.55, nec=0.42),
    "t1ce": dict(wm=1.0, gm=0.90, deep=0.92, csf=0.45, vessel=1.30, edema=0.74, solid=0.80, enh=1.6, nec=0.58),
    "t2": dict(wm=1.0, gm=1.32, deep=1.2, csf=3.6, vessel=0.9, edema=2.6, solid=2.5, enh=3.2, nec=3.8),
    "flair": dict(wm=1.0, gm=1.28, deep=1.12, csf=0.5, vessel=0.6, edema=2.4, solid=2.3, enh=2.35, nec=2.05),
}


# Noise relative to white matter differs by sequence (FLAIR and T2 are the noisiest).
NOISE_FACTOR: dict[str, float] = {"t1": 1.0, "t1ce": 1.4, "t2": 1.4, "flair": 1.8}


# Raw scanner magnitude of white matter per modality (brainles-sample-case).
SCANNER_SCALE: dict[str, float] = {"t1": 470.0, "t1ce": 500.0, "t2": 70.0, "flair": 136.0}



def draw_contrast(rng: np.random.Generator) -> np.ndarray:
    """Per-case (all modalities x tissues) intensity table: base contrasts jittered, random scanner scale.

    Drawn for every modality, so an image does not depend on which others were asked for.
    """
    table = np.empty((len(ALL_MODALITIES), len(TISSUES)), dtype=np.float32)
    for i, mod in enumerate(ALL_MODALITIES):
        scale = SCANNER_SCALE[mod] * float(np.exp(rng.uniform(-0.7, 0.9)))
        for j, tissue in enumerate(TISSUES):
            value = BASE_CONTRAST[mod][tissue]
            table[i, j] = scale * (value if tissue == "wm" else value * float(rng.uniform(0.9, 1.1)))
    return table



class Look:
    """Turns field values at brain voxels into tissue fractions, labels and noisy images."""

    def __init__(
        self, rng: np.random.Generator, tumour: dict, cortex: float, k: float, table: np.ndarray, modalities: tuple[str, ...]
    ) -> None:
        self.rng, self.t, self.k = rng, tumour, k
        self.rows = [ALL_MODALITIES.index(m) for m in modalities]  # each modality keeps its own draws
        self.full_table, self.table = table, table[self.rows]
        self.noise_factor = np.array([NOISE_FACTOR[m] for m in modalities], dtype=np.float32)
        self.pv = np.float32(max(0.7, 1.2 * k))  # partial-volume width in voxels
        self.t_gm = np.float32(cortex * k)
        self.edema_gm_penalty = np.float32(tumour["r_edema"] * k * tumour["edema_spread"])
        self.bias_strength = rng.uniform(0.5, 1.5, len(ALL_MODALITIES)).astype(np.float32)[self.rows]
        self.noise_level = np.float32(rng.uniform(0.02, 0.05))

    def render(self, f: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(modalities x voxels) intensities, uint8 labels and (tissues x voxels) fractions."""
        k, pv, t_gm, t = self.k, self.pv, self.t_gm, self.t
        n = f["depth"].size
        fold_abs = np.abs(f["fold"])
        csf = ramp(np.float32(0.7 * k) - fold_abs, pv) * ramp(f["sulc_rel"], pv)
        csf *= 1.0 - ramp(f["edema"], 2 * pv)  # swollen tissue effaces the sulci (mass effect)
        np.maximum(csf, ramp(np.float32(0.8 * k) - f["depth"], pv), out=csf)
        np.maximum(csf, ramp(f["fissure"], pv), out=csf)
        np.maximum(csf, ramp(f["vent"], pv), out=csf)
        gm = ramp(t_gm - f["depth"], pv)
        np.maximum(gm, ramp(t_gm + np.float32(0.7 * k) - fold_abs, pv) * ramp(f["sulc_rel"] + t_gm, pv), out=gm)
        np.maximum(gm, ramp(f["fissure"] + t_gm, pv), out=gm)
        deep = ramp(f["deep"], 2 * pv)
        vessel = csf * ramp(f["texture"] - np.float32(1.3), np.float32(0.6))

        core = ramp(f["core"], pv)
        nec = ramp(f["nec"], pv) if t["necrosis"] else np.zeros_like(core)
        enh_on = ramp(f["gaps"] + np.float32(t["rim_cover"]), np.float32(0.6)) if t["enhancing"] else np.zeros_like(core)
        # Edema follows white matter: grey matter holds it back (shrinks its reach), CSF
        # excludes it; it always wraps the core in at least a thin shell.
        edema_reach = f["edema"] - self.edema_gm_penalty * gm
        np.maximum(edema_reach, f["core"] + np.float32(2.5 * k), out=edema_reach)
        edema = ramp(edema_reach, 2 * pv)
        edema *= 1.0 - csf

        # Fractions by painter's order: wm < gm < deep < csf < vessel < edema < core < rim < necrosis.
        layers = [gm, deep * (1.0 - csf), csf, vessel, edema, core, core * enh_on * (1.0 - nec), core * nec]
        fractions = np.empty((len(TISSUES), n), dtype=np.float32)
        remaining = np.ones(n, dtype=np.float32)
        for i in range(len(layers) - 1, -1, -1):  # top layer first: each takes its share of what is left
            np.multiply(layers[i], remaining, out=fractions[i + 1])
            remaining -= fractions[i + 1]
        fractions[0] = remaining

        labels = np.zeros(n, dtype=np.uint8)
        labels[(edema_reach > 0) & (f["vent"] <= 0)] = EDEMA
        core_hard = f["core"] > 0
        labels[core_hard] = NCR
        if t["enhancing"]:
            labels[core_hard & (enh_on > 0.5) & ~(t["necrosis"] & (f["nec"] > 0))] = ENHANCING

        # Every modality in one matrix product, always all four rows (then the requested
        # ones picked): the rounding, hence each image, is the same whatever is asked for.
        images = (self.full_table @ fractions)[self.rows]
        modulation = f["bias"] * np.float32(0.16)
        modulation += f["hetero"] * np.float32(0.1)
        modulation += f["texture"] * np.float32(0.025)
        offset = 7919  # prime: windows of one buffer at these offsets are uncorrelated voxel by voxel
        pool = self.rng.standard_normal(n + 2 * len(ALL_MODALITIES) * offset, dtype=np.float32)
        for i, img in enumerate(images):
            w = self.rows[i]  # noise windows belong to the modality, not to its position here
            img *= 1.0 + self.bias_strength[i] * modulation
            sigma = self.noise_level * self.noise_factor[i] * self.table[i, 0]
            # Magnitude of a complex signal with Gaussian noise in both channels (Rician),
            # the two channels being windows of one random buffer (one draw, not eight).
            re = pool[2 * w * offset : 2 * w * offset + n] * sigma
            re += img
            re *= re
            im = pool[(2 * w + 1) * offset : (2 * w + 1) * offset + n] * sigma
            im *= im
            re += im
            np.sqrt(re, out=img)
        return images, labels, fractions
