#!/usr/bin/env bash
# Create .venv beside this checkout and install BraTS Desktop into it (idempotent).
# torch is installed first and pinned to 2.13.0: on machines with a local CPU wheel
# that wheel is used; elsewhere pip picks the platform's usual build (CUDA on Linux).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
fi
stamp="$venv/.brats-installed-$(sha1sum "$root/pyproject.toml" | cut -c1-12)"
if [ ! -f "$stamp" ]; then
    "$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
    if ! "$venv/bin/python" -c "import torch" >/dev/null 2>&1; then
        "$venv/bin/python" -m pip install --quiet "torch==${BRATS_TORCH_VERSION:-2.13.0}"
    fi
    # [preprocess]: File → Import Scans (SimpleITK, pydicom, HD-BET weights); torch above is kept.
    # [dicom]: DICOM SEG/SR export (highdicom).
    "$venv/bin/python" -m pip install --quiet -e "$root[test,preprocess,dicom]"
    touch "$stamp"
fi
# dciodvfy (Debian dicom3tools) validates the exported DICOM SEG/SR in the tests. Only where we are root with
# apt (CI's fresh machine); anywhere else, or if apt fails, the validation tests skip.
if ! command -v dciodvfy >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (timeout 300 apt-get update -qq && timeout 300 apt-get install -y -qq dicom3tools) >/dev/null 2>&1 \
        || echo "setup-env: dicom3tools not installed (apt failed); the dciodvfy checks will skip" >&2
fi
