"""NIfTI reading to canonical RAS+ and exact, atomic label export."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from brats_desktop.core.errors import ExportError, VolumeReadError, VolumeShapeError
from brats_desktop.core.labels import LabelConvention
from brats_desktop.core.nifti_io import read_header, read_volume, write_label_map
from tiny_cases import MARK, RAS_AFFINE, lps, ras_image, ras_labels, save


def test_ras_and_lps_files_read_to_the_same_canonical_array(tmp_path: Path) -> None:
    data = ras_image()
    ras_path = save(tmp_path / "ras.nii.gz", data)
    lps_data, lps_affine = lps(data)
    lps_path = save(tmp_path / "lps.nii.gz", lps_data, lps_affine)
    a, src_a = read_volume(ras_path)
    b, src_b = read_volume(lps_path)
    np.testing.assert_array_equal(a, b)
    assert a[MARK] == 500.0  # the bright voxel stays at the right-anterior-superior corner
    np.testing.assert_allclose(src_a.canonical_affine, src_b.canonical_affine)
    assert nib.aff2axcodes(src_b.affine) == ("L", "P", "S")


@pytest.mark.parametrize("orientation", ["RAS", "LPS"])
@pytest.mark.parametrize("convention", list(LabelConvention))
def test_export_lies_exactly_on_its_source_image(tmp_path: Path, orientation: str, convention) -> None:
    labels = ras_labels()
    data, affine = (ras_image(), RAS_AFFINE) if orientation == "RAS" else lps(ras_image())
    src_path = save(tmp_path / "t2f.nii.gz", data, affine)
    _, source = read_volume(src_path)
    out = write_label_map(labels, source, tmp_path / "out" / "labels.nii.gz", convention)

    img = nib.load(str(out))
    src_img = nib.load(str(src_path))
    assert img.shape == src_img.shape
    assert img.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(img.get_sform(), src_img.get_sform())
    np.testing.assert_allclose(img.get_qform(), src_img.get_qform(), atol=1e-6)
    assert int(img.header["sform_code"]) == 1 and int(img.header["qform_code"]) == 1
    on_disk = np.asarray(img.dataobj)
    # The file's voxel order: the same flips as the source image.
    expected = labels if orientation == "RAS" else labels[::-1, ::-1, :]
    enh = convention.enhancing_value
    np.testing.assert_array_equal(on_disk, np.where(expected == 3, enh, expected))
    back, _ = read_volume(out, dtype=np.uint8)
    np.testing.assert_array_equal(np.where(back == enh, 3, back), labels)


def test_export_refuses_input_files_and_existing_files(tmp_path: Path) -> None:
    src_path = save(tmp_path / "t1.nii.gz", ras_image())
    _, source = read_volume(src_path)
    before = src_path.read_bytes()
    with pytest.raises(ExportError, match="input file"):
        write_label_map(ras_labels(), source, src_path, LabelConvention.BRATS2023,
                        protected={src_path}, overwrite=True)
    assert src_path.read_bytes() == before
    target = tmp_path / "seg.nii.gz"
    target.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        write_label_map(ras_labels(), source, target, LabelConvention.BRATS2023)
    assert target.read_bytes() == b"keep me"
    write_label_map(ras_labels(), source, target, LabelConvention.BRATS2023, overwrite=True)
    assert nib.load(str(target)).shape == ras_labels().shape
    assert not list(tmp_path.glob(".*partial*")), "temporary file left behind"


def test_export_refuses_a_label_map_of_the_wrong_shape(tmp_path: Path) -> None:
    _, source = read_volume(save(tmp_path / "t1.nii.gz", ras_image()))
    with pytest.raises(ExportError, match="does not match"):
        write_label_map(np.zeros((3, 3, 3), np.uint8), source, tmp_path / "x.nii.gz",
                        LabelConvention.BRATS2020)


def test_corrupt_gzip_is_a_read_error(tmp_path: Path) -> None:
    path = tmp_path / "t1.nii.gz"
    path.write_bytes(b"\x1f\x8b" + b"garbage" * 50)
    with pytest.raises(VolumeReadError) as info:
        read_volume(path)
    assert info.value.path == path


def test_truncated_gzip_is_a_read_error(tmp_path: Path) -> None:
    path = save(tmp_path / "t1.nii.gz", ras_image())
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(VolumeReadError, match="t1.nii.gz"):
        read_volume(path)


def test_truncated_uncompressed_file_is_a_read_error(tmp_path: Path) -> None:
    path = save(tmp_path / "t1.nii", ras_image())
    raw = path.read_bytes()
    path.write_bytes(raw[: 352 + 100])
    with pytest.raises(VolumeReadError):
        read_volume(path)


def test_non_nifti_file_with_a_nifti_name_is_a_read_error(tmp_path: Path) -> None:
    path = tmp_path / "flair.nii"
    path.write_text("this is a text file, not an image\n" * 20)
    with pytest.raises(VolumeReadError, match="flair.nii"):
        read_header(path)
    gz = tmp_path / "t2.nii.gz"
    gz.write_bytes(gzip.compress(b"plain text inside a gzip" * 30))
    with pytest.raises(VolumeReadError):
        read_header(gz)


def test_four_d_volume_is_a_shape_error(tmp_path: Path) -> None:
    path = save(tmp_path / "t1.nii.gz", np.zeros((6, 5, 4, 3), np.float32))
    with pytest.raises(VolumeShapeError, match="4-D"):
        read_header(path)


def test_trailing_singleton_dimension_is_accepted(tmp_path: Path) -> None:
    path = save(tmp_path / "t1.nii.gz", ras_image()[..., None])
    data, source = read_volume(path)
    assert data.shape == ras_image().shape and source.shape == ras_image().shape
