"""Synthetic BraTS-like patients: the app's demo patient and the training cohort.

One generator serves both, so the demo the viewer opens with is exactly the kind
of data the bundled model was partly trained on. A case is built procedurally:

* a brain-shaped mask (cerebrum, cerebellum and brainstem; ellipsoids deformed by
  smooth random fields) with a cortical grey-matter ribbon and sulci, an
  interhemispheric fissure, lateral ventricles, deep grey nuclei and white matter;
* a lobulated tumour in a hemisphere's white matter with a necrotic core (sometimes
  absent), an irregular enhancing rim (thick, thin or missing) and edema that
  spreads along white matter, pushing neighbouring structures away (mass effect);
* T1, T1CE, T2 and FLAIR contrasts from per-tissue intensities randomised per case,
  with a multiplicative bias field, partial-volume edges, Rician-like noise and a
  random scanner scale; background is exactly 0 (skull-stripped, like BraTS).

Why it is built this way: it must run in well under a second at 240x240x155 on two
CPU cores (the demo patient opens with the app). Every smooth field is drawn on a
coarse grid and upsampled (linear, by broadcasting, no gathers) only inside the
brain's bounding box, fields that matter only locally (tumour, ventricles, fissure)
only inside their own boxes; tissue boundaries are soft ramps of those fields
(partial volume) instead of a full-resolution blur; the four images come out of one
matrix product of tissue fractions with a contrast table; all in float32.

Lengths are written for the BraTS box (240x240x155 voxels of 1 mm) and scale with
``shape``, so tests can make small volumes with the same anatomy. Arrays are in
canonical RAS+ order like everything from :mod:`brats_desktop.core.nifti_io`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from .labels import EDEMA, ENHANCING, NCR, LabelConvention

REFERENCE_SHAPE: tuple[int, int, int] = (240, 240, 155)
DEMO_NAME = "Demo patient (synthetic)"
# The demo shows every class: a necrotic core, a mostly closed enhancing rim and edema.
DEMO_TUMOUR: dict[str, float | bool] = {"wt_ml": 75.0, "necrosis": True, "enhancing": True, "rim_cover": 1.6, "rim_fraction": 0.33}
ALL_MODALITIES: tuple[str, ...] = ("t1", "t1ce", "t2", "flair")

# Tissues of the contrast table, in the order of the fraction stack.
TISSUES: tuple[str, ...] = ("wm", "gm", "deep", "csf", "vessel", "edema", "solid", "enh", "nec")

# Fields drawn on the coarse grid and interpolated to voxels (signed distances in voxels,
# positive inside, unless said otherwise).
_FIELDS: tuple[str, ...] = (
    "depth",  # below the brain surface
    "fold",  # to the nearest sulcus (unsigned use)
    "sulc_rel",  # sulcal depth minus depth: positive where sulci reach
    "bias",  # smooth unit noise: the bias field
    "texture",  # fine unit noise: vessels in T1CE
    "vent",  # inside the lateral ventricles
    "deep",  # inside deep grey nuclei
    "fissure",  # inside the interhemispheric fissure
    "core",  # inside the tumour core
    "nec",  # inside the necrosis
    "gaps",  # unit noise: holes in the enhancing rim
    "edema",  # inside the edema's reach
    "hetero",  # unit noise inside the tumour: heterogeneity
)

# Intensity of each tissue relative to white matter, per modality. Read off the real
# brainles-sample-case (normal-appearing WM/GM/CSF away from the tumour and the
# mean of each tumour class) and textbook contrasts: T1 WM > GM > CSF, core dark;
# T1CE like T1 plus a bright enhancing rim and vessels; T2 CSF brightest, WM darkest;
# FLAIR CSF suppressed, edema bright, GM > WM.
_BASE_CONTRAST: dict[str, dict[str, float]] = {
    "t1": dict(wm=1.0, gm=0.84, deep=0.88, csf=0.36, vessel=0.45, edema=0.72, solid=0.60, enh=0.55, nec=0.42),
    "t1ce": dict(wm=1.0, gm=0.90, deep=0.92, csf=0.45, vessel=1.30, edema=0.74, solid=0.80, enh=1.6, nec=0.58),
    "t2": dict(wm=1.0, gm=1.32, deep=1.2, csf=3.6, vessel=0.9, edema=2.6, solid=2.5, enh=3.2, nec=3.8),
    "flair": dict(wm=1.0, gm=1.28, deep=1.12, csf=0.5, vessel=0.6, edema=2.4, solid=2.3, enh=2.35, nec=2.05),
}
# Noise relative to white matter differs by sequence (FLAIR and T2 are the noisiest).
_NOISE_FACTOR: dict[str, float] = {"t1": 1.0, "t1ce": 1.4, "t2": 1.4, "flair": 1.8}
# Raw scanner magnitude of white matter per modality (brainles-sample-case).
_SCANNER_SCALE: dict[str, float] = {"t1": 470.0, "t1ce": 500.0, "t2": 70.0, "flair": 136.0}


@dataclass
class SyntheticCase:
    """One synthetic patient: canonical RAS+ float32 images and internal uint8 labels."""

    images: dict[str, np.ndarray]
    labels: np.ndarray
    seed: int
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    info: dict[str, float | int | bool] = field(default_factory=dict)
    # Dominant tissue per voxel as an index into TISSUES (255 outside the brain); only
    # with ``with_tissues=True`` (tests and intensity statistics need it, the app does not).
    tissues: np.ndarray | None = None


# --------------------------------------------------------------------------- grids


class _Grid:
    """A coarse grid over the volume and a fast linear upsampler onto a crop of it.

    Coarse node ``i`` sits on full-resolution voxel ``i * step``; there is one node
    past the end of each axis, so every voxel lies between two nodes.
    """

    def __init__(self, shape: tuple[int, int, int], step: int) -> None:
        self.shape = shape
        self.step = max(1, int(step))
        self.coarse_shape = tuple(n // self.step + 2 for n in shape)

    def coords(self, cbox: tuple[slice, ...] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Open-mesh voxel coordinates of the coarse nodes (of ``cbox``, default all)."""
        cbox = cbox or tuple(slice(0, m) for m in self.coarse_shape)
        x, y, z = (np.arange(s.start, s.stop, dtype=np.float32) * self.step for s in cbox)
        return x[:, None, None], y[None, :, None], z[None, None, :]

    def cbox_around(self, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, ...]:
        """Smallest coarse box whose nodes enclose voxels ``lo``..``hi`` (inclusive)."""
        a = np.clip(np.floor(np.asarray(lo) / self.step).astype(int), 0, np.array(self.coarse_shape) - 2)
        b = np.clip(np.ceil(np.asarray(hi) / self.step).astype(int) + 1, a + 2, self.coarse_shape)
        return tuple(slice(int(i), int(j)) for i, j in zip(a, b))

    def voxels(self, cbox: tuple[slice, ...]) -> tuple[slice, ...]:
        """Voxels that ``upsample`` fills for a coarse box (clipped to the volume)."""
        return tuple(
            slice(s.start * self.step, min((s.stop - 1) * self.step, n)) for s, n in zip(cbox, self.shape)
        )

    def upsample(self, fields: np.ndarray) -> np.ndarray:
        """Coarse fields (k, a, b, c) -> (k, (a-1)s, (b-1)s, (c-1)s) voxels, linearly."""
        return _linear_upsample(fields, self.step)


def _linear_upsample(fields: np.ndarray, s: int) -> np.ndarray:
    """Linear interpolation of (k, a, b, c) node values by an integer factor ``s``.

    Each axis is one broadcast ``lo + (hi - lo) * w`` over a new length-``s`` axis
    followed by a free reshape: no index gathers, so it runs at memory speed.
    """
    f = fields.astype(np.float32, copy=False)
    if s == 1:
        return np.ascontiguousarray(f[:, :-1, :-1, :-1])
    w = np.arange(s, dtype=np.float32) / np.float32(s)
    k, a, b, c = f.shape
    f = f[..., :-1, None] + (f[..., 1:, None] - f[..., :-1, None]) * w
    f = f.reshape(k, a, b, (c - 1) * s)
    f = f[:, :, :-1, None, :] + (f[:, :, 1:, None, :] - f[:, :, :-1, None, :]) * w[:, None]
    f = f.reshape(k, a, (b - 1) * s, (c - 1) * s)
    f = f[:, :-1, None] + (f[:, 1:, None] - f[:, :-1, None]) * w[:, None, None]
    return f.reshape(k, (a - 1) * s, (b - 1) * s, (c - 1) * s)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Gaussian random field with unit standard deviation, correlation ``sigma`` (grid units).

    Wide correlations are drawn on a grid coarser by an integer factor and
    upsampled linearly, so the cost does not grow with ``sigma``.
    """
    factor = max(1, int(sigma // 1.5))
    small = tuple(n // factor + 2 for n in shape)
    noise = ndimage.gaussian_filter(
        rng.standard_normal(small, dtype=np.float32), sigma / factor, mode="wrap", truncate=3.0
    )
    if factor > 1:
        noise = _linear_upsample(noise.reshape((1,) + small) if noise.ndim == 3 else noise[None], factor)[0]
    noise = noise[tuple(slice(0, n) for n in shape)]
    return (noise - noise.mean()) / max(float(noise.std()), 1e-6)


def _ramp(signed: np.ndarray, width: float) -> np.ndarray:
    """Soft inside-indicator of a signed distance (voxels, positive inside): partial volume."""
    out = signed * np.float32(1.0 / width)
    out += np.float32(0.5)
    return np.clip(out, 0.0, 1.0, out=out)


# ------------------------------------------------------------------- parameters


TUMOUR_KEYS: tuple[str, ...] = (
    "wt_ml", "necrosis", "enhancing", "core_fraction", "rim_fraction", "lobulation", "rim_cover", "edema_spread",
)


def _draw_tumour(rng: np.random.Generator, overrides: Mapping[str, float | bool] | None = None) -> dict:
    """Tumour parameters: size, which parts exist, their proportions.

    Every parameter is drawn whatever ``overrides`` says, so overriding one (the demo
    asks for a rim and a necrotic core) leaves the rest of the case unchanged.
    """
    p: dict = dict(
        # Target size; edema fingers and the shell around the core make the labelled whole
        # tumour about 1-1.8x this, i.e. roughly 10-150 mL as in BraTS.
        wt_ml=float(np.exp(rng.uniform(np.log(7.0), np.log(110.0)))),
        necrosis=bool(rng.random() < 0.8),
        enhancing=bool(rng.random() < 0.88),
        core_fraction=float(rng.uniform(0.45, 0.8)),  # core radius / whole-tumour radius
        rim_fraction=float(rng.uniform(0.22, 0.55)),  # enhancing rim thickness / core radius
        lobulation=float(rng.uniform(0.12, 0.4)),
        rim_cover=float(rng.uniform(0.0, 2.2)),  # higher: fewer gaps in the enhancing rim
        edema_spread=float(rng.uniform(0.15, 0.45)),  # how much grey matter holds edema back
    )
    unknown = sorted(set(overrides or {}) - set(TUMOUR_KEYS))
    if unknown:
        raise ValueError(f"unknown tumour parameter(s) {unknown}; choose from {TUMOUR_KEYS}")
    p.update(overrides or {})
    if not p["necrosis"] and not p["enhancing"]:
        p["necrosis"] = True  # a non-enhancing tumour's core is still labelled NCR/NET
    r_wt = (3.0 * p["wt_ml"] * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)  # mm
    p["r_edema"] = r_wt
    p["r_core"] = r_wt * p["core_fraction"]
    p["rim"] = p["r_core"] * (p["rim_fraction"] if p["necrosis"] else 5.0)  # no necrosis: solid core
    return p


def _draw_contrast(rng: np.random.Generator) -> np.ndarray:
    """Per-case (all modalities x tissues) intensity table: base contrasts jittered, random scanner scale.

    Drawn for every modality, so an image does not depend on which others were asked for.
    """
    table = np.empty((len(ALL_MODALITIES), len(TISSUES)), dtype=np.float32)
    for i, mod in enumerate(ALL_MODALITIES):
        scale = _SCANNER_SCALE[mod] * float(np.exp(rng.uniform(-0.7, 0.9)))
        for j, tissue in enumerate(TISSUES):
            value = _BASE_CONTRAST[mod][tissue]
            table[i, j] = scale * (value if tissue == "wm" else value * float(rng.uniform(0.9, 1.1)))
    return table


# ------------------------------------------------------------------------ the case


def make_synthetic_case(
    seed: int,
    shape: tuple[int, int, int] = REFERENCE_SHAPE,
    modalities: tuple[str, ...] = ALL_MODALITIES,
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    with_tissues: bool = False,
    tumour: Mapping[str, float | bool] | None = None,
) -> SyntheticCase:
    """Generate one deterministic BraTS-like case for ``seed``.

    Images are float32 in canonical RAS+ order, positive raw-scanner-like values
    inside the brain and exactly 0 outside; labels are internal uint8 (0 background,
    1 NCR/NET, 2 edema, 3 enhancing). Every case has edema; the necrotic core or the
    enhancing rim is absent in some cases by design (``info`` says which).

    ``tumour`` overrides drawn tumour parameters (keys in ``TUMOUR_KEYS``, e.g.
    ``{"necrosis": True, "enhancing": True, "wt_ml": 60}``); each modality's image is
    the same whichever other modalities are requested.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or min(shape) < 16:
        raise ValueError(f"synthetic volumes need a 3-D shape of at least 16 voxels per axis, got {shape}")
    modalities = tuple(modalities)
    unknown = [m for m in modalities if m not in _BASE_CONTRAST]
    if unknown or not modalities:
        raise ValueError(f"unknown or no modality {unknown}; choose from {ALL_MODALITIES}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5B2A75]))
    k = min(s / r for s, r in zip(shape, REFERENCE_SHAPE))  # reference mm -> voxels
    grid = _Grid(shape, step=max(1, round(3 * k)))
    g = grid.step
    cs = grid.coarse_shape
    X, Y, Z = grid.coords()
    tumour = _draw_tumour(rng, tumour)
    anatomy = _Anatomy(rng, grid, k)

    # ---- crop: the brain's bounding box on the coarse grid.
    inside = np.argwhere(anatomy.depth > -g)
    lo = np.maximum(inside.min(0) - 1, 0)
    hi = np.minimum(inside.max(0) + 3, cs)
    cbox = tuple(slice(int(i), int(j)) for i, j in zip(lo, hi))

    # ---- tumour position: deep in a hemisphere's white matter, away from the midline.
    r_core = tumour["r_core"] * k
    tc = anatomy.place_tumour(rng, r_core, tumour["r_edema"] * k)
    anatomy.apply_mass_effect(tc, r_core)

    # ---- every field on the crop's coarse nodes; local ones only inside their own box.
    coarse = np.empty((len(_FIELDS),) + tuple(s.stop - s.start for s in cbox), dtype=np.float32)
    for name in ("depth", "fold", "bias", "texture"):
        coarse[_FIELDS.index(name)] = getattr(anatomy, name)[cbox]
    coarse[_FIELDS.index("sulc_rel")] = (anatomy.sulcal_depth - anatomy.depth)[cbox]
    centre = anatomy.centre
    reach = np.array([30, 48, 30]) * k * anatomy.vsize
    mid_halfwidth = np.array([8 * k, 1e4, 1e4])
    tumour_reach = tumour["r_edema"] * k * 1.6 + 2 * g
    locals_ = (
        (("vent", "deep"), anatomy.central_fields, centre - reach, centre + reach, (-100.0, -100.0)),
        (("fissure",), anatomy.fissure_field, anatomy.mid - mid_halfwidth, anatomy.mid + mid_halfwidth, (-100.0,)),
        (("core", "nec", "gaps", "edema", "hetero"), _TumourFields(rng, grid, tc, tumour, k),
         tc - tumour_reach, tc + tumour_reach, (-100.0, -100.0, -100.0, -100.0, 0.0)),
    )
    nodes = coarse.shape[1]
    fill = np.zeros(len(_FIELDS), dtype=np.float32)
    x_nodes = [(0, nodes)] * len(_FIELDS)  # coarse x-range where each field is not just ``fill``
    for names, fields_fn, vlo, vhi, fills in locals_:
        rows = [_FIELDS.index(n) for n in names]
        fill[rows] = fills
        coarse[rows] = np.asarray(fills, dtype=np.float32).reshape(-1, 1, 1, 1)
        box = grid.cbox_around(vlo, vhi)
        box = tuple(slice(max(b.start, c.start), min(b.stop, c.stop)) for b, c in zip(box, cbox))
        rel = tuple(slice(b.start - c.start, b.stop - c.start) for b, c in zip(box, cbox))
        for row in rows:
            x_nodes[row] = (rel[0].start, rel[0].stop)
        if all(b.stop > b.start for b in box):
            for row, values in zip(rows, fields_fn(box)):
                coarse[(row,) + rel] = values

    # ---- render in slabs along x: small temporaries stay in cache and are reused.
    crop = grid.voxels(cbox)
    look = _Look(rng, tumour, anatomy.cortex, k, _draw_contrast(rng), modalities)
    images = {m: np.zeros(shape, dtype=np.float32) for m in modalities}
    labels = np.zeros(shape, dtype=np.uint8)
    tissues = np.full(shape, 255, dtype=np.uint8) if with_tissues else None
    per_slab = max(2, 24 // g)
    for i0 in range(0, nodes - 1, per_slab):
        i1 = min(i0 + per_slab, nodes - 1)
        x0 = crop[0].start + i0 * g
        x1 = min(crop[0].start + i1 * g, crop[0].stop)
        if x1 <= x0:
            break
        # The slab's own brain box (narrower than the crop away from the middle)...
        inside = coarse[0, i0 : i1 + 1] > -g
        if not inside.any():
            continue
        ys, zs = (np.flatnonzero(inside.any(axis=a)) for a in ((0, 2), (0, 1)))
        ya, yb = max(ys[0] - 1, 0), min(ys[-1] + 2, coarse.shape[2])
        za, zb = max(zs[0] - 1, 0), min(zs[-1] + 2, coarse.shape[3])
        # ... and only the fields that vary in it are interpolated; the others are their fill.
        active = [j for j, (a, b) in enumerate(x_nodes) if a <= i1 and b > i0]
        part = grid.upsample(coarse[active, i0 : i1 + 1, ya:yb, za:zb])
        y0, z0 = crop[1].start + ya * g, crop[2].start + za * g
        y1, z1 = min(crop[1].start + (yb - 1) * g, crop[1].stop), min(crop[2].start + (zb - 1) * g, crop[2].stop)
        part = part[:, : x1 - x0, : y1 - y0, : z1 - z0]
        brain = part[active.index(_FIELDS.index("depth"))] > 0
        sel = np.flatnonzero(brain)
        if sel.size == 0:
            continue
        taken = np.take(part.reshape(len(active), -1), sel, axis=1)
        values = {
            name: taken[active.index(j)] if j in active else np.full(sel.size, fill[j], dtype=np.float32)
            for j, name in enumerate(_FIELDS)
        }
        slab_images, slab_labels, fractions = look.render(values)
        where = (slice(x0, x1), slice(y0, y1), slice(z0, z1))
        for mod, img in zip(modalities, slab_images):
            images[mod][where][brain] = img
        labels[where][brain] = slab_labels
        if tissues is not None:
            tissues[where][brain] = np.argmax(fractions, axis=0)

    info: dict[str, float | int | bool] = {
        "wt_ml_target": round(float(tumour["wt_ml"]), 1),
        "necrosis": bool(tumour["necrosis"]),
        "enhancing": bool(tumour["enhancing"]),
        "tumour_centre_x": float(tc[0]),
        "tumour_centre_y": float(tc[1]),
        "tumour_centre_z": float(tc[2]),
    }
    return SyntheticCase(images, labels, int(seed), tuple(float(s) for s in spacing), info, tissues)


class _Look:
    """Turns field values at brain voxels into tissue fractions, labels and noisy images."""

    def __init__(
        self, rng: np.random.Generator, tumour: dict, cortex: float, k: float, table: np.ndarray, modalities: tuple[str, ...]
    ) -> None:
        self.rng, self.t, self.k = rng, tumour, k
        self.rows = [ALL_MODALITIES.index(m) for m in modalities]  # each modality keeps its own draws
        self.full_table, self.table = table, table[self.rows]
        self.noise_factor = np.array([_NOISE_FACTOR[m] for m in modalities], dtype=np.float32)
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
        csf = _ramp(np.float32(0.7 * k) - fold_abs, pv) * _ramp(f["sulc_rel"], pv)
        csf *= 1.0 - _ramp(f["edema"], 2 * pv)  # swollen tissue effaces the sulci (mass effect)
        np.maximum(csf, _ramp(np.float32(0.8 * k) - f["depth"], pv), out=csf)
        np.maximum(csf, _ramp(f["fissure"], pv), out=csf)
        np.maximum(csf, _ramp(f["vent"], pv), out=csf)
        gm = _ramp(t_gm - f["depth"], pv)
        np.maximum(gm, _ramp(t_gm + np.float32(0.7 * k) - fold_abs, pv) * _ramp(f["sulc_rel"] + t_gm, pv), out=gm)
        np.maximum(gm, _ramp(f["fissure"] + t_gm, pv), out=gm)
        deep = _ramp(f["deep"], 2 * pv)
        vessel = csf * _ramp(f["texture"] - np.float32(1.3), np.float32(0.6))

        core = _ramp(f["core"], pv)
        nec = _ramp(f["nec"], pv) if t["necrosis"] else np.zeros_like(core)
        enh_on = _ramp(f["gaps"] + np.float32(t["rim_cover"]), np.float32(0.6)) if t["enhancing"] else np.zeros_like(core)
        # Edema follows white matter: grey matter holds it back (shrinks its reach), CSF
        # excludes it; it always wraps the core in at least a thin shell.
        edema_reach = f["edema"] - self.edema_gm_penalty * gm
        np.maximum(edema_reach, f["core"] + np.float32(2.5 * k), out=edema_reach)
        edema = _ramp(edema_reach, 2 * pv)
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


class _Anatomy:
    """Normal brain anatomy as coarse-grid fields (signed distances in voxels, positive inside)."""

    def __init__(self, rng: np.random.Generator, grid: _Grid, k: float) -> None:
        self.grid, self.k = grid, k
        g, cs, shape = grid.step, grid.coarse_shape, grid.shape
        X, Y, Z = grid.coords()
        self.X, self.Y, self.Z = X, Y, Z
        c = np.array(shape, dtype=np.float32) * np.array([0.5, 0.455, 0.5], dtype=np.float32)
        c += rng.normal(0.0, 2.5 * k, 3).astype(np.float32)
        self.centre = c
        size = rng.uniform(0.93, 1.07)
        semi = np.array([64, 88, 59], dtype=np.float32) * k * size * rng.uniform(0.95, 1.05, 3).astype(np.float32)
        self.semi = semi
        self.mid = float(c[0])
        # Cerebrum: an ellipsoid, widest behind its centre (y runs anterior), with a
        # flattened frontal base.
        dx, dy, dz = (X - c[0]) / semi[0], (Y - c[1]) / semi[1], (Z - c[2]) / semi[2]
        dx = dx / (1.0 - 0.12 * dy)
        dz = np.where(dz < 0, dz * (1.25 + 0.25 * np.maximum(dy, 0)), dz)
        rho = np.sqrt(dx * dx + dy * dy + dz * dz)
        depth = (1.0 - rho) * semi[0] * 0.9
        # Notch between the temporal lobes under the cerebrum (where the brainstem runs).
        depth -= np.maximum(0.0, (c[2] - 18 * k) - Z) * 1.6 * np.exp(-(((X - c[0]) / (22 * k)) ** 2))
        # Cerebellum (posterior, inferior) and brainstem.
        ce = np.array([c[0], c[1] - 50 * k, c[2] - 30 * k])
        ca = np.array([48, 28, 21]) * k * size
        rc = np.sqrt(((X - ce[0]) / ca[0]) ** 2 + ((Y - ce[1]) / ca[1]) ** 2 + ((Z - ce[2]) / ca[2]) ** 2)
        depth = np.maximum(depth, (1.0 - rc) * ca[2])
        bs = np.sqrt(((X - c[0]) / (12 * k)) ** 2 + ((Y - (c[1] - 12 * k)) / (13 * k)) ** 2)
        bs_depth = np.minimum((1.0 - bs) * 12 * k, np.minimum(Z - (c[2] - 62 * k), c[2] - Z))
        depth = np.maximum(depth, bs_depth)
        # Outline irregularity, nearly mirror-symmetric like an atlas-registered brain.
        bumps = _smooth_noise(rng, cs, 14.0 * k / g)
        mirror = np.clip(np.round(2 * c[0] / g - np.arange(cs[0])).astype(int), 0, cs[0] - 1)
        depth += 2.0 * k * (0.5 * (bumps + bumps[mirror]) + 0.15 * bumps)
        self.depth = depth.astype(np.float32)
        # Folding: sulci are the zero crossings of a random field that varies only along
        # the surface (sampled on a sphere, constant along rays), so they cut radially
        # into the cortex as in real brains. Normalised so |fold| ~ voxels to a sulcus.
        self.fold_radius = 60.0 * k
        noise = _smooth_noise(rng, cs, max(0.7, 2.9 * k / g))
        gx, gy, gz = np.gradient(noise, g)
        self.fold_noise = noise / max(float(np.mean(np.sqrt(gx * gx + gy * gy + gz * gz))), 1e-6)
        self.fold: np.ndarray | None = None  # computed once the tumour's mass effect is known
        self.sulcal_depth = ((11.0 + 4.0 * _smooth_noise(rng, cs, 8.0 * k / g)) * k).astype(np.float32)
        self.bias = _smooth_noise(rng, cs, 45.0 * k / g)
        self.texture = _smooth_noise(rng, cs, max(0.6, 2.0 * k / g))
        self.cortex = float(rng.uniform(2.6, 3.8))
        self.vsize = float(rng.uniform(0.8, 1.5))  # ventricle size (atrophy varies)
        self.midwobble = 1.5 * k * _smooth_noise(rng, (1,) + cs[1:], 4.0)
        self.vent_noise = _smooth_noise(rng, cs, max(0.8, 4.0 * k / g))
        # Warped coordinates (mass effect); identity until apply_mass_effect.
        self.wx, self.wy, self.wz = X, Y, Z

    def place_tumour(self, rng: np.random.Generator, r_core: float, r_edema: float) -> np.ndarray:
        """A tumour centre in hemispheric white matter: deep enough, off the midline, off the ventricles."""
        k, c = self.k, self.centre
        X, Y, Z = self.X, self.Y, self.Z
        for margin in (1.0, 0.6, 0.3, 0.0):
            ok = (self.depth > margin * r_core + 12 * k) & (np.abs(X - self.mid) > margin * r_core + 10 * k)
            ok &= Z > c[2] - 25 * k
            # Keep the core out of the ventricles / deep nuclei region at the centre.
            central = ((X - c[0]) / (16 * k)) ** 2 + ((Y - c[1]) / (30 * k)) ** 2 + ((Z - c[2] - 8 * k) / (14 * k)) ** 2
            ok &= central > (1.0 + margin * r_core / (15 * k)) ** 2
            idx = np.argwhere(ok)
            if len(idx):
                node = idx[rng.integers(len(idx))]
                jitter = rng.uniform(-0.5, 0.5, 3) * self.grid.step
                return (node * self.grid.step + jitter).astype(np.float32)
        return self.centre + np.array([20 * k, 0, 10 * k], dtype=np.float32)  # pragma: no cover

    def apply_mass_effect(self, tc: np.ndarray, r_core: float) -> None:
        """Pull sampling points toward the tumour so that structures near it look pushed away."""
        rx, ry, rz = self.X - tc[0], self.Y - tc[1], self.Z - tc[2]
        r = np.sqrt(rx * rx + ry * ry + rz * rz) + np.float32(1e-3)
        push = 0.7 * r_core * np.exp(-((r / (2.0 * r_core + 1e-3)) ** 2))
        shrink = np.maximum(0.0, 1.0 - push / r).astype(np.float32)
        self.wx, self.wy, self.wz = tc[0] + rx * shrink, tc[1] + ry * shrink, tc[2] + rz * shrink
        self.fold = self._folding(self.wx, self.wy, self.wz)

    def _folding(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Folding field at voxel positions: the surface pattern seen along the ray from the centre."""
        c, g, radius = self.centre, self.grid.step, self.fold_radius
        dx, dy, dz = (np.broadcast_to(a - b, self.depth.shape) for a, b in zip((x, y, z), c))
        r = np.sqrt(dx * dx + dy * dy + dz * dz) + np.float32(1e-3)
        # Half of the radial offset is kept, so sulci tilt and bend with depth instead of
        # being perfectly straight spokes.
        on_sphere = np.float32(radius) / r
        sample = (np.float32(radius) + np.float32(0.5) * (r - np.float32(radius))) / r
        coords = np.stack([(c[i] + d * sample) / g for i, d in enumerate((dx, dy, dz))])
        fold = ndimage.map_coordinates(self.fold_noise, coords, order=1, mode="nearest")
        return (fold / on_sphere).astype(np.float32)  # distances grow with the radius

    def _mid(self, box: tuple[slice, ...]) -> np.ndarray:
        return self.mid + self.midwobble[(slice(None),) + box[1:]]

    def central_fields(self, box: tuple[slice, ...]) -> list[np.ndarray]:
        """Ventricles (curved ellipsoids each side) and deep grey nuclei, inside ``box``."""
        k, c, vs = self.k, self.centre, self.vsize
        wx, wy, wz = (np.broadcast_to(a, self.depth.shape)[box] for a in (self.wx, self.wy, self.wz))
        mid = self._mid(box)
        vy = (wy - c[1] - 4 * k) / (32 * k * vs ** 0.5)
        vz0 = c[2] + (8 + 14 * vy * vy) * k  # horns curve down at both ends
        vent = np.full(wx.shape, np.inf, dtype=np.float32)
        for side in (-1, 1):
            vx = (wx - (mid + side * (7 + 2 * vs) * k)) / ((6.5 + 3 * vy * vy) * k * vs)
            vz = (wz - vz0) / (8.5 * k * vs)
            vent = np.minimum(vent, np.sqrt(vx * vx + vy * vy + vz * vz))
        vent = vent + 0.12 * self.vent_noise[box]
        deep = np.full(wx.shape, np.inf, dtype=np.float32)
        for side in (-1, 1):
            for ox, oy, oz, (ax, ay, az) in ((13, -2, -4, (8, 13, 9)), (22, 16, -2, (6, 13, 10))):
                ex = (wx - (mid + side * (ox + vs * 2) * k)) / (ax * k)
                ey = (wy - (c[1] + oy * k)) / (ay * k)
                ez = (wz - (c[2] + oz * k)) / (az * k)
                deep = np.minimum(deep, np.sqrt(ex * ex + ey * ey + ez * ez))
        return [(1.0 - vent) * 6.0 * k * vs, (1.0 - deep) * 8.0 * k]

    def fissure_field(self, box: tuple[slice, ...]) -> list[np.ndarray]:
        """Interhemispheric fissure: a CSF sheet on the midline above the corpus callosum."""
        k, c, semi = self.k, self.centre, self.semi
        wx, wy, wz = (np.broadcast_to(a, self.depth.shape)[box] for a in (self.wx, self.wy, self.wz))
        half_width = 0.9 * k
        dist = half_width - np.abs(wx - self._mid(box))
        above_cc = wz - (c[2] + (20 - 30 * ((wy - c[1]) / semi[1]) ** 2) * k)
        return [np.minimum(dist, above_cc)]


class _TumourFields:
    """Tumour level sets inside a box: lobulated core, necrosis, rim gaps, edema, texture."""

    def __init__(self, rng: np.random.Generator, grid: _Grid, tc: np.ndarray, tumour: dict, k: float) -> None:
        self.rng, self.grid, self.tc, self.t, self.k = rng, grid, tc, tumour, k

    def __call__(self, box: tuple[slice, ...]) -> list[np.ndarray]:
        rng, g, t, k, tc = self.rng, self.grid.step, self.t, self.k, self.tc
        X, Y, Z = self.grid.coords(box)
        shape = tuple(s.stop - s.start for s in box)
        r = np.sqrt((X - tc[0]) ** 2 + (Y - tc[1]) ** 2 + (Z - tc[2]) ** 2)
        r_core, r_ed = t["r_core"] * k, t["r_edema"] * k
        lobes = _smooth_noise(rng, shape, max(0.8, r_core / (2.0 * g)))
        core = r_core * (1.0 + t["lobulation"] * lobes) - r
        rim = t["rim"] * k * (1.0 + 0.6 * _smooth_noise(rng, shape, max(0.7, r_core / (4.0 * g))))
        nec = core - np.maximum(rim, 1.2 * k)
        gaps = _smooth_noise(rng, shape, max(0.7, 5.0 * k / g))
        coarse_lobes = _smooth_noise(rng, shape, max(0.8, r_ed / (2.5 * g)))
        fingers = _smooth_noise(rng, shape, max(0.7, 6.0 * k / g))
        edema = r_ed * (1.0 + 0.35 * coarse_lobes + 0.2 * fingers) - r
        hetero = _smooth_noise(rng, shape, max(0.6, 2.0 * k / g)) * (r < r_ed + 3 * g)
        return [core, nec, gaps, edema, hetero]


# ------------------------------------------------------------------ demo & cohort


def make_demo_patient(seed: int = 0):
    """The app's built-in demo patient: a synthetic 240x240x155 case with its labels.

    Returns a :class:`brats_desktop.core.patient.Patient` (imported lazily: patient
    imports nothing from here, and the demo should not slow down importing core).
    """
    from .patient import patient_from_arrays

    case = make_synthetic_case(seed, tumour=DEMO_TUMOUR)
    return patient_from_arrays(
        DEMO_NAME, case.images, case.labels, spacing=case.spacing, convention=LabelConvention.BRATS2023
    )


# BraTS file-name tokens per naming scheme: modality key -> token, and the ID separator.
_NAMINGS: dict[str, tuple[str, dict[str, str], LabelConvention]] = {
    "brats2020": ("_", {"t1": "t1", "t1ce": "t1ce", "t2": "t2", "flair": "flair", "seg": "seg"}, LabelConvention.BRATS2020),
    "brats2023": ("-", {"t1": "t1n", "t1ce": "t1c", "t2": "t2w", "flair": "t2f", "seg": "seg"}, LabelConvention.BRATS2023),
}


def cohort_case_seed(seed: int, index: int) -> int:
    """Seed of case ``index`` of the cohort ``seed``: independent streams, no overlap between cohorts."""
    return int(np.random.SeedSequence([int(seed), int(index), 0xC0407]).generate_state(1)[0])


def brats_grid(shape: tuple[int, int, int], spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)):
    """An LPS voxel grid like the BraTS distribution's (x to the Left, y to Posterior, z up).

    Files written on it are stored in a different voxel order from the canonical
    arrays, so reading them back exercises the same reorientation as real data.
    """
    import nibabel as nib

    from .nifti_io import SourceImage

    sx, sy, sz = (float(s) for s in spacing)
    affine = np.array(
        [[-sx, 0, 0, 0.0], [0, -sy, 0, (shape[1] - 1) * sy], [0, 0, sz, 0.0], [0, 0, 0, 1]], dtype=float
    )
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_zooms((sx, sy, sz))
    header.set_sform(affine, code=1)
    header.set_qform(affine, code=1)
    header.set_xyzt_units("mm")
    return SourceImage(None, tuple(int(s) for s in shape), affine, header)


def write_synthetic_cohort(
    root: Path | str,
    n: int,
    seed: int = 0,
    shape: tuple[int, int, int] = REFERENCE_SHAPE,
    naming: str = "brats2020",
    modalities: tuple[str, ...] = ALL_MODALITIES,
    overwrite: bool = False,
) -> list[Path]:
    """Write ``n`` synthetic patients under ``root`` in BraTS folder layout; return their folders.

    ``naming="brats2020"``: ``Synth_0001/Synth_0001_{t1,t1ce,t2,flair,seg}.nii.gz`` with
    labels 0/1/2/4; ``naming="brats2023"``: ``Synth-0001/Synth-0001-{t1n,t1c,t2w,t2f,seg}.nii.gz``
    with labels 0/1/2/3. Images are float32 and labels uint8 on an LPS grid like real
    BraTS files, written through :mod:`brats_desktop.core.nifti_io`, so
    :func:`brats_desktop.core.patient.load_patient` gives back exactly the generated
    arrays. A ``synthetic_cohort.json`` beside them records seeds and tumour facts.
    """
    import json

    from .nifti_io import write_label_map, write_volume

    if naming not in _NAMINGS:
        raise ValueError(f"unknown naming {naming!r}; choose from {sorted(_NAMINGS)}")
    if n < 0:
        raise ValueError(f"cannot write {n} patients")
    sep, tokens, convention = _NAMINGS[naming]
    root = Path(root)
    grid = brats_grid(tuple(int(s) for s in shape))
    folders: list[Path] = []
    records = []
    for index in range(n):
        name = f"Synth{sep}{index + 1:04d}"
        folder = root / name
        if folder.exists() and any(folder.iterdir()) and not overwrite:
            raise FileExistsError(f"{folder} already exists and is not empty (pass overwrite=True to replace it)")
        case_seed = cohort_case_seed(seed, index)
        case = make_synthetic_case(case_seed, shape=shape, modalities=modalities)
        for mod, volume in case.images.items():
            write_volume(volume, grid, folder / f"{name}{sep}{tokens[mod]}.nii.gz", overwrite=True)
        write_label_map(case.labels, grid, folder / f"{name}{sep}{tokens['seg']}.nii.gz", convention, overwrite=True)
        folders.append(folder)
        records.append({"patient": name, "seed": case_seed, **case.info})
    if n:
        meta = {
            "generator": "brats_desktop.core.synthetic.write_synthetic_cohort",
            "seed": int(seed),
            "shape": list(int(s) for s in shape),
            "naming": naming,
            "label_convention": convention.value,
            "patients": records,
        }
        (root / "synthetic_cohort.json").write_text(json.dumps(meta, indent=1))
    return folders
