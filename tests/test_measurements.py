"""RANO bidimensional measurement against hand-drawn ellipses of known diameters, and volumes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from brats_desktop.core.measurements import (
    CSV_HEADER, bidimensional, distance_mm, measure, measure_slice, report_rows, rows_to_text,
)


def ellipse(shape_xy, centre_mm, a_mm, b_mm, angle_deg, spacing_xy) -> np.ndarray:
    """Pixels whose centre (x*sx, y*sy) lies inside the ellipse with semi-axes a, b (mm) rotated by angle."""
    sx, sy = spacing_xy
    x, y = np.meshgrid(np.arange(shape_xy[0]) * sx, np.arange(shape_xy[1]) * sy, indexing="ij")
    t = math.radians(angle_deg)
    dx, dy = x - centre_mm[0], y - centre_mm[1]
    u = dx * math.cos(t) + dy * math.sin(t)
    v = -dx * math.sin(t) + dy * math.cos(t)
    return (u / a_mm) ** 2 + (v / b_mm) ** 2 <= 1.0


@pytest.mark.parametrize(
    "a, b, angle, spacing",
    [(20, 8, 0, (1.0, 1.0)), (15, 9, 30, (1.0, 1.0)), (18, 6, 117, (1.0, 1.0)), (16, 10, 60, (0.8, 1.3))],
)
def test_diameters_of_a_drawn_ellipse_within_one_voxel(a, b, angle, spacing):
    mask = ellipse((80, 70), (40.0, 42.0), a, b, angle, spacing)
    (p0, p1), long_mm, (q0, q1), short_mm = measure_slice(mask, spacing)
    tol = max(spacing)
    assert abs(long_mm - 2 * a) <= tol
    assert abs(short_mm - 2 * b) <= tol
    # Long axis points the ellipse's way (mod 180 degrees), the second exactly across it.
    d = (np.subtract(p1, p0) * spacing)
    e = (np.subtract(q1, q0) * spacing)
    direction = math.degrees(math.atan2(d[1], d[0])) % 180
    assert min(abs(direction - angle % 180), 180 - abs(direction - angle % 180)) < 6
    assert abs(np.dot(d, e)) / (np.linalg.norm(d) * np.linalg.norm(e)) < 1e-6
    assert distance_mm(p0, p1, spacing) == pytest.approx(long_mm)
    assert distance_mm(q0, q1, spacing) == pytest.approx(short_mm)


def test_ring_lesion_is_measured_across_its_necrotic_centre():
    full = ellipse((70, 70), (35.0, 35.0), 18, 11, 20, (1.0, 1.0))
    ring = full & ~ellipse((70, 70), (35.0, 35.0), 13, 6, 20, (1.0, 1.0))
    _, long_full, _, short_full = measure_slice(full, (1.0, 1.0))
    _, long_ring, _, short_ring = measure_slice(ring, (1.0, 1.0))
    assert long_ring == pytest.approx(long_full, abs=1.0)
    assert short_ring == pytest.approx(short_full, abs=1.0)


def test_each_lesion_measured_on_its_largest_axial_slice_largest_lesion_first():
    spacing = (1.0, 1.0, 2.0)
    labels = np.zeros((90, 80, 20), np.uint8)
    labels[:] = 2  # edema everywhere around: only enhancing (3) is measured
    sizes = {6: 0.6, 7: 0.85, 8: 1.0, 9: 0.7}  # lesion A largest on z=8
    for z, f in sizes.items():
        labels[:, :, z][ellipse((90, 80), (30.0, 40.0), 20 * f, 10 * f, 45, (1, 1))] = 3
    for z in (14, 15):  # a small second lesion, largest (first of equals) on z=14
        labels[:, :, z][ellipse((90, 80), (75.0, 20.0), 6, 4, 0, (1, 1))] = 3
    lesions = bidimensional(labels, spacing)
    assert [l.number for l in lesions] == [1, 2]
    big, small = lesions
    assert big.z == 8 and small.z == 14
    assert abs(big.long_mm - 40) <= 1 and abs(big.short_mm - 20) <= 1
    assert abs(small.long_mm - 12) <= 1 and abs(small.short_mm - 8) <= 1
    assert big.voxels == int((labels[:, :, 5:11] == 3).sum())
    assert big.volume_ml == pytest.approx(big.voxels * 2.0 / 1000)
    assert big.product_mm2 == pytest.approx(big.long_mm * big.short_mm)
    assert big.measurable and not small.measurable  # RANO: both diameters >= 10 mm
    assert labels[big.centre] == 3 and big.centre[2] == 8
    assert all(76 > x > 0 for x in big.long_axis[0])


def test_report_volumes_rows_and_csv():
    labels = np.zeros((20, 20, 10), np.uint8)
    labels[2:12, 2:12, 2:6] = 2
    labels[4:10, 4:10, 3:5] = 3
    labels[6:8, 6:8, 3:5] = 1
    report = measure(labels, (1.0, 1.0, 1.0))
    assert report.volumes_ml["ET"] == pytest.approx((6 * 6 * 2 - 8) / 1000)
    assert report.volumes_ml["WT"] == pytest.approx(400 / 1000)
    assert len(report.lesions) == 1  # the ring around the necrosis is one lesion
    rows = report_rows(report, slice_label=lambda z: z + 100)
    assert [r[0] for r in rows[:5]] == ["NCR", "ED", "ET", "WT", "TC"]
    assert rows[5][0] == "ET lesion 1" and rows[5][2] in ("103", "104")
    text = rows_to_text(rows)
    assert text.splitlines()[0] == ",".join(CSV_HEADER)
    assert len(text.splitlines()) == 1 + len(rows)


def test_specks_of_at_most_50_mm3_are_summed_not_listed():
    labels = np.zeros((30, 30, 10), np.uint8)
    labels[2:8, 2:8, 2:4] = 3  # 72 voxels = 72 mm3: listed
    labels[20:25, 20:25, 2:4] = 3  # 50 voxels = 50 mm3: a speck (<= 50 mm3)
    labels[15, 2, 8] = 3  # 1 voxel
    report = measure(labels, (1.0, 1.0, 1.0))
    assert [l.voxels for l in report.lesions] == [72]
    assert report.small_lesions == 2 and report.small_volume_ml == pytest.approx(0.051)
    rows = report_rows(report)
    assert rows[6][0] == "ET specks (2 of <= 50 mm³)" and rows[6][1] == "0.051"
    assert len(measure(labels, (1.0, 1.0, 1.0), min_lesion_ml=0).lesions) == 3


def test_no_enhancing_tumour_gives_no_lesions():
    assert bidimensional(np.zeros((5, 5, 5), np.uint8), (1, 1, 1)) == []
    one = np.zeros((5, 5, 5), np.uint8)
    one[2, 2, 2] = 3
    (lesion,) = bidimensional(one, (1, 1, 1))
    assert lesion.long_mm == 0 and lesion.short_mm == 0 and lesion.voxels == 1
