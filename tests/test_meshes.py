"""core.meshes: surfaces sit where the voxels are, in millimetres, one per present class."""

from __future__ import annotations

import numpy as np
import pytest

from brats_desktop.core.meshes import (
    bounding_box,
    brain_mesh,
    label_meshes,
    mask_surface,
    nearest_hit,
    voxel_of_point,
)


def ball(shape, centre, radius_vox, spacing=(1.0, 1.0, 1.0)):
    """Boolean ball of ``radius_vox`` (mm when spacing is given) around voxel ``centre``."""
    idx = np.indices(shape).astype(np.float32)
    d2 = sum(((idx[a] - centre[a]) * spacing[a]) ** 2 for a in range(3))
    return d2 <= radius_vox**2


def test_bounding_box_matches_nonzero_and_margin_is_clipped():
    mask = np.zeros((20, 30, 40), bool)
    mask[3:7, 10:12, 0:5] = True
    assert bounding_box(mask) == (slice(3, 7), slice(10, 12), slice(0, 5))
    assert bounding_box(mask, margin=2) == (slice(1, 9), slice(8, 14), slice(0, 7))
    assert bounding_box(np.zeros((4, 4, 4), bool)) is None


def test_sphere_surface_has_its_radius_and_centre_in_millimetres():
    spacing = (1.0, 1.5, 2.0)  # anisotropic: each axis must be scaled by its own spacing
    centre = (30, 20, 15)
    mask = ball((60, 40, 30), centre, 12.0, spacing)
    mesh = mask_surface(mask, spacing)
    assert mesh is not None and mesh.n_faces > 100
    centre_mm = (np.asarray(centre) + 0.5) * np.asarray(spacing)
    r = np.linalg.norm(mesh.vertices - centre_mm, axis=1)
    assert abs(float(np.median(r)) - 12.0) < 1.2
    assert float(r.max() - r.min()) < 4.5  # a sphere, not a box or a staircase
    assert np.allclose(mesh.vertices.mean(axis=0), centre_mm, atol=0.6)


def test_offset_places_a_cropped_mask_back_in_the_volume():
    mask = ball((20, 20, 20), (10, 10, 10), 6.0)
    whole = mask_surface(np.pad(mask, ((40, 0), (5, 0), (0, 0))), (1.0, 1.0, 1.0))
    cropped = mask_surface(mask, (1.0, 1.0, 1.0), offset=(40, 5, 0))
    assert np.allclose(np.sort(whole.vertices, axis=0), np.sort(cropped.vertices, axis=0), atol=1e-4)


def test_one_surface_per_present_class_at_that_class():
    labels = np.zeros((64, 64, 48), np.uint8)
    labels[ball(labels.shape, (20, 20, 20), 8)] = 2
    labels[ball(labels.shape, (20, 20, 20), 4)] = 1
    labels[ball(labels.shape, (45, 45, 30), 5)] = 3
    meshes = label_meshes(labels, (1.0, 1.0, 1.0))
    assert set(meshes) == {1, 2, 3}
    assert np.allclose(meshes[3].vertices.mean(axis=0), (45.5, 45.5, 30.5), atol=0.6)
    lo, hi = meshes[1].bounds()
    assert np.all(lo > 20.5 - 6) and np.all(hi < 20.5 + 6)  # the core, not the edema around it
    lo, hi = meshes[2].bounds()
    assert np.all(hi - lo > 14)
    only_edema = label_meshes(labels, (1.0, 1.0, 1.0), classes=(2,))
    assert set(only_edema) == {2}
    assert label_meshes(np.zeros((8, 8, 8), np.uint8), (1.0, 1.0, 1.0)) == {}


def test_single_voxel_speck_still_gets_a_surface_around_it():
    labels = np.zeros((30, 30, 30), np.uint8)
    labels[7, 8, 9] = 3
    mesh = label_meshes(labels, (1.0, 1.0, 1.0))[3]
    centre = mesh.vertices.mean(axis=0)
    assert voxel_of_point(centre, (1.0, 1.0, 1.0), labels.shape) == (7, 8, 9)


def test_voxel_of_point_uses_spacing_and_clamps():
    assert voxel_of_point((10.2, 3.1, 7.9), (2.0, 1.0, 4.0), (10, 10, 10)) == (5, 3, 1)
    assert voxel_of_point((-3.0, 999.0, 0.0), (1.0, 1.0, 1.0), (10, 10, 10)) == (0, 9, 0)


def test_brain_surface_of_a_normalised_image_wraps_the_head():
    # z-scored image: background is a constant negative value, the brain has both signs.
    rng = np.random.default_rng(0)
    brain = ball((90, 90, 60), (45, 45, 30), 25.0)
    image = np.full(brain.shape, -0.7, np.float32)
    image[brain] = rng.normal(0, 1, int(brain.sum())).astype(np.float32)
    mesh = brain_mesh(image, (1.0, 1.0, 1.0))
    assert mesh is not None
    r = np.linalg.norm(mesh.vertices - (45.5, 45.5, 30.5), axis=1)
    assert abs(float(np.median(r)) - 25.0) < 3.0
    assert float(r.min()) > 18.0  # only the outer surface: noise inside left no holes


def test_nearest_hit_finds_the_front_of_a_sphere_and_misses_beside_it():
    mask = ball((40, 40, 40), (20, 20, 20), 8.0)
    mesh = mask_surface(mask, (1.0, 1.0, 1.0))
    centre = np.array([20.5, 20.5, 20.5])
    origin = centre + (0.0, -100.0, 0.0)
    t = nearest_hit(mesh, origin, (0.0, 1.0, 0.0))
    assert t is not None and abs(t - (100.0 - 8.0)) < 1.0  # the near side, not the far one
    assert nearest_hit(mesh, origin + (30.0, 0.0, 0.0), (0.0, 1.0, 0.0)) is None
    assert nearest_hit(mesh, origin, (0.0, -1.0, 0.0)) is None  # behind the ray's origin


@pytest.mark.realdata
def test_real_case_surfaces_lie_on_their_labels(shared_data):
    """brainles-sample-case (LPS on disk): every class surface stays within that class's voxels, in mm."""
    from brats_desktop.core.patient import load_patient

    patient = load_patient(shared_data / "brainles-sample-case")
    labels, spacing = patient.ground_truth, patient.spacing
    meshes = label_meshes(labels, spacing)
    assert set(meshes) == {1, 2, 3}
    for cls, mesh in meshes.items():
        box = bounding_box(labels == cls)
        lo = np.array([s.start for s in box]) * np.asarray(spacing)
        hi = np.array([s.stop for s in box]) * np.asarray(spacing)
        vlo, vhi = mesh.bounds()
        assert np.all(vlo >= lo - 0.5) and np.all(vhi <= hi + 0.5), cls  # within half a voxel
        # Nearly every vertex has a voxel of its class among the 8 whose centres surround it.
        idx = np.floor(mesh.vertices / np.asarray(spacing) - 0.5).astype(int)
        near = np.zeros(len(idx), bool)
        for d in np.ndindex(2, 2, 2):
            j = np.clip(idx + np.array(d), 0, np.array(labels.shape) - 1)
            near |= labels[j[:, 0], j[:, 1], j[:, 2]] == cls
        assert near.mean() > 0.97, cls
