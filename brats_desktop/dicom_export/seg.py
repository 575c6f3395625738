"""A label map on the source series' grid as one DICOM Segmentation (highdicom).

Three segments at most, one per tumour class, coded from DICOM CID 7168 "Brain Lesion
Segmentation Type With Necrosis" (the property types of CID 7151 for brain lesions):
necrosis (SCT 6574001; the DICOM note says the same concept serves non-enhancing tumour,
which is label 1 under the BraTS 2013 definition), edema (SCT 79654002) and enhancing lesion
(NCIt C113842), all in the category "Morphologically abnormal structure" (SCT 49755003,
CID 7150). A class with no voxel is left out, so segment numbers are consecutive and a
viewer never lists an empty segment. BINARY segmentation: every viewer that reads SEG reads
it (the newer LABELMAP type is not yet read by dcmqi and many PACS).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

import highdicom as hd
import numpy as np
from pydicom.sr.codedict import codes
from pydicom.valuerep import format_number_as_ds
from pydicom.sr.coding import Code

from brats_desktop.core.labels import CLASS_SHORT, EDEMA, ENHANCING, NCR, TUMOUR_CLASSES
from brats_desktop.core.provenance import Algorithm, Provenance

from .source import SourceSeries

CATEGORY = codes.SCT.MorphologicallyAbnormalStructure
PROPERTY_TYPES: dict[int, Code] = {
    NCR: codes.SCT.Necrosis,
    EDEMA: codes.SCT.Edema,
    ENHANCING: Code("C113842", "NCIt", "Enhancing Lesion"),
}
_LABEL_1 = {
    "brats2013": "Necrotic and non-enhancing tumour core",
    "brats2021": "Necrosis",
}
SEGMENT_LABELS = {EDEMA: "Peritumoral edema", ENHANCING: "Enhancing tumour"}
ALGORITHM_TYPES = {
    Provenance.AUTOMATIC: hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
    Provenance.CORRECTED: hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
    Provenance.MANUAL: hd.seg.SegmentAlgorithmTypeValues.MANUAL,
}
MANUFACTURER = "BraTS Desktop"
SEG_SERIES_NUMBER = 901
SR_SERIES_NUMBER = 902


def software_version() -> str:
    try:
        return metadata.version("brats-desktop")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class SegmentInfo:
    number: int  # segment number in the SEG (1..n, consecutive)
    label: int  # internal class
    name: str
    property_type: Code


def segments_present(native: np.ndarray, ncr_definition: str | None = "brats2013") -> list[SegmentInfo]:
    """The classes with at least one voxel, numbered 1..n in class order."""
    present = [c for c in TUMOUR_CLASSES if np.any(native == c)]
    out = []
    for number, label in enumerate(present, start=1):
        name = _LABEL_1.get(ncr_definition or "brats2013", _LABEL_1["brats2013"]) if label == NCR \
            else SEGMENT_LABELS[label]
        out.append(SegmentInfo(number, label, name, PROPERTY_TYPES[label]))
    return out


def build_seg(
    native: np.ndarray,
    source: SourceSeries,
    provenance: Provenance,
    algorithm: Algorithm | None,
    ncr_definition: str | None = "brats2013",
    description: str = "",
) -> tuple[hd.seg.Segmentation, list[SegmentInfo]]:
    """The SEG of internal labels ``native`` ((z, y, x): slice k of the source, row, column).

    ``algorithm`` names the model for AUTOMATIC and SEMIAUTOMATIC segments (DICOM requires
    it there and forbids nothing for MANUAL; a manual annotation names no algorithm).
    """
    native = np.asarray(native)
    expected = (len(source.datasets), int(source.datasets[0].Rows), int(source.datasets[0].Columns))
    if native.shape != expected:
        raise ValueError(f"labels of shape {native.shape} do not match the source series ({expected})")
    segments = segments_present(native, ncr_definition)
    if not segments:
        raise ValueError("the layer has no tumour voxel: a DICOM SEG needs at least one segment")
    algorithm_type = ALGORITHM_TYPES[provenance]
    identification = None
    if provenance is not Provenance.MANUAL:
        algorithm = algorithm or Algorithm("unknown model", "unknown")
        identification = hd.AlgorithmIdentificationSequence(
            name=algorithm.name[:64], version=algorithm.version[:64], family=codes.cid7162.ArtificialIntelligence,
            source=MANUFACTURER)
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=s.number, segment_label=s.name[:64],
            segmented_property_category=CATEGORY, segmented_property_type=s.property_type,
            algorithm_type=algorithm_type, algorithm_identification=identification,
            tracking_uid=hd.UID(), tracking_id=f"{CLASS_SHORT[s.label]}",
        )
        for s in segments
    ]
    numbers = np.zeros(4, np.uint8)
    for s in segments:
        numbers[s.label] = s.number
    pixels = numbers[np.clip(native, 0, 3).astype(np.uint8)]  # internal class -> segment number
    seg = hd.seg.Segmentation(
        source_images=source.datasets,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name="brats-desktop",
        software_versions=software_version(),
        device_serial_number="none",
        content_label="TUMOUR",
        content_description=(description or f"Brain tumour segmentation ({provenance.value})")[:64],
        series_description=(description or f"Tumour segmentation ({provenance.value})")[:64],
    )
    # The spacing between slices from the slice positions (the import checked them), not the source's
    # SpacingBetweenSlices tag that highdicom copies: some writers fill it wrongly (GDCM writes 1)
    # and readers such as dcmqi stack the frames by it.
    measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    measures.SpacingBetweenSlices = format_number_as_ds(float(source.grid["spacing"][2]))
    return seg, segments
