"""The volumes and RANO measurements as a DICOM TID 1500 Measurement Report (highdicom.sr).

One TID 1411 volumetric group per item, each referencing the SEG segments it measures:
each class (its own segment), the regions WT (every segment) and TC (necrosis + enhancing),
and every measurable enhancing lesion (the enhancing segment) with its volume, its RANO
long-axis diameter (SCT 103339001), the longest diameter perpendicular to it (SCT
131189007 "Perpendicular axis", the pair RECIST/RANO templates use) and their product.
DICOM has no code for the bidimensional product, so it carries a private code
(``99BRATSDT``; private schemes start with 99, PS3.16 8.2).

The numbers are the Measurements table's (``core.measurements.measure`` on the patient's
1 mm grid), not a recount on the source grid: the SR and the app must agree to the digit.
"""

from __future__ import annotations

import highdicom as hd
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from brats_desktop.core.labels import CLASS_NAMES, CLASS_SHORT, ENHANCING, REGIONS
from brats_desktop.core.measurements import MeasurementReport
from brats_desktop.core.provenance import Algorithm, Provenance

from .seg import MANUFACTURER, SR_SERIES_NUMBER, SegmentInfo, software_version
from .source import SourceSeries

MILLILITER = Code("ml", "UCUM", "milliliter")
MILLIMETER = codes.UCUM.Millimeter
SQUARE_MILLIMETER = codes.UCUM.SquareMillimeter
VOLUME = codes.SCT.Volume
LONG_AXIS = codes.SCT.LongAxis
PERPENDICULAR_AXIS = codes.SCT.PerpendicularAxis
PRODUCT = Code("RANO-BP", "99BRATSDT", "Product of perpendicular diameters (RANO)")
NEOPLASM = codes.SCT.Neoplasm
REGION_WORDS = {"WT": "Whole tumour (WT)", "TC": "Tumour core (TC)"}


def _reference(seg, numbers: list[int], source: SourceSeries) -> hd.sr.ReferencedSegment:
    """A Referenced Segment item naming ``numbers`` (ReferencedSegmentNumber is multi-valued in DICOM)."""
    ref = hd.sr.ReferencedSegment(
        sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID, segment_number=numbers[0],
        source_series=hd.sr.SourceSeriesForSegmentation(source.series_instance_uid))
    if len(numbers) > 1:  # a region = several class segments; highdicom's signature takes one number
        ref[0].ReferencedSOPSequence[0].ReferencedSegmentNumber = list(numbers)
    return ref


def _group(identifier: str, finding: Code, ref, measurements: list[hd.sr.Measurement]):
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=identifier[:64]),
        referenced_segment=ref, finding_type=finding, measurements=measurements)


def _volume(ml: float) -> hd.sr.Measurement:
    return hd.sr.Measurement(name=VOLUME, value=round(float(ml), 4), unit=MILLILITER)


def build_sr(
    report: MeasurementReport,
    seg,
    segments: list[SegmentInfo],
    source: SourceSeries,
    provenance: Provenance,
    algorithm: Algorithm | None,
) -> hd.sr.Comprehensive3DSR:
    """The TID 1500 report of ``report`` referencing ``seg`` (built by :func:`seg.build_seg`)."""
    by_label = {s.label: s for s in segments}
    groups = []
    for s in segments:
        groups.append(_group(f"{CLASS_SHORT[s.label]}: {CLASS_NAMES[s.label]}", s.property_type,
                             _reference(seg, [s.number], source),
                             [_volume(report.volumes_ml[CLASS_SHORT[s.label]])]))
    for region in ("WT", "TC"):
        numbers = [by_label[c].number for c in REGIONS[region] if c in by_label]
        if numbers:
            groups.append(_group(REGION_WORDS[region], NEOPLASM, _reference(seg, numbers, source),
                                 [_volume(report.volumes_ml[region])]))
    if ENHANCING in by_label:
        et = by_label[ENHANCING]
        for lesion in report.lesions:
            if not lesion.measurable:
                continue
            groups.append(_group(
                f"ET lesion {lesion.number} (RANO, axial slice {lesion.z})", et.property_type,
                _reference(seg, [et.number], source),
                [_volume(lesion.volume_ml),
                 hd.sr.Measurement(name=LONG_AXIS, value=round(lesion.long_mm, 3), unit=MILLIMETER),
                 hd.sr.Measurement(name=PERPENDICULAR_AXIS, value=round(lesion.short_mm, 3), unit=MILLIMETER),
                 hd.sr.Measurement(name=PRODUCT, value=round(lesion.product_mm2, 3), unit=SQUARE_MILLIMETER)]))
    name = algorithm.name if algorithm and provenance is not Provenance.MANUAL else MANUFACTURER
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name=name[:64], manufacturer_name=MANUFACTURER,
            model_name=(algorithm.version if algorithm else "unknown")[:64]))
    content = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.LN.BrainMRI,
        imaging_measurements=groups,
    )
    return hd.sr.Comprehensive3DSR(
        evidence=[seg],
        content=content[0],
        series_instance_uid=hd.UID(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=False,  # a research tool: never a verified clinical finding
        series_description=f"Tumour measurements ({provenance.value})"[:64],
        software_versions=software_version(),
    )
