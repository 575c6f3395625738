"""Training and evaluation of the bundled U-Net: cohorts, patient-level splits, configs, loop, metrics.

Everything here reuses the Qt-free core (folder discovery, patient loading,
preprocessing, metrics) and ``models`` (network builder, checkpoint format), so what
is trained is exactly what the app runs.
"""

import os as _os

# On a CPU shared with other jobs, OpenMP threads that spin-wait at every barrier
# lose most of their time when one of them is descheduled (measured here with
# 2 threads next to other work: 2.7 slices/s spinning vs 11.4 passive). Must be
# set before torch loads OpenMP, hence here; an explicit environment setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
