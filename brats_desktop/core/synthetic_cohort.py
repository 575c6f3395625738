"""Synthetic cohorts on disk: BraTS-named patient folders on an LPS grid, with their seeds.

Training and tests read them back with :func:`brats_desktop.core.patient.load_patient`,
exercising the same reorientation as real BraTS files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .labels import LabelConvention
from .synthetic import REFERENCE_SHAPE, make_synthetic_case
from .synthetic_look import ALL_MODALITIES


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
            "generator": "brats_desktop.core.synthetic_cohort.write_synthetic_cohort",
            "seed": int(seed),
            "shape": list(int(s) for s in shape),
            "naming": naming,
            "label_convention": convention.value,
            "patients": records,
        }
        (root / "synthetic_cohort.json").write_text(json.dumps(meta, indent=1))
    return folders
