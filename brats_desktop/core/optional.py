"""Which optional packages (the [preprocess] and [dicom] extras) are installed, without importing them.

The features built on them are offered in every install; they check here first so a user
without the extra gets the pip command to run instead of an ImportError, and the check
itself costs no start-up time (``find_spec`` reads no module).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping


def missing_packages(modules: Mapping[str, str]) -> list[str]:
    """The PyPI names, of ``{module: PyPI name}``, whose module cannot be found."""
    return [pkg for module, pkg in modules.items() if importlib.util.find_spec(module) is None]
