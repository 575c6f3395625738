"""File → Import Scans…: role dialog, background preprocessing, QC outline, native export.

Qt only; the pipeline itself is :mod:`brats_desktop.preprocess` (Qt-free, optional extra).
"""
