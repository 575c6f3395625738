#!/usr/bin/env bash
# Set up (first run only) and start BraTS Desktop. Arguments go to the app,
# e.g. a patient folder: bash scripts/run-app.sh ~/data/BraTS20_Training_001
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup-env.sh"
exec "$root/.venv/bin/brats-desktop" "$@"
