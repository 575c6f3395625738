"""Time DICOM SEG + SR export and the one-page patient report (targets: <= 3 s each).

A 240x240x155 T1CE DICOM series (1 mm, one file per slice: the BraTS-grid equivalent) is
written and imported (stand-in brain mask; HD-BET is not what is timed), a three-class
tumour is put on the patient, then ``dicom_export.export.export_dicom`` (read and check the
155 source headers, map the labels back to the source grid, build the SEG and the SR, write
both) and ``report.pdf.write_report`` (measurements, key images, PDF) are timed, best of
``--repeat``.

Usage::

    QT_QPA_PLATFORM=offscreen python bench/bench_dicom_export.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

root = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(root), str(root / "tests")]

from dicom_support import import_t1ce, tumour_labels, write_t1ce_series  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from brats_desktop.core.patient import load_patient
    from brats_desktop.core.provenance import Algorithm, Provenance
    from brats_desktop.dicom_export.export import export_dicom
    from brats_desktop.preprocess.record import read_record

    tmp = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    write_t1ce_series(tmp / "raw", size=(240, 240, 155), spacing=(1.0, 1.0, 1.0))
    folder = import_t1ce(tmp / "raw", tmp / "case")
    print(f"setup (write 155 DICOM slices + import): {time.perf_counter() - t0:.1f} s")
    patient = load_patient(folder)
    record = read_record(folder)
    labels = tumour_labels(patient.images["t1ce"].shape)
    best: dict[str, float] = {}
    for i in range(args.repeat):
        t0 = time.perf_counter()
        result = export_dicom(labels, patient.grid, record, tmp / f"x{i}.seg.dcm", tmp / f"x{i}.sr.dcm",
                              Provenance.AUTOMATIC, Algorithm("bench", "0"))
        best["seg_sr"] = min(best.get("seg_sr", 1e9), time.perf_counter() - t0)
        print(f"SEG + SR: {time.perf_counter() - t0:.2f} s  "
              + ", ".join(f"{k} {v:.2f}" for k, v in result.timings_s.items()))
    try:
        from brats_desktop.report.pdf import write_report
        from brats_desktop.report.data import report_data
    except ImportError:
        write_report = None
    if write_report is not None:
        from PySide6.QtGui import QGuiApplication

        app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - QPdfWriter needs one
        for i in range(args.repeat):
            t0 = time.perf_counter()
            data = report_data(patient, labels, "Prediction", Provenance.AUTOMATIC, Algorithm("bench", "0"))
            write_report(data, tmp / f"r{i}.pdf")
            best["report"] = min(best.get("report", 1e9), time.perf_counter() - t0)
            print(f"report: {time.perf_counter() - t0:.2f} s")
    print("best: " + ", ".join(f"{k} {v:.2f} s" for k, v in best.items())
          + f"  (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
