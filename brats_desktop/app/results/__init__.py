"""File → Export → DICOM Segmentation… and File → Export Report… (``ResultsController``)."""
