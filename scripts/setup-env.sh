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
    "$venv/bin/python" -m pip install --quiet -e "$root[test,preprocess]"
    touch "$stamp"
fi
