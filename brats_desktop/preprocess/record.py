"""The import record (``brats-import.json``) beside an imported patient: read without SimpleITK.

The app asks "did this patient come from an import?" on every load, to offer
File → Export … on Original Scan Grid; that must work (and say what to install) even
where the preprocessing extra is absent, so this module needs only the standard library.
"""

from __future__ import annotations

import json
from pathlib import Path

RECORD_NAME = "brats-import.json"


def read_record(folder: Path | str | None) -> dict | None:
    """The import record of a patient folder, or None when the folder did not come from an import."""
    if folder is None:
        return None
    path = Path(folder) / RECORD_NAME
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "native_grid" in record and "grid" in record else None
