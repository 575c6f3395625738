"""What the worklist remembers between sessions (QSettings), and where its folder chooser starts."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QSettings

from brats_desktop.core.cohort import is_writable

OUTPUTS_KEY = "cohort/output_folders"  # JSON {cohort root: chosen output folder} for read-only cohorts
HIDDEN_COLUMNS_KEY = "cohort/hidden_columns"  # JSON list of the worklist columns the reviewer hid


def remembered_outputs(settings: QSettings) -> dict[str, str]:
    """{cohort root: output folder} chosen for read-only cohorts."""
    try:
        value = json.loads(str(settings.value(OUTPUTS_KEY, "{}") or "{}"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def remember_outputs(settings: QSettings, outputs: dict[str, str]) -> None:
    settings.setValue(OUTPUTS_KEY, json.dumps(outputs))
    settings.sync()


def remembered_hidden_columns(settings: QSettings) -> list[int] | None:
    """The columns the reviewer hid last time; None before any choice (the panel's default)."""
    try:
        value = json.loads(str(settings.value(HIDDEN_COLUMNS_KEY, "null") or "null"))
    except ValueError:
        return None
    return [int(c) for c in value] if isinstance(value, list) else None


def remember_hidden_columns(settings: QSettings, hidden: list) -> None:
    settings.setValue(HIDDEN_COLUMNS_KEY, json.dumps([int(c) for c in hidden]))


def output_folder_start(root: Path) -> Path:
    """Where the output-folder chooser of a read-only cohort starts: beside the cohort when that
    folder can take the outputs, else the home folder; never the program's working folder."""
    beside = root.resolve().parent
    return beside if is_writable(beside) else Path.home()
