"""Where the bundled models live and what each needs, readable without torch.

Every bundled checkpoint ``models/bundled/<name>.pt`` ships with ``<name>.json``, its
metadata (name, modalities, ...). Screens that only need to say which sequences a
segmentation needs (the import dialog) read that instead of loading the network, so
opening them never imports torch.
"""

from __future__ import annotations

import json
from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"
DEFAULT_MODEL_NAME = "unet2d-flair-t1ce.pt"


def bundled_inputs(folder: Path | None = None) -> list[tuple[str, tuple[str, ...]]]:
    """(model name, modalities it needs) of each bundled model with a metadata sidecar, default first."""
    folder = BUNDLED_DIR if folder is None else Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.pt"), key=lambda p: (p.name != DEFAULT_MODEL_NAME, p.name)):
        try:
            meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            out.append((str(meta.get("name") or path.stem), tuple(str(m) for m in meta["modalities"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # no readable sidecar: the model still works, it just is not described here
    return out
