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

The generator's parts: :mod:`~brats_desktop.core.synthetic_fields` (where the tissues
are: coarse fields of anatomy and tumour), :mod:`~brats_desktop.core.synthetic_look` (how
they look in each contrast), this module (a case assembled slab by slab; the demo) and
:mod:`~brats_desktop.core.synthetic_cohort` (cohorts written as BraTS folders).

Lengths are written for the BraTS box (240x240x155 voxels of 1 mm) and scale with
``shape``, so tests can make small volumes with the same anatomy. Arrays are in
canonical RAS+ order like everything from :mod:`brats_desktop.core.nifti_io`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .labels import LabelConvention
from .synthetic_fields import FIELDS, Anatomy, Grid, TumourFields, draw_tumour
from .synthetic_look import ALL_MODALITIES, BASE_CONTRAST, TISSUES, Look, draw_contrast

__all__ = ["ALL_MODALITIES", "DEMO_NAME", "REFERENCE_SHAPE", "TISSUES", "SyntheticCase", "make_demo_patient",
           "make_synthetic_case"]

REFERENCE_SHAPE: tuple[int, int, int] = (240, 240, 155)
DEMO_NAME = "Demo patient (synthetic)"
# The demo shows every class: a necrotic core, a mostly closed enhancing rim and edema.
DEMO_TUMOUR: dict[str, float | bool] = {"wt_ml": 75.0, "necrosis": True, "enhancing": True, "rim_cover": 1.6, "rim_fraction": 0.33}


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
    unknown = [m for m in modalities if m not in BASE_CONTRAST]
    if unknown or not modalities:
        raise ValueError(f"unknown or no modality {unknown}; choose from {ALL_MODALITIES}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5B2A75]))
    k = min(s / r for s, r in zip(shape, REFERENCE_SHAPE))  # reference mm -> voxels
    grid = Grid(shape, step=max(1, round(3 * k)))
    g = grid.step
    cs = grid.coarse_shape
    X, Y, Z = grid.coords()
    tumour = draw_tumour(rng, tumour)
    anatomy = Anatomy(rng, grid, k)

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
    coarse = np.empty((len(FIELDS),) + tuple(s.stop - s.start for s in cbox), dtype=np.float32)
    for name in ("depth", "fold", "bias", "texture"):
        coarse[FIELDS.index(name)] = getattr(anatomy, name)[cbox]
    coarse[FIELDS.index("sulc_rel")] = (anatomy.sulcal_depth - anatomy.depth)[cbox]
    centre = anatomy.centre
    reach = np.array([30, 48, 30]) * k * anatomy.vsize
    mid_halfwidth = np.array([8 * k, 1e4, 1e4])
    tumour_reach = tumour["r_edema"] * k * 1.6 + 2 * g
    locals_ = (
        (("vent", "deep"), anatomy.central_fields, centre - reach, centre + reach, (-100.0, -100.0)),
        (("fissure",), anatomy.fissure_field, anatomy.mid - mid_halfwidth, anatomy.mid + mid_halfwidth, (-100.0,)),
        (("core", "nec", "gaps", "edema", "hetero"), TumourFields(rng, grid, tc, tumour, k),
         tc - tumour_reach, tc + tumour_reach, (-100.0, -100.0, -100.0, -100.0, 0.0)),
    )
    nodes = coarse.shape[1]
    fill = np.zeros(len(FIELDS), dtype=np.float32)
    x_nodes = [(0, nodes)] * len(FIELDS)  # coarse x-range where each field is not just ``fill``
    for names, fields_fn, vlo, vhi, fills in locals_:
        rows = [FIELDS.index(n) for n in names]
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
    look = Look(rng, tumour, anatomy.cortex, k, draw_contrast(rng), modalities)
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
        brain = part[active.index(FIELDS.index("depth"))] > 0
        sel = np.flatnonzero(brain)
        if sel.size == 0:
            continue
        taken = np.take(part.reshape(len(active), -1), sel, axis=1)
        values = {
            name: taken[active.index(j)] if j in active else np.full(sel.size, fill[j], dtype=np.float32)
            for j, name in enumerate(FIELDS)
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


# ------------------------------------------------------------------------ the demo


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


