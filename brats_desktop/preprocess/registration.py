"""Rigid co-registration to the T1CE and resampling onto one 1 mm grid (SimpleITK).

Why to the T1CE: it is the sequence the tumour core is read on, and the one a radiologist
overlays results on, so its physical space is the frame everything ends up in. The 1 mm
grid is axis-aligned in that space (LPS, the orientation of BraTS files) and centred on the
T1CE's field of view, so going back to the T1CE's own grid needs no transform at all, only
a nearest-neighbour resampling (``native.py``).

No atlas: the BraTS pipelines also register to the SRI24 atlas, but no redistributable copy
of it can be had offline, and the bundled model is trained on 2-D axial slices with random
flips/rotations and z-scored intensities, so it does not depend on the atlas's exact pose
(README, "Import raw scans", for the measurement).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import SimpleITK as sitk

BRATS_SIZE = (240, 240, 155)
BRATS_SPACING = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Grid:
    """A voxel grid in ITK terms (LPS physical space): what a sitk image is defined on."""

    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: tuple[float, ...]  # 9 numbers, row-major

    @classmethod
    def of(cls, image: sitk.Image) -> "Grid":
        return cls(tuple(int(n) for n in image.GetSize()), tuple(float(s) for s in image.GetSpacing()),
                   tuple(float(o) for o in image.GetOrigin()), tuple(float(d) for d in image.GetDirection()))

    def as_dict(self) -> dict:
        return {"size": list(self.size), "spacing": list(self.spacing), "origin": list(self.origin),
                "direction": list(self.direction)}

    @classmethod
    def from_dict(cls, d: dict) -> "Grid":
        return cls(tuple(int(n) for n in d["size"]), tuple(float(s) for s in d["spacing"]),
                   tuple(float(o) for o in d["origin"]), tuple(float(x) for x in d["direction"]))

    def empty(self, pixel=sitk.sitkFloat32) -> sitk.Image:
        image = sitk.Image(list(self.size), pixel)
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image


def brats_grid(reference: sitk.Image, size=BRATS_SIZE, spacing=BRATS_SPACING) -> Grid:
    """A 1 mm, LPS-aligned grid of BraTS size centred on ``reference``'s field of view."""
    corner = np.array(reference.GetSize(), dtype=float) - 1.0
    centre = np.array(reference.TransformContinuousIndexToPhysicalPoint(tuple(corner / 2.0)))
    half = (np.array(size, dtype=float) - 1.0) * np.array(spacing) / 2.0
    origin = centre - half  # identity direction: index axes run along L, P, S
    return Grid(tuple(size), tuple(float(s) for s in spacing), tuple(float(o) for o in origin),
                (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))


def register_rigid(
    fixed: sitk.Image,
    moving: sitk.Image,
    should_stop: Callable[[], bool] = lambda: False,
    seed: int = 7,
) -> sitk.Euler3DTransform:
    """Rigid transform mapping fixed-space points into ``moving`` (ITK's convention).

    Starts from identity: sequences of one session share the scanner's frame, so the
    headers already bring them within a few millimetres (a moment-based start would be
    thrown off by different fields of view). Mattes mutual information copes with the
    different contrasts; two pyramid levels; fixed seed, so a re-run gives the same result.
    """
    transform = sitk.Euler3DTransform()
    centre = fixed.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2.0 for n in fixed.GetSize()])
    transform.SetCenter(centre)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.25, seed)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-3, numberOfIterations=200, relaxationFactor=0.5)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([2, 1])
    method.SetSmoothingSigmasPerLevel([1.0, 0.0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    method.SetInitialTransform(transform, inPlace=True)

    def _check() -> None:
        if should_stop():
            method.StopRegistration()

    method.AddCommand(sitk.sitkIterationEvent, _check)
    method.Execute(fixed, moving)
    return transform


def resample(image: sitk.Image, grid: Grid, transform: sitk.Transform | None = None,
             nearest: bool = False) -> sitk.Image:
    """``image`` on ``grid`` (transform maps grid points into ``image``; None = identity)."""
    return sitk.Resample(image, grid.empty(image.GetPixelID()),
                         transform if transform is not None else sitk.Transform(),
                         sitk.sitkNearestNeighbor if nearest else sitk.sitkLinear, 0.0, image.GetPixelID())


def transform_record(transform: sitk.Euler3DTransform) -> dict:
    """The transform in words a reader (or ``sitk``) can rebuild: Euler angles, translation, centre."""
    params = transform.GetParameters()
    return {"type": "Euler3DTransform", "maps": "T1CE (fixed) physical point -> this sequence's physical point",
            "angles_rad": list(params[:3]), "translation_mm": list(params[3:]),
            "center_mm": list(transform.GetCenter()), "matrix": list(transform.GetMatrix())}
