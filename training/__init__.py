"""Training and evaluation of the bundled U-Net: cohorts, patient-level splits, configs, loop, metrics.

Everything here reuses the Qt-free core (folder discovery, patient loading,
preprocessing, metrics) and ``models`` (network builder, checkpoint format), so what
is trained is exactly what the app runs.
"""
